-- AF_XDP sockets and their four rings.
local ffi = require "ffi"
local C = require "xsk.cdef"
local config = require "xsk.config"
local errors = require "xsk.errors"

local setmetatable, tonumber, error, type = setmetatable, tonumber, error, type
local raise = errors.raise

local M = {}

local BIND = { auto = 0, copy = 1, zerocopy = 2 }
local ATTACH = { auto = 0, native = 1, skb = 2 }

-- Ring sizes follow libxdp's defaults.
M.schema = {
  ifname = { "string" },
  queue = { "uint", 0 },
  rx_size = { "uint", 2048, 1 },
  tx_size = { "uint", 2048, 1 },
  rx = { "bool", true },
  tx = { "bool", true },
  bind_mode = { "enum", "auto", BIND },
  attach_mode = { "enum", "auto", ATTACH },
  need_wakeup = { "bool", true },
  load_program = { "bool", true },
  busy_poll_us = { "uint", 0 },
  busy_poll_budget = { "uint", 0 },
  prefer_busy_poll = { "bool", false },
  tx_budget = { "uint", 0 },
  batch_size = { "uint", 64, 1 },
  auto_fill = { "bool", true },
  multi_buffer = { "bool", false },
}

local Socket = {}
Socket.__index = Socket
M.Socket = Socket

-- Ring objects give the xsk-rs level: produce and consume, one batch at a time.
local FillRing, CompRing, RxRing, TxRing = {}, {}, {}, {}
FillRing.__index, CompRing.__index, RxRing.__index, TxRing.__index = FillRing, CompRing, RxRing, TxRing

local RING_IDS = { fill = 0, comp = 1, rx = 2, tx = 3 }

local function ring_state(s, which)
  local st = ffi.new("struct lxsk_ring_state")
  if C.lxsk_ring_state(s, RING_IDS[which], st) < 0 then raise(3) end
  if st.present == 0 then return nil end
  return { size = st.size, entries = st.entries, needs_wakeup = st.needs_wakeup ~= 0 }
end

function M.new(umem, cfg, level)
  level = (level or 1) + 1
  if type(umem) ~= "table" or getmetatable(umem) ~= require("xsk.umem").Umem then
    error("xsk.socket: the first argument must be an xsk.umem", level)
  end
  local o = config.apply("xsk.socket", M.schema, cfg, level)
  config.require("xsk.socket", o, "ifname", level)
  local opts = ffi.new("struct lxsk_sock_opts")
  opts.ifname = o.ifname
  opts.queue = o.queue
  opts.rx_size = o.rx and o.rx_size or 0
  opts.tx_size = o.tx and o.tx_size or 0
  opts.bind_mode = BIND[o.bind_mode]
  opts.attach_mode = ATTACH[o.attach_mode]
  opts.need_wakeup = o.need_wakeup and 1 or 0
  opts.load_program = o.load_program and 1 or 0
  opts.busy_poll_us = o.busy_poll_us
  opts.busy_poll_budget = o.busy_poll_budget
  opts.prefer_busy_poll = o.prefer_busy_poll and 1 or 0
  opts.tx_budget = o.tx_budget
  opts.auto_fill = o.auto_fill and 1 or 0
  opts.multi_buffer = o.multi_buffer and 1 or 0
  if umem.closed then error("xsk.socket: the UMEM is closed", level) end
  local s = C.lxsk_sock_new(umem.u, opts)
  if s == nil then raise(level) end
  ffi.gc(s, C.lxsk_sock_free)
  local self = setmetatable({
    s = s, umem = umem, ifname = o.ifname, queue = o.queue, batch_size = o.batch_size,
    has_rx = o.rx, has_tx = o.tx, multi_buffer = o.multi_buffer,
  }, Socket)
  self.fill = setmetatable({ s = s, sock = self }, FillRing)
  self.comp = setmetatable({ s = s, sock = self }, CompRing)
  if o.rx then self.rx = setmetatable({ s = s, sock = self }, RxRing) end
  if o.tx then self.tx = setmetatable({ s = s, sock = self }, TxRing) end
  umem.sockets[#umem.sockets + 1] = self
  return self
end

-- ---- batch API (hot path) ----

-- Receives up to the batch's free room; waits up to timeout_ms (default 0:
-- do not wait, -1: forever) when nothing is there.  Returns the count.
function Socket:recv(b, timeout_ms)
  local n = C.lxsk_recv(self.s, b, timeout_ms or 0)
  if n < 0 then raise(2) end
  return n
end

-- Sends the batch's frames; returns how many went.  Frames that did not fit
-- stay in the batch (at its front) and still belong to the script.
function Socket:send(b)
  local n = C.lxsk_send(self.s, b)
  if n < 0 then raise(2) end
  return n
end

-- Sends received frames out of this socket without copying (both sockets on
-- one UMEM); frames that do not fit are dropped.  The batch ends up empty.
function Socket:forward(b)
  local n = C.lxsk_forward(self.s, b)
  if n < 0 then raise(2) end
  return n
