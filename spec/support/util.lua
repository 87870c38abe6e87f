-- Helpers shared by the specs: hex frames, buffers that end at an unreadable
-- page (so a read past the given length crashes the spec instead of passing
-- unnoticed), and a plain reference checksum written apart from csrc/.
local ffi = require "ffi"
local bit = require "bit"
local jit_watch = require "support.jit_watch"

ffi.cdef [[
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int mprotect(void *addr, size_t len, int prot);
]]

local M = {}

function M.unhex(s)
  s = s:gsub("%s+", "")
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

function M.hex(ptr, len)
  local p = ffi.cast("const uint8_t *", ptr)
  local t = {}
  for i = 0, len - 1 do t[#t + 1] = ("%02x"):format(p[i]) end
  return table.concat(t)
end

-- 64 KiB covers every page size Linux uses.
local HALF = 65536
local region
local function guard_region()
  if region then return region end
  local PROT_NONE, PROT_RW = 0, 3
  local MAP_PRIVATE_ANON = 0x02 + 0x20
  local p = ffi.C.mmap(nil, 2 * HALF, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
  assert(ffi.cast("intptr_t", p) ~= -1, "mmap failed")
  assert(ffi.C.mprotect(ffi.cast("uint8_t *", p) + HALF, HALF, PROT_NONE) == 0, "mprotect failed")
  region = ffi.cast("uint8_t *", p)
  return region
end

-- The first len bytes of data (a string or pointer) copied so that the byte
-- after them is unreadable.  Valid until the next call.
function M.at_end(data, len)
  assert(len <= HALF)
  local p = guard_region() + HALF - len
  ffi.copy(p, data, len)
  return p
end

-- Reference ones' complement arithmetic over Lua strings.
local ref = {}
M.ref = ref

function ref.sum(s, sum)
  sum = sum or 0
  for i = 1, #s - 1, 2 do
    sum = sum + s:byte(i) * 256 + s:byte(i + 1)
  end
  if #s % 2 == 1 then sum = sum + s:byte(#s) * 256 end
  while sum > 0xffff do sum = sum % 65536 + math.floor(sum / 65536) end
  return sum
end

function ref.csum(s, sum)
  return 0xffff - ref.sum(s, sum)
end

local function be16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
ref.be16 = be16

-- The checksum of an upper-layer segment whose checksum field is at off,
-- with a pseudo-header made of the given addresses (strings).
function ref.l4(saddr, daddr, proto, seg, off)
  local zeroed = seg:sub(1, off) .. "\0\0" .. seg:sub(off + 3)
  local pseudo = ""
  if saddr then
    local len = #seg
    local v6 = be16(math.floor(len / 65536)) .. be16(len % 65536) .. "\0\0\0" .. string.char(proto)
    pseudo = saddr .. daddr .. (#saddr == 16 and v6 or ("\0" .. string.char(proto) .. be16(len)))
  end
  local c = ref.csum(pseudo .. zeroed)
  if proto == 17 and c == 0 then c = 0xffff end
  return c
end

-- Read a big-endian 16-bit value at a 0-based offset of a string or pointer.
function M.rd16(p, off)
  if type(p) == "string" then return p:byte(off + 1) * 256 + p:byte(off + 2) end
  return bit.bor(bit.lshift(p[off], 8), p[off + 1])
end

-- KiB the Lua heap grows while loop(run_n) runs, after loop(warm_n), run
-- until the JIT compiles nothing new, has let the JIT compile it (with the
-- traces of earlier tests flushed, so they do not tangle with this loop).
-- The GC is stopped meanwhile, so nothing is hidden.
function M.heap_growth(loop, warm_n, run_n)
  return jit_watch.measure(function(warm)
    return loop(warm and warm_n or run_n)
  end).growth_kib
end

return M
