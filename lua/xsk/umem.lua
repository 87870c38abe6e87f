-- xsk.umem: packet memory shared with the kernel, its frames and batches.
--
-- The Lua object owns one C handle (struct lxsk_umem).  Its memory stays
-- mapped while the object, any of its batches or any of its sockets lives;
-- close() closes its sockets and empties its batches, and what a script still
-- points at afterwards is an inert mapping that nothing else uses.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"
local frame = require "xsk.frame"

local setmetatable, tonumber, error = setmetatable, tonumber, error
local istype = ffi.istype
local bad_int, argerror, core_error, options = base.bad_int, base.argerror, base.core_error, base.options
local batch_t, not_a_batch = frame.batch_t, frame.not_a_batch

local M = {}

local MAX_COUNT = 2 ^ 24

-- Defaults follow libxdp's (xsk.h); frame_count has none there.  The core
-- checks the rules that depend on each other (powers of two, headroom).
M.schema = {
  frame_count = { "int", 4096, 1, MAX_COUNT },
  frame_size = { "int", 4096, 2048, 65536 },
  frame_headroom = { "int", 0, 0, 65536 },
  fill_size = { "int", 2048, 1, MAX_COUNT },
  comp_size = { "int", 2048, 1, MAX_COUNT },
  hugepages = { "bool", false },
  rx_metadata = { "bool", false }, -- frames answer f:rx_time() & co. (the core guards against stale metadata)
}

local OWNERS = {
  [C.LXSK_OWN_POOL] = "pool", [C.LXSK_OWN_FILL] = "fill", [C.LXSK_OWN_USER] = "user", [C.LXSK_OWN_TX] = "tx",
  [C.LXSK_OWN_CHANNEL] = "channel", [C.LXSK_OWN_LOST] = "lost",
}

local Umem = {}
Umem.__index = Umem
M.Umem = Umem

local info = ffi.new("struct lxsk_umem_info")

local function wrap(u)
  ffi.gc(u, C.lxsk_umem_free)
  C.lxsk_umem_get_info(u, info)
  local self = setmetatable({
    u = u,
    id = info.id,
    part = info.part,
    area = info.area,
    size = tonumber(info.size),
    frame_count = info.frame_count,
    frame_size = info.frame_size,
    frame_headroom = info.frame_headroom,
    data_offset = info.data_offset,
    max_packet = info.frame_size - info.data_offset,
    rx_metadata = info.rx_metadata ~= 0,
    sockets = setmetatable({}, { __mode = "v" }),
  }, Umem)
  frame.register(self)
  return self
end

-- The UMEM object for u, a struct lxsk_umem * made in C by other means than
-- M.new; it owns u from now on.
M.wrap = wrap

-- xsk.umem{ frame_count, frame_size, frame_headroom, fill_size, comp_size, hugepages, rx_metadata }
function M.new(cfg)
  local o, err = options("xsk.umem", M.schema, cfg)
  if not o then error(err, 2) end
  local opts = ffi.new("struct lxsk_umem_opts", {
    o.frame_count, o.frame_size, o.frame_headroom, o.fill_size, o.comp_size, o.hugepages and 1 or 0,
    o.rx_metadata and 1 or 0,
  })
  local u = C.lxsk_umem_new(opts)
  if u == nil then error(core_error("xsk.umem"), 2) end
  return wrap(u)
end

-- A handle handed to a worker (xsk.workers), adopted there.
function M._adopt(_, u)
  return wrap(u)
end

