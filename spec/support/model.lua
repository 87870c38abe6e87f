-- A model-based random test of frame ownership.
--
-- One UMEM, two sockets (one on each end of a veth pair, so each has its own
-- fill/completion ring pair), a handful of script batches, and a random walk
-- over every public operation, misuse included.  The model says who holds
-- each frame:
--
--   pool   the UMEM's free pool
--   fill   the kernel, on socket P's fill ring or RX ring (P is tracked)
--   user   the script: exactly the frames listed in the script's batches
--   tx     the kernel, on socket P's TX ring or completion ring
--
-- After every step every frame address is read back with umem:owner() and
-- each change is checked against what that operation may do; the frames the
-- model gives the script must be exactly those in the batches, each once, and
-- umem:free_frames() must count the pool.  Misuse must raise a Lua error that
-- names the problem and change nothing.  Packets carry a token (session,
-- sequence number, length, sender) so a received packet must be one that was
-- sent, by the other socket, once.
--
-- The kernel works asynchronously, so a seed reproduces the sequence of
-- operations, not necessarily the kernel's timing.
--
--   local model = require "support.model"
--   local m = model.new{ seed = 42 }   -- inside a namespace with veth0/veth1
--   m:run(20000)                       -- raises with the seed and a log on failure
--   m:finish()
local ffi = require "ffi"
local bit = require "bit"
local xsk = require "xsk"

local bxor, lshift, rshift = bit.bxor, bit.lshift, bit.rshift
local tonumber, pcall, error, fmt = tonumber, pcall, error, string.format

local M = {}

local FRAME_SIZE = 2048
local RING = 16          -- fill, completion, RX and TX ring sizes: small, so they fill up
local MAGIC = 0x4d4b5358 -- "XSKM" read as a little-endian uint32
local HDR = "\255\255\255\255\255\255\2\0\0\0\0\0\136\181"
local MIN_LEN, MAX_LEN = 60, 1514

local u32p = ffi.typeof("uint32_t *")

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

local Model = {}
Model.__index = Model

-- opts: seed, frame_count (default 64), ifnames ({ "veth0", "veth1" }),
-- quiet (no progress lines), check_xdp (function(ifname) -> true when an XDP
-- program is attached; checked whenever a session ends), session_ops (mean
-- operations per session, default 2000).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Model)
  self.seed = opts.seed or M.seed()
  self.r = rng(self.seed)
  self.fc = opts.frame_count or 64
  self.ifnames = opts.ifnames or { "veth0", "veth1" }
  self.check_xdp = opts.check_xdp
  self:weights(opts.session_ops or 2000)
  self.log, self.logn = {}, 0
  self.stats = { ops = 0, sessions = 0, misuse = 0, deferred = 0, sent = 0, received = 0, foreign = 0,
    late = 0, closed_use = 0, reopen_refused = 0, by_op = {} }
  self.session = 0
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
  error(fmt("model check failed (XSK_SEED=%d, op %d, session %d): %s\nlast operations:\n%s",
    self.seed, self.stats.ops, self.session, fmt(msg, ...), table.concat(lines, "\n")), 0)
end

-- ---- sessions: a UMEM, its sockets and batches ----

function Model:start()
  self.session = self.session + 1
  self.stats.sessions = self.stats.sessions + 1
  local fc = self.fc
  self.u = xsk.umem { frame_count = fc, frame_size = FRAME_SIZE, fill_size = RING, comp_size = RING }
  self.own, self.pair = {}, {}
  for i = 0, fc - 1 do self.own[i], self.pair[i] = "pool", false end
  self.batches = { self.u:batch(1), self.u:batch(4), self.u:batch(16), self.u:batch(fc) }
  self.socks = {}
  self.auto_fill = self.r(3) ~= 1
  self.next_pair = 0
  self.had_sockets = false
  self.stale, self.stalen = {}, 0
  self.prev_sent, self.prev_got = self.sent, self.got
  self.sent, self.got, self.seq = {}, {}, 0
  self:check_all("start")
  for slot = 1, 2 do self:op_open(slot) end
end

