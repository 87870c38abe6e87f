-- xsk.stats: the live statistics line of long runs, and their summary.
--
--   local st = stats.new{ tx = true, total = count, sockets = { sock } }
--   while running do
--     local n = sock:send(b)
--     st:add_tx(n, n * len)
--     st:tick()                          -- a line once a second
--   end
--   st:summary()
--
-- A tool says what it counts (rx, tx or both) and the line shows only that:
--
--   TX:    12.0s  sent 1234567  612.3 kpps  313.4 Mbit/s  41%  ETA 17s
--   RX:    12.0s  received 1234567  612.3 kpps  313.4 Mbit/s  drops 0
--   both:  12.0s  rx 1234567 612.3 kpps  tx 1234560 612.3 kpps  drops 0
--
-- Counts are totals since new(), rates are over the last interval.  Progress
-- and ETA need `total`.  Drops are the kernel's XDP_STATISTICS counters that
-- are lost packets: rx_dropped, rx_ring_full and rx_invalid_descs, summed
-- over the sockets and counted from new().  tx_ring_empty_descs (the kernel
-- found nothing to send) and rx_fill_ring_empty_descs (a subset of
-- rx_dropped) are not drops.  Lines are at most 100 characters wide.  On a
-- terminal the line is rewritten in place; elsewhere each is a line of its own.
--
-- add_rx/add_tx only add Lua numbers, so they cost nothing in a hot loop;
-- tick reads the clock (or takes the time from its caller) and formats a
-- line, allocating, once per interval.
--
-- Many workers: with counters = an xsk.counters block the counts are its
-- slots' sums (the workers add to their slots; add_rx/add_tx are not
-- needed), their drops count too, and per_worker = true adds a line per slot
-- under each line (not on a live terminal line) and under the summary.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"

local type, ipairs, pairs, pcall, tonumber, floor = type, ipairs, pairs, pcall, tonumber, math.floor
local getmetatable = getmetatable
local concat, huge = table.concat, math.huge

local M = {}

local WHAT = "xsk.stats"
local CLOCK_MONOTONIC = 1

local ts = ffi.new("struct lxsk_timespec")

-- Seconds on the monotonic clock (wall-clock jumps do not bend rates).
local function now()
  C.lxsk_libc_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
M.now = now

-- The counters of struct xdp_statistics.
M.KERNEL_FIELDS = {
  "rx_dropped", "rx_invalid_descs", "tx_invalid_descs",
  "rx_ring_full", "rx_fill_ring_empty_descs", "tx_ring_empty_descs",
}
local KERNEL = M.KERNEL_FIELDS
-- The ones that are packets lost on the way in.
M.DROP_FIELDS = { "rx_dropped", "rx_ring_full", "rx_invalid_descs" }
local DROPS = M.DROP_FIELDS

-- Sums the kernel counters of the sockets into t.  A socket that cannot
-- report (closed under us) counts as zero: statistics never end a run.
local function read_kernel(sockets, t)
  for _, k in ipairs(KERNEL) do t[k] = 0 end
  for i = 1, #sockets do
    local ok, s = pcall(sockets[i].stats, sockets[i])
    if ok and type(s) == "table" then
      for _, k in ipairs(KERNEL) do t[k] = t[k] + (tonumber(s[k]) or 0) end
    end
  end
  return t
end

local function drops_in(t, since)
  local n = 0
  for _, k in ipairs(DROPS) do n = n + t[k] - since[k] end
  return n
end

-- ---- formatting ----

-- A count in at most 9 characters: exact below a billion.
local function count(n)
  if n < 1e9 then return ("%d"):format(n) end
  if n < 1e12 then return ("%.2fG"):format(n / 1e9) end
  return ("%.2fT"):format(n / 1e12)
end
M.count = count

-- A packet rate in 10 characters.
local function rate(pps)
  if pps < 1e3 then return ("%6.0f pps"):format(pps) end
  if pps < 1e6 then return ("%5.1f kpps"):format(pps / 1e3) end
  return ("%5.1f Mpps"):format(pps / 1e6)
end
M.rate = rate

-- A duration in at most 6 characters: 59s, 9m59s, 99h59m, or "--".
local function duration(s)
  if s ~= s or s == huge or s < 0 then return "--" end
  s = floor(s + 0.5)
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(floor(s / 60), s % 60) end
  if s < 360000 then return ("%dh%02dm"):format(floor(s / 3600), floor(s / 60) % 60) end
  return ">99h"
