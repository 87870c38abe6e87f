-- Live counters for long runs: packet and byte rates once per interval, the
-- kernel's XDP_STATISTICS drop counters of the sockets watched, and a summary.
--
--   local st = stats.new{ interval = 1, sockets = { sock } }
--   while running do
--       local n, bytes = ...            -- one burst
--       st:add_rx(n, bytes)
--       st:tick()                       -- prints when the interval is up
--   end
--   st:summary()
--
-- add_rx/add_tx only add Lua numbers, so they cost nothing in a hot loop;
-- tick reads the monotonic clock and prints (allocating) once per interval.
local ffi = require "ffi"
require "xsk.cdef"

local libc = ffi.C
local CLOCK_MONOTONIC = 1

local M = {}

-- The counters of struct xdp_statistics, in the order they are printed.
M.DROP_FIELDS = {
  "rx_dropped", "rx_invalid_descs", "tx_invalid_descs",
  "rx_ring_full", "rx_fill_ring_empty_descs", "tx_ring_empty_descs",
}
local DROPS = M.DROP_FIELDS
local SHORT = {
  rx_dropped = "rx_drop", rx_invalid_descs = "rx_inval", tx_invalid_descs = "tx_inval",
  rx_ring_full = "rx_full", rx_fill_ring_empty_descs = "fill_empty",
  tx_ring_empty_descs = "tx_empty",
}

local Stats = {}
Stats.__index = Stats

local ts = ffi.new("struct lxsk_timespec")

-- Seconds on the monotonic clock.
local function now()
  libc.lxsk_libc_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
M.now = now

-- Sum of the drop counters over the sockets into t (a table by field).
local function read_drops(sockets, t)
  for _, k in ipairs(DROPS) do t[k] = 0 end
  for i = 1, #sockets do
    local ok, s = pcall(sockets[i].stats, sockets[i])
    if ok and type(s) == "table" then
      for _, k in ipairs(DROPS) do t[k] = t[k] + (tonumber(s[k]) or 0) end
    end
  end
  return t
end

local keys = { interval = "number", csv = "boolean", out = "any", sockets = "table", clock = "function" }

-- interval: seconds between lines (default 1); csv: comma-separated lines
-- with a header instead of text; out: anything with :write (default
-- io.stdout); sockets: objects with :stats() (optional); clock: a function
-- returning seconds (default the monotonic clock; tests replace it).
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("stats.new: expected a table", 2) end
  for k, v in pairs(opts) do
    local want = keys[k]
    if want == nil then error("stats.new: unknown option " .. tostring(k), 2) end
    if want ~= "any" and type(v) ~= want then
      error(("stats.new: %s must be a %s, got %s"):format(k, want, type(v)), 2)
    end
  end
  local interval = opts.interval or 1
  if interval <= 0 then error("stats.new: interval must be positive", 2) end
  local sockets = opts.sockets or {}
  for i, s in ipairs(sockets) do
    if type(s) ~= "table" and type(s) ~= "userdata" and type(s) ~= "cdata" or not s.stats then
      error(("stats.new: sockets[%d] has no :stats() method"):format(i), 2)
    end
  end
  local out = opts.out or io.stdout
  if not out.write then error("stats.new: out must have a :write method", 2) end
  local clock = opts.clock or now
  local t = clock()
  local base = read_drops(sockets, {})
  local prev = {}
  for k, v in pairs(base) do prev[k] = v end
  return setmetatable({
    interval = interval, csv = opts.csv or false, out = out, sockets = sockets, clock = clock,
    rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0,
    start = t, last = t, due = t + interval,
    last_rx_pkts = 0, last_rx_bytes = 0, last_tx_pkts = 0, last_tx_bytes = 0,
    drops_base = base, drops_prev = prev, drops_now = {}, header_done = false,
  }, Stats)
end

function Stats:add_rx(pkts, bytes)
  self.rx_pkts = self.rx_pkts + pkts
  self.rx_bytes = self.rx_bytes + (bytes or 0)
end

function Stats:add_tx(pkts, bytes)
  self.tx_pkts = self.tx_pkts + pkts
  self.tx_bytes = self.tx_bytes + (bytes or 0)
end

local function mbps(bytes, dt) return bytes * 8 / dt / 1e6 end