-- Ends the session by close (in a random order) or by dropping everything
-- for the GC; afterwards nothing may be attached to the interfaces.
function Model:stop(how)
  self:note("stop by " .. how)
  local u = self.u
  if how == "gc" then
    local alive = setmetatable({ u }, { __mode = "v" })
    self.u, self.socks, self.batches = nil, {}, {}
    u = nil -- luacheck: ignore 311 (the last strong reference goes, for the GC)
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
    local order = { 1, 2 }
    if self.r(2) == 1 then order = { 2, 1 } end
    for _, slot in ipairs(order) do
      local s = self.socks[slot]
      if s and not s:is_closed() and self.r(2) == 1 then self:op_close(slot) end
    end
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
  end
  if self.check_xdp then
    for _, ifn in ipairs(self.ifnames) do
      if self.check_xdp(ifn) then self:fail("an XDP program is still attached to %s after the session ended", ifn) end
    end
  end
end

function Model:finish()
  self:stop(self.r(2) == 1 and "gc" or "close")
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

-- ---- frames and batches ----

function Model:index(addr)
  return math.floor(tonumber(addr) / FRAME_SIZE)
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

-- Writes a token packet into every frame of b (the script owns them all).
-- Returns the sequence numbers, by batch position.
function Model:stamp(b, slot)
  local seqs = {}
  for j = 0, b.n - 1 do
    local f = b.f[j]
    self.seq = self.seq + 1
    local len = MIN_LEN + self.r(MAX_LEN - MIN_LEN + 1) - 1
    ffi.copy(f.data, HDR, 14)
    f.data[11] = slot
    local p = ffi.cast(u32p, f.data + 14)
    p[0], p[1], p[2] = MAGIC, self.session, self.seq
    ffi.cast(u32p, f.data + len - 4)[0] = self.seq
    f.len = len
    -- recorded now: a frame the kernel takes is copied out at once
    self.sent[self.seq] = len * 2 + (slot - 1)
    seqs[j] = self.seq
  end
  return seqs
end

-- Counts the packets of positions first..last as sent.
function Model:mark_sent(first, last)
  if last >= first then self.stats.sent = self.stats.sent + (last - first + 1) end
end

-- A frame the kernel wrote: must be a token packet the other socket sent,
-- seen for the first time.
function Model:check_packet(f, slot)
  local d = f.data
  if f.len < MIN_LEN or d[12] ~= 0x88 or d[13] ~= 0xb5 or ffi.cast(u32p, d + 14)[0] ~= MAGIC then
    self.stats.foreign = self.stats.foreign + 1
    return
  end
  local p = ffi.cast(u32p, d + 14)
  local session, seq = p[1], p[2]
  local sent, got = self.sent, self.got
  if session ~= self.session then
    if session == self.session - 1 and self.prev_sent then
      sent, got = self.prev_sent, self.prev_got
      self.stats.late = self.stats.late + 1
    else
      self:fail("received a packet of session %d in session %d", session, self.session)
    end
  end
  local v = sent[seq]
  if not v then self:fail("socket %d received packet %d, which was never sent", slot, seq) end
  local len, from = math.floor(v / 2), v % 2 + 1
  if got[seq] then self:fail("socket %d received packet %d twice", slot, seq) end
  if f.len ~= len then self:fail("packet %d: sent %d bytes, received %d", seq, len, f.len) end
  if from == slot then self:fail("socket %d received its own packet %d", slot, seq) end
  if ffi.cast(u32p, d + len - 4)[0] ~= seq then self:fail("packet %d: its tail was corrupted", seq) end
  got[seq] = true
  self.stats.received = self.stats.received + 1
end

-- ---- the check after every step ----

