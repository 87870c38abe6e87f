-- xsk.socket: AF_XDP sockets and their four rings.
--
-- The batch calls (recv, send, forward) and the ring calls are the hot path:
-- each checks its batch argument with ffi.istype (a guard the JIT compiles
-- away when the type is right) and makes one FFI call.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"
local frame = require "xsk.frame"

local setmetatable, getmetatable, tonumber, error, type = setmetatable, getmetatable, tonumber, error, type
local istype = ffi.istype
local bad_int, argerror, core_error, options = base.bad_int, base.argerror, base.core_error, base.options
local batch_t, not_a_batch = frame.batch_t, frame.not_a_batch

local M = {}

local BIND = { auto = C.LXSK_BIND_AUTO, copy = C.LXSK_BIND_COPY, zerocopy = C.LXSK_BIND_ZEROCOPY }
local ATTACH = { auto = C.LXSK_ATTACH_AUTO, native = C.LXSK_ATTACH_NATIVE, skb = C.LXSK_ATTACH_SKB }
local MAX_RING = 2 ^ 24
local MAX_MS = 2147483647

-- Ring sizes follow libxdp's defaults.  The core checks the rules that
-- depend on each other (powers of two, tx_budget against tx_size).
M.schema = {
  ifname = { "string" },
  queue = { "int", 0, 0, 65535 },
  rx_size = { "int", 2048, 1, MAX_RING },
  tx_size = { "int", 2048, 1, MAX_RING },
  rx = { "bool", true },
  tx = { "bool", true },
  bind_mode = { "enum", "auto", BIND },
  attach_mode = { "enum", "auto", ATTACH },
  need_wakeup = { "bool", true },
  load_program = { "bool", true },
  busy_poll_us = { "int", 0, 0, 2147483647 },
  busy_poll_budget = { "int", 0, 0, 65535 },
  prefer_busy_poll = { "bool", false },
  tx_budget = { "int", 0, 0, MAX_RING },
  batch_size = { "int", 64, 1, 65536 },
  auto_fill = { "bool", true },
  multi_buffer = { "bool", false },
  tx_time = { "bool", false }, -- send records when it hands frames to the kernel: sock:tx_time()
}

local Socket = {}
Socket.__index = Socket
M.Socket = Socket

-- Ring objects give the xsk-rs level: produce and consume, one batch at a time.
local FillRing, CompRing, RxRing, TxRing = {}, {}, {}, {}
FillRing.__index, CompRing.__index, RxRing.__index, TxRing.__index = FillRing, CompRing, RxRing, TxRing

local RING_IDS = { fill = C.LXSK_RING_FILL, comp = C.LXSK_RING_COMP, rx = C.LXSK_RING_RX, tx = C.LXSK_RING_TX }
local EVENTS = { ["in"] = C.LXSK_POLL_IN, out = C.LXSK_POLL_OUT, inout = C.LXSK_POLL_IN + C.LXSK_POLL_OUT }

-- The checked option table for cfg and the struct lxsk_sock_opts the core
-- takes, or nil and a message.  The struct points into the table's strings:
-- keep the table while the struct is used.
function M.c_options(cfg)
  local o, err = options("xsk.socket", M.schema, cfg)
  if not o then return nil, err end
  err = base.missing("xsk.socket", o, { "ifname" })
  if err then return nil, err end
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
  opts.tx_time = o.tx_time and 1 or 0
  return o, opts
end

-- The socket object for s, a struct lxsk_sock * the core made on umem's
-- handle with the options o (from M.c_options); it owns s from now on.
function M.wrap(umem, s, o)
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

-- Opens a socket on umem; returns it, or nil and a message.
function M.open(umem, cfg)
  if type(umem) ~= "table" or getmetatable(umem) ~= require("xsk.umem").Umem then
    return nil, "xsk.socket: the first argument must be an xsk.umem"
  end
  local o, opts = M.c_options(cfg)
  if not o then return nil, opts end
  local s = C.lxsk_sock_new(umem.u, opts)
  if s == nil then return nil, core_error("xsk.socket") end
  return M.wrap(umem, s, o)