-- How a handle crosses to a worker: it moves, and only before it has sockets
-- or batches (a handle is one thread's).
Umem.__handover = {
  kind = C.LXSK_HAND_UMEM,
  what = "a UMEM handle",
  check = function(self)
    if C.lxsk_umem_movable(self.u) < 0 then return ffi.string(C.lxsk_errmsg()) end
  end,
  ptr = function(self) return self.u end,
  moved = function(self, whom)
    ffi.gc(self.u, nil)
    frame.unregister(self)
    require("xsk.handover").neuter(self, "xsk.umem", whom)
  end,
}

-- A second handle on the same UMEM with a partition of its own, taking n of
-- this handle's free frames: what a worker uses.
function Umem:share(n)
  local want = bad_int(n, 0, MAX_COUNT)
  if want then error(argerror("xsk.umem: share", "n", want, n), 2) end
  local u = C.lxsk_umem_share(self.u, n)
  if u == nil then error(core_error("xsk.umem"), 2) end
  return wrap(u)
end

-- Takes the frames of closed partitions and channels (the UMEM's lost and
-- found) into this handle's partition; returns how many.
function Umem:reclaim()
  local n = C.lxsk_umem_reclaim(self.u)
  if n < 0 then error(core_error("xsk.umem"), 2) end
  return n
end

-- A channel of frames between two partitions of this UMEM (xsk.channel):
-- returns its sending end and its receiving end.
function Umem:channel(size)
  local tx, rx = require("xsk.channel")._open(self, size)
  if not tx then error(rx, 2) end
  return tx, rx
end

function Umem:socket(cfg)
  local s, err = require("xsk.socket").open(self, cfg)
  if not s then error(err, 2) end
  return s
end

-- A batch of up to n frames (default 64).  It keeps the UMEM alive; closing
-- the UMEM empties it.
function Umem:batch(n)
  local b, err = frame.new_batch(self, n or 64)
  if not b then error(err, 2) end
  return b
end

-- Takes up to n free frames (default: as many as fit) into the batch;
-- returns how many.  Each frame has room for max_packet bytes and length len
-- (default 0), ready to be written in place.
function Umem:alloc(b, n, len)
  if not istype(batch_t, b) then error(not_a_batch("xsk.umem: alloc", b), 2) end
  if n == nil then n = b.cap end
  if len == nil then len = 0 end
  if bad_int(n, 0, 4294967295) then error(argerror("xsk.umem: alloc", "n", "a whole number from 0 up", n), 2) end
  local want = bad_int(len, 0, self.max_packet)
  if want then error(argerror("xsk.umem: alloc", "len", want, len), 2) end
  local got = C.lxsk_alloc(self.u, b, n, len)
  if got < 0 then error(core_error("xsk.umem"), 2) end
  return got
end

-- Gives every frame of the batch back; the batch is empty afterwards.
function Umem:release(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.umem: release", b), 2) end
  local n = C.lxsk_release(self.u, b)
  if n < 0 then error(core_error("xsk.umem"), 2) end
  return n
end

-- Who holds the frame at a UMEM address: "pool", "fill", "user" or "tx";
-- "channel" (between partitions) or "lost" (of a closed partition or channel).
function Umem:owner(addr)
  addr = tonumber(addr) -- a frame's addr is a uint64_t cdata
  local want = bad_int(addr, 0, self.size - 1)
  if want then error(argerror("xsk.umem: owner", "addr", want, addr), 2) end
  local o = C.lxsk_umem_owner(self.u, addr)
  if o < 0 then error(core_error("xsk.umem"), 2) end
  return OWNERS[o]
end

function Umem:free_frames()
  C.lxsk_umem_get_info(self.u, info)
  return info.pool_count
end

function Umem:is_closed()
  C.lxsk_umem_get_info(self.u, info)
  return info.closed ~= 0
end

-- The user headroom of a frame the script holds: a pointer to the start of
-- its chunk, and the headroom's size.  From the chunk base, not addr - headroom.
function Umem:headroom(f)
  if not istype("struct lxsk_frame", f) then error(argerror("xsk.umem: headroom", "f", "a frame", f), 2) end
  if f.umem_id ~= self.id then
    error(("xsk.umem: headroom: the frame (addr 0x%x) belongs to another UMEM"):format(tonumber(f.addr)), 2)
  end
  if C.lxsk_frame_room(self.u, f) < 0 then error(core_error("xsk.umem"), 2) end
  local chunk = f.addr - f.addr % self.frame_size
  return self.area + chunk, self.frame_headroom
end

-- Closes the handle and every socket made through it, and empties its
-- batches.  Safe to call twice; the GC does it for UMEMs never closed.
function Umem:close()
  C.lxsk_umem_close(self.u)
end

function Umem:__tostring()
  return ("xsk.umem(%d frames of %d bytes%s)"):format(self.frame_count, self.frame_size,
    self:is_closed() and ", closed" or "")
end

return M
