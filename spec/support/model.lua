-- A model-based random test of frame ownership and of packet delivery.
--
-- One UMEM, sockets on both ends of a veth pair (each end with its own
-- fill/completion ring pair; in some sessions a second socket shares the
-- first one's queue), a handful of script batches, and a random walk over
-- every public operation, misuse included.  The model says who holds each
-- frame:
--
--   pool   the UMEM's free pool
--   fill   the kernel, on ring pair P's fill ring or an RX ring (P is tracked)
--   user   the script: exactly the frames listed in the script's batches
--   tx     the kernel, on a TX ring of pair P or on P's completion ring
--
-- After every step every frame address is read back with umem:owner() and
-- each change is checked against what that operation may do; the frames the
-- model gives the script must be exactly those in the batches, each once, and
-- umem:free_frames() must count the pool.  Misuse must raise a Lua error that
-- names the problem and change nothing.
--
-- The kernel's side is read too (sock:ring_entries): every TX ring must hold
-- exactly the newest of the descriptors the model put there, in order (the
-- older ones the kernel took); every fill ring the newest of the frames put
-- there; RX and completion rings only frames the model has on that pair,
-- each once.  At quiet points (no packet in flight) every frame the kernel
-- holds must be in one of those rings: a frame lost inside a ring is seen.
--
-- Packets carry a token (session, sequence number, length, sender).  Every
-- packet the kernel took from a TX ring is received exactly once, or its loss
-- is explained by a counter: the receiving veth's rx_dropped (what the AF_XDP
-- sockets dropped, their own XDP statistics, read before each closes, and
-- what went to the kernel stack because no socket took it), the sending
-- veth's tx_dropped, and a steering program's drop rules.  Before every
-- socket opens or closes, and at each session's end (flush, then drain),
-- the model waits until nothing is in flight, then checks
--   taken = received + discarded at close + on RX rings + counted drops
-- and, for the time since the last such point, that each drop has its cause.
-- An unmarked packet is a failure: nothing else may be on the wire.
--
-- A session draws its shape: frame headroom, auto-fill, the program
-- (libxdp's default program, or xsk.steer on both ends with random rules and
-- sockets made with load_program = false), and for each socket RX-only,
-- TX-only or both and need_wakeup on or off.
--
-- The kernel works asynchronously, so a seed reproduces the sequence of
-- operations, not necessarily the kernel's timing.  XSK_MODEL_SETTLE_ALL=1
-- waits for a quiet point after every operation, so a lost packet is
-- reported at the operation that lost it.
--
--   local model = require "support.model"
--   local m = model.new{ seed = 42 }   -- inside a namespace with veth0/veth1
--   m:run(20000)                       -- raises with the seed and a log on failure
--   m:finish()
local ffi = require "ffi"
local bit = require "bit"
local xsk = require "xsk"
local steer = require "xsk.steer"
local clock = require "xsk.clock"

local bxor, lshift, rshift = bit.bxor, bit.lshift, bit.rshift
local tonumber, pcall, error, fmt = tonumber, pcall, error, string.format

local M = {}

local FRAME_SIZE = 2048
local RING = 16          -- fill, completion, RX and TX ring sizes: small, so they fill up
local MAGIC = 0x4d4b5358 -- "XSKM" read as a little-endian uint32
local MIN_LEN, MAX_LEN = 60, 1514
local HEADROOM_MAX = 1024
local SETTLE_NS = 3e9    -- how long a packet may be in flight before its loss is a failure

-- The EtherTypes the model stamps: mostly the first; the others are what
-- steering rules tell apart.
local KINDS = { 0x88b5, 0x88b6, 0x88b7, 0x88b8 }
local KIND_OF = {}
for k, et in ipairs(KINDS) do KIND_OF[et] = k end
-- The rules a steering session draws from (each end its own subset).
local RULES = {
  { ethertype = 0x88b6, action = "drop" },
  { ethertype = 0x88b7, action = "pass" },
  { ethertype = 0x88b5 },
  { ethertype = 0x88b8, action = "redirect" },
}
local UNMATCHED = steer.MAX_RULES

-- Sockets: slots 1 and 3 on the first interface (3 shares 1's queue, in
-- sessions that draw it), slot 2 on the second.
local SLOT_IF = { 1, 2, 1 }

local u32p = ffi.typeof("uint32_t *")
local scratch = ffi.new("uint8_t[?]", MAX_LEN)

-- The frame fields a script cannot write (they are const to the FFI), made
-- writable by a cast, as a script that casts pointers could: the misuse the
-- model draws includes forged descriptors, and the core must refuse them.
ffi.cdef [[
struct model_frame_rw { uint8_t *data; uint64_t addr; uint32_t len, options, umem_id, cap; };
]]
local rw_t = ffi.typeof("struct model_frame_rw *")
local forged_t = ffi.typeof("struct model_frame_rw")

local function forge(f)
  return forged_t(f.data, f.addr, f.len, f.options, f.umem_id, f.cap)
end

-- xorshift32: our own generator, so nothing else that calls math.random can
-- change the sequence a seed gives.
local function rng(seed)
  local s = bit.tobit(seed)
  if s == 0 then s = 0x2545f491 end
  for _ = 1, 8 do
    s = bxor(s, lshift(s, 13)); s = bxor(s, rshift(s, 17)); s = bxor(s, lshift(s, 5))
  end
  -- r(n): a whole number from 1 to n
  return function(n)
    s = bxor(s, lshift(s, 13)); s = bxor(s, rshift(s, 17)); s = bxor(s, lshift(s, 5))
    return s % n + 1
  end
end
M.rng = rng

-- Picks a seed from XSK_SEED, or from the clock.
function M.seed(arg)
  local s = tonumber(arg or os.getenv("XSK_SEED"))
  if s then return s end
  local f = io.open("/dev/urandom", "rb")
  local b = f:read(3)
  f:close()
  return b:byte(1) * 65536 + b:byte(2) * 256 + b:byte(3) + 1
end

-- Writes a token packet of len bytes at p: a broadcast Ethernet header whose
-- source address ends in the sending slot, EtherType KINDS[kind], then the
-- magic, the session and the sequence number; the sequence number again in
-- the last four bytes.
local function write_packet(p, len, slot, kind, session, seq)
  for k = 0, 5 do p[k] = 0xff end
  p[6], p[7], p[8], p[9], p[10], p[11] = 2, 0, 0, 0, 0, slot
  local et = KINDS[kind]
  p[12], p[13] = rshift(et, 8), et % 256
  local w = ffi.cast(u32p, p + 14)
  w[0], w[1], w[2] = MAGIC, session, seq
  ffi.cast(u32p, p + len - 4)[0] = seq
end

-- rx_dropped and tx_dropped of every interface of this network namespace.
local function dev_drops()
  local t = {}
  for line in io.lines("/proc/self/net/dev") do
    local name, rest = line:match("^%s*([^:%s]+):(.*)$")
    if name then
      local v, k = {}, 0
      for n in rest:gmatch("%d+") do k = k + 1; v[k] = tonumber(n) end
      t[name] = { rx = v[4], tx = v[12] }
    end
  end
  return t
end

local Model = {}
Model.__index = Model

-- opts: seed, frame_count (default 64), ifnames ({ "veth0", "veth1" }),
-- check_xdp (function(ifname) -> true when an XDP program is attached;
-- checked whenever a session ends), session_ops (mean operations per
-- session, default 2000), modes (the programs sessions draw from, default
-- { "libxdp", "steer" }).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Model)
  self.seed = opts.seed or M.seed()
  self.r = rng(self.seed)
  self.fc = opts.frame_count or 64
  self.ifnames = opts.ifnames or { "veth0", "veth1" }
  self.check_xdp = opts.check_xdp
  self.modes = opts.modes or { "libxdp", "steer" }
  -- to find the operation that lost a packet: a quiet point after each
  self.settle_all = opts.settle_all or os.getenv("XSK_MODEL_SETTLE_ALL") == "1"
  self:weights(opts.session_ops or 2000)
  self.log, self.logn = {}, 0
  self.stats = { ops = 0, sessions = 0, misuse = 0, deferred = 0, sent = 0, taken = 0, received = 0,
    discarded = 0, unsent = 0, dropped = 0, drop_xsk = 0, drop_stack = 0, drop_rule = 0, drop_tx = 0,
    settles = 0, settle_waits = 0, closed_use = 0, reopen_refused = 0, refused = 0, by_op = {}, by_mode = {} }
  self.session = 0
  self.steer = {}
  self.act = {}
  self.seen, self.seen_gen = {}, 0
  -- A UMEM of its own, for frames that belong to another UMEM.
  self.other = xsk.umem { frame_count = 8, frame_size = FRAME_SIZE, fill_size = RING, comp_size = RING }
  self.other_b = self.other:batch(2)
  self.other:alloc(self.other_b, 2)
  self:start()
  return self
end

-- ---- failure reporting ----

function Model:note(s)
  local n = self.logn % 40 + 1
  self.log[n] = s
  self.logn = self.logn + 1
end