end

-- xsk.socket(umem, cfg), the same as umem:socket(cfg).
function M.new(umem, cfg)
  local s, err = M.open(umem, cfg)
  if not s then error(err, 2) end
  return s
end

local function bad_ms(v) return bad_int(v, -1, MAX_MS) end

local function bad_max(max)
  if bad_int(max, 0, 4294967295) then return argerror("xsk.socket", "max", "a whole number from 0 up", max) end
end

local function ring_state(s, id)
  local st = ffi.new("struct lxsk_ring_state")
  if C.lxsk_ring_state(s, id, st) < 0 then return nil, core_error("xsk.socket") end
  if st.present == 0 then return false end
  return { size = st.size, entries = st.entries, needs_wakeup = st.needs_wakeup ~= 0 }
end

-- The entries between the consumer and the producer of ring `id`, oldest
-- first: addresses, and for the RX and TX rings their lengths and options;
-- false for a ring the socket does not have, nil and a message on failure.
local HAS = { [C.LXSK_RING_RX] = "has_rx", [C.LXSK_RING_TX] = "has_tx" }
local function ring_entries(sock, id)
  local has = HAS[id]
  if has and not sock[has] then return false end
  local size = C.lxsk_ring_entries(sock.s, id, nil, 0, nil)
  if size < 0 then return nil, core_error("xsk.socket") end
  local buf = ffi.new("struct lxsk_ring_entry[?]", size)
  local n = size > 0 and C.lxsk_ring_entries(sock.s, id, buf, size, nil) or 0
  if n < 0 then return nil, core_error("xsk.socket") end
  local addrs, lens, opts = {}, has and {} or nil, has and {} or nil
  -- the kernel may have added entries since the count: a snapshot of the first
  for i = 1, n < size and n or size do
    local e = buf[i - 1]
    addrs[i] = tonumber(e.addr)
    if has then lens[i], opts[i] = e.len, e.options end
  end
  return addrs, lens, opts
end

-- ---- batch API (hot path) ----

-- Receives up to the batch's free room; waits up to timeout_ms (default 0:
-- do not wait, -1: forever) when nothing is there.  Returns the count.
function Socket:recv(b, timeout_ms)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: recv", b), 2) end
  if timeout_ms == nil then timeout_ms = 0 end
  if bad_ms(timeout_ms) then error(argerror("xsk.socket: recv", "timeout_ms", "-1 or more (ms)", timeout_ms), 2) end
  local n = C.lxsk_recv(self.s, b, timeout_ms)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end

