-- xsk.frame: methods of frames and batches, the FFI structs scripts loop over.
--
-- A batch is made in C by umem:batch(n) and reaches Lua as a pointer: its
-- frames are an array inside it, so `b.f[i]` allocates nothing and compiles.
-- What Lua may write is n (frames in use) and each frame's len and options;
-- the other fields are const to the FFI, and the C side keeps its own truth
-- anyway (a batch's real capacity; a frame's bounds from its address and the
-- UMEM's geometry).  Every helper that touches frame memory asks the core
-- whether the frame is the script's, and how much room it has, first.
local ffi = require "ffi"
local bit = require "bit"
local C = require "xsk.cdef"
local base = require "xsk.base"

local copy, fstring, cast, istype = ffi.copy, ffi.string, ffi.cast, ffi.istype
local band, ceil, concat = bit.band, math.ceil, table.concat
local type, tostring, tonumber, error, setmetatable, pairs = type, tostring, tonumber, error, setmetatable, pairs
local bad_int, argerror, core_error = base.bad_int, base.argerror, base.core_error

local CONTD = C.LXSK_PKT_CONTD

local M = {}

local batch_t = ffi.typeof("struct lxsk_batch *")
local frame_t = ffi.typeof("struct lxsk_frame")
M.batch_t = batch_t

-- The open UMEMs of this Lua state by id, so that a frame (which names its
-- UMEM by id) finds the handle its memory is checked against.  Weak: a
-- batch anchors its UMEM object (below), so a UMEM whose frames are still in
-- some batch is always here.  Both tables live in the Lua registry: the
-- frame and batch metatypes can be set only once per Lua state, so a second
-- load of this module (busted insulates spec files) must share them.
local registry = debug.getregistry()
local umems = registry["xsk.frame umems"] or setmetatable({}, { __mode = "v" })
-- batch -> its UMEM object: a live batch keeps its UMEM alive.
local anchors = registry["xsk.frame anchors"] or setmetatable({}, { __mode = "k" })
-- UMEM id -> every handle of it in this VM (weak): a UMEM has a handle per
-- partition, and a frame is checked against the one whose script holds it.
local handles = registry["xsk.frame handles"] or {}
registry["xsk.frame umems"], registry["xsk.frame anchors"] = umems, anchors
registry["xsk.frame handles"] = handles

-- The first open handle of a UMEM in this VM is the one frames are checked
-- against first (the others are usually handed to workers).
function M.register(umem)
  local known = umems[umem.id]
  if known == nil or known:is_closed() then umems[umem.id] = umem end
  handles[umem.id] = handles[umem.id] or setmetatable({}, { __mode = "k" })
  handles[umem.id][umem] = true
end

-- A handle that moved to another VM.
function M.unregister(umem)
  if umems[umem.id] == umem then umems[umem.id] = nil end
  if handles[umem.id] then handles[umem.id][umem] = nil end
end

function M.is_batch(b) return istype(batch_t, b) end

-- "a batch from umem:batch(), got <what>", for entry points to raise.
function M.not_a_batch(prefix, b)
  local got = type(b)
  if got == "cdata" then got = tostring(ffi.typeof(b)) end
  return ("%s: expected a batch from umem:batch(), got %s"):format(prefix, got)
end

-- Makes a batch of umem with room for cap frames.
function M.new_batch(umem, cap)
  local want = bad_int(cap, 1, 65536)
  if want then return nil, argerror("xsk.umem: batch", "size", want, cap) end
  local b = C.lxsk_batch_new(umem.u, cap)
  if b == nil then return nil, core_error("xsk.umem") end
  ffi.gc(b, C.lxsk_batch_free)
  anchors[b] = umem
  return b
end

-- ---- frames ----

local Frame = {}
Frame.__index = Frame

-- The frame's UMEM object and the bytes from its first packet byte to the
-- end of its frame, or nil and a message (the frame is not the script's, or
-- its UMEM is closed or gone).
local function room_of(f)
  local id = f.umem_id
  local umem = umems[id]
  if not umem then
    return nil, ("xsk.frame: the frame (addr 0x%x) belongs to no open UMEM"):format(tonumber(f.addr))
  end
  local room = C.lxsk_frame_room(umem.u, f)
  if room >= 0 then return umem, room end
  local err = core_error("xsk.frame")
  -- Another partition's handle in this VM may be the one whose script holds it.
  for other in pairs(handles[id] or {}) do
    if other ~= umem and not other:is_closed() then
      room = C.lxsk_frame_room(other.u, f)
      if room >= 0 then return other, room end
    end
  end
  return nil, err
end

M.room_of = room_of

-- Bytes from the packet's first byte to the end of the frame.
function Frame:room()
  local umem, room = room_of(self)
  if not umem then error(room, 2) end
  return room
end

-- The packet as a Lua string (a copy: for tests and slow paths).
function Frame:bytes()
  local umem, room = room_of(self)
  if not umem then error(room, 2) end
  local len = self.len
  if len > room then
    error(("xsk.frame: bytes: length %d runs past the end of the frame (%d bytes of room)"):format(len, room), 2)
  end
  return fstring(umem.area + self.addr, len)
end

-- Copies a string into the frame at offset (default 0) and sets the length
-- to the end of what was written.
function Frame:set(s, offset)
  offset = offset or 0
  if type(s) ~= "string" then error(argerror("xsk.frame: set", "the data", "a string", s), 2) end
  local want = bad_int(offset, 0, 65535)
  if want then error(argerror("xsk.frame: set", "offset", want, offset), 2) end
  local umem, room = room_of(self)
  if not umem then error(room, 2) end
  if offset + #s > room then
    error(("xsk.frame: set: writing %d bytes at offset %d runs past the end of the frame at addr 0x%x "
      .. "(%d bytes of room)"):format(#s, offset, tonumber(self.addr), room), 2)
  end
  copy(umem.area + self.addr + offset, s, #s)
  self.len = offset + #s
  return self
end

function Frame:setlen(n)
  local umem, room = room_of(self)
  if not umem then error(room, 2) end
  local want = bad_int(n, 0, room)
  if want then error(argerror("xsk.frame: setlen", "the length", want, n), 2) end
  self.len = n
  return self
end

-- ---- RX metadata (frames of a UMEM made with rx_metadata = true) ----
-- What the XDP program wrote in front of the packet (xsk.steer with
-- rx_time/rx_meta, or a program of one's own with bpf/xsk_meta.h), read by
-- the core from inside the frame after it checked the frame is the script's.
-- The core marks metadata checked against its packet as it hands the frame
-- out, and clears it otherwise, so a packet without metadata answers nil,
-- never an earlier packet's (csrc/meta.h).  Each accessor is one FFI call
-- into scratch memory made once: nothing allocates in a compiled loop.

local meta = ffi.new("struct lxsk_rx_meta")
local RX_TIME, HW_TIME, HASH, VLAN, VLAN_AD = C.LXSK_META_RX_TIME, C.LXSK_META_HW_TIME, C.LXSK_META_HASH,
  C.LXSK_META_VLAN, C.LXSK_META_VLAN_AD

-- The flags of the frame's metadata (0: none), read into `meta`; or nil
-- and a message.
local function read_meta(f, what)
  local umem = umems[f.umem_id]
  if not umem then
    return nil, ("xsk.frame: %s: the frame (addr 0x%x) belongs to no open UMEM"):format(what, tonumber(f.addr))
  end
  local r = C.lxsk_frame_rx_meta(umem.u, f, meta)
  if r < 0 then return nil, core_error("xsk.frame: " .. what) end
  if r == 0 then return 0 end
  return meta.flags
end

-- When the XDP program met the packet: ns on CLOCK_MONOTONIC (xsk.clock's
-- clock), or nil when the packet carries none.
function Frame:rx_time()
  local flags, err = read_meta(self, "rx_time")
  if not flags then error(err, 2) end
  if band(flags, RX_TIME) == 0 then return nil end
  return tonumber(meta.rx_time)
end

-- The driver's RX timestamp (ns, the NIC's clock), or nil.
function Frame:hw_time()
  local flags, err = read_meta(self, "hw_time")
  if not flags then error(err, 2) end
  if band(flags, HW_TIME) == 0 then return nil end
  return tonumber(meta.hw_time)
end

-- The driver's RX hash and its type (enum xdp_rss_hash_type bits), or nil.
function Frame:rx_hash()
  local flags, err = read_meta(self, "rx_hash")
  if not flags then error(err, 2) end
  if band(flags, HASH) == 0 then return nil end
  return tonumber(meta.hash), tonumber(meta.hash_type)
end

-- The VLAN tag the NIC took off the packet: its TCI and protocol (0x8100 or
-- 0x88a8), or nil.  A tag still in the packet is for headers.parse.
function Frame:rx_vlan()
  local flags, err = read_meta(self, "rx_vlan")
  if not flags then error(err, 2) end
  if band(flags, VLAN) == 0 then return nil end
  return tonumber(meta.vlan_tci), band(flags, VLAN_AD) ~= 0 and 0x88a8 or 0x8100
end

-- Everything as a table (a slow path, for printing): { rx_time, hw_time,
-- hash, hash_type, vlan_tci, vlan_proto }, each nil when absent; nil when
-- the packet carries no metadata.
function Frame:rx_meta()
  local flags, err = read_meta(self, "rx_meta")
  if not flags then error(err, 2) end
  if flags == 0 then return nil end
  local t = {}
  if band(flags, RX_TIME) ~= 0 then t.rx_time = tonumber(meta.rx_time) end
  if band(flags, HW_TIME) ~= 0 then t.hw_time = tonumber(meta.hw_time) end
  if band(flags, HASH) ~= 0 then t.hash, t.hash_type = tonumber(meta.hash), tonumber(meta.hash_type) end
  if band(flags, VLAN) ~= 0 then
    t.vlan_tci, t.vlan_proto = tonumber(meta.vlan_tci), band(flags, VLAN_AD) ~= 0 and 0x88a8 or 0x8100
  end
  return t
end

ffi.metatype(frame_t, Frame)

-- ---- batches ----

local Batch = {}
Batch.__index = Batch
Batch.__len = function(b) return b.n end

function Batch:clear()
  self.n = 0
end

-- Appends a copy of a frame descriptor (the frame itself is not copied): a
-- frame of this batch's UMEM that the script holds.
function Batch:push(f)
  if not istype(frame_t, f) then error(argerror("xsk.batch: push", "the frame", "a frame (b.f[i])", f), 2) end
  if C.lxsk_batch_push(self, f) < 0 then error(core_error("xsk.batch"), 2) end
end

-- Moves the descriptor at index i (0-based) out: the last one takes its place.
function Batch:remove(i)
  local want = bad_int(i, 0, self.n - 1)
  if want then error(argerror("xsk.batch: remove", "the index", want, i), 2) end
  if C.lxsk_batch_remove(self, i) < 0 then error(core_error("xsk.batch"), 2) end
end

-- ---- multi-buffer packets: runs of frames, all but the last with CONTD ----

-- Frames and bytes of the packet that starts at frame i, or nil and a message.
local function span(b, i)
  local n = b.n
  if bad_int(i, 0, n - 1) then
    return nil, ("xsk.batch: index %s is out of range 0..%d"):format(tostring(i), n - 1)
  end
  local j, len = i, 0
  while true do
    local f = b.f[j]
    len = len + f.len
    if band(f.options, CONTD) == 0 then return j - i + 1, len end
    j = j + 1
    if j >= n then
      return nil, ("xsk.batch: the packet at frame %d runs past the batch's end: its last frame %d has "
        .. "XDP_PKT_CONTD set"):format(i, n - 1)
    end
  end
end

-- The packet starting at frame i: i, its frame count, its length in bytes.
function Batch:packet(i)
  local count, len = span(self, i)
  if not count then error(len, 2) end
  return i, count, len
end

local function next_packet(b, i)
  local start = 0
  if i >= 0 then
    local count, err = span(b, i)
    if not count then error(err, 2) end
    start = i + count
  end
  if start >= b.n then return nil end
  local count, len = span(b, start)
  if not count then error(len, 2) end
  return start, count, len
end

-- for i, count, len in b:packets() do ... end   (allocates nothing)
function Batch:packets()
  return next_packet, self, -1
end

-- Copies the packet starting at frame i into dst (a pointer with cap bytes
-- of room); returns its length and frame count.
function Batch:copy_packet(i, dst, cap)
  local count, len = span(self, i)
  if not count then error(len, 2) end
  if bad_int(cap, 0, 2 ^ 31) or len > cap then
    error(("xsk.batch: copy_packet: the packet at frame %d is %d bytes, more than the %s bytes of room")
      :format(i, len, tostring(cap)), 2)
  end
  local d, off = cast("uint8_t *", dst), 0
  for j = i, i + count - 1 do
    local f = self.f[j]
    local umem, room = room_of(f)
    if not umem then error(room, 2) end
    if f.len > room then error(("xsk.batch: copy_packet: frame %d's length runs past its end"):format(j), 2) end
    copy(d + off, umem.area + f.addr, f.len)
    off = off + f.len
  end
  return len, count
end

-- The packet starting at frame i as a Lua string (a copy: slow path).
function Batch:packet_string(i)
  local count, err = span(self, i)
  if not count then error(err, 2) end
  local parts = {}
  for j = i, i + count - 1 do
    local f = self.f[j]
    local umem, room = room_of(f)
    if not umem then error(room, 2) end
    if f.len > room then error(("xsk.batch: packet_string: frame %d's length runs past its end"):format(j), 2) end
    parts[#parts + 1] = fstring(umem.area + f.addr, f.len)
  end
  return concat(parts)
end

-- Allocates frames of umem at the end of the batch and writes one packet
-- across them, CONTD on all but the last.  src is a string, or a pointer
-- with len bytes (then nothing is allocated on the Lua heap).  Returns the
-- index of its first frame and the frame count.
function Batch:put_packet(umem, src, len)
  if type(src) == "string" then
    len = len or #src
    if bad_int(len, 1, #src) then
      error(argerror("xsk.batch: put_packet", "len", ("a whole number from 1 to %d"):format(#src), len), 2)
    end
  elseif type(src) ~= "cdata" or bad_int(len, 1, 2 ^ 31) then
    error("xsk.batch: put_packet expects a string, or a pointer and a length of at least 1", 2)
  end
  local maxp = umem.max_packet
  local count, first = ceil(len / maxp), self.n
  if count > self.cap - first then
    error(("xsk.batch: put_packet: a %d-byte packet needs %d frames of %d bytes, the batch has room for %d")
      :format(len, count, maxp, self.cap - first), 2)
  end
  if umem:free_frames() < count then
    error(("xsk.batch: put_packet: a %d-byte packet needs %d frames, the UMEM has %d free")
      :format(len, count, umem:free_frames()), 2)
  end
  if C.lxsk_alloc(umem.u, self, count, 0) ~= count then error(core_error("xsk.batch"), 2) end
  local p, off, last = cast("const uint8_t *", src), 0, first + count - 1
  for j = first, last do
    local f = self.f[j]
    local seg = len - off
    if seg > maxp then seg = maxp end
    copy(umem.area + f.addr, p + off, seg)
    f.len = seg
    f.options = j < last and CONTD or 0
    off = off + seg
  end
  return first, count
end

ffi.metatype("struct lxsk_batch", Batch)

return M
