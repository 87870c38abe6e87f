-- Methods of frames and batches.  Both are FFI structs: a batch's frames are an
-- array inside it, so a loop over `b.f[i]` allocates nothing and compiles.
local ffi = require "ffi"
local C = require "xsk.cdef"

local bit = require "bit"

local copy, fstring, cast, error, type, tonumber = ffi.copy, ffi.string, ffi.cast, error, type, tonumber
local band, ceil, concat = bit.band, math.ceil, table.concat

local M = {}

-- Descriptor option: more descriptors of this packet follow (multi-buffer).
local CONTD = 1
M.XDP_PKT_CONTD = CONTD

local Frame = {}
Frame.__index = Frame

-- The packet as a Lua string (a copy: for tests and slow paths).
function Frame:bytes()
  return fstring(self.data, self.len)
end

-- Copies a string into the frame at offset (default 0) and sets the length
-- to the end of what was written.
function Frame:set(s, offset)
  offset = offset or 0
  if type(s) ~= "string" then
    error("xsk: frame:set expects a string, got " .. type(s), 2)
  end
  if offset < 0 or offset + #s > self.cap then
    error(("xsk: frame at addr 0x%x: writing %d bytes at offset %d runs past its end (%d bytes of room)")
      :format(tonumber(self.addr), #s, offset, self.cap), 2)
  end
  copy(self.data + offset, s, #s)
  self.len = offset + #s
  return self
end

function Frame:setlen(n)
  if n < 0 or n > self.cap then
    error(("xsk: frame at addr 0x%x: length %d is outside 0..%d"):format(tonumber(self.addr), n, self.cap), 2)
  end
  self.len = n
  return self
end

ffi.metatype("struct lxsk_frame", Frame)

local Batch = {}
Batch.__index = Batch
Batch.__len = function(b) return b.n end

function Batch:clear()
  self.n = 0
end

-- Appends a copy of a frame descriptor (the frame itself is not copied).
function Batch:push(f)
  local n = self.n
  if n >= self.cap then
    error(("xsk: batch is full (%d frames)"):format(self.cap), 2)
  end
  self.f[n] = f
  self.n = n + 1
end

-- Moves the descriptor at index i (0-based) out: the last one takes its place.
function Batch:remove(i)
  local n = self.n
  if i < 0 or i >= n then
    error(("xsk: batch index %d out of range 0..%d"):format(i, n - 1), 2)
  end
  self.f[i] = self.f[n - 1]
  self.n = n - 1
end

-- ---- multi-buffer packets: runs of frames, all but the last with CONTD ----

-- Frames and bytes of the packet that starts at frame i.
local function span(b, i, level)
  local n = b.n
  if type(i) ~= "number" or i < 0 or i >= n or i % 1 ~= 0 then
    error(("xsk: batch index %s out of range 0..%d"):format(tostring(i), n - 1), level + 1)
  end
  local j, len = i, 0
  while true do
    local f = b.f[j]
    len = len + f.len
    if band(f.options, CONTD) == 0 then return j - i + 1, len end
    j = j + 1
    if j >= n then
      error(("xsk: the packet at frame %d runs past the batch's end: its last frame %d has XDP_PKT_CONTD set")
        :format(i, n - 1), level + 1)
    end
  end
end

-- The packet starting at frame i: i, its frame count, its length in bytes.
function Batch:packet(i)
  local count, len = span(self, i, 2)
  return i, count, len
end

local function next_packet(b, i)
  local start = 0
  if i >= 0 then start = i + span(b, i, 2) end
  if start >= b.n then return nil end
  local count, len = span(b, start, 2)
  return start, count, len
end

-- for i, count, len in b:packets() do ... end   (allocates nothing)
function Batch:packets()
  return next_packet, self, -1
end

-- Copies the packet starting at frame i into dst (a pointer with cap bytes
-- of room); returns its length and frame count.
function Batch:copy_packet(i, dst, cap)
  local count, len = span(self, i, 2)
  if type(cap) ~= "number" or len > cap then
    error(("xsk: copy_packet: the packet at frame %d is %d bytes, more than the %s bytes of room")
      :format(i, len, tostring(cap)), 2)
  end
  local d, off = cast("uint8_t *", dst), 0
  for j = i, i + count - 1 do
    local f = self.f[j]
    copy(d + off, f.data, f.len)
    off = off + f.len
  end
  return len, count
end

-- The packet starting at frame i as a Lua string (a copy: slow path).
function Batch:packet_string(i)
  local count = span(self, i, 2)
  local parts = {}
  for j = i, i + count - 1 do parts[#parts + 1] = self.f[j]:bytes() end
  return concat(parts)
end

-- Allocates frames of umem at the end of the batch and writes one packet
-- across them, CONTD on all but the last.  src is a string, or a pointer
-- with len bytes (then nothing is allocated on the Lua heap).  Returns the
-- index of its first frame and the frame count.
function Batch:put_packet(umem, src, len)
  if type(src) == "string" then
    len = len or #src
    if len > #src then error(("xsk: put_packet: len %d is past the string's end (%d bytes)"):format(len, #src), 2) end
  elseif type(len) ~= "number" then
    error("xsk: put_packet expects a string, or a pointer and a length", 2)
  end
  local maxp = umem.max_packet
  if len < 1 then error("xsk: put_packet: a packet needs at least one byte", 2) end
  local count, first = ceil(len / maxp), self.n
  if count > self.cap - first then
    error(("xsk: put_packet: a %d-byte packet needs %d frames of %d bytes, the batch has room for %d")
      :format(len, count, maxp, self.cap - first), 2)
  end
  if umem:free_frames() < count then
    error(("xsk: put_packet: a %d-byte packet needs %d frames, the UMEM has %d free")
      :format(len, count, umem:free_frames()), 2)
  end
  umem:alloc(self, count)
  local p, off, last = cast("const uint8_t *", src), 0, first + count - 1
  for j = first, last do
    local f = self.f[j]
    local seg = len - off
    if seg > maxp then seg = maxp end
    copy(f.data, p + off, seg)
    f.len = seg
    f.options = j < last and CONTD or 0
    off = off + seg
  end
  return first, count
end

ffi.metatype("struct lxsk_batch", Batch)

local batch_t = ffi.typeof("struct lxsk_batch")

function M.batch(cap)
  if type(cap) ~= "number" or cap < 1 or cap > 65536 or cap % 1 ~= 0 then
    error("xsk: batch size must be a whole number from 1 to 65536, got " .. tostring(cap), 3)
  end
  local b = batch_t(cap)
  b.cap = cap
  return b
end

M.C = C
return M
