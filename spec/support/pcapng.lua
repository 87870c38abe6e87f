-- pcapng blocks written by hand, in either byte order (be = big-endian), for
-- what no tool here writes: the other byte order, every time resolution,
-- the older block types, damaged files.  Used by spec/pcap_spec.lua and the
-- pcap round of tools/fuzz_lua.lua.  Each function returns a Lua string.
local ffi = require "ffi"
local bit = require "bit"

local floor = math.floor

local M = {}

function M.u16(v, be)
  local s = string.char(v % 256, floor(v / 256) % 256)
  return be and s:reverse() or s
end

function M.u32(v, be)
  v = v % 4294967296
  local s = string.char(v % 256, floor(v / 256) % 256, floor(v / 65536) % 256, floor(v / 16777216))
  return be and s:reverse() or s
end

local u16, u32 = M.u16, M.u32

local function pad(s) return s .. ("\0"):rep((4 - #s % 4) % 4) end

-- A block: type, total length, body, total length again (total can be
-- given, to write a lying one).
function M.block(btype, body, be, total)
  total = total or 12 + #body
  return u32(btype, be) .. u32(total, be) .. body .. u32(total, be)
end

function M.option(code, value, be) return u16(code, be) .. u16(#value, be) .. pad(value) end

function M.shb(be, major)
  return M.block(0x0a0d0d0a, u32(0x1a2b3c4d, be) .. u16(major or 1, be) .. u16(0, be) .. ("\255"):rep(8), be)
end

-- An interface: opts is a string of M.option()s (the end-of-options is added).
function M.idb(linktype, snaplen, opts, be)
  local body = u16(linktype, be) .. u16(0, be) .. u32(snaplen, be)
  if opts then body = body .. opts .. M.option(0, "", be) end
  return M.block(1, body, be)
end

-- A timestamp of sec * per_s + frac units as its two 32-bit halves, exactly.
function M.ts(sec, frac, per_s)
  local t = ffi.new("uint64_t", sec) * per_s + frac
  return tonumber(t / 4294967296ULL), tonumber(t % 4294967296ULL)
end

-- Enhanced Packet Block.
function M.epb(ifid, hi, lo, data, be, orig, opts)
  return M.block(6, u32(ifid, be) .. u32(hi, be) .. u32(lo, be) .. u32(#data, be) .. u32(orig or #data, be)
    .. pad(data) .. (opts or ""), be)
end

-- The obsolete Packet Block.
function M.pb(ifid, hi, lo, data, be)
  return M.block(2, u16(ifid, be) .. u16(0, be) .. u32(hi, be) .. u32(lo, be) .. u32(#data, be)
    .. u32(#data, be) .. pad(data), be)
end

-- Simple Packet Block: no interface, no time.
function M.spb(data, orig, be) return M.block(3, u32(orig or #data, be) .. pad(data), be) end

-- if_tsoffset: a signed 64-bit count of seconds.
function M.tsoffset(secs, be)
  local v = ffi.new("int64_t", secs)
  local hi = tonumber(bit.rshift(v, 32))
  local lo = tonumber(bit.band(v, 0xffffffffULL))
  return M.option(14, be and (u32(hi, true) .. u32(lo, true)) or (u32(lo) .. u32(hi)), be)
end

return M