-- spec.exact[i] = { owner, pair }: where frame i must be now.
-- spec.new_user[i] = pair (or "pool", "alloc" or "any"): frame i arrived in a batch from
--   the fill ring of that pair (or the pool; "alloc": the pool or a
--   completion ring, see alloc_from).
-- spec.pool_to_fill = pair: refilling may move pool frames to that fill ring.
-- spec.tx_to_pool = pair: recycling may return that pair's TX frames.
-- spec.alloc_from = { [pair] = true }: new_user "alloc" entries may be those
--   pairs' TX frames (completed) as well as pool frames.
-- Every other frame must stay where it was.
function Model:check_all(what, spec)
  spec = spec or {}
  local u, own, pair, act = self.u, self.own, self.pair, self.act
  local exact, new_user, p2f, t2p = spec.exact, spec.new_user, spec.pool_to_fill, spec.tx_to_pool
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
    if a == "pool" then pool = pool + 1 end
  end
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
function Model:new_entries(b, n0, src, slot, packets)
  local t = {}
  for j = n0, b.n - 1 do
    local f = b.f[j]
    local i = self:index(f.addr)
    if f.umem_id ~= self.u.id then self:fail("new batch entry %d has UMEM id %d", j, f.umem_id) end
    local chunk = i * FRAME_SIZE
    if f.data ~= self.u.area + f.addr then self:fail("frame %d: data does not point at area + addr", i) end
    if f.cap ~= FRAME_SIZE - (tonumber(f.addr) - chunk) then self:fail("frame %d: cap %d is wrong", i, f.cap) end
    if packets then
      if tonumber(f.addr) - chunk ~= self.u.data_offset then self:fail("frame %d: RX data not at data_offset", i) end
      self:check_packet(f, slot)
    elseif f.len ~= 0 or tonumber(f.addr) - chunk ~= self.u.data_offset then
      self:fail("frame %d: handed out with len %d at offset %d", i, f.len, tonumber(f.addr) - chunk)
    end
    t[i] = src
  end
  return t
end

-- ---- operations ----