-- Sends the batch's frames; returns how many went.  Frames that did not fit
-- stay in the batch (at its front) and still belong to the script.
function Socket:send(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: send", b), 2) end
  local n = C.lxsk_send(self.s, b)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end

-- Sends received frames out of this socket without copying (both sockets on
-- one UMEM); frames that do not fit are dropped.  The batch ends up empty.
function Socket:forward(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: forward", b), 2) end
  local n = C.lxsk_forward(self.s, b)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end

-- Waits until the kernel has transmitted everything on the TX ring, up to
-- timeout_ms (default 1000, -1: no limit); returns the frames still waiting.
function Socket:flush(timeout_ms)
  if timeout_ms == nil then timeout_ms = 1000 end
  if bad_ms(timeout_ms) then error(argerror("xsk.socket: flush", "timeout_ms", "-1 or more (ms)", timeout_ms), 2) end
  local n = C.lxsk_flush(self.s, timeout_ms)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end

function Socket:refill() return C.lxsk_refill(self.s) end
function Socket:recycle() return C.lxsk_recycle(self.s) end

function Socket:batch(n)
  return self.umem:batch(n or self.batch_size)
end

-- ---- socket-wide ----

-- events: "in" (default), "out" or "inout".  Returns readable, writable.
function Socket:poll(timeout_ms, events)
  local ev = EVENTS[events or "in"]
  if not ev then error(argerror("xsk.socket: poll", "events", '"in", "out" or "inout"', events), 2) end
  if timeout_ms == nil then timeout_ms = 0 end
  if bad_ms(timeout_ms) then error(argerror("xsk.socket: poll", "timeout_ms", "-1 or more (ms)", timeout_ms), 2) end
  local r = C.lxsk_poll(self.s, ev, timeout_ms)
  if r < 0 then error(core_error("xsk.socket"), 2) end
  return r % 2 == 1, r >= 2
end

function Socket:stats()
  local st = ffi.new("struct lxsk_stats")
  if C.lxsk_sock_stats(self.s, st) < 0 then error(core_error("xsk.socket"), 2) end
  return {
    rx_dropped = tonumber(st.rx_dropped),
    rx_invalid_descs = tonumber(st.rx_invalid_descs),
    tx_invalid_descs = tonumber(st.tx_invalid_descs),
    rx_ring_full = tonumber(st.rx_ring_full),
    rx_fill_ring_empty_descs = tonumber(st.rx_fill_ring_empty_descs),
    tx_ring_empty_descs = tonumber(st.tx_ring_empty_descs),
  }
end

-- When the last send that moved frames handed them to the kernel (ns on
-- CLOCK_MONOTONIC, xsk.clock's clock, taken just before its first kick), or
-- nil before the first.  Needs a socket made with tx_time = true.
function Socket:tx_time()
  local t = C.lxsk_sock_tx_time(self.s)
  if t < 0 then error(core_error("xsk.socket"), 2) end
  if t == 0 then return nil end
  return tonumber(t)
end

function Socket:zerocopy()
  local z = C.lxsk_sock_zerocopy(self.s)
  if z < 0 then error(core_error("xsk.socket"), 2) end
  return z == 1
end

function Socket:fd()
  local fd = C.lxsk_sock_fd(self.s)
  if fd < 0 then error(core_error("xsk.socket"), 2) end
  return fd
end

function Socket:ifindex() return C.lxsk_sock_ifindex(self.s) end

function Socket:is_closed() return C.lxsk_sock_fd(self.s) < 0 end

-- Ring occupancy: { size, entries, needs_wakeup } for "fill", "comp", "rx",
-- "tx"; nil for a ring the socket does not have.
function Socket:ring_state(which)
  local id = RING_IDS[which]
  if not id then error(argerror("xsk.socket: ring_state", "the ring", '"fill", "comp", "rx" or "tx"', which), 2) end
  local st, err = ring_state(self.s, id)
  if st == nil then error(err, 2) end
  return st or nil
end

-- What a ring holds right now, oldest first (a slow path, for checks and
-- debugging; it takes nothing): the list of addresses, and for "rx" and "tx"
-- the lists of their lengths and options.  nil for a ring the socket does not
-- have.
function Socket:ring_entries(which)
  local id = RING_IDS[which]
  if not id then error(argerror("xsk.socket: ring_entries", "the ring", '"fill", "comp", "rx" or "tx"', which), 2) end
  local addrs, lens, opts = ring_entries(self, id)
  if addrs == nil then error(lens, 2) end
  if not addrs then return nil end
  return addrs, lens, opts
end

-- Closes the socket; the frames its rings held go back to the UMEM's pool.
function Socket:close()
  C.lxsk_sock_close(self.s)
end

function Socket:__tostring()
  return ("xsk.socket(%s queue %d%s)"):format(self.ifname, self.queue, self:is_closed() and ", closed" or "")
end

-- ---- rings ----

-- All of the batch or none: returns the count produced, 0 when the ring has
-- no room for all of it.  Produced frames leave the batch.
function FillRing:produce(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: fill:produce", b), 2) end
  local n = C.lxsk_fill_produce(self.s, b)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end
function FillRing:needs_wakeup() return C.lxsk_fill_needs_wakeup(self.s) ~= 0 end
-- The fill ring is woken by polling for input; returns whether a packet waits.
function FillRing:wakeup(timeout_ms)
  if timeout_ms == nil then timeout_ms = 0 end
  if bad_ms(timeout_ms) then
    error(argerror("xsk.socket: fill:wakeup", "timeout_ms", "-1 or more (ms)", timeout_ms), 2)
  end
  local r = C.lxsk_poll(self.s, C.LXSK_POLL_IN, timeout_ms)
  if r < 0 then error(core_error("xsk.socket"), 2) end
  return r % 2 == 1
end
function FillRing:state()
  local st, err = ring_state(self.s, C.LXSK_RING_FILL)
  if st == nil then error(err, 2) end
  return st or nil
end
function FillRing:entries()
  local addrs, lens, opts = ring_entries(self.sock, C.LXSK_RING_FILL)
  if addrs == nil then error(lens, 2) end
  return addrs, lens, opts
end

function CompRing:consume(b, max)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: comp:consume", b), 2) end
  if max == nil then max = b.cap end
  local bad = bad_max(max)
  if bad then error(bad, 2) end
  local n = C.lxsk_comp_consume(self.s, b, max)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end
function CompRing:state()
  local st, err = ring_state(self.s, C.LXSK_RING_COMP)
  if st == nil then error(err, 2) end
  return st or nil
end
function CompRing:entries()
  local addrs, lens, opts = ring_entries(self.sock, C.LXSK_RING_COMP)
  if addrs == nil then error(lens, 2) end
  return addrs, lens, opts
end

function RxRing:consume(b, max)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: rx:consume", b), 2) end
  if max == nil then max = b.cap end
  local bad = bad_max(max)
  if bad then error(bad, 2) end
  local n = C.lxsk_rx_consume(self.s, b, max)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end
-- Waits up to timeout_ms for packets, then consumes them.
function RxRing:poll_and_consume(b, timeout_ms, max)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: rx:poll_and_consume", b), 2) end
  if max == nil then max = b.cap end
  if timeout_ms == nil then timeout_ms = 0 end
  local bad = bad_max(max)
    or (bad_ms(timeout_ms) and argerror("xsk.socket", "timeout_ms", "-1 or more (ms)", timeout_ms))
  if bad then error(bad, 2) end
  local n = C.lxsk_rx_consume(self.s, b, max)
  if n == 0 then
    if C.lxsk_poll(self.s, C.LXSK_POLL_IN, timeout_ms) < 0 then error(core_error("xsk.socket"), 2) end
    n = C.lxsk_rx_consume(self.s, b, max)
  end
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end
function RxRing:state()
  local st, err = ring_state(self.s, C.LXSK_RING_RX)
  if st == nil then error(err, 2) end
  return st or nil
end
function RxRing:entries()
  local addrs, lens, opts = ring_entries(self.sock, C.LXSK_RING_RX)
  if addrs == nil then error(lens, 2) end
  return addrs, lens, opts
end

function TxRing:produce(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: tx:produce", b), 2) end
  local n = C.lxsk_tx_produce(self.s, b)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  return n
end
function TxRing:needs_wakeup() return C.lxsk_tx_needs_wakeup(self.s) ~= 0 end
function TxRing:wakeup()
  if C.lxsk_kick_tx(self.s) < 0 then error(core_error("xsk.socket"), 2) end
end
function TxRing:produce_and_wakeup(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.socket: tx:produce_and_wakeup", b), 2) end
  local n = C.lxsk_tx_produce(self.s, b)
  if n < 0 then error(core_error("xsk.socket"), 2) end
  if n > 0 and C.lxsk_tx_needs_wakeup(self.s) ~= 0 and C.lxsk_kick_tx(self.s) < 0 then
    error(core_error("xsk.socket"), 2)
  end
  return n
end
function TxRing:state()
  local st, err = ring_state(self.s, C.LXSK_RING_TX)
  if st == nil then error(err, 2) end
  return st or nil
end
function TxRing:entries()
  local addrs, lens, opts = ring_entries(self.sock, C.LXSK_RING_TX)
  if addrs == nil then error(lens, 2) end
  return addrs, lens, opts
end

return M