function Model:fail(msg, ...)
  local lines = {}
  local first = self.logn > 40 and self.logn - 39 or 1
  for k = first, self.logn do lines[#lines + 1] = fmt("  #%d %s", k, self.log[(k - 1) % 40 + 1]) end
  error(fmt("model check failed (XSK_SEED=%d, op %d, session %d, %s): %s\nlast operations:\n%s",
    self.seed, self.stats.ops, self.session, self.shape or "?", fmt(msg, ...), table.concat(lines, "\n")), 0)
end

-- ---- frames and batches ----

function Model:index(addr)
  return math.floor(tonumber(addr) / FRAME_SIZE)
end

local function call(self, what, fn, ...)
  local ok, r = pcall(fn, ...)
  if not ok then self:fail("%s raised: %s", what, tostring(r)) end
  return r
end

local function snap(b)
  local s = { n = b.n }
  for j = 0, math.min(b.n, b.cap) - 1 do
    local f = b.f[j]
    s[j] = { tonumber(f.addr), f.len, f.umem_id }
  end
  return s
end

local function same_entry(f, e)
  return tonumber(f.addr) == e[1] and f.len == e[2] and f.umem_id == e[3]
end

function Model:batch_unchanged(b, s, what)
  if b.n ~= s.n then self:fail("%s: batch count changed from %d to %d", what, s.n, b.n) end
  for j = 0, math.min(s.n, b.cap) - 1 do
    if not same_entry(b.f[j], s[j]) then
      self:fail("%s: batch entry %d changed (addr 0x%x -> 0x%x)", what, j, s[j][1], tonumber(b.f[j].addr))
    end
  end
end

-- Keeps a copy of a descriptor the script is about to give away, for misuse.
function Model:keep_stale(f)
  self.stalen = self.stalen + 1
  local k = (self.stalen - 1) % 16 + 1
  local d = self.stale[k] or forged_t()
  ffi.copy(d, f, ffi.sizeof(d))
  self.stale[k] = d
end

function Model:keep_stale_batch(b, first, last)
  for j = first or 0, last or b.n - 1 do
    if self.r(4) == 1 then self:keep_stale(b.f[j]) end
  end
end

-- A new packet: its sequence number, length and EtherType kind, recorded.
function Model:new_packet(slot)
  self.seq = self.seq + 1
  local seq = self.seq
  local len = MIN_LEN + self.r(self.max_len - MIN_LEN + 1) - 1
  local kind = self.r(8) <= 5 and 1 or self.r(3) + 1
  self.p_len[seq], self.p_src[seq], self.p_kind[seq], self.p_state[seq] = len, SLOT_IF[slot], kind, 0
  return seq, len, kind
end

-- Writes a token packet into every frame of b (the script owns them all), in
-- one of the ways a script may: in place and set f.len, in place and
-- f:setlen, or f:set with a string.
function Model:stamp(b, slot)
  for j = 0, b.n - 1 do
    local f = b.f[j]
    local seq, len, kind = self:new_packet(slot)
    local how = self.r(4)
    if how == 1 then
      write_packet(scratch, len, slot, kind, self.session, seq)
      f:set(ffi.string(scratch, len))
    else
      write_packet(f.data, len, slot, kind, self.session, seq)
      if how == 2 then f:setlen(len) else f.len = len end
    end
    if f.len ~= len then self:fail("stamp: a frame written with %d bytes has len %d", len, f.len) end
    local i = self:index(f.addr)
    self.f_seq[i], self.f_len[i] = seq, len
  end
end

-- The packet at data, len bytes, arrived at interface d: it must be a token
-- packet of this session that the other interface sent and the kernel took,
-- not yet received.  Returns its sequence number; marks it received unless
-- peek (it is only being looked at on an RX ring).
function Model:check_packet(data, len, d, where, peek)
  if len < MIN_LEN then self:fail("%s: a %d-byte packet, shorter than any the model sends", where, len) end
  local et = data[12] * 256 + data[13]
  local p = ffi.cast(u32p, data + 14)
  if not KIND_OF[et] or p[0] ~= MAGIC then
    self:fail("%s: an unmarked packet (EtherType 0x%04x, %d bytes): nothing but the model's packets may arrive",
      where, et, len)
  end
  local session, seq = p[1], p[2]
  if session ~= self.session then
    self:fail("%s: packet %d of session %d arrived in session %d", where, seq, session, self.session)
  end
  local state = self.p_state[seq]
  if not state then self:fail("%s: packet %d was never sent", where, seq) end
  if state == 3 then self:fail("%s: packet %d arrived twice", where, seq) end
  if state ~= 2 then
    self:fail("%s: packet %d arrived, but the kernel had not taken it from a TX ring (state %d)", where, seq, state)
  end
  if self.p_src[seq] == d then self:fail("%s: packet %d came back to the interface that sent it", where, seq) end
  if self.p_len[seq] ~= len then
    self:fail("%s: packet %d: sent %d bytes, received %d", where, seq, self.p_len[seq], len)
  end
  if KINDS[self.p_kind[seq]] ~= et then self:fail("%s: packet %d: its EtherType changed", where, seq) end
  if ffi.cast(u32p, data + len - 4)[0] ~= seq then self:fail("%s: packet %d: its tail was corrupted", where, seq) end
  if not peek then self.p_state[seq] = 3 end
  return seq
end

-- Frame i went on socket s's TX ring (after its older entries).
function Model:to_tx_ring(s, i)
  local q = s.model_txq
  q[#q + 1] = i
  local seq = self.f_seq[i]
  if not seq or self.p_state[seq] ~= 0 then self:fail("frame %d went on a TX ring without a fresh packet", i) end
  self.p_state[seq] = 1
  self.stats.sent = self.stats.sent + 1
end

-- The kernel took frame i from socket s's TX ring: its packet is on its way
-- to the other interface, where the steering in force decides its fate.
function Model:taken(i)
  local seq = self.f_seq[i]
  if self.p_state[seq] ~= 1 then self:fail("the kernel took frame %d twice from a TX ring", i) end
  self.p_state[seq] = 2
  local d = 3 - self.p_src[seq]
  self.T[d] = self.T[d] + 1
  self.stats.taken = self.stats.taken + 1
  local fate, slot = self:fate(d, self.p_kind[seq])
  if fate == "stack" then self.int_stack[d] = self.int_stack[d] + 1 end
  if slot then self.int_slot[d][slot] = (self.int_slot[d][slot] or 0) + 1 end
end

-- ---- the check after every step ----

-- spec.exact[i] = { owner, pair }: where frame i must be now.
-- spec.new_user[i] = pair (or "pool", "alloc" or "any"): frame i arrived in a
--   batch from the fill ring of that pair (or the pool; "alloc": the pool or
--   a completion ring, see alloc_from).
-- spec.pool_to_fill = pair: refilling may move pool frames to that fill ring.
-- spec.tx_to_pool = pair: recycling may return that pair's TX frames.
-- spec.alloc_from = { [pair] = true }: new_user "alloc" entries may be those
--   pairs' TX frames (completed) as well as pool frames.
-- spec.fill_order = { pair = p, ordered = true, frame, ... }: the frames put
--   on p's fill ring this step, in ring order.
-- Every other frame must stay where it was.  Then the rings (check_rings).
function Model:check_all(what, spec)
  spec = spec or {}
  local u, own, pair, act = self.u, self.own, self.pair, self.act
  local exact, new_user, p2f, t2p = spec.exact, spec.new_user, spec.pool_to_fill, spec.tx_to_pool
  local fill_add = self.fill_add
  local pool = 0
  for i = 0, self.fc - 1 do
    local a = u:owner(i * FRAME_SIZE)
    act[i] = a
    local was = own[i]
    local e = exact and exact[i]
    if e then
      if a ~= e[1] then self:fail("%s: frame %d should be %s but is %s (was %s)", what, i, e[1], a, was) end
      own[i], pair[i] = e[1], e[2]
    elseif new_user and new_user[i] then
      local src = new_user[i]
      if a ~= "user" then self:fail("%s: frame %d is in a batch but its owner is %s", what, i, a) end
      local okay = ((src == "pool" or src == "alloc") and was == "pool")
        or (src == "alloc" and was == "tx" and spec.alloc_from[pair[i]]) -- completed, then allocated
        or (was == "fill" and pair[i] == src)
        or (src ~= "pool" and was == "pool" and p2f == src) -- refilled and received in one call
        or (src ~= "pool" and was == "tx" and t2p == pair[i] and p2f == src) -- recycled, refilled, received
      if not okay then
        self:fail("%s: frame %d reached the script from %s (pair %s), expected %s", what, i, was,
          tostring(pair[i]), tostring(src))
      end
      own[i], pair[i] = "user", false
    elseif a ~= was then
      if was == "pool" and a == "fill" and p2f then
        own[i], pair[i] = "fill", p2f
      elseif was == "tx" and a == "pool" and t2p and pair[i] == t2p then
        own[i], pair[i] = "pool", false
      elseif was == "tx" and a == "fill" and t2p and pair[i] == t2p and p2f then
        -- recycled, then refilled, in one call
        own[i], pair[i] = "fill", p2f
      else
        self:fail("%s: frame %d changed from %s (pair %s) to %s, which this step may not do", what, i, was,
          tostring(pair[i]), a)
      end
    end
    if own[i] == "fill" and was ~= "fill" then
      local add = fill_add[pair[i]] or {}
      fill_add[pair[i]] = add
      add[#add + 1] = i
    end
    if a == "pool" then pool = pool + 1 end
  end
  -- fill:produce knows the order its frames went on the ring
  if spec.fill_order then fill_add[spec.fill_order.pair] = spec.fill_order end
  local free = u:free_frames()
  if free ~= pool then
    self:fail("%s: free_frames() says %d, owners say %d frames are in the pool", what, free, pool)
  end
  -- The script's frames are exactly those in its batches, each once.
  self.seen_gen = self.seen_gen + 1
  local gen, seen, listed = self.seen_gen, self.seen, 0
  for bi, b in ipairs(self.batches) do
    if b.n > b.cap then self:fail("%s: batch %d has n=%d > cap=%d", what, bi, b.n, b.cap) end
    for j = 0, b.n - 1 do
      local f = b.f[j]
      if f.umem_id ~= u.id then self:fail("%s: batch %d entry %d is of UMEM %d", what, bi, j, f.umem_id) end
      local i = self:index(f.addr)
      if i < 0 or i >= self.fc then self:fail("%s: batch %d entry %d addr outside the UMEM", what, bi, j) end
      if seen[i] == gen then self:fail("%s: frame %d is in the script's batches twice", what, i) end
      seen[i] = gen
      if act[i] ~= "user" then self:fail("%s: batch %d entry %d (frame %d) belongs to %s", what, bi, j, i, act[i]) end
      listed = listed + 1
    end
  end
  local users = 0
  for i = 0, self.fc - 1 do
    if act[i] == "user" then
      users = users + 1
      if seen[i] ~= gen then self:fail("%s: frame %d is the script's but in no batch (lost)", what, i) end
    end
  end
  if users ~= listed then self:fail("%s: %d script frames, %d batch entries", what, users, listed) end
  self:check_rings(what)
end

-- The open sockets of each live pair.
function Model:pairs_of()
  local t = {}
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and not s:is_closed() then
      local p = s.model_pair
      t[p] = t[p] or {}
      t[p][#t[p] + 1] = slot
    end
  end
  return t
end

-- The kernel's side, read from the rings themselves.  Every TX ring holds the
-- newest of the descriptors put there, in order (the kernel took the older
-- ones, which the accounting counts now); every fill ring the newest of the
-- frames put there; RX and completion rings only frames of that pair the
-- model has with the kernel, each frame in one place only.  With quiet (no
-- packet in flight), every frame the kernel holds must be on one of them:
-- returns false and why otherwise.  The RX rings are read before the fill
-- ring: the kernel publishes an RX entry before the fill ring's consumer, so
-- a frame can be seen on both for a moment, but only at the fill ring's
-- front; read the other way round it could be seen on neither.
function Model:check_rings(what, quiet)
  local own, pair, off = self.own, self.pair, self.u.data_offset
  local where = {}
  local missing
  for p, slots in pairs(self:pairs_of()) do
    local tx_n, rx_n = 0, 0
    for _, slot in ipairs(slots) do
      local s = self.socks[slot]
      if s.tx then
        local a, l = s:ring_entries("tx")
        local q = s.model_txq
        local n, m = #a, #q
        if n > m then
          self:fail("%s: the TX ring of socket %d holds %d entries, the model put %d there", what, slot, n, m)
        end
        for j = 1, n do
          local i = q[m - n + j]
          if a[j] ~= i * FRAME_SIZE + off or l[j] ~= self.f_len[i] then
            self:fail("%s: TX ring of socket %d, entry %d of %d: addr 0x%x len %d, but the model put frame %d "
              .. "(addr 0x%x len %d) there", what, slot, j, n, a[j], l[j], i, i * FRAME_SIZE + off, self.f_len[i])
          end
          if own[i] ~= "tx" or pair[i] ~= p then
            self:fail("%s: frame %d is on the TX ring of socket %d but the model has it as %s", what, i, slot, own[i])
          end
          where[i] = "the TX ring of socket " .. slot
        end
        for j = 1, m - n do self:taken(q[j]) end
        if m > n then
          local nq = {}
          for j = 1, n do nq[j] = q[m - n + j] end
          s.model_txq = nq
        end
        tx_n = tx_n + n
      end
    end
    local rep = self.socks[slots[1]]
    local c = rep:ring_entries("comp")
    for j = 1, #c do
      local i = self:index(c[j])
      if where[i] then
        self:fail("%s: frame %d is on the completion ring of pair %d and on %s", what, i, p, where[i])
      end
      if own[i] ~= "tx" or pair[i] ~= p then
        self:fail("%s: the completion ring of pair %d holds frame %d, which the model has as %s (pair %s)", what, p,
          i, own[i], tostring(pair[i]))
      end
      where[i] = "the completion ring"
    end
    tx_n = tx_n + #c
    for _, slot in ipairs(slots) do
      local s = self.socks[slot]
      if s.rx then
        local a = s:ring_entries("rx")
        for j = 1, #a do
          local i = self:index(a[j])
          if a[j] ~= i * FRAME_SIZE + off then self:fail("%s: RX ring of socket %d: addr 0x%x is not a packet's start",
            what, slot, a[j]) end
          if where[i] then
            self:fail("%s: frame %d is on the RX ring of socket %d and on %s", what, i, slot, where[i])
          end
          if own[i] ~= "fill" or pair[i] ~= p then
            self:fail("%s: the RX ring of socket %d holds frame %d, which the model has as %s (pair %s)", what, slot, i,
              own[i], tostring(pair[i]))
          end
          where[i] = "rx"
        end
        rx_n = rx_n + #a
      end
    end
    -- the fill ring: the newest of what was on it at the last look, then of
    -- what went on it since (in an order the model knows, or not: auto-fill
    -- picks frames from the pool)
    local f = rep:ring_entries("fill")
    local q, add = self.fillq[p] or {}, self.fill_add[p] or {}
    local n, m, k = #f, #q, #add
    if n > m + k then
      self:fail("%s: the fill ring of pair %d holds %d entries, the model put %d there", what, p, n, m + k)
    end
    local both, nf = 0, {}
    local from_add = n < k and n or k
    local in_add = {}
    for j = 1, k do in_add[add[j]] = j end
    for j = 1, n do
      local i = self:index(f[j])
      if f[j] ~= i * FRAME_SIZE then
        self:fail("%s: fill ring of pair %d: addr 0x%x is not a frame's start", what, p, f[j])
      end
      if own[i] ~= "fill" or pair[i] ~= p then
        self:fail("%s: the fill ring of pair %d holds frame %d, which the model has as %s (pair %s)", what, p, i,
          own[i], tostring(pair[i]))
      end
      if where[i] == "rx" and j == both + 1 then
        both = both + 1 -- taken by the kernel, its consumer not yet published
      elseif where[i] then
        self:fail("%s: frame %d is on the fill ring of pair %d (entry %d of %d) and on %s", what, i, p, j, n, where[i])
      end
      where[i] = "the fill ring"
      if j > n - from_add then
        -- one of the frames added since the last look
        local at = in_add[i]
        if not at then
          self:fail("%s: fill ring of pair %d, entry %d of %d: frame %d was not put there", what, p, j, n, i)
        end
        if add.ordered and at ~= k - (n - j) then
          self:fail("%s: fill ring of pair %d, entry %d of %d: frame %d, but the model put frame %d there", what, p, j,
            n, i, add[k - (n - j)])
        end
      elseif q[m - (n - from_add) + j] ~= i then
        self:fail("%s: fill ring of pair %d, entry %d of %d: frame %d, but the model had frame %s there", what, p, j,
          n, i, tostring(q[m - (n - from_add) + j]))
      end
      nf[j] = i
    end
    self.fillq[p], self.fill_add[p] = nf, nil
    rx_n = rx_n + n - both
    if quiet then
      local fills, txs = 0, 0
      for i = 0, self.fc - 1 do
        if pair[i] == p then
          if own[i] == "fill" then fills = fills + 1 elseif own[i] == "tx" then txs = txs + 1 end
        end
      end
      if fills ~= rx_n then
        missing = fmt("pair %d: the kernel holds %d frames for receiving, but its fill and RX rings show %d", p, fills,
          rx_n)
      elseif txs ~= tx_n then
        missing = fmt("pair %d: the kernel holds %d frames for sending, but its TX and completion rings show %d", p,
          txs, tx_n)
      end
    end
  end
  return missing == nil, missing
end

-- Map of frames of batch entries first..last to an owner.
function Model:exact_of(b, first, last, owner, p, into)
  into = into or {}
  for j = first, last do into[self:index(b.f[j].addr)] = { owner, p } end
  return into
end

function Model:exact_snap(s, first, last, owner, p, into)
  into = into or {}
  for j = first, last do into[self:index(s[j][1])] = { owner, p } end
  return into
end

-- Entries n0..n-1 are new: check them and say where they may come from.
-- packets: they were received at the socket in slot `slot`; lens: the
-- lengths they were written with (put_packet); otherwise they are fresh.
function Model:new_entries(b, n0, src, slot, packets, lens)
  local t = {}
  local u = self.u
  for j = n0, b.n - 1 do
    local f = b.f[j]
    local i = self:index(f.addr)
    if f.umem_id ~= u.id then self:fail("new batch entry %d has UMEM id %d", j, f.umem_id) end
    local chunk = i * FRAME_SIZE
    if f.data ~= u.area + f.addr then self:fail("frame %d: data does not point at area + addr", i) end
    if f.cap ~= FRAME_SIZE - (tonumber(f.addr) - chunk) then self:fail("frame %d: cap %d is wrong", i, f.cap) end
    if tonumber(f.addr) - chunk ~= u.data_offset then
      self:fail("frame %d: handed out at offset %d, not data_offset %d", i, tonumber(f.addr) - chunk, u.data_offset)
    end
    if packets then
      local d = SLOT_IF[slot]
      self:check_packet(f.data, f.len, d, fmt("socket %d", slot))
      self.R[d] = self.R[d] + 1
      self.stats.received = self.stats.received + 1
    elseif f.len ~= (lens and lens[j] or 0) or f.options ~= 0 then
      self:fail("frame %d: handed out with len %d options %d", i, f.len, f.options)
    end
    if self.r(16) == 1 then
      -- the user headroom sits at the chunk's start, whatever the packet's offset
      local p, size = u:headroom(f)
      if p ~= u.area + chunk or size ~= self.headroom then
        self:fail("frame %d: umem:headroom gives %s bytes at offset %d, not %d at its chunk", i, tostring(size),
          tonumber(ffi.cast("uint8_t *", p) - u.area), self.headroom)
      end
    end
    t[i] = src
  end
  return t
end

-- ---- sessions: a UMEM, its sockets and batches ----

function Model:start()
  self.session = self.session + 1
  self.stats.sessions = self.stats.sessions + 1
  local fc, r = self.fc, self.r
  self.headroom = r(2) == 1 and 0 or r(HEADROOM_MAX)
  self.max_len = math.min(MAX_LEN, FRAME_SIZE - 256 - self.headroom)
  self.u = xsk.umem { frame_count = fc, frame_size = FRAME_SIZE, frame_headroom = self.headroom, fill_size = RING,
    comp_size = RING }
  local u = self.u
  if u.frame_headroom ~= self.headroom or u.data_offset ~= 256 + self.headroom
    or u.max_packet ~= FRAME_SIZE - 256 - self.headroom then
    self:fail("a UMEM made with frame_headroom %d says frame_headroom %d, data_offset %d, max_packet %d",
      self.headroom, u.frame_headroom, u.data_offset, u.max_packet)
  end
  self.own, self.pair = {}, {}
  for i = 0, fc - 1 do self.own[i], self.pair[i] = "pool", false end
  self.batches = { u:batch(1), u:batch(4), u:batch(16), u:batch(fc) }
  self.socks = {}
  self.auto_fill = r(3) ~= 1
  -- the program mostly stays from one session to the next: loading the
  -- steering program takes half a second
  if not self.mode or r(8) == 1 then self.mode = self.modes[r(#self.modes)] end
  self.shared = self.mode == "steer" and r(2) == 1
  self.nslots = self.shared and 3 or 2
  self.shape = fmt("%s%s, headroom %d, auto_fill %s", self.mode, self.shared and " shared queue" or "",
    self.headroom, tostring(self.auto_fill))
  self.stats.by_mode[self.mode] = (self.stats.by_mode[self.mode] or 0) + 1
  self.next_pair = 0
  self.had_sockets = false
  self.stale, self.stalen = {}, 0
  -- packets, by sequence number: length, sending interface, EtherType kind,
  -- state (0 stamped, 1 on a TX ring, 2 taken by the kernel, 3 received or
  -- discarded, 4 returned unsent when its socket closed)
  self.seq = 0
  self.p_len, self.p_src, self.p_kind, self.p_state = {}, {}, {}, {}
  -- frames: the packet each holds, its length on the TX ring
  self.f_seq, self.f_len = {}, {}
  -- rings: per pair the frames on its fill ring as last read, and the frames
  -- added since; per socket its TX ring (s.model_txq)
  self.fillq, self.fill_add = {}, {}
  -- per receiving interface: packets taken towards it, received, discarded
  -- when their socket closed, and the counters at the session's start
  self.T, self.R, self.Dc = { 0, 0 }, { 0, 0 }, { 0, 0 }
  local drops = dev_drops()
  self.base_rx, self.base_tx, self.last_rx, self.last_tx = {}, {}, {}, {}
  for d, ifn in ipairs(self.ifnames) do
    local c = drops[ifn]
    if not c then self:fail("no %s in /proc/self/net/dev", ifn) end
    self.base_rx[d], self.base_tx[d], self.last_rx[d], self.last_tx[d] = c.rx, c.tx, c.rx, c.tx
  end
  -- since the last quiet point, per receiving interface: packets that went to
  -- the kernel stack, and per steering counter slot
  self.int_stack, self.int_slot = { 0, 0 }, { {}, {} }
  self.rule_drops, self.rule_drops_seen, self.unmatched_seen = { 0, 0 }, { 0, 0 }, { 0, 0 }
  self.rules, self.reg = { {}, {} }, {}
  if self.mode ~= "steer" then self:close_steer() end
  if self.mode == "steer" then
    for d, ifn in ipairs(self.ifnames) do
      local st = self.steer[d]
      if st then
        st:clear_rules()
        st:reset_counters()
      else
        st = steer.open { ifname = ifn, mode = "native" }
        self.steer[d] = st
      end
      for k, rule in ipairs(RULES) do
        if r(3) == 1 then
          local id = st:add_rule(rule)
          self.rules[d][#self.rules[d] + 1] = { id = id, kind = KIND_OF[rule.ethertype],
            action = rule.action or "redirect", seen = 0, rule = k }
        end
      end
    end
  end
  self:check_all("start")
  for slot = 1, self.nslots do self:op_open(slot) end
end

-- What happens to a packet of EtherType kind arriving at interface d now:
-- "redirect" (to a socket), "stack" (to the kernel stack, which drops it and
-- counts it in rx_dropped) or "drop" (a steering rule); and the steering
-- counter slot that counts it.
function Model:fate(d, kind)
  local action, slot = "redirect", nil
  if self.mode == "steer" then
    local rules = self.rules[d]
    slot = UNMATCHED
    if #rules > 0 then action = "pass" end
    for _, rule in ipairs(rules) do
      if rule.kind == kind then action, slot = rule.action, rule.id; break end
    end
  end
  if action == "drop" then return "drop", slot end
  if action == "pass" or not self:target(d) then return "stack", slot end
  return "redirect", slot
end

-- The socket that receives what is redirected at interface d: libxdp's
-- program puts every RX socket in its map; a steering program has the one
-- the model registered.
function Model:target(d)
  if self.mode == "steer" then
    local s = self.reg[d]
    return s and not s:is_closed() and s or nil
  end
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and SLOT_IF[slot] == d and s.rx and not s:is_closed() then return s end
  end
end

-- Ends the session: flush, settle, drain, and the last accounting; then
-- close (in a random order) or drop everything for the GC.  Afterwards
-- nothing may be attached to the interfaces.
function Model:stop(how)
  self:note("stop by " .. how)
  self:drain()
  local u = self.u
  if how == "gc" then
    local alive = setmetatable({ u }, { __mode = "v" })
    self.u, self.socks, self.batches, self.reg = nil, {}, {}, {}
    u = nil -- luacheck: ignore 311 (the last strong reference goes, for the GC)
    -- a steering object keeps the socket registered in it
    for _, st in pairs(self.steer) do st:unregister(0) end
    collectgarbage(); collectgarbage()
    -- LuaJIT may still see the UMEM from a dead stack slot of a compiled
    -- caller (it promises nothing there); then close it, so that the next
    -- session does not find the queue still bound by this one.
    if alive[1] then
      self.stats.gc_deferred = (self.stats.gc_deferred or 0) + 1
      self:note("UMEM still reachable after collectgarbage: closed instead")
      alive[1]:close()
    end
  else
    -- close in any order: sockets first or the UMEM first
    for _ = 1, self.nslots do
      local slot = self.r(self.nslots)
      local s = self.socks[slot]
      if s and not s:is_closed() and self.r(2) == 1 then self:op_close(slot) end
    end
    self:settle("umem:close")
    u:close()
    for _, b in ipairs(self.batches) do
      if b.n ~= 0 then self:fail("umem:close left a batch with n=%d", b.n) end
    end
    self:expect_error("owner after close", "closed", function() return u:owner(0) end)
    self:expect_error("alloc after close", "closed", function() return u:alloc(self.batches[4], 1) end)
    self:expect_error("socket after close", "closed", function() return u:socket { ifname = self.ifnames[1] } end)
    for slot, s in pairs(self.socks) do
      if not s:is_closed() then self:fail("socket %d still open after umem:close", slot) end
      self:expect_error("recv on a socket of a closed UMEM", "closed", function() return s:recv(self.batches[1]) end)
    end
    u:close() -- twice is fine
    for _, st in pairs(self.steer) do st:unregister(0) end
  end
  self:check_detached()
end

-- After a session nothing but the model's own steering programs (kept for
-- the next session) may be attached.
function Model:check_detached()
  if not self.check_xdp then return end
  for d, ifn in ipairs(self.ifnames) do
    local st = self.steer[d]
    local attached = self.check_xdp(ifn)
    if attached and not st then self:fail("an XDP program is still attached to %s after the session ended", ifn) end
    if st and not (attached and st:attached()) then self:fail("the steering program on %s went away", ifn) end
  end
end

function Model:close_steer()
  for _, st in pairs(self.steer) do st:close() end
  self.steer = {}
end

-- The session's end: everything on the TX rings goes out, every packet in
-- flight lands, every RX ring is emptied; then received = taken - counted
-- drops, with nothing left on any ring.
function Model:drain()
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and not s:is_closed() and s.tx then self:op_flush(s, slot) end
  end
  self:settle("end of session")
  for _, b in ipairs(self.batches) do
    if b.n > 0 then self:release_all(b) end
  end
  local b = self.batches[4]
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and not s:is_closed() and s.rx then
      for _ = 1, 100 do
        if #s:ring_entries("rx") == 0 then break end
        self:note(fmt("drain socket %d", slot))
        local n0 = b.n
        local got = call(self, "rx consume", s.rx.consume, s.rx, b)
        self:check_all("drain", { new_user = self:new_entries(b, n0, s.model_pair, slot, true) })
        if got == 0 then break end
        self:release_all(b)
      end
    end
  end
  self:settle("after draining")
  for d = 1, 2 do
    local onrx = self.onrx[d]
    if onrx ~= 0 then self:fail("after draining, %d packets are still on the RX rings of %s", onrx, self.ifnames[d]) end
  end
end

function Model:finish()
  self:stop(self.r(2) == 1 and "gc" or "close")
  self:close_steer()
  self:check_detached()
  self.other:close()
  return self.stats
end

function Model:expect_error(what, pattern, fn)
  local ok, err = pcall(fn)
  if ok then self:fail("%s: expected an error naming %q, got none", what, pattern) end
  if not tostring(err):find(pattern, 1, true) then
    self:fail("%s: expected an error naming %q, got: %s", what, pattern, tostring(err))
  end
  return err
end

-- ---- quiet points: nothing in flight, every packet accounted for ----

-- Waits until every packet the kernel took has landed (received, on an RX
-- ring, or counted as dropped) and every frame it holds is on one of its
-- rings, then checks how the drops since the last quiet point came about.
-- A packet neither received nor counted within SETTLE_NS is lost: a failure.
function Model:settle(what)
  self.stats.settles = self.stats.settles + 1
  local deadline, waited
  while true do
    local ok, why = self:quiet(what)
    if ok then break end
    deadline = deadline or clock.now() + SETTLE_NS
    if clock.now() > deadline then
      self:fail("%s: after %.1f s: %s\n%s", what, SETTLE_NS / 1e9, why, self:tally())
    end
    waited = true
    clock.sleep_until(clock.now() + 1e6)
  end
  if waited then self.stats.settle_waits = self.stats.settle_waits + 1 end
  self:causes(what)
end

-- Packets by receiving interface, EtherType kind and state, and the steering
-- counters, for a failure message.
function Model:tally()
  local kinds, t = {}, {}
  for seq = 1, self.seq do
    local st = self.p_state[seq]
    if st == 2 or st == 3 then
      local key = fmt("to %s, EtherType 0x%04x, %s", self.ifnames[3 - self.p_src[seq]], KINDS[self.p_kind[seq]],
        st == 2 and "not received" or "received")
      kinds[key] = (kinds[key] or 0) + 1
    end
  end
  for k, v in pairs(kinds) do t[#t + 1] = fmt("%s: %d", k, v) end
  table.sort(t)
  for d = 1, 2 do
    for _, rule in ipairs(self.rules[d]) do
      t[#t + 1] = fmt("rule %d on %s (EtherType 0x%04x, %s) counted %d", rule.id, self.ifnames[d], KINDS[rule.kind],
        rule.action, (self.steer[d]:counters(rule.id)))
    end
    if self.steer[d] then t[#t + 1] = fmt("unmatched on %s: %d", self.ifnames[d], (self.steer[d]:unmatched())) end
  end
  return "packets " .. table.concat(t, "; ")
end

-- Whether nothing is in flight: true, or false and what is still missing.
-- Fails at once on what can never come right (more packets landed than the
-- kernel took).
function Model:quiet(what)
  local frames_ok, why = self:check_rings(what .. " (quiet)", true)
  local drops = dev_drops()
  self.drops_now = drops
  self.onrx = self:on_rx_rings(what)
  self:rule_counters()
  for d = 1, 2 do
    local src = 3 - d
    local c, cs = drops[self.ifnames[d]], drops[self.ifnames[src]]
    local rx, tx = c.rx - self.base_rx[d], cs.tx - self.base_tx[src]
    local landed = self.R[d] + self.Dc[d] + self.onrx[d] + rx + tx + self.rule_drops[d]
    if landed > self.T[d] then
      self:fail("%s: towards %s the kernel took %d packets, but %d received, %d discarded at close, %d on RX rings, "
        .. "%d rx_dropped, %d tx_dropped by %s, %d dropped by rules make %d", what, self.ifnames[d], self.T[d],
        self.R[d], self.Dc[d], self.onrx[d], rx, tx, self.ifnames[src], self.rule_drops[d], landed)
    end
    if landed < self.T[d] then
      return false, fmt("towards %s the kernel took %d packets; %d received, %d discarded at close, %d on RX rings, "
        .. "%d rx_dropped, %d tx_dropped by %s, %d dropped by rules: %d neither received nor counted as dropped",
        self.ifnames[d], self.T[d], self.R[d], self.Dc[d], self.onrx[d], rx, tx, self.ifnames[src], self.rule_drops[d],
        self.T[d] - landed)
    end
  end
  if not frames_ok then return false, why end
  return true
end

-- Steering counters of drop rules, summed per interface since the session began.
function Model:rule_counters()
  for d = 1, 2 do
    local n = 0
    for _, rule in ipairs(self.rules[d]) do
      if rule.action == "drop" then n = n + (self.steer[d]:counters(rule.id)) end
    end
    self.rule_drops[d] = n
  end
end

-- Packets on the RX rings of the sockets of each interface (each checked as
-- a packet that was taken and not yet received).
function Model:on_rx_rings(what)
  local n, seen = { 0, 0 }, {}
  local area = self.u.area
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and s.rx and not s:is_closed() then
      local a, l = s:ring_entries("rx")
      local d = SLOT_IF[slot]
      for j = 1, #a do
        local seq = self:check_packet(area + a[j], l[j], d, fmt("%s: RX ring of socket %d", what, slot), true)
        if seen[seq] then self:fail("%s: packet %d is on the RX rings twice", what, seq) end
        seen[seq] = true
        n[d] = n[d] + 1
      end
    end
  end
  return n
end

-- Once quiet: since the last quiet point, every packet rx_dropped counted at
-- interface d was one its sockets dropped (their XDP statistics) or one that
-- went to the kernel stack (no socket registered, or a pass rule); each
-- steering counter counted exactly the packets of its rule.  When the
-- sending veth dropped packets itself (tx_dropped) which ones is unknown, so
-- then only the totals are checked.
function Model:causes(what)
  local drops = self.drops_now
  for d = 1, 2 do
    local src = 3 - d
    local c, cs = drops[self.ifnames[d]], drops[self.ifnames[src]]
    local drx, dtx = c.rx - self.last_rx[d], cs.tx - self.last_tx[src]
    local xsk_drops = 0
    for slot = 1, self.nslots do
      local s = self.socks[slot]
      if s and SLOT_IF[slot] == d and not s:is_closed() then
        local st = s:stats()
        local v = st.rx_dropped + st.rx_ring_full
        xsk_drops = xsk_drops + v - s.model_xsk
        s.model_xsk = v
      end
    end
    if dtx == 0 and drx ~= xsk_drops + self.int_stack[d] then
      self:fail("%s: %s counted %d rx_dropped since the last quiet point, but its sockets dropped %d (XDP statistics) "
        .. "and %d went to the kernel stack", what, self.ifnames[d], drx, xsk_drops, self.int_stack[d])
    end
    if dtx == 0 then
      for _, rule in ipairs(self.rules[d]) do
        local n = self.steer[d]:counters(rule.id)
        local want = self.int_slot[d][rule.id] or 0
        if n - rule.seen ~= want then
          self:fail("%s: steering rule %d on %s counted %d packets since the last quiet point, %d of its kind went",
            what, rule.id, self.ifnames[d], n - rule.seen, want)
        end
        rule.seen = n
      end
      if self.steer[d] then
        local n = self.steer[d]:unmatched()
        local want = self.int_slot[d][UNMATCHED] or 0
        if n - (self.unmatched_seen or { 0, 0 })[d] ~= want then
          self:fail("%s: the steering program on %s counted %d unmatched packets since the last quiet point, %d went",
            what, self.ifnames[d], n - self.unmatched_seen[d], want)
        end
        self.unmatched_seen[d] = n
      end
    else
      for _, rule in ipairs(self.rules[d]) do rule.seen = self.steer[d]:counters(rule.id) end
      if self.steer[d] then self.unmatched_seen[d] = self.steer[d]:unmatched() end
    end
    self.stats.drop_xsk = self.stats.drop_xsk + xsk_drops
    self.stats.drop_stack = self.stats.drop_stack + drx - xsk_drops
    self.stats.drop_tx = self.stats.drop_tx + dtx
    self.stats.drop_rule = self.stats.drop_rule + self.rule_drops[d] - self.rule_drops_seen[d]
    self.rule_drops_seen[d] = self.rule_drops[d]
    self.last_rx[d], self.last_tx[src] = c.rx, cs.tx
    self.int_stack[d], self.int_slot[d] = 0, {}
  end
end

-- ---- operations ----

function Model:pick_batch()
  return self.batches[self.r(#self.batches)]
end

function Model:count(name)
  local by = self.stats.by_op
  by[name] = (by[name] or 0) + 1
end

-- Whether an open socket of pair p has an RX ring (then the pair's fill ring
-- may be used).
function Model:pair_has_rx(p)
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and s.rx and s.model_pair == p and not s:is_closed() then return true end
  end
  return false
end

-- Opens the socket of a slot: RX-only, TX-only or both, need_wakeup on or
-- off; with a steering program, registered when its end has no socket
-- registered (or by chance).
function Model:op_open(slot)
  local d = SLOT_IF[slot]
  local ifn = self.ifnames[d]
  local open = 0
  for _, s in pairs(self.socks) do if not s:is_closed() then open = open + 1 end end
  local shape, nw = self.r(6), self.r(4) ~= 1
  local rx, tx = shape ~= 2, shape ~= 1
  self:note(fmt("open socket %d on %s (%s, need_wakeup %s)", slot, ifn, rx and tx and "rx+tx" or rx and "rx only"
    or "tx only", tostring(nw)))
  self:settle("before opening socket " .. slot)
  local ok, s = pcall(self.u.socket, self.u, { ifname = ifn, rx_size = RING, tx_size = RING, rx = rx, tx = tx,
    auto_fill = self.auto_fill, need_wakeup = nw, load_program = self.mode == "libxdp" })
  if not ok then
    -- libxdp binds a UMEM's first socket on the UMEM's own fd and does not
    -- close that fd when the socket is deleted: its queue stays bound until
    -- the UMEM closes.  The core refuses a new socket there and says why;
    -- counted, and the slot stays closed.
    if ifn == self.first_ifname and tostring(s):find("this UMEM's first socket was bound here", 1, true) then
      self.stats.reopen_refused = self.stats.reopen_refused + 1
      self:check_all("refused reopen")
      return
    end
    if self.had_sockets and open == 0 and tostring(s):find("every socket of this UMEM has been closed", 1, true) then
      self:check_all("refused reopen")
      return
    end
    self:fail("opening a socket on %s failed: %s", ifn, tostring(s))
  end
  if (s.rx ~= nil) ~= rx or (s.tx ~= nil) ~= tx then
    self:fail("socket %d opened with rx = %s, tx = %s has rings rx %s, tx %s", slot, tostring(rx), tostring(tx),
      tostring(s.rx ~= nil), tostring(s.tx ~= nil))
  end
  local first = not self.had_sockets
  if first then self.first_ifname = ifn end
  self.had_sockets = true
  -- a socket on the queue of an open one shares its fill and completion rings
  local p
  for o = 1, self.nslots do
    local other = self.socks[o]
    if o ~= slot and other and SLOT_IF[o] == d and not other:is_closed() then p = other.model_pair end
  end
  if not p then
    self.next_pair = self.next_pair + 1
    p = self.next_pair
  end
  self.opened = (self.opened or 0) + 1
  s.model_pair, s.model_txq, s.model_xsk, s.model_opened = p, {}, 0, self.opened
  if first then self.first_pair = p end
  self.socks[slot] = s
  if self.mode == "steer" and rx and (not self:target(d) or self.r(2) == 1) then
    self.steer[d]:register(s)
    self.reg[d] = s
  end
  self:check_all("open", { pool_to_fill = self.auto_fill and self:pair_has_rx(p) and p or nil })
end

-- Closes a socket once nothing is in flight: the packets on its RX ring are
-- discarded (each checked, and counted), those on its TX ring were never
-- sent; its rings' frames return to the pool, and when it was its pair's
-- last socket, every frame of the pair does.
function Model:op_close(slot)
  local s = self.socks[slot]
  self:note(fmt("close socket %d", slot))
  self:settle("before closing socket " .. slot)
  local p, d = s.model_pair, SLOT_IF[slot]
  local alone = true
  for o = 1, self.nslots do
    local other = self.socks[o]
    if o ~= slot and other and other.model_pair == p and not other:is_closed() then alone = false end
  end
  local exact = {}
  if s.rx then
    local a, l = s:ring_entries("rx")
    for j = 1, #a do
      self:check_packet(self.u.area + a[j], l[j], d, fmt("the RX ring of socket %d at close", slot))
      self.Dc[d] = self.Dc[d] + 1
      self.stats.discarded = self.stats.discarded + 1
      exact[self:index(a[j])] = { "pool", false }
    end
  end
  if s.tx then
    for _, i in ipairs(s.model_txq) do
      self.p_state[self.f_seq[i]] = 4
      self.stats.unsent = self.stats.unsent + 1
      exact[i] = { "pool", false }
    end
  end
  if alone then
    -- the UMEM's first socket stays bound (libxdp keeps it on the UMEM's own
    -- fd), and when a program of the script's own may still send it packets
    -- the frames on its queue's fill ring stay with the kernel
    local keep = p == self.first_pair and self.mode == "steer"
    for i = 0, self.fc - 1 do
      if self.pair[i] == p and (self.own[i] == "tx" or (self.own[i] == "fill" and not keep)) then
        exact[i] = exact[i] or { "pool", false }
      end
    end
    self.fillq[p], self.fill_add[p] = nil, nil
  end
  s:close()
  s:close()
  if self.reg[d] == s then
    -- a program the script manages keeps sending the first socket packets
    -- after close (it is still bound): take it out of the map, as
    -- docs/API.md asks; any other socket the kernel takes out itself
    if p == self.first_pair then self.steer[d]:unregister(0) end
    self.reg[d] = nil
  end
  self:check_all("close", { exact = exact })
end

-- A socket and its slot; mostly an open one.
function Model:pick_sock()
  local slot = self.r(self.nslots)
  local s = self.socks[slot]
  if (not s or s:is_closed()) and self.r(5) ~= 1 then
    for k = 1, self.nslots - 1 do
      local o = (slot + k - 1) % self.nslots + 1
      if self.socks[o] and not self.socks[o]:is_closed() then return self.socks[o], o end
    end
  end
  return s, slot
end

-- A call the socket cannot make (it lacks the ring) must say so and change
-- nothing.
function Model:no_ring(s, slot, ring)
  self:note(fmt("%s on socket %d, which has no %s ring", ring == "RX" and "recv" or "send", slot, ring))
  self.stats.refused = self.stats.refused + 1
  local b = self:pick_batch()
  local before = snap(b)
  local size = ring == "RX" and "rx_size" or "tx_size"
  self:expect_error("a socket without an " .. ring .. " ring",
    "the socket has no " .. ring .. " ring (" .. size .. " = 0)", function()
      if ring == "RX" then return s:recv(b) end
      return s:send(b)
    end)
  self:batch_unchanged(b, before, "no " .. ring .. " ring")
  self:check_all("no " .. ring .. " ring")
end

-- The pairs whose completion rings alloc takes frames from: those of the
-- open sockets with a TX ring.
function Model:tx_pairs()
  local t = {}
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and s.tx and not s:is_closed() then t[s.model_pair] = true end
  end
  return t
end

-- alloc takes the frames the kernel has finished sending straight from the
-- completion rings of the open sockets with a TX ring, then frames from the
-- pool.  The kernel completes on its own time, so how many completions there
-- are is not known in advance: alloc must return at least what the pool alone
-- gives, take from the pool only what the completions did not, and take
-- completed frames only from those sockets' pairs.
function Model:op_alloc()
  local b = self:pick_batch()
  local n = self.r(b.cap + 3) - 1
  local n0, room, pool = b.n, b.cap - b.n, self.u:free_frames()
  local tx_pairs = self:tx_pairs()
  self:note(fmt("alloc(batch cap %d n %d, %d) pool %d", b.cap, n0, n, pool))
  local got = call(self, "alloc", self.u.alloc, self.u, b, n)
  local least, most = math.min(n, room, pool), math.min(n, room)
  if got < least or got > most then self:fail("alloc returned %d, expected %d to %d", got, least, most) end
  if b.n ~= n0 + got then self:fail("alloc: batch count %d, expected %d", b.n, n0 + got) end
  local new = self:new_entries(b, n0, "alloc")
  local from_tx = 0
  for i in pairs(new) do
    if self.own[i] == "tx" then from_tx = from_tx + 1 end
  end
  local from_pool = pool - self.u:free_frames()
  if from_pool + from_tx ~= got then
    self:fail("alloc: %d frames, %d from the pool and %d completed", got, from_pool, from_tx)
  end
  self:check_all("alloc", { new_user = new, alloc_from = tx_pairs })
end

-- b:put_packet: allocates the frames a packet needs and writes it (one frame
-- here: packets fit a frame); refused, with nothing allocated, when the batch
-- or the pool has no room.
function Model:op_put(slot)
  local b = self:pick_batch()
  local seq, len, kind = self:new_packet(slot)
  write_packet(scratch, len, slot, kind, self.session, seq)
  local n0, pool = b.n, self.u:free_frames()
  self:note(fmt("put_packet(batch cap %d n %d, %d bytes) pool %d", b.cap, n0, len, pool))
  if n0 == b.cap or pool == 0 then
    local before = snap(b)
    self:expect_error("put_packet with no room", n0 == b.cap and "the batch has room for 0" or "the UMEM has 0 free",
      function() return b:put_packet(self.u, scratch, len) end)
    self:batch_unchanged(b, before, "put_packet with no room")
    return self:check_all("put_packet with no room")
  end
  local ok, first, count = pcall(b.put_packet, b, self.u, scratch, len)
  if not ok then self:fail("put_packet raised: %s", tostring(first)) end
  if first ~= n0 or count ~= 1 or b.n ~= n0 + 1 then
    self:fail("put_packet of %d bytes returned %s, %s (batch n %d -> %d), expected %d, 1", len, tostring(first),
      tostring(count), n0, b.n, n0)
  end
  if ffi.string(b.f[n0].data, len) ~= ffi.string(scratch, len) then self:fail("put_packet wrote other bytes") end
  -- its frames are allocated as alloc's are: completed ones first
  self:check_all("put_packet", { new_user = self:new_entries(b, n0, "alloc", nil, false, { [n0] = len }),
    alloc_from = self:tx_pairs() })
end

-- release puts the frames straight onto the fill ring of the most recently
-- opened open socket with an RX ring when sockets fill automatically, as far
-- as that ring wants them, and the rest in the pool: the released frames are
-- some on that fill ring, in the batch's order, then the rest in the pool.
function Model:op_release()
  return self:release_all(self:pick_batch())
end

function Model:release_all(b)
  local n0 = b.n
  self:note(fmt("release(batch cap %d n %d)", b.cap, n0))
  self:keep_stale_batch(b)
  local addrs = {}
  for j = 0, n0 - 1 do addrs[j] = b.f[j].addr end
  local to, newest
  if self.auto_fill then
    for slot = 1, self.nslots do
      local s = self.socks[slot]
      if s and s.rx and not s:is_closed() and (not newest or s.model_opened > newest) then
        to, newest = s.model_pair, s.model_opened
      end
    end
  end
  local got = call(self, "release", self.u.release, self.u, b)
  if got ~= n0 or b.n ~= 0 then self:fail("release returned %d (batch n %d), expected %d", got, b.n, n0) end
  local exact, pooled, order = {}, false, { ordered = true, pair = to }
  for j = 0, n0 - 1 do
    local i = self:index(addrs[j])
    if self.u:owner(addrs[j]) == "fill" and to and not pooled then
      exact[i] = { "fill", to }
      order[#order + 1] = i
    else
      pooled = true
      exact[i] = { "pool", false }
    end
  end
  self:check_all("release", { exact = exact, fill_order = to and order or nil })
end

-- Moves some descriptors from one batch to another, as a script may.
function Model:op_move()
  local a, b = self:pick_batch(), self:pick_batch()
  if a == b or a.n == 0 then return self:op_alloc() end
  local k = math.min(self.r(a.n), b.cap - b.n)
  self:note(fmt("move %d from batch cap %d to batch cap %d", k, a.cap, b.cap))
  for _ = 1, k do
    local j = self.r(a.n) - 1
    b:push(a.f[j])
    a:remove(j)
  end
  self:check_all("move")
end

-- Produce calls are all or nothing.
function Model:produce(kind, s, slot)
  if kind ~= "fill" and not s.tx then return self:no_ring(s, slot, "TX") end
  local b = self:pick_batch()
  local n0 = b.n
  local p = s.model_pair
  if kind == "fill" and not self:pair_has_rx(p) then
    self:note(fmt("fill(socket %d, batch cap %d n %d) with no RX ring on the queue", slot, b.cap, n0))
    self.stats.refused = self.stats.refused + 1
    local before = snap(b)
    self:expect_error("fill on a queue without an RX ring", "no socket here has an RX ring",
      function() return s.fill:produce(b) end)
    self:batch_unchanged(b, before, "fill without an RX ring")
    return self:check_all("fill without an RX ring")
  end
  if kind ~= "fill" then self:stamp(b, slot) end
  self:note(fmt("%s(socket %d, batch cap %d n %d)", kind, slot, b.cap, n0))
  local before = snap(b)
  local fn
  if kind == "fill" then fn = s.fill.produce
  elseif kind == "tx" then fn = s.tx.produce
  else fn = s.tx.produce_and_wakeup end
  local got = call(self, kind, fn, kind == "fill" and s.fill or s.tx, b)
  if got == n0 and n0 > 0 then
    if b.n ~= 0 then self:fail("%s: produced %d but batch still has %d", kind, got, b.n) end
    local order = { ordered = true, pair = p }
    for j = 0, n0 - 1 do
      self:keep_stale(forged_t { addr = before[j][1], len = before[j][2], umem_id = before[j][3] })
      local i = self:index(before[j][1])
      if kind == "fill" then order[#order + 1] = i else self:to_tx_ring(s, i) end
    end
    self:check_all(kind, { exact = self:exact_snap(before, 0, n0 - 1, kind == "fill" and "fill" or "tx", p),
      fill_order = kind == "fill" and order or nil })
  elseif got == 0 then
    self:batch_unchanged(b, before, kind)
    self:check_all(kind)
  else
    self:fail("%s: returned %d for a batch of %d (all or nothing)", kind, got, n0)
  end
end

-- rx:consume, rx:poll_and_consume (which waits when nothing is there) and
-- comp:consume.
function Model:consume(kind, s, slot)
  if kind ~= "comp" and not s.rx then return self:no_ring(s, slot, "RX") end
  local b = self:pick_batch()
  local n0, room = b.n, b.cap - b.n
  local max = self.r(b.cap + 1) - 1
  local timeout = self.r(4) == 1 and 1 or 0
  self:note(fmt("%s(socket %d, batch cap %d n %d, max %d%s)", kind == "poll" and "rx:poll_and_consume" or kind ..
    ":consume", slot, b.cap, n0, max, kind == "poll" and fmt(", %d ms", timeout) or ""))
  local before = snap(b)
  local got
  if kind == "rx" then got = call(self, "rx consume", s.rx.consume, s.rx, b, max)
  elseif kind == "poll" then got = call(self, "rx poll_and_consume", s.rx.poll_and_consume, s.rx, b, timeout, max)
  else got = call(self, "comp consume", s.comp.consume, s.comp, b, max) end
  if got < 0 or got > math.min(max, room) or b.n ~= n0 + got then
    self:fail("%s consume returned %d (n %d -> %d, max %d, room %d)", kind, got, n0, b.n, max, room)
  end
  for j = 0, n0 - 1 do
    if not same_entry(b.f[j], before[j]) then self:fail("%s consume changed old entry %d", kind, j) end
  end
  local p = s.model_pair
  if kind ~= "comp" then
    self:check_all(kind .. " consume", { new_user = self:new_entries(b, n0, p, slot, true) })
  else
    -- completions come back with len 0
    local t = {}
    for j = n0, b.n - 1 do
      local f = b.f[j]
      local i = self:index(f.addr)
      if f.len ~= 0 then self:fail("completed frame %d has len %d", i, f.len) end
      if tonumber(f.addr) ~= i * FRAME_SIZE + self.u.data_offset or f.data ~= self.u.area + f.addr
        or f.cap ~= FRAME_SIZE - self.u.data_offset then
        self:fail("completed frame %d came back at addr 0x%x (cap %d), not at its packet's start 0x%x", i,
          tonumber(f.addr), f.cap, i * FRAME_SIZE + self.u.data_offset)
      end
      if self.own[i] ~= "tx" or self.pair[i] ~= p then
        self:fail("completion ring of socket %d gave frame %d, which was %s (pair %s)", slot, i, self.own[i],
          tostring(self.pair[i]))
      end
      t[i] = { "user", false }
    end
    self:check_all("comp consume", { exact = t })
  end
end

function Model:op_recv(s, slot)
  if not s.rx then return self:no_ring(s, slot, "RX") end
  local b = self:pick_batch()
  local n0 = b.n
  local timeout = self.r(20) == 1 and 1 or 0
  self:note(fmt("recv(socket %d, batch cap %d n %d, %d ms)", slot, b.cap, n0, timeout))
  local before = snap(b)
  local got = call(self, "recv", s.recv, s, b, timeout)
  if got < 0 or b.n ~= n0 + got or b.n > b.cap then self:fail("recv returned %d (n %d -> %d)", got, n0, b.n) end
  for j = 0, n0 - 1 do
    if not same_entry(b.f[j], before[j]) then self:fail("recv changed old entry %d", j) end
  end
  -- a socket with a TX ring also recycles its completions on recv
  self:check_all("recv", { new_user = self:new_entries(b, n0, s.model_pair, slot, true),
    pool_to_fill = self.auto_fill and s.model_pair or nil, tx_to_pool = s.tx and s.model_pair or nil })
end

-- send: what fits goes, the rest stays at the front of the batch.
-- forward: what fits goes, the rest goes back to the pool.
function Model:op_send(kind, s, slot)
  if not s.tx then return self:no_ring(s, slot, "TX") end
  local b = self:pick_batch()
  local n0 = b.n
  self:stamp(b, slot)
  self:note(fmt("%s(socket %d, batch cap %d n %d)", kind, slot, b.cap, n0))
  local before = snap(b)
  local k = call(self, kind, kind == "send" and s.send or s.forward, s, b)
  if k < 0 or k > n0 then self:fail("%s returned %d for %d frames", kind, k, n0) end
  local p = s.model_pair
  local exact = self:exact_snap(before, 0, k - 1, "tx", p)
  if kind == "send" then
    if b.n ~= n0 - k then self:fail("send: %d sent of %d but %d left", k, n0, b.n) end
    for j = 0, b.n - 1 do
      if not same_entry(b.f[j], before[j + k]) then self:fail("send: entry %d is not the unsent frame %d", j, j + k) end
    end
  else
    if b.n ~= 0 then self:fail("forward left %d frames in the batch", b.n) end
    self:exact_snap(before, k, n0 - 1, "pool", false, exact)
  end
  for j = 0, k - 1 do
    self:to_tx_ring(s, self:index(before[j][1]))
    if self.r(4) == 1 then
      self:keep_stale(forged_t { addr = before[j][1], len = before[j][2], umem_id = before[j][3] })
    end
  end
  self:check_all(kind, { exact = exact, tx_to_pool = p })
end

function Model:op_recycle(s, slot)
  self:note(fmt("recycle(socket %d)", slot))
  local n = s:recycle()
  if n < 0 then self:fail("recycle returned %d", n) end
  self:check_all("recycle", { tx_to_pool = s.model_pair })
end

function Model:op_refill(s, slot)
  self:note(fmt("refill(socket %d)", slot))
  local n = s:refill()
  if n < 0 then self:fail("refill returned %d", n) end
  if n > 0 and not self:pair_has_rx(s.model_pair) then
    self:fail("refill put %d frames on a queue without an RX ring", n)
  end
  self:check_all("refill", { pool_to_fill = s.model_pair })
end

-- flush kicks until the TX ring is empty and recycles completions.
function Model:op_flush(s, slot)
  self:note(fmt("flush(socket %d)", slot))
  local left = call(self, "flush", s.flush, s, 5)
  if left < 0 or left > RING then self:fail("flush left %d frames", left) end
  if not s.tx and left ~= 0 then self:fail("flush on a socket without a TX ring left %d frames", left) end
  self:check_all("flush", { tx_to_pool = s.tx and s.model_pair or nil })
end

function Model:op_wakeup(s, slot)
  self:note(fmt("wakeups(socket %d)", slot))
  if s.tx then call(self, "tx:wakeup", s.tx.wakeup, s.tx) end
  call(self, "fill:wakeup", s.fill.wakeup, s.fill, 0)
  if s.fill:needs_wakeup() == nil then self:fail("needs_wakeup returned nil") end
  for _, r in ipairs { "fill", "comp", "rx", "tx" } do
    local st = s:ring_state(r)
    if (st ~= nil) ~= (r == "fill" or r == "comp" or s[r] ~= nil) then
      self:fail("ring_state(%q) of socket %d is %s", r, slot, tostring(st))
    end
    if st and st.entries > st.size then
      self:fail("%s ring of socket %d: %d entries in a ring of %d", r, slot, st.entries, st.size)
    end
  end
  call(self, "stats", s.stats, s)
  self:check_all("wakeup")
end

-- With a steering program: another socket of an end takes its queue's
-- packets (two sockets on one queue), or none does.
function Model:op_register()
  if self.mode ~= "steer" then return self:op_alloc() end
  local d = self.r(2)
  local cands = {}
  for slot = 1, self.nslots do
    local s = self.socks[slot]
    if s and s.rx and SLOT_IF[slot] == d and not s:is_closed() then cands[#cands + 1] = s end
  end
  local s = cands[self.r(#cands + 1)]
  self:note(s and fmt("register a socket of %s", self.ifnames[d]) or fmt("unregister %s", self.ifnames[d]))
  self:settle("before registering")
  if s then self.steer[d]:register(s) else self.steer[d]:unregister(0) end
  self.reg[d] = s
  self:check_all("register")
end

-- ---- misuse: each must raise an error naming the problem and change nothing ----

-- Inserts descriptor d at position pos of b.
local function insert(b, pos, d)
  local f = ffi.cast(rw_t, b.f)
  for j = b.n, pos + 1, -1 do f[j] = f[j - 1] end
  f[pos] = d
  b.n = b.n + 1
end

local function remove_at(b, pos)
  local f = ffi.cast(rw_t, b.f)
  for j = pos, b.n - 2 do f[j] = f[j + 1] end
  b.n = b.n - 1
end

-- The operations misuse is tried on, and whether they take frames from the batch.
local TAKERS = { "release", "fill", "tx", "txw", "send", "forward" }

function Model:run_taker(name, s, b)
  if name == "release" then return self.u:release(b)
  elseif name == "fill" then return s.fill:produce(b)
  elseif name == "tx" then return s.tx:produce(b)
  elseif name == "txw" then return s.tx:produce_and_wakeup(b)
  elseif name == "send" then return s:send(b)
  else return s:forward(b) end
end

-- Whether socket s can make call op at all (it has the ring; a fill ring is
-- usable when its queue has an RX ring).
function Model:can(s, op)
  if op == "release" or op == "alloc" or op == "comp" then return true end
  if op == "fill" then return self:pair_has_rx(s.model_pair) end
  if op == "rx" or op == "recv" then return s.rx ~= nil end
  return s.tx ~= nil
end

-- A stale descriptor whose frame the script no longer holds.
function Model:pick_stale(want_kernel)
  local n = math.min(self.stalen, 16)
  if n == 0 then return nil end
  local start = self.r(n)
  for k = 0, n - 1 do
    local d = self.stale[(start + k - 1) % n + 1]
    local o = self.u:owner(tonumber(d.addr))
    if (want_kernel and (o == "fill" or o == "tx")) or (not want_kernel and o == "pool") then return d, o end
  end
  return nil
end

function Model:op_misuse()
  local kinds = { "double_release", "kernel_frame", "dup_in_batch", "other_umem", "outside", "len_past_end",
    "len_zero", "n_past_cap", "closed_socket", "api" }
  local kind = kinds[self.r(#kinds)]
  local op = TAKERS[self.r(#TAKERS)]
  local s, slot = self:pick_sock()
  if not s then return end
  if kind == "closed_socket" then return self:misuse_closed() end
  if kind == "api" then return self:misuse_api(s, slot) end
  if s:is_closed() or not self:can(s, op) then op = "release" end
  local b = self.batches[self.r(2) + 2] -- the 16 and fc batches
  if b.n >= b.cap then b = self.batches[4] end
  if b.n >= b.cap and kind ~= "n_past_cap" and kind ~= "len_past_end" and kind ~= "len_zero" then return end
  local tx_like = op ~= "release" and op ~= "fill"
  if tx_like then self:stamp(b, slot) end
  local bad, pattern, pos, restore, oldlen
  if kind == "double_release" or kind == "kernel_frame" then
    local o
    bad, o = self:pick_stale(kind == "kernel_frame")
    if not bad then return end
    pattern = "is not the script's: it belongs to " .. (o == "pool" and "the free pool" or "the kernel")
    -- send and forward first take back completed frames, so a TX frame may be
    -- in the pool by the time they look at it
    if o == "tx" and (op == "send" or op == "forward") then pattern = "is not the script's: it belongs to" end
    if tx_like then bad.len = MIN_LEN end
  elseif kind == "dup_in_batch" then
    if b.n == 0 then return end
    bad = forge(b.f[self.r(b.n) - 1])
    pattern = "is listed twice in the batch"
  elseif kind == "other_umem" then
    bad = forge(self.other_b.f[0])
    bad.len = MIN_LEN
    pattern = "belongs to another UMEM"
  elseif kind == "outside" then
    bad = forged_t { addr = self.fc * FRAME_SIZE + self.r(4) * FRAME_SIZE + 256, len = MIN_LEN,
      umem_id = self.u.id }
    pattern = "is outside the UMEM"
  elseif kind == "len_past_end" or kind == "len_zero" then
    if b.n == 0 or (kind == "len_zero" and not tx_like) then return end
    pos = self.r(b.n) - 1
    local f = b.f[pos]
    oldlen = f.len
    f.len = kind == "len_zero" and 0 or f.cap + self.r(3000)
    pattern = kind == "len_zero" and "has length 0" or "runs past the end of its"
    restore = function() b.f[pos].len = oldlen end
  elseif kind == "n_past_cap" then
    local old = b.n
    b.n = b.cap + self.r(5)
    pattern = "is past its capacity"
    restore = function() b.n = old end
    op = ({ "release", "fill", "tx", "send", "forward", "alloc", "rx", "comp", "recv" })[self.r(9)]
    if (s:is_closed() or not self:can(s, op)) and op ~= "alloc" then op = "release" end
  end
  if bad then
    pos = self.r(b.n + 1) - 1
    insert(b, pos, bad)
    if kind == "dup_in_batch" then
      -- the later of the two copies is the bad one
      for j = b.n - 1, pos + 1, -1 do
        if b.f[j].addr == bad.addr then pos = j; break end
      end
    end
  end
  self:note(fmt("MISUSE %s via %s (socket %d, batch cap %d n %d, pos %s)", kind, op, slot, b.cap, b.n, tostring(pos)))
  self.stats.misuse = self.stats.misuse + 1
  self:count("misuse:" .. kind)
  local before = snap(b)
  local ok, r = pcall(function()
    if op == "alloc" then return self.u:alloc(b, 1)
    elseif op == "rx" then return s.rx:consume(b)
    elseif op == "comp" then return s.comp:consume(b)
    elseif op == "recv" then return s:recv(b)
    end
    return self:run_taker(op, s, b)
  end)
  local p = s.model_pair
  if not ok then
    if not tostring(r):find(pattern, 1, true) then
      self:fail("misuse %s via %s: error does not name the problem (%q): %s", kind, op, pattern, tostring(r))
    end
    self:batch_unchanged(b, before, "misuse " .. kind)
    if restore then restore() end
    if bad then remove_at(b, pos) end
    -- send and forward recycle completions before they look at the batch
    self:check_all("misuse " .. kind .. " via " .. op, { tx_to_pool = (op == "send" or op == "forward") and p or nil })
    return
  end
  -- No error: only allowed where nothing was taken because the ring had no
  -- room (the error then comes on a later try), or for send, when the bad
  -- frame lies past the frames that fit (they stay with the script).
  if (op == "fill" or op == "tx" or op == "txw") and r == 0 then
    self:batch_unchanged(b, before, "misuse " .. kind)
    if restore then restore() end
    if bad then remove_at(b, pos) end
    self.stats.deferred = self.stats.deferred + 1
    self:check_all("deferred misuse " .. kind)
    return
  end
  if op == "send" and kind ~= "n_past_cap" and r <= pos then
    local k = r
    if b.n ~= before.n - k then self:fail("send (misuse): %d sent, %d left of %d", k, b.n, before.n) end
    for j = 0, k - 1 do self:to_tx_ring(s, self:index(before[j][1])) end
    if restore then b.f[pos - k].len = oldlen end
    if bad then remove_at(b, pos - k) end
    self.stats.deferred = self.stats.deferred + 1
    self:check_all("send past misuse " .. kind,
      { exact = self:exact_snap(before, 0, k - 1, "tx", p), tx_to_pool = p })
    return
  end
  if restore then restore() end
  self:fail("misuse %s via %s (bad frame at %s of %d) was not refused: returned %s", kind, op, tostring(pos),
    before.n, tostring(r))
end

-- Misuse of the API's arguments rather than of frames: a wrong type where a
-- batch goes, numbers out of range, option bits the kernel refuses, a
-- capacity forged by a cast, frame helpers on frames the script does not
-- hold.  Each must raise an error that names the problem and change nothing.
local NOT_BATCHES = { false, {}, 5, "batch" }
local API_MISUSE = { "not_a_batch", "bad_number", "bad_options", "forged_cap", "foreign_helper" }

function Model:misuse_api(s, slot)
  local kind = API_MISUSE[self.r(#API_MISUSE)]
  local b = self:pick_batch()
  local u = self.u
  local misuse, pattern, restore
  if kind == "not_a_batch" then
    local x = NOT_BATCHES[self.r(#NOT_BATCHES)]
    if x == false then x = nil end
    local calls = {
      function() return s:recv(x) end, function() return s:send(x) end, function() return s:forward(x) end,
      function() return u:release(x) end, function() return u:alloc(x, 1) end,
      function() return s.fill:produce(x) end, function() return s.comp:consume(x) end,
    }
    if s.tx then calls[#calls + 1] = function() return s.tx:produce(x) end end
    if s.rx then
      calls[#calls + 1] = function() return s.rx:consume(x) end
      calls[#calls + 1] = function() return s.rx:poll_and_consume(x) end
    end
    misuse, pattern = calls[self.r(#calls)], "expected a batch from umem:batch()"
  elseif kind == "bad_number" then
    local bad = ({ -1, 2.5, 0 / 0, -0.5 })[self.r(4)]
    local calls = {
      function() return u:alloc(b, bad) end, function() return u:alloc(b, 1, bad) end,
      function() return s:recv(b, bad == -1 and -2 or bad) end, function() return s.comp:consume(b, bad) end,
      function() return s:flush(bad == -1 and -7 or bad) end,
    }
    if s.rx then
      calls[#calls + 1] = function() return s.rx:consume(b, bad) end
      calls[#calls + 1] = function() return s.rx:poll_and_consume(b, bad == -1 and -2 or bad) end
    end
    misuse, pattern = calls[self.r(#calls)], " must be "
  elseif kind == "bad_options" then
    if b.n == 0 or s:is_closed() or not s.tx then return end
    self:stamp(b, slot)
    local which, bit_no = self.r(4), self.r(32) - 1
    -- send checks only the frames that fit on the ring (the rest stay with
    -- the script): its bad frame goes first, where it is always looked at
    local pos = which == 1 and 0 or self.r(b.n) - 1
    b.f[pos].options = bit.lshift(1, bit_no)
    restore = function() b.f[pos].options = 0 end
    local calls = { function() return s:send(b) end, function() return s:forward(b) end,
      function() return s.tx:produce(b) end, function() return s.tx:produce_and_wakeup(b) end }
    misuse = calls[which]
    pattern = "only XDP_PKT_CONTD (0x1) may be set"
    if bit_no == 0 then
      pattern = pos == b.n - 1 and "the batch ends in the middle of a packet"
        or "has XDP_PKT_CONTD set but the socket was made without multi_buffer"
    end
  elseif kind == "forged_cap" then
    -- a cast can write the capacity Lua sees; the core goes by the one it keeps
    local cap, n = b.cap, b.n
    local words = ffi.cast(u32p, b)
    words[1] = cap * 4 + self.r(100)
    b.n = cap + self.r(3 * cap)
    restore = function() words[1] = cap; b.n = n end
    local calls = { function() return u:alloc(b) end, function() return u:release(b) end }
    -- a closed socket says so before it looks at the batch
    if not s:is_closed() then
      if s.rx then
        calls[#calls + 1] = function() return s:recv(b) end
        calls[#calls + 1] = function() return s.rx:consume(b) end
      end
      if s.tx then calls[#calls + 1] = function() return s:send(b) end end
    end
    misuse, pattern = calls[self.r(#calls)], "is past its capacity " .. cap
  else -- foreign_helper
    local d, o = self:pick_stale(self.r(2) == 1)
    if not d then return end
    local f = ffi.cast("struct lxsk_frame *", d)
    local calls = { function() return f:set("x") end, function() return f:bytes() end,
      function() return f:setlen(1) end, function() return f:room() end, function() return u:headroom(f) end }
    misuse = calls[self.r(#calls)]
    pattern = "is not the script's: it belongs to " .. (o == "pool" and "the free pool" or "the kernel")
  end
  self:note(fmt("MISUSE api %s (socket %d, batch cap %d n %d)", kind, slot, b.cap, b.n))
  self.stats.misuse = self.stats.misuse + 1
  self:count("misuse:api:" .. kind)
  -- (a forged capacity would make the snapshot read past the batch's end)
  local before = kind ~= "forged_cap" and snap(b) or nil
  local ok, err = pcall(misuse)
  if restore then restore() end
  if ok then
    -- a TX ring with no room takes nothing and says so with 0; the error
    -- comes on a later try
    if kind == "bad_options" and err == 0 then
      self.stats.deferred = self.stats.deferred + 1
      self:batch_unchanged(b, before, "deferred misuse api " .. kind)
      return self:check_all("deferred misuse api " .. kind)
    end
    self:fail("misuse api %s was not refused: returned %s", kind, tostring(err))
  end
  if not tostring(err):find(pattern, 1, true) then
    self:fail("misuse api %s: error does not name the problem (%q): %s", kind, pattern, tostring(err))
  end
  if kind ~= "forged_cap" then self:batch_unchanged(b, before, "misuse api " .. kind) end
  self:check_all("misuse api " .. kind,
    { tx_to_pool = (kind == "bad_options" or kind == "forged_cap") and s.model_pair or nil })
end

-- Every call on a closed socket raises "socket is closed" and changes nothing.
function Model:misuse_closed()
  local slot = self.r(self.nslots)
  local s = self.socks[slot]
  if not s or not s:is_closed() then return end
  local b = self:pick_batch()
  local calls = {
    function() return s.fill:produce(b) end, function() return s.comp:consume(b) end,
    function() return s:stats() end, function() return s:fd() end, function() return s:ring_entries("fill") end,
    function() return s:ring_state("comp") end, function() return s:poll(0) end,
  }
  if s.rx then
    calls[#calls + 1] = function() return s:recv(b) end
    calls[#calls + 1] = function() return s.rx:consume(b) end
    calls[#calls + 1] = function() return s.rx:poll_and_consume(b) end
  end
  if s.tx then
    calls[#calls + 1] = function() return s:send(b) end
    calls[#calls + 1] = function() return s:forward(b) end
    calls[#calls + 1] = function() return s.tx:produce(b) end
    calls[#calls + 1] = function() return s.tx:wakeup() end
  end
  local k = self.r(#calls)
  self:note(fmt("MISUSE call %d on closed socket %d (batch cap %d n %d)", k, slot, b.cap, b.n))
  self.stats.closed_use = self.stats.closed_use + 1
  local before = snap(b)
  self:expect_error("call on a closed socket", "is closed", calls[k])
  if s:recycle() ~= 0 or s:refill() ~= 0 then self:fail("recycle/refill on a closed socket did something") end
  self:batch_unchanged(b, before, "closed socket")
  self:check_all("closed socket")
end

-- ---- the random walk ----

-- Weights per step; close, open and end scale with opts.session_ops (the
-- mean length of a session), since setting up sockets is slow.
local WEIGHTS = {
  { "alloc", 10 }, { "put", 2 }, { "release", 6 }, { "move", 3 }, { "fill", 6 }, { "rx", 4 }, { "poll", 2 },
  { "comp", 5 }, { "tx", 5 }, { "txw", 5 }, { "recv", 10 }, { "send", 10 }, { "forward", 6 }, { "recycle", 3 },
  { "refill", 3 }, { "wakeup", 2 }, { "flush", 1 }, { "misuse", 8 }, { "close", 0.3 }, { "open", 1.2 },
  { "register", 0.3 }, { "settle", 0.3 }, { "end", 0.05 },
}
local SLOW = { close = true, open = true, register = true, settle = true, ["end"] = true }

function Model:weights(session_ops)
  local scale = 2000 / session_ops
  self.w, self.wtotal = {}, 0
  for _, w in ipairs(WEIGHTS) do
    local v = SLOW[w[1]] and w[2] * scale or w[2]
    self.w[#self.w + 1] = { w[1], v }
    self.wtotal = self.wtotal + v
  end
  self.end_idle = math.max(2, math.floor(session_ops / 250))
end

function Model:step()
  if self.settle_all then self:settle("after the previous operation (XSK_MODEL_SETTLE_ALL)") end
  self.stats.ops = self.stats.ops + 1
  local x = (self.r(1000000) - 1) / 1000000 * self.wtotal
  local name
  for _, w in ipairs(self.w) do
    x = x - w[2]
    if x < 0 then name = w[1]; break end
  end
  name = name or "alloc"
  self:count(name)
  if name == "alloc" then return self:op_alloc() end
  if name == "release" then return self:op_release() end
  if name == "register" then return self:op_register() end
  if name == "move" then return self:op_move() end
  if name == "misuse" then return self:op_misuse() end
  if name == "end" then
    self:note("end of session")
    self:stop(self.r(3) == 1 and "gc" or "close")
    return self:start()
  end
  if name == "put" then return self:op_put(self.r(self.nslots)) end
  if name == "settle" then
    self:note("settle")
    return self:settle("settle")
  end
  local s, slot = self:pick_sock()
  if name == "open" then
    if s and not s:is_closed() then return self:op_alloc() end
    return self:op_open(slot)
  end
  if not s or s:is_closed() then
    -- with no socket left to use, end the session sooner
    if self.r(self.end_idle) == 1 then
      s = nil -- luacheck: ignore 311 (a live local would keep the UMEM from the GC)
      self:note("end of session (no socket open)")
      self:stop(self.r(3) == 1 and "gc" or "close")
      return self:start()
    end
    return self:misuse_closed()
  end
  if name == "close" then return self:op_close(slot) end
  if name == "fill" or name == "tx" or name == "txw" then return self:produce(name, s, slot) end
  if name == "rx" or name == "poll" or name == "comp" then return self:consume(name, s, slot) end
  if name == "recv" then return self:op_recv(s, slot) end
  if name == "send" or name == "forward" then return self:op_send(name, s, slot) end
  if name == "recycle" then return self:op_recycle(s, slot) end
  if name == "refill" then return self:op_refill(s, slot) end
  if name == "wakeup" then return self:op_wakeup(s, slot) end
  if name == "flush" then return self:op_flush(s, slot) end
end

-- Runs n steps; progress(stats) is called every `every` steps when given.
function Model:run(n, progress, every)
  every = every or 100000
  for k = 1, n do
    self:step()
    if progress and k % every == 0 then progress(self.stats) end
  end
  return self.stats
end

-- The model's own code runs in the interpreter: the JIT has nothing to prove
-- here (jit_spec covers the per-packet paths), and under valgrind each of
-- the many traces these checks make is translated again, which made
-- `make valgrind` six times slower.  Measured: no slower without valgrind.
for _, f in pairs(Model) do
  if type(f) == "function" then jit.off(f, true) end
end

function M.summary(st)
  local modes = {}
  for k, v in pairs(st.by_mode) do modes[#modes + 1] = fmt("%s %d", k, v) end
  table.sort(modes)
  return fmt("%d ops, %d sessions (%s), %d misuse refused (%d deferred), %d closed-socket calls, %d calls refused "
    .. "for a missing ring, %d reopens refused, %d GC ends closed by hand; packets: %d put on TX rings, %d taken by "
    .. "the kernel, %d returned unsent at close, %d received, %d discarded from RX rings at close, %d dropped and "
    .. "counted (%d by the sockets, %d by the kernel stack, %d by steering rules, %d by veth), 0 lost; %d quiet points "
    .. "(%d waited)", st.ops, st.sessions, table.concat(modes, ", "), st.misuse, st.deferred, st.closed_use, st.refused,
    st.reopen_refused, st.gc_deferred or 0, st.sent, st.taken, st.unsent, st.received, st.discarded,
    st.drop_xsk + st.drop_stack + st.drop_rule + st.drop_tx, st.drop_xsk, st.drop_stack, st.drop_rule, st.drop_tx,
    st.settles, st.settle_waits)
end

return M