end

-- Waits until the kernel has transmitted everything on the TX ring, up to
-- timeout_ms (default 1000, -1: no limit); returns the frames still waiting.
function Socket:flush(timeout_ms)
  local n = C.lxsk_flush(self.s, timeout_ms or 1000)
  if n < 0 then raise(2) end
  return n
end

function Socket:refill() return C.lxsk_refill(self.s) end
function Socket:recycle() return C.lxsk_recycle(self.s) end

function Socket:batch(n)
  return self.umem:batch(n or self.batch_size)
end

-- ---- socket-wide ----

-- events: "in" (default), "out" or "inout".  Returns readable, writable.
local EVENTS = { ["in"] = 1, out = 2, inout = 3 }
function Socket:poll(timeout_ms, events)
  local ev = EVENTS[events or "in"]
  if not ev then error("xsk: poll events must be \"in\", \"out\" or \"inout\"", 2) end
  local r = C.lxsk_poll(self.s, ev, timeout_ms or 0)
  if r < 0 then raise(2) end
  return r % 2 == 1, r >= 2
end

function Socket:stats()
  local st = ffi.new("struct lxsk_stats")
  if C.lxsk_sock_stats(self.s, st) < 0 then raise(2) end
  return {
    rx_dropped = tonumber(st.rx_dropped),
    rx_invalid_descs = tonumber(st.rx_invalid_descs),
    tx_invalid_descs = tonumber(st.tx_invalid_descs),
    rx_ring_full = tonumber(st.rx_ring_full),
    rx_fill_ring_empty_descs = tonumber(st.rx_fill_ring_empty_descs),
    tx_ring_empty_descs = tonumber(st.tx_ring_empty_descs),
  }
end

function Socket:zerocopy()
  local z = C.lxsk_sock_zerocopy(self.s)
  if z < 0 then raise(2) end
  return z == 1
end

function Socket:fd()
  local fd = C.lxsk_sock_fd(self.s)
  if fd < 0 then raise(2) end
  return fd
end

function Socket:ifindex() return C.lxsk_sock_ifindex(self.s) end

-- Ring occupancy: { size, entries, needs_wakeup } for "fill", "comp", "rx",
-- "tx"; nil for a ring the socket does not have.
function Socket:ring_state(which)
  if not RING_IDS[which] then error("xsk: no ring named " .. tostring(which), 2) end
  return ring_state(self.s, which)
end

function Socket:close()
  if self.closed then return end
  self.closed = true
  C.lxsk_sock_close(self.s)
end

function Socket:__tostring()
  return ("xsk.socket(%s queue %d%s)"):format(self.ifname, self.queue, self.closed and ", closed" or "")
end

-- ---- rings ----

-- All of the batch or none: returns the count produced, 0 when the ring has
-- no room for all of it.  Produced frames leave the batch.
function FillRing:produce(b)
  local n = C.lxsk_fill_produce(self.s, b)
  if n < 0 then raise(2) end
  return n
end
function FillRing:needs_wakeup() return C.lxsk_fill_needs_wakeup(self.s) ~= 0 end
-- The fill ring is woken by polling for input.
function FillRing:wakeup(timeout_ms) return self.sock:poll(timeout_ms or 0, "in") end
function FillRing:state() return ring_state(self.s, "fill") end

function CompRing:consume(b, max)
  local n = C.lxsk_comp_consume(self.s, b, max or b.cap)
  if n < 0 then raise(2) end
  return n
end
function CompRing:state() return ring_state(self.s, "comp") end

function RxRing:consume(b, max)
  local n = C.lxsk_rx_consume(self.s, b, max or b.cap)
  if n < 0 then raise(2) end
  return n
end
-- Waits up to timeout_ms for packets, then consumes them.
function RxRing:poll_and_consume(b, timeout_ms, max)
  local n = C.lxsk_rx_consume(self.s, b, max or b.cap)
  if n == 0 then
    if C.lxsk_poll(self.s, 1, timeout_ms or 0) < 0 then raise(2) end
    n = C.lxsk_rx_consume(self.s, b, max or b.cap)
  end
  if n < 0 then raise(2) end
  return n
end
function RxRing:state() return ring_state(self.s, "rx") end

function TxRing:produce(b)
  local n = C.lxsk_tx_produce(self.s, b)
  if n < 0 then raise(2) end
  return n
end
function TxRing:needs_wakeup() return C.lxsk_tx_needs_wakeup(self.s) ~= 0 end
function TxRing:wakeup()
  if C.lxsk_kick_tx(self.s) < 0 then raise(2) end
end
function TxRing:produce_and_wakeup(b)
  local n = C.lxsk_tx_produce(self.s, b)
  if n < 0 then raise(2) end
  if n > 0 and C.lxsk_tx_needs_wakeup(self.s) ~= 0 and C.lxsk_kick_tx(self.s) < 0 then raise(2) end
  return n
end
function TxRing:state() return ring_state(self.s, "tx") end

return M