end
M.duration = duration

local function mbits(bytes, dt) return bytes * 8 / dt / 1e6 end

-- ---- the object ----

local Stats = {}
Stats.__index = Stats

local SCHEMA = {
  rx = { "bool", false },
  tx = { "bool", false },
  total = { "int", nil, 1, 2 ^ 53 },
  interval = { "any", 1 },
  sockets = { "table" },
  out = { "any" },
  csv = { "bool", false },
  live = { "bool" },
  clock = { "any" },
  counters = { "any" },
  per_worker = { "bool", false },
}

-- Whether out is this process's stdout and that is a terminal.
local function stdout_is_tty(out)
  if out ~= io.stdout then return false end
  local r = os.execute("test -t 1")
  return r == 0 or r == true
end

-- Checks what the schema cannot: nil or the message.
local function bad_options(o)
  if not (o.rx or o.tx) then
    return WHAT .. ": new: say what the tool counts: rx = true, tx = true or both"
  end
  local iv = o.interval
  if type(iv) ~= "number" or not (iv > 0 and iv < huge) then
    return base.argerror(WHAT .. ": new", "interval", "a positive number of seconds", iv)
  end
  for i, s in ipairs(o.sockets) do
    local t = type(s)
    if (t ~= "table" and t ~= "userdata" and t ~= "cdata") or not s.stats then
      return base.argerror(WHAT .. ": new", ("sockets[%d]"):format(i), "an object with a :stats() method", s)
    end
  end
  if type(o.out) ~= "userdata" and type(o.out) ~= "table" or not o.out.write then
    return base.argerror(WHAT .. ": new", "out", "a file or an object with a :write method", o.out)
  end
  if type(o.clock) ~= "function" then
    return base.argerror(WHAT .. ": new", "clock", "a function returning seconds", o.clock)
  end
  if o.counters ~= nil and getmetatable(o.counters) ~= require("xsk.counters").Counters then
    return base.argerror(WHAT .. ": new", "counters", "an xsk.counters block", o.counters)
  end
  if o.per_worker and not o.counters then
    return WHAT .. ": new: per_worker needs counters (an xsk.counters block)"
  end
end

-- rx, tx: what the tool counts (at least one); total: packets it means to
-- send (or receive, without tx), for progress and ETA; interval: seconds
-- between lines (1); sockets: objects with :stats() for the drops; out:
-- where lines go (io.stdout); csv: comma-separated lines with a header
-- instead; live: rewrite one line in place (default: when out is a
-- terminal); clock: a function returning seconds (tests replace it).
function M.new(opts)
  local o, err = base.options(WHAT .. ": new", SCHEMA, opts)
  if not o then error(err, 2) end
  o.sockets = o.sockets or {}
  o.out = o.out or io.stdout
  o.clock = o.clock or now
  err = bad_options(o)
  if err then error(err, 2) end
  local live = o.live
  if live == nil then live = not o.csv and stdout_is_tty(o.out) end
  local t = o.clock()
  local kernel = read_kernel(o.sockets, {})
  local self = setmetatable({
    rx = o.rx, tx = o.tx, total = o.total, interval = o.interval, sockets = o.sockets,
    out = o.out, csv = o.csv, live = live, clock = o.clock,
    rx_pkts = 0, rx_bytes = 0, tx_pkts = 0, tx_bytes = 0,
    start = t, last = t, due = t + o.interval,
    last_rx_pkts = 0, last_rx_bytes = 0, last_tx_pkts = 0, last_tx_bytes = 0,
    kernel_base = kernel, kernel_now = {}, drops_last = 0, line_open = false, header_done = false,
  }, Stats)
  if o.counters then self:_workers_begin(o.counters, o.per_worker) end
  return self
end

function Stats:add_rx(pkts, bytes)
  self.rx_pkts = self.rx_pkts + pkts
  self.rx_bytes = self.rx_bytes + (bytes or 0)
end

function Stats:add_tx(pkts, bytes)
  self.tx_pkts = self.tx_pkts + pkts
  self.tx_bytes = self.tx_bytes + (bytes or 0)
end

-- "  41%  ETA 17s" when a total is known: done of total at rate pps.
local function progress(self, done, pps)
  local total = self.total
  if not total then return "" end
  local pct = done >= total and 100 or floor(done * 100 / total)
  local eta = done >= total and 0 or (pps > 0 and (total - done) / pps or huge)
  return ("  %3d%%  ETA %s"):format(pct, duration(eta))
