-- Methods of frames and batches.  Both are FFI structs: a batch's frames are an
-- array inside it, so a loop over `b.f[i]` allocates nothing and compiles.
local ffi = require "ffi"
local C = require "xsk.cdef"

local copy, fstring, error, type = ffi.copy, ffi.string, error, type

local M = {}

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