function Model:pick_batch()
  return self.batches[self.r(#self.batches)]
end

function Model:count(name)
  local by = self.stats.by_op
  by[name] = (by[name] or 0) + 1
end

function Model:op_open(slot)
  local ifn = self.ifnames[slot]
  local open = 0
  for _, s in pairs(self.socks) do if not s:is_closed() then open = open + 1 end end
  self:note(fmt("open socket %d on %s", slot, ifn))
  local ok, s = pcall(self.u.socket, self.u, { ifname = ifn, rx_size = RING, tx_size = RING,
    auto_fill = self.auto_fill })
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
  if not self.had_sockets then self.first_ifname, self.first_pair = ifn, self.next_pair + 1 end
  self.had_sockets = true
  self.next_pair = self.next_pair + 1
  s.model_pair = self.next_pair
  self.socks[slot] = s
  self:check_all("open", { pool_to_fill = self.auto_fill and s.model_pair or nil })
end

function Model:op_close(slot)
  local s = self.socks[slot]
  self:note(fmt("close socket %d", slot))
  local p = s.model_pair
  local exact = {}
  for i = 0, self.fc - 1 do
    -- the UMEM's first socket stays bound (libxdp keeps it on the UMEM's own
    -- fd), so the frames on its queue's fill ring stay with the kernel
    if self.pair[i] == p and (self.own[i] == "tx" or (self.own[i] == "fill" and p ~= self.first_pair)) then
      exact[i] = { "pool", false }
    end
  end
  -- what its own RX ring holds comes back in any case
  for _, addr in ipairs(s:ring_entries("rx")) do exact[self:index(addr)] = { "pool", false } end
  s:close()
  s:close()
  self:check_all("close", { exact = exact })
end

-- A socket and its slot; mostly an open one.
function Model:pick_sock()
  local slot = self.r(2)
  local s = self.socks[slot]
  if (not s or s:is_closed()) and self.r(5) ~= 1 then
    local o = 3 - slot
    if self.socks[o] and not self.socks[o]:is_closed() then return self.socks[o], o end
  end
  return s, slot
end

local function call(self, what, fn, ...)
  local ok, r = pcall(fn, ...)
  if not ok then self:fail("%s raised: %s", what, tostring(r)) end
  return r
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
  local tx_pairs = {}
  for _, s in pairs(self.socks) do
    if s.tx and not s:is_closed() then tx_pairs[s.model_pair] = true end
  end
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

-- release puts the frames straight onto the fill ring of the UMEM's most
-- recently opened open socket (the first in the core's list of them) when
-- sockets fill automatically, as far as that ring wants them, and the rest
-- in the pool: the released frames are some on that fill ring, then the rest
-- in the pool, in the batch's order.
function Model:op_release()
  local b = self:pick_batch()
  local n0 = b.n
  self:note(fmt("release(batch cap %d n %d)", b.cap, n0))
  self:keep_stale_batch(b)
  local addrs = {}
  for j = 0, n0 - 1 do addrs[j] = b.f[j].addr end
  local to
  if self.auto_fill then
    for _, s in pairs(self.socks) do
      if not s:is_closed() and (not to or s.model_pair > to) then to = s.model_pair end
    end
  end
  local got = call(self, "release", self.u.release, self.u, b)
  if got ~= n0 or b.n ~= 0 then self:fail("release returned %d (batch n %d), expected %d", got, b.n, n0) end
  local exact, pooled = {}, false
  for j = 0, n0 - 1 do
    local a = self.u:owner(addrs[j])
    if a == "fill" and to and not pooled then
      exact[self:index(addrs[j])] = { "fill", to }
    else
      pooled = true
      exact[self:index(addrs[j])] = { "pool", false }
    end
  end
  self:check_all("release", { exact = exact })
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
  local b = self:pick_batch()
  local n0 = b.n
  local seqs
  if kind ~= "fill" then seqs = self:stamp(b, slot) end
  self:note(fmt("%s(socket %d, batch cap %d n %d)", kind, slot, b.cap, n0))
  local before = snap(b)
  local fn
  if kind == "fill" then fn = s.fill.produce
  elseif kind == "tx" then fn = s.tx.produce
  else fn = s.tx.produce_and_wakeup end
  local got = call(self, kind, fn, kind == "fill" and s.fill or s.tx, b)
  if got == n0 and n0 > 0 then
    if b.n ~= 0 then self:fail("%s: produced %d but batch still has %d", kind, got, b.n) end
    for j = 0, n0 - 1 do
      self:keep_stale(forged_t { addr = before[j][1], len = before[j][2], umem_id = before[j][3] })
    end
    if seqs then self:mark_sent(0, n0 - 1) end
    self:check_all(kind,
      { exact = self:exact_snap(before, 0, n0 - 1, kind == "fill" and "fill" or "tx", s.model_pair) })
  elseif got == 0 then
    self:batch_unchanged(b, before, kind)
    self:check_all(kind)
  else
    self:fail("%s: returned %d for a batch of %d (all or nothing)", kind, got, n0)
  end
end

function Model:consume(kind, s, slot)
  local b = self:pick_batch()
  local n0, room = b.n, b.cap - b.n
  local max = self.r(b.cap + 1) - 1
  self:note(fmt("%s:consume(socket %d, batch cap %d n %d, max %d)", kind, slot, b.cap, n0, max))
  local before = snap(b)
  local got = call(self, kind .. " consume", kind == "rx" and s.rx.consume or s.comp.consume,
    kind == "rx" and s.rx or s.comp, b, max)
  if got < 0 or got > math.min(max, room) or b.n ~= n0 + got then
    self:fail("%s consume returned %d (n %d -> %d, max %d, room %d)", kind, got, n0, b.n, max, room)
  end
  for j = 0, n0 - 1 do
    if not same_entry(b.f[j], before[j]) then self:fail("%s consume changed old entry %d", kind, j) end
  end
  local p = s.model_pair
  if kind == "rx" then
    self:check_all("rx consume", { new_user = self:new_entries(b, n0, p, slot, true) })
  else
    -- completions come back with len 0
    local t = {}
    for j = n0, b.n - 1 do
      local f = b.f[j]
      local i = self:index(f.addr)
      if f.len ~= 0 then self:fail("completed frame %d has len %d", i, f.len) end
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
  self:mark_sent(0, k - 1)
  for j = 0, k - 1 do
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
  self:check_all("refill", { pool_to_fill = s.model_pair })
end

-- flush kicks until the TX ring is empty and recycles completions.
function Model:op_flush(s, slot)
  self:note(fmt("flush(socket %d)", slot))
  local left = call(self, "flush", s.flush, s, 5)
  if left < 0 or left > RING then self:fail("flush left %d frames", left) end
  self:check_all("flush", { tx_to_pool = s.model_pair })
end

function Model:op_wakeup(s, slot)
  self:note(fmt("wakeups(socket %d)", slot))
  call(self, "tx:wakeup", s.tx.wakeup, s.tx)
  call(self, "fill:wakeup", s.fill.wakeup, s.fill, 0)
  if s.fill:needs_wakeup() == nil then self:fail("needs_wakeup returned nil") end
  for _, r in ipairs { "fill", "comp", "rx", "tx" } do
    local st = s:ring_state(r)
    if st.entries > st.size then
      self:fail("%s ring of socket %d: %d entries in a ring of %d", r, slot, st.entries, st.size)
    end
  end
  call(self, "stats", s.stats, s)
  self:check_all("wakeup")
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
  if s:is_closed() and op ~= "release" then op = "release" end
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
    if s:is_closed() and op ~= "release" and op ~= "alloc" then op = "release" end
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
      function() return s.fill:produce(x) end, function() return s.tx:produce(x) end,
      function() return s.rx:consume(x) end, function() return s.comp:consume(x) end,
    }
    misuse, pattern = calls[self.r(#calls)], "expected a batch from umem:batch()"
  elseif kind == "bad_number" then
    local bad = ({ -1, 2.5, 0 / 0, -0.5 })[self.r(4)]
    local calls = {
      function() return u:alloc(b, bad) end, function() return u:alloc(b, 1, bad) end,
      function() return s:recv(b, bad == -1 and -2 or bad) end, function() return s.rx:consume(b, bad) end,
      function() return s.comp:consume(b, bad) end, function() return s:flush(bad == -1 and -7 or bad) end,
    }
    misuse, pattern = calls[self.r(#calls)], " must be "
  elseif kind == "bad_options" then
    if b.n == 0 or s:is_closed() then return end
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
    local calls = { function() return u:alloc(b) end, function() return u:release(b) end,
      function() return s:recv(b) end, function() return s:send(b) end, function() return s.rx:consume(b) end }
    -- a closed socket says so before it looks at the batch
    misuse, pattern = calls[self.r(s:is_closed() and 2 or #calls)], "is past its capacity " .. cap
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
  -- a forged count is past the batch's memory: nothing may read it, this model included
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
  local slot = self.r(2)
  local s = self.socks[slot]
  if not s or not s:is_closed() then return end
  local b = self:pick_batch()
  local calls = {
    function() return s:recv(b) end, function() return s:send(b) end, function() return s:forward(b) end,
    function() return s.fill:produce(b) end, function() return s.tx:produce(b) end,
    function() return s.rx:consume(b) end, function() return s.comp:consume(b) end,
    function() return s:stats() end, function() return s:fd() end, function() return s.tx:wakeup() end,
  }
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
  { "alloc", 12 }, { "release", 6 }, { "move", 3 }, { "fill", 6 }, { "rx", 6 }, { "comp", 5 },
  { "tx", 5 }, { "txw", 5 }, { "recv", 10 }, { "send", 10 }, { "forward", 6 }, { "recycle", 3 },
  { "refill", 3 }, { "wakeup", 2 }, { "flush", 1 }, { "misuse", 8 }, { "close", 0.3 }, { "open", 1.2 },
  { "end", 0.05 },
}
local SLOW = { close = true, open = true, ["end"] = true }

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
  if name == "move" then return self:op_move() end
  if name == "misuse" then return self:op_misuse() end
  if name == "end" then
    self:note("end of session")
    self:stop(self.r(3) == 1 and "gc" or "close")
    return self:start()
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
  if name == "rx" or name == "comp" then return self:consume(name, s, slot) end
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

function M.summary(st)
  return fmt("%d ops, %d sessions, %d misuse refused (%d deferred), %d closed-socket calls, "
    .. "%d packets sent, %d received (%d late, %d foreign), %d reopens refused, %d GC ends closed by hand",
    st.ops, st.sessions, st.misuse, st.deferred, st.closed_use, st.sent, st.received, st.late, st.foreign,
    st.reopen_refused, st.gc_deferred or 0)
end

return M