function Stats:_header()
  local cols = { "time_s", "rx_pkts", "rx_bytes", "rx_pps", "rx_mbps", "tx_pkts", "tx_bytes", "tx_pps", "tx_mbps" }
  if #self.sockets > 0 then
    for _, k in ipairs(DROPS) do cols[#cols + 1] = k end
  end
  self.out:write(table.concat(cols, ","), "\n")
  self.header_done = true
end

-- Print one line if the interval is up (or if force); returns true if it did.
function Stats:tick(force)
  local t = self.clock()
  if t < self.due and not force then return false end
  local dt = t - self.last
  if dt <= 0 then return false end
  local rxp, rxb = self.rx_pkts - self.last_rx_pkts, self.rx_bytes - self.last_rx_bytes
  local txp, txb = self.tx_pkts - self.last_tx_pkts, self.tx_bytes - self.last_tx_bytes
  local elapsed = t - self.start
  local has_socks = #self.sockets > 0
  local d, prev = self.drops_now, self.drops_prev
  if has_socks then read_drops(self.sockets, d) end
  local out = self.out
  if self.csv then
    if not self.header_done then self:_header() end
    out:write(("%.3f,%d,%d,%.0f,%.3f,%d,%d,%.0f,%.3f"):format(elapsed, rxp, rxb, rxp / dt,
      mbps(rxb, dt), txp, txb, txp / dt, mbps(txb, dt)))
    if has_socks then
      for _, k in ipairs(DROPS) do out:write(",", ("%d"):format(d[k] - prev[k])) end
    end
    out:write("\n")
  else
    out:write(("%8.1fs  RX %12.0f pps %10.2f Mbit/s  TX %12.0f pps %10.2f Mbit/s"):format(
      elapsed, rxp / dt, mbps(rxb, dt), txp / dt, mbps(txb, dt)))
    if has_socks then
      out:write("  drops")
      for _, k in ipairs(DROPS) do out:write((" %s=%d"):format(SHORT[k], d[k] - prev[k])) end
    end
    out:write("\n")
  end
  if has_socks then
    for _, k in ipairs(DROPS) do prev[k] = d[k] end
  end
  self.last_rx_pkts, self.last_rx_bytes = self.rx_pkts, self.rx_bytes
  self.last_tx_pkts, self.last_tx_bytes = self.tx_pkts, self.tx_bytes
  self.last = t
  -- Keep the beat without drifting, but do not burst lines after a stall.
  self.due = self.due + self.interval
  if self.due <= t then self.due = t + self.interval end
  return true
end

-- Totals since new(): printed, and returned as a table.
function Stats:summary()
  local t = self.clock()
  local dt = t - self.start
  local r = {
    seconds = dt, rx_pkts = self.rx_pkts, rx_bytes = self.rx_bytes,
    tx_pkts = self.tx_pkts, tx_bytes = self.tx_bytes,
    rx_pps = dt > 0 and self.rx_pkts / dt or 0, tx_pps = dt > 0 and self.tx_pkts / dt or 0,
    rx_mbps = dt > 0 and mbps(self.rx_bytes, dt) or 0, tx_mbps = dt > 0 and mbps(self.tx_bytes, dt) or 0,
  }
  if #self.sockets > 0 then
    local d = read_drops(self.sockets, {})
    r.drops = {}
    for _, k in ipairs(DROPS) do r.drops[k] = d[k] - self.drops_base[k] end
  end
  local out = self.out
  if self.csv then
    out:write(("# total,%.3f,%d,%d,%.0f,%.3f,%d,%d,%.0f,%.3f"):format(dt, r.rx_pkts, r.rx_bytes,
      r.rx_pps, r.rx_mbps, r.tx_pkts, r.tx_bytes, r.tx_pps, r.tx_mbps))
    if r.drops then
      for _, k in ipairs(DROPS) do out:write((",%d"):format(r.drops[k])) end
    end
    out:write("\n")
  else
    out:write(("total %.1fs  RX %d pkts %d bytes (%.0f pps, %.2f Mbit/s)  TX %d pkts %d bytes (%.0f pps, %.2f Mbit/s)\n")
      :format(dt, r.rx_pkts, r.rx_bytes, r.rx_pps, r.rx_mbps, r.tx_pkts, r.tx_bytes, r.tx_pps, r.tx_mbps))
    if r.drops then
      out:write("drops")
      for _, k in ipairs(DROPS) do out:write((" %s=%d"):format(k, r.drops[k])) end
      out:write("\n")
    end
  end
  return r
end

return M