end

-- One text line (without the newline) for an interval of dt seconds.
function Stats:_line(elapsed, dt, rxp, rxb, txp, txb, drops)
  local head = ("%7.1fs"):format(elapsed)
  if self.rx and self.tx then
    local p = progress(self, self.tx_pkts, txp / dt)
    return ("%s  rx %s %s  tx %s %s  drops %s%s"):format(head, count(self.rx_pkts), rate(rxp / dt),
      count(self.tx_pkts), rate(txp / dt), count(drops), p)
  elseif self.tx then
    return ("%s  sent %s  %s  %.1f Mbit/s%s"):format(head, count(self.tx_pkts), rate(txp / dt),
      mbits(txb, dt), progress(self, self.tx_pkts, txp / dt))
  end
  return ("%s  received %s  %s  %.1f Mbit/s  drops %s%s"):format(head, count(self.rx_pkts), rate(rxp / dt),
    mbits(rxb, dt), count(drops), progress(self, self.rx_pkts, rxp / dt))
end

function Stats:_csv_header()
  local cols = { "time_s" }
  if self.rx then
    cols[#cols + 1] = "rx_pkts,rx_bytes,rx_pps,rx_mbps,drops"
  end
  if self.tx then
    cols[#cols + 1] = "tx_pkts,tx_bytes,tx_pps,tx_mbps"
  end
  self.out:write(concat(cols, ","), "\n")
  self.header_done = true
end

-- Prints a line if the interval is up; returns true if it did.  t is the
-- time now on the clock, for a caller that has just read it.
function Stats:tick(t)
  t = t or self.clock()
  if t < self.due then return false end
  local dt = t - self.last
  if dt <= 0 then return false end
  if self.counters then self:_workers_pull() end
  local rxp, rxb = self.rx_pkts - self.last_rx_pkts, self.rx_bytes - self.last_rx_bytes
  local txp, txb = self.tx_pkts - self.last_tx_pkts, self.tx_bytes - self.last_tx_bytes
  local drops = 0
  if self.rx and #self.sockets > 0 then
    drops = drops_in(read_kernel(self.sockets, self.kernel_now), self.kernel_base)
  end
  drops = drops + (self.worker_drops or 0)
  local out = self.out
  if self.csv then
    if not self.header_done then self:_csv_header() end
    out:write(("%.3f"):format(t - self.start))
    if self.rx then
      out:write((",%d,%d,%.0f,%.3f,%d"):format(rxp, rxb, rxp / dt, mbits(rxb, dt), drops - self.drops_last))
    end
    if self.tx then out:write((",%d,%d,%.0f,%.3f"):format(txp, txb, txp / dt, mbits(txb, dt))) end
    out:write("\n")
  else
    local line = self:_line(t - self.start, dt, rxp, rxb, txp, txb, drops)
    if self.live then
      -- Back to the start of the line, then clear what a longer one left.
      out:write("\r", line, "\27[K")
      if out.flush then out:flush() end
      self.line_open = true
    else
      out:write(line, "\n")
      if self.per_worker then self:_worker_lines(dt) end
      -- A log file or a pipe sees each line as it is printed.
      if out.flush then out:flush() end
    end
  end
  self.drops_last = drops
  self.last_rx_pkts, self.last_rx_bytes = self.rx_pkts, self.rx_bytes
  self.last_tx_pkts, self.last_tx_bytes = self.tx_pkts, self.tx_bytes
  self.last = t
  -- Keep the beat without drifting, but do not burst lines after a stall.
  self.due = self.due + self.interval
  if self.due <= t then self.due = t + self.interval end
  return true
end

-- Ends a live line, so what is printed next starts on a line of its own.
function Stats:end_line()
  if self.line_open then
    self.out:write("\n")
    self.line_open = false
  end
end

-- Totals since new(): printed, and returned as a table { seconds, rx_pkts,
-- rx_bytes, rx_pps, rx_mbps, tx_..., drops, kernel = the six counters }.
function Stats:summary()
  local t = self.clock()
  local dt = t - self.start
  if self.counters then self:_workers_pull() end
  local r = {
    seconds = dt, rx_pkts = self.rx_pkts, rx_bytes = self.rx_bytes,
    tx_pkts = self.tx_pkts, tx_bytes = self.tx_bytes,
    rx_pps = dt > 0 and self.rx_pkts / dt or 0, tx_pps = dt > 0 and self.tx_pkts / dt or 0,
    rx_mbps = dt > 0 and mbits(self.rx_bytes, dt) or 0, tx_mbps = dt > 0 and mbits(self.tx_bytes, dt) or 0,
    drops = 0,
  }
  local k = read_kernel(self.sockets, {})
  r.kernel = {}
  for _, f in ipairs(KERNEL) do r.kernel[f] = k[f] - self.kernel_base[f] end
  r.drops = drops_in(k, self.kernel_base) + (self.worker_drops or 0)
  local out = self.out
  self:end_line()
  if self.csv then
    out:write(("# total,%.3f"):format(dt))
    if self.rx then
      out:write((",%d,%d,%.0f,%.3f,%d"):format(r.rx_pkts, r.rx_bytes, r.rx_pps, r.rx_mbps, r.drops))
    end
    if self.tx then out:write((",%d,%d,%.0f,%.3f"):format(r.tx_pkts, r.tx_bytes, r.tx_pps, r.tx_mbps)) end
    out:write("\n")
    return r
  end
  if self.rx then
    out:write(("total  received %d packets, %d bytes in %.2f s: %s, %.2f Mbit/s, %d dropped"):format(
      r.rx_pkts, r.rx_bytes, dt, rate(r.rx_pps):gsub("^ +", ""), r.rx_mbps, r.drops))
    if r.drops > 0 then
      out:write((" (rx_dropped %d, rx_ring_full %d, rx_invalid_descs %d)"):format(
        r.kernel.rx_dropped, r.kernel.rx_ring_full, r.kernel.rx_invalid_descs))
    end
    out:write("\n")
  end
  if self.tx then
    out:write(("total  sent %d packets, %d bytes in %.2f s: %s, %.2f Mbit/s"):format(
      r.tx_pkts, r.tx_bytes, dt, rate(r.tx_pps):gsub("^ +", ""), r.tx_mbps))
    if r.kernel.tx_invalid_descs > 0 then
      out:write((", %d refused by the kernel (tx_invalid_descs)"):format(r.kernel.tx_invalid_descs))
    end
    out:write("\n")
  end
  if self.per_worker then self:_worker_totals(dt) end
  return r
end

-- ---- many workers: the counts of an xsk.counters block ----

-- The block's slots and their sum now, each less what it held at new().
local function snapshot(self)
  local c, base_of = self.counters, self.worker_base
  local slots = {}
  for i = 1, c:size() do
    local v, b = c:read(i), base_of and base_of[i]
    if b then for k, x in pairs(b) do v[k] = v[k] - x end end
    slots[i] = v
  end
  return slots
end

function Stats:_workers_begin(c, per_worker)
  self.counters, self.per_worker = c, per_worker
  self.worker_base = snapshot(self)
  self.worker_last = snapshot(self)
end

-- The totals the line shows come from the slots.
function Stats:_workers_pull()
  local slots = snapshot(self)
  local rxp, rxb, txp, txb, drops = 0, 0, 0, 0, 0
  for _, v in ipairs(slots) do
    rxp, rxb, txp, txb = rxp + v.rx_packets, rxb + v.rx_bytes, txp + v.tx_packets, txb + v.tx_bytes
    drops = drops + v.drops
  end
  self.rx_pkts, self.rx_bytes, self.tx_pkts, self.tx_bytes = rxp, rxb, txp, txb
  self.worker_drops, self.worker_now = drops, slots
end

local function worker_line(i, v, rxp, txp, dt)
  return ("%8s  worker %-3d rx %s %s  tx %s %s  drops %s\n"):format("", i, count(v.rx_packets), rate(rxp / dt),
    count(v.tx_packets), rate(txp / dt), count(v.drops))
end

-- A line per slot: its counts, and its rates over the last interval.
function Stats:_worker_lines(dt)
  local last = self.worker_last
  for i, v in ipairs(self.worker_now) do
    self.out:write(worker_line(i, v, v.rx_packets - last[i].rx_packets, v.tx_packets - last[i].tx_packets, dt))
  end
  self.worker_last = self.worker_now
end

-- Under the summary: each slot's counts and rates since new().
function Stats:_worker_totals(dt)
  for i, v in ipairs(self.worker_now) do
    self.out:write(worker_line(i, v, v.rx_packets, v.tx_packets, dt > 0 and dt or 1))
  end
end

return M
