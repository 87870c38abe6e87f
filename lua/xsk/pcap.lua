-- xsk.pcap: capture files.  Writes classic pcap; reads classic pcap (µs and
-- ns, either byte order) and pcapng (what Wireshark and dumpcap write).
--
--   local w = pcap.writer("out.pcap", { nanosecond = true })
--   w:write(frame.data, frame.len)                 -- stamped with the wall clock
--   w:close()
--   local r = pcap.reader("in.pcapng")
--   local n, sec, nsec = r:next_into(frame.data, frame.cap)   -- nil at the end
--   for ptr, len, sec, nsec in r:packets() do ... end
--
-- Why a reader of our own and not libpcap's pcap_open_offline (which reads
-- pcapng too):
--   * libpcap refuses pcapng files whose interfaces differ in link type or
--     snapshot length ("an interface has a type %u different from the type of
--     the first interface") and files whose sections differ in byte order,
--     and mergecap writes exactly such files by default: merging a capture
--     of veth0 with one of "any" gives two link types.  Here each packet
--     carries its interface, and each interface its own link type, snaplen
--     and time resolution (if_tsresol: any power of 10 or of 2, and
--     if_tsoffset), so the reader reports time in ns whatever each interface
--     used.
--   * Reading needs nothing but libc: no library for the rock to find or
--     depend on (libpcap is used by xsk.filter only, loaded when a filter is
--     compiled).
--   * The bytes go from stdio's buffer straight into the caller's memory (a
--     UMEM frame): one copy, as with libpcap's pcap_next_ex plus the copy out
--     of its buffer, and nothing allocated per packet.
-- A pcapng file's blocks are read one at a time: Section Header (each one
-- starts over: byte order, interfaces), Interface Description, Enhanced and
-- Simple Packet and the obsolete Packet Block; any other block (names,
-- statistics, secrets, custom) is skipped.  Every length is checked before it
-- is used; a damaged file is an error naming the file and the packet.
--
-- Time: a pcapng timestamp is a 64-bit count of units (ns since 1970 does
-- not fit in a double), so packets come with seconds and nanoseconds, both
-- exact; a replay takes the gaps as (sec - sec0) * 1e9 + (nsec - nsec0).
-- Simple Packet Blocks carry no time: their sec and nsec are nil.
--
-- Files go through C stdio (unlocked: an object belongs to one Lua VM) with
-- buffers made once: no Lua allocation per packet, read or written.
local ffi = require "ffi"
local bit = require "bit"
local base = require "xsk.base"
local frame = require "xsk.frame"
require "xsk.cdef"

local libc = ffi.C
local bswap, rshift, lshift, band = bit.bswap, bit.rshift, bit.lshift, bit.band
local type, error, tonumber, floor, min = type, error, tonumber, math.floor, math.min
-- A reader or writer belongs to one Lua VM, so one thread: stdio's per-call
-- locking is half the cost of reading a packet, and not needed.
local fread, fwrite, ferror = libc.lxsk_libc_fread_unlocked, libc.lxsk_libc_fwrite_unlocked, libc.lxsk_libc_ferror

local WHAT = "xsk.pcap"

local M = {}

M.MAGIC_US = 0xa1b2c3d4
M.MAGIC_NS = 0xa1b23c4d
M.PCAPNG_SHB = 0x0a0d0d0a
M.PCAPNG_BOM = 0x1a2b3c4d
M.LINKTYPE_ETHERNET = 1
M.MAX_CAPLEN = 262144 -- what libpcap accepts; above it a record is garbage

local IOFBF, SEEK_CUR, CLOCK_REALTIME = 0, 1, 0
local HDR_SIZE, REC_SIZE = 24, 16
local STDIO_BUF = 1048576
local SCRATCH = 65536 -- pcapng: block bodies we parse, and bytes we skip
local MAX_BLOCK = 16 * 1048576 -- a non-packet block larger than this is corruption

-- pcapng block types
local BT_IDB, BT_PB, BT_SPB, BT_EPB = 1, 2, 3, 6
local OPT_END, IF_NAME, IF_TSRESOL, IF_TSOFFSET = 0, 2, 9, 14

local hdr_t = ffi.typeof("struct lxsk_pcap_hdr")
local rec_t = ffi.typeof("struct lxsk_pcap_rec")
local u32p_t = ffi.typeof("const uint32_t *")
local u16p_t = ffi.typeof("const uint16_t *")

local function syserr()
  return ffi.string(libc.lxsk_libc_strerror(ffi.errno()))
end

local function u32(x) return x % 4294967296 end
local function swap32(x) return bswap(x) % 4294967296 end
local function swap16(x) return rshift(bswap(x), 16) end

-- ---- writer ----

local Writer = {}
Writer.__index = Writer

local writer_schema = {
  nanosecond = { "bool", false },
  snaplen = { "int", M.MAX_CAPLEN, 1, M.MAX_CAPLEN },
  linktype = { "int", M.LINKTYPE_ETHERNET, 0, 4294967295 },
}

function M.writer(path, opts)
  local want = base.bad_string(path)
  if want then error(base.argerror(WHAT, "writer: path", want, path), 2) end
  local o, err = base.options(WHAT .. ": writer", writer_schema, opts)
  if not o then error(err, 2) end
  local f = libc.lxsk_libc_fopen(path, "wb")
  if f == nil then error(("%s: writer: cannot open %s: %s"):format(WHAT, path, syserr()), 2) end
  f = ffi.gc(f, libc.lxsk_libc_fclose)
  libc.lxsk_libc_setvbuf(f, nil, IOFBF, STDIO_BUF)
  local h = hdr_t()
  h.magic = o.nanosecond and M.MAGIC_NS or M.MAGIC_US
  h.version_major, h.version_minor = 2, 4
  h.snaplen = o.snaplen
  h.linktype = o.linktype
  if fwrite(h, HDR_SIZE, 1, f) ~= 1 then
    error(("%s: writer: cannot write %s: %s"):format(WHAT, path, syserr()), 2)
  end
  return setmetatable({
    f = f, path = path, nano = o.nanosecond, snaplen = o.snaplen,
    frac_max = o.nanosecond and 999999999 or 999999,
    rec = rec_t(), ts = ffi.new("struct lxsk_timespec"), count = 0,
  }, Writer)
end

-- nil when the arguments of write are fine, else the message.
local function bad_write(self, ptr, len, ts_sec, ts_frac)
  local tp = type(ptr)
  if tp ~= "string" and (tp ~= "cdata" or ptr == nil) then
    return base.argerror(WHAT, "write: data", "a string or a pointer", ptr)
  end
  local most = tp == "string" and min(#ptr, M.MAX_CAPLEN) or M.MAX_CAPLEN
  local want = base.bad_int(len, 0, most)
  if want then
    if tp == "string" then want = want .. " (the string's length, at most pcap.MAX_CAPLEN)" end
    return base.argerror(WHAT, "write: len", want, len)
  end
  if ts_sec ~= nil then
    want = base.bad_int(ts_sec, 0, 4294967295)
    if want then return base.argerror(WHAT, "write: ts_sec", want, ts_sec) end
    if ts_frac ~= nil then
      want = base.bad_int(ts_frac, 0, self.frac_max)
      if want then
        return base.argerror(WHAT, "write: ts_frac", want .. (self.nano and " (ns)" or " (us)"), ts_frac)
      end
    end
  elseif ts_frac ~= nil then
    return base.argerror(WHAT, "write: ts_sec", "given with ts_frac", ts_sec)
  end
end

-- Appends a packet of len bytes at ptr (a pointer, or a Lua string with len
-- optional).  ts_frac is in the file's unit (us or ns); without ts_sec the
-- wall clock stamps the packet.  Only snaplen bytes are kept.
function Writer:write(ptr, len, ts_sec, ts_frac)
  local f = self.f
  if f == nil then error(WHAT .. ": write: the writer is closed", 2) end
  if len == nil and type(ptr) == "string" then len = #ptr end
  local bad = bad_write(self, ptr, len, ts_sec, ts_frac)
  if bad then error(bad, 2) end
  local rec = self.rec
  if ts_sec == nil then
    local ts = self.ts
    libc.lxsk_libc_clock_gettime(CLOCK_REALTIME, ts)
    ts_sec = tonumber(ts.tv_sec)
    ts_frac = tonumber(ts.tv_nsec)
    if not self.nano then ts_frac = (ts_frac - ts_frac % 1000) / 1000 end
  end
  local cap = len < self.snaplen and len or self.snaplen
  rec.ts_sec, rec.ts_frac, rec.caplen, rec.len = ts_sec, ts_frac or 0, cap, len
  if fwrite(rec, REC_SIZE, 1, f) ~= 1 or (cap > 0 and fwrite(ptr, 1, cap, f) ~= cap) then
    error(("%s: write: %s: %s"):format(WHAT, self.path, syserr()), 2)
  end
  self.count = self.count + 1
end

function Writer:flush()
  if self.f ~= nil and libc.lxsk_libc_fflush(self.f) ~= 0 then
    error(("%s: flush: %s: %s"):format(WHAT, self.path, syserr()), 2)
  end
end

-- Flushes and closes; a failure to get the data onto the file is an error.
function Writer:close()
  local f = self.f
  if f == nil then return end
  self.f = nil
  ffi.gc(f, nil)
  local bad = ferror(f) ~= 0
  if libc.lxsk_libc_fclose(f) ~= 0 or bad then
    error(("%s: close: %s: %s"):format(WHAT, self.path, syserr()), 2)
  end
end

-- ---- reader ----

local Reader = {}
Reader.__index = Reader

-- "xsk.pcap: <path>: <what>", the start of every message about a file's content.
local function file_error(self, fmt_, ...)
  return ("%s: %s: " .. fmt_):format(WHAT, self.path, ...)
end

-- A short read: an I/O error, or the file ends inside `what`.
local function short(self, what)
  if ferror(self.f) ~= 0 then return file_error(self, "%s", syserr()) end
  return file_error(self, "truncated %s", what)
end

-- Reads n bytes into dst; nil, msg when the file ends first.
local function read_exact(self, dst, n, what)
  if n > 0 and fread(dst, 1, n, self.f) ~= n then return nil, short(self, what) end
  return true
end

-- Skips n bytes (reading them when few: stdio keeps its buffer).
local function skip(self, n, what)
  if n <= 0 then return true end
  if n <= SCRATCH then return read_exact(self, self.scratch, n, what) end
  if libc.lxsk_libc_fseek(self.f, n, SEEK_CUR) ~= 0 then return nil, file_error(self, "%s", syserr()) end
  return true
end

local function r32(self, p, i)
  local v = ffi.cast(u32p_t, p)[i]
  if self.swap then return swap32(v) end
  return v
end

local function r16(self, p, i)
  local v = ffi.cast(u16p_t, p)[i]
  if self.swap then return swap16(v) end
  return v
end

-- ---- classic pcap ----

local function open_classic(self, h)
  local magic = u32(h.magic)
  local swap, nano
  if magic == M.MAGIC_US then swap, nano = false, false
  elseif magic == M.MAGIC_NS then swap, nano = false, true
  elseif swap32(magic) == M.MAGIC_US then swap, nano = true, false
  elseif swap32(magic) == M.MAGIC_NS then swap, nano = true, true
  else
    return nil, file_error(self, "bad magic 0x%08x (neither pcap nor pcapng)", magic)
  end
  self.swap, self.nanosecond = swap, nano
  local major = swap and swap16(h.version_major) or h.version_major
  if major ~= 2 then return nil, file_error(self, "unsupported pcap version %d", major) end
  self.snaplen = swap and swap32(h.snaplen) or h.snaplen
  self.linktype = (swap and swap32(h.linktype) or h.linktype) % 65536 -- the upper bits carry FCS flags
  self.interfaces = { { linktype = self.linktype, snaplen = self.snaplen, units = nano and 1e9 or 1e6, offset = 0 } }
  return true
end

-- The next record's header: caplen, origlen, sec, nsec, iface; nil at a clean
-- end; false, msg on a damaged file.
local function classic_head(self)
  local rec = self.rec
  local got = fread(rec, 1, REC_SIZE, self.f)
  if got ~= REC_SIZE then
    if got == 0 and ferror(self.f) == 0 then return nil end
    if ferror(self.f) ~= 0 then return false, file_error(self, "%s", syserr()) end
    return false, file_error(self, "truncated record header after packet %d", self.count)
  end
  local caplen, len, sec, frac
  if self.swap then
    caplen, len, sec, frac = swap32(rec.caplen), swap32(rec.len), swap32(rec.ts_sec), swap32(rec.ts_frac)
  else
    caplen, len, sec, frac = rec.caplen, rec.len, rec.ts_sec, rec.ts_frac
  end
  if caplen > M.MAX_CAPLEN or (self.snaplen > 0 and caplen > self.snaplen) then
    return false, file_error(self, "packet %d claims %d bytes (snaplen %d, limit %d): corrupted file",
      self.count + 1, caplen, self.snaplen, M.MAX_CAPLEN)
  end
  self.count = self.count + 1
  self.rest = 0
  if not self.nanosecond then frac = frac * 1000 end
  return caplen, len, sec, frac, 0
end

-- ---- pcapng ----

-- The time units of an interface from if_tsresol: 10^-r s, or 2^-r s with
-- the top bit set.  Returns units per second (uint64) and how to get ns
-- from a remainder: a factor, a uint64 divisor (10^-10 s and finer) or a
-- shift (2^-31 s and finer); or nil, msg.
local function resolution(self, v)
  local r = band(v, 0x7f)
  if band(v, 0x80) ~= 0 then
    if r > 63 then return nil, file_error(self, "if_tsresol 2^-%d is not supported", r) end
    return bit.lshift(ffi.new("uint64_t", 1), r), 1e9 / 2 ^ r, nil, r > 30 and r or nil
  end
  if r > 19 then return nil, file_error(self, "if_tsresol 10^-%d is not supported", r) end
  local units = ffi.new("uint64_t", 1)
  for _ = 1, r do units = units * 10 end
  if r <= 9 then return units, 10 ^ (9 - r), nil end
  local div = ffi.new("uint64_t", 1)
  for _ = 10, r do div = div * 10 end
  return units, nil, div
end

-- An Interface Description Block's body (n bytes in scratch).
local function add_interface(self, n)
  if n < 8 then return nil, file_error(self, "interface block %d too short", #self.interfaces + 1) end
  local p = self.scratch
  local ifc = {
    linktype = r16(self, p, 0), snaplen = r32(self, p, 1),
    units = ffi.new("uint64_t", 1000000), mul = 1000, div = nil, offset = 0,
  }
  local at = 8
  while at + 4 <= n do
    local code, len = r16(self, p + at, 0), r16(self, p + at, 1)
    if code == OPT_END then break end
    if at + 4 + len > n then
      return nil, file_error(self, "interface block %d: option %d runs past the block", #self.interfaces + 1, code)
    end
    local v = p + at + 4
    if code == IF_NAME then
      ifc.name = ffi.string(v, len):gsub("%z+$", "")
    elseif code == IF_TSRESOL and len >= 1 then
      local units, mul, div, shift = resolution(self, v[0])
      if not units then return nil, mul end
      ifc.units, ifc.mul, ifc.div, ifc.shift = units, mul, div, shift
    elseif code == IF_TSOFFSET and len >= 8 then
      -- a signed 64-bit count of seconds in the section's byte order
      local lo, hi = r32(self, v, 0), r32(self, v, 1)
      if ffi.abi("le") == self.swap then lo, hi = hi, lo end
      if hi >= 2 ^ 31 then hi = hi - 2 ^ 32 end
      ifc.offset = hi * 4294967296 + lo
    end
    at = at + 4 + len + (4 - len % 4) % 4
  end
  -- Units of at most 2^30 a second (µs, ns, ...) split exactly in doubles:
  -- with hi = a * 2^16 + b, t = a * 2^48 + b * 2^32 + lo, and each power
  -- of two is q units and r left over, so that t / units is
  -- a * q48 + b * q32 + (a * r48 + b * r32 + lo) / units, the last sum
  -- under 2^47.  Finer units take the uint64 path.
  local units = tonumber(ifc.units)
  if units <= 2 ^ 30 then
    ifc.unitsn = units
    ifc.q48, ifc.r48 = floor(2 ^ 48 / units), 2 ^ 48 % units
    ifc.q32, ifc.r32 = floor(2 ^ 32 / units), 2 ^ 32 % units
  else
    ifc.q48 = false
  end
  local list = self.interfaces
  list[#list + 1] = ifc
  self.ifs[#list - 1] = ifc
  return true
end

-- A Section Header Block, its type already read: sets the byte order and
-- forgets the interfaces.  The type is the same in both byte orders.
local function section(self)
  local p = self.scratch
  local ok0, err0 = read_exact(self, p, 8, "section header block")
  if not ok0 then return nil, err0 end
  local bom = ffi.cast(u32p_t, p)[1]
  if bom == M.PCAPNG_BOM then self.swap = false
  elseif swap32(bom) == M.PCAPNG_BOM then self.swap = true
  else return nil, file_error(self, "section header block %d: bad byte-order magic 0x%08x", self.sections + 1, bom) end
  local total = r32(self, p, 0)
  if total < 28 or total % 4 ~= 0 then
    return nil, file_error(self, "section header block %d has length %d: corrupted file", self.sections + 1, total)
  end
  -- version, section length; then options (skipped) and the trailing length
  local ok, err = read_exact(self, p + 8, 12, "section header block")
  if not ok then return nil, err end
  local major = r16(self, p + 8, 0)
  if major ~= 1 then return nil, file_error(self, "unsupported pcapng version %d", major) end
  ok, err = skip(self, total - 28, "section header block")
  if not ok then return nil, err end
  ok, err = read_exact(self, p, 4, "section header block")
  if not ok then return nil, err end
  if r32(self, p, 0) ~= total then
    return nil, file_error(self, "section header block %d: trailing length differs", self.sections + 1)
  end
  self.sections = self.sections + 1
  self.interfaces = {}
  self.ifs = {} -- the interfaces by id (0-based)
  return true
end

local function open_ng(self)
  local ok, err = section(self)
  if not ok then return nil, err end
  self.format = "pcapng"
  return true
end

-- Reads the whole of a block we parse (n bytes after its type and length)
-- into scratch, checking the trailing length.
local function block_body(self, total, what)
  if total > SCRATCH then
    return nil, file_error(self, "%s of %d bytes is larger than %d: not supported", what, total, SCRATCH)
  end
  local ok, err = read_exact(self, self.scratch, total - 8, what)
  if not ok then return nil, err end
  if r32(self, self.scratch, (total - 12) / 4) ~= total then
    return nil, file_error(self, "%s: trailing length differs", what)
  end
  return total - 12
end

-- Seconds and nanoseconds of a timestamp (hi, lo: 32 bits each) of interface ifc.
local function ng_time(ifc, hi, lo)
  local q48 = ifc.q48
  if q48 then
    local a = floor(hi / 65536)
    local b = hi - a * 65536
    local units = ifc.unitsn
    local s = a * ifc.r48 + b * ifc.r32 + lo
    local carry = floor(s / units)
    return a * q48 + b * ifc.q32 + carry + ifc.offset, floor((s - carry * units) * ifc.mul)
  end
  local t = hi * 4294967296ULL + lo
  local r = ifc.shift
  if r then
    -- floor(frac * 1e9 / 2^r) in 64 bits: frac = fh * 2^32 + fl
    local sec = rshift(t, r)
    local frac = t - lshift(sec, r)
    local ns
    if r < 32 then
      ns = rshift(frac * 1000000000ULL, r)
    else
      ns = rshift(rshift(frac, 32) * 1000000000ULL + rshift(band(frac, 0xffffffffULL) * 1000000000ULL, 32), r - 32)
    end
    return tonumber(sec) + ifc.offset, tonumber(ns)
  end
  local units = ifc.units
  local sec = t / units
  return tonumber(sec) + ifc.offset, tonumber((t - sec * units) / ifc.div)
end

-- A block that is not a packet (its type and length read into hd): a new
-- section, an interface, or one to skip.  Returns true, or nil, msg.
local function other_block(self, btype)
  local f, hd = self.f, self.hd
  if btype == M.PCAPNG_SHB then
    -- the length that came with it is in the new section's byte order
    if libc.lxsk_libc_fseek(f, -4, SEEK_CUR) ~= 0 then return nil, file_error(self, "%s", syserr()) end
    return section(self)
  end
  local total = self.swap and swap32(hd[1]) or hd[1]
  local nblock = self.blocks
  if btype == BT_IDB then
    local body, err = block_body(self, total, "interface block")
    if not body then return nil, err end
    return add_interface(self, body)
  end
  if total > MAX_BLOCK then
    return nil, file_error(self, "block %d (type 0x%x) has length %d: corrupted file", nblock, btype, total)
  end
  return skip(self, total - 8, "block")
end

-- The next packet block's header, as classic_head; blocks before it are
-- taken in (interfaces, sections) or skipped.  No loop: a loop here would
-- be an inner loop in every trace of the caller's per-packet loop, which
-- LuaJIT refuses to compile; a block that is not a packet ends in a tail call.
local function ng_head(self)
  local f, p, hd = self.f, self.scratch, self.hd
  local got = fread(hd, 1, 8, f)
  if got ~= 8 then
    if got == 0 and ferror(f) == 0 then return nil end
    return false, short(self, "block header after packet " .. self.count)
  end
  local btype = self.swap and swap32(hd[0]) or hd[0]
  local total = self.swap and swap32(hd[1]) or hd[1]
  local nblock = self.blocks + 1
  self.blocks = nblock
  if btype ~= M.PCAPNG_SHB and (total < 12 or total % 4 ~= 0) then
    return false, file_error(self, "block %d (type 0x%x) has length %d: corrupted file", nblock, btype, total)
  end
  if btype == BT_EPB or btype == BT_PB then
    if total < 32 then
      return false, file_error(self, "packet block %d has length %d: corrupted file", nblock, total)
    end
    if fread(p, 1, 20, f) ~= 20 then return false, short(self, "packet block") end
    local id
    if btype == BT_EPB then id = r32(self, p, 0) else id = r16(self, p, 0) end
    local hi, lo, caplen, len = r32(self, p, 1), r32(self, p, 2), r32(self, p, 3), r32(self, p, 4)
    local n = self.count + 1
    if id >= #self.interfaces then
      return false, file_error(self, "packet %d names interface %d, the section has %d", n, id, #self.interfaces)
    end
    local ifc = self.ifs[id]
    local snap = ifc.snaplen
    if caplen > total - 32 or caplen > M.MAX_CAPLEN or (snap > 0 and caplen > snap) then
      return false, file_error(self, "packet %d claims %d bytes (block %d bytes, snaplen %d, limit %d): "
        .. "corrupted file", n, caplen, total, snap, M.MAX_CAPLEN)
    end
    self.count, self.total = n, total
    self.rest = total - 28 - caplen
    self.linktype = ifc.linktype
    local sec, nsec = ng_time(ifc, hi, lo)
    return caplen, len, sec, nsec, id
  elseif btype == BT_SPB then
    if total < 16 then
      return false, file_error(self, "packet block %d has length %d: corrupted file", nblock, total)
    end
    if fread(p, 1, 4, f) ~= 4 then return false, short(self, "packet block") end
    local n = self.count + 1
    if #self.interfaces == 0 then
      return false, file_error(self, "packet %d comes before any interface block", n)
    end
    -- the data is the packet cut to interface 0's snaplen
    local len = r32(self, p, 0)
    local snap = self.ifs[0].snaplen
    local caplen = (snap > 0 and snap < len) and snap or len
    if caplen > total - 16 or caplen > M.MAX_CAPLEN then
      return false, file_error(self, "packet %d claims %d bytes (block %d bytes, snaplen %d, limit %d): "
        .. "corrupted file", n, caplen, total, snap, M.MAX_CAPLEN)
    end
    self.count, self.total = n, total
    self.rest = total - 12 - caplen
    self.linktype = self.ifs[0].linktype
    return caplen, len, nil, nil, 0
  end
  local ok, err = other_block(self, btype)
  if not ok then return false, err end
  return ng_head(self)
end

-- After the packet's bytes: skips the `skipped` bytes past cap and the
-- block's tail (padding, options, trailing length, which must match).
local function tail(self, skipped)
  local rest = self.rest + skipped
  if rest <= 0 then return true end
  if rest > SCRATCH then
    if libc.lxsk_libc_fseek(self.f, rest, SEEK_CUR) ~= 0 then return nil, file_error(self, "%s", syserr()) end
    return true
  end
  local p = self.scratch
  if fread(p, 1, rest, self.f) ~= rest then
    if ferror(self.f) ~= 0 then return nil, file_error(self, "%s", syserr()) end
    return nil, file_error(self, "packet %d truncated", self.count)
  end
  if self.ng and r32(self, p + (rest - 4), 0) ~= self.total then
    return nil, file_error(self, "packet %d: the block's trailing length differs: corrupted file", self.count)
  end
  return true
end

local function head(self)
  if self.f == nil then return false, WHAT .. ": the reader is closed" end
  if self.ng then return ng_head(self) end
  return classic_head(self)
end

-- Reads n of the packet's caplen bytes into dst and skips the rest.
local function body(self, dst, n, caplen)
  if n > 0 then
    local got = fread(dst, 1, n, self.f)
    if got ~= n then
      if ferror(self.f) ~= 0 then return nil, file_error(self, "%s", syserr()) end
      return nil, file_error(self, "packet %d truncated (%d bytes missing)", self.count, caplen - tonumber(got))
    end
  end
  return tail(self, caplen - n)
end

function M.reader(path)
  local want = base.bad_string(path)
  if want then error(base.argerror(WHAT, "reader: path", want, path), 2) end
  local f = libc.lxsk_libc_fopen(path, "rb")
  if f == nil then error(("%s: reader: cannot open %s: %s"):format(WHAT, path, syserr()), 2) end
  f = ffi.gc(f, libc.lxsk_libc_fclose)
  libc.lxsk_libc_setvbuf(f, nil, IOFBF, STDIO_BUF)
  local self = setmetatable({
    f = f, path = path, format = "pcap", swap = false, nanosecond = true,
    snaplen = 0, linktype = 0, interfaces = {}, count = 0, blocks = 0, sections = 0, rest = 0, total = 0,
    rec = rec_t(), hd = ffi.new("uint32_t[2]"), scratch = ffi.new("uint8_t[?]", SCRATCH), buf = nil,
  }, Reader)
  local h = hdr_t()
  local ok, err
  if fread(h, 1, 4, f) ~= 4 then
    err = file_error(self, "truncated file header (under %d bytes)", HDR_SIZE)
  elseif u32(h.magic) == M.PCAPNG_SHB then
    self.ng = true
    ok, err = open_ng(self)
  elseif fread(ffi.cast("uint8_t *", h) + 4, 1, HDR_SIZE - 4, f) ~= HDR_SIZE - 4 then
    err = file_error(self, "truncated file header (under %d bytes)", HDR_SIZE)
  else
    ok, err = open_classic(self, h)
  end
  if not ok then
    self:close()
    error(err, 2)
  end
  return self
end

local function bad_cap(cap)
  return type(cap) ~= "number" or not (cap >= 0 and cap <= 2147483647) or cap ~= floor(cap)
end

-- The next packet: ptr, caplen, sec, nsec, origlen, iface; nil at the end.
-- Without buf the bytes land in the reader's own buffer, valid until the
-- next call; with buf they must fit in cap bytes (a packet that does not
-- is skipped with an error).
function Reader:next(buf, cap)
  if buf ~= nil and (type(buf) ~= "cdata" or bad_cap(cap)) then
    error(base.argerror(WHAT, "next: buf, cap", "a pointer and a whole number of bytes", buf), 2)
  end
  local caplen, len, sec, nsec, id = head(self)
  if not caplen then
    if caplen == false then error(len, 2) end
    return nil
  end
  if buf == nil then
    buf = self.buf
    if buf == nil then
      buf = ffi.new("uint8_t[?]", M.MAX_CAPLEN)
      self.buf = buf
    end
  elseif caplen > cap then
    -- skipped, so that the next call reads the next packet
    local ok, err = tail(self, caplen)
    if not ok then error(err, 2) end
    error(file_error(self, "next: packet %d has %d bytes, the buffer holds %d", self.count, caplen, cap), 2)
  end
  local ok, err = body(self, buf, caplen, caplen)
  if not ok then error(err, 2) end
  return buf, caplen, sec, nsec, len, id
end

-- The next packet copied into dst (room for cap bytes, e.g. a UMEM frame):
-- returns the bytes copied, sec, nsec, caplen, origlen, iface; nil at the
-- end.  Bytes past cap are skipped, as a snaplen would.
function Reader:next_into(dst, cap)
  if type(dst) ~= "cdata" or dst == nil then
    error(base.argerror(WHAT, "next_into: dst", "a pointer", dst), 2)
  end
  if bad_cap(cap) then
    error(base.argerror(WHAT, "next_into: cap", "a whole number from 0 to 2147483647", cap), 2)
  end
  local caplen, len, sec, nsec, id = head(self)
  if not caplen then
    if caplen == false then error(len, 2) end
    return nil
  end
  local n = caplen < cap and caplen or cap
  local ok, err = body(self, dst, n, caplen)
  if not ok then error(err, 2) end
  return n, sec, nsec, caplen, len, id
end

-- Fills the batch's frames b.f[0 .. b.n-1] (the frames the script holds)
-- with the next packets; returns how many it filled.  Fewer than b.n only
-- at the end of the file: the frames after them are left as they were, and
-- b.n is not changed.
function Reader:next_batch(b)
  if not frame.is_batch(b) then error(frame.not_a_batch(WHAT .. ": next_batch", b), 2) end
  local n = b.n
  if n > b.cap then
    error(("%s: next_batch: the batch says it holds %d frames but has room for %d"):format(WHAT, n, b.cap), 2)
  end
  for i = 0, n - 1 do
    local fr = b.f[i]
    -- the frame must be the script's: its room comes from the core
    local umem, room = frame.room_of(fr)
    if not umem then error(room, 2) end
    local caplen, len = head(self)
    if not caplen then
      if caplen == false then error(len, 2) end
      return i
    end
    local k = caplen < room and caplen or room
    local ok, err = body(self, umem.area + fr.addr, k, caplen)
    if not ok then error(err, 2) end
    fr.len = k
  end
  return n
end

function Reader:packets()
  return function() return self:next() end
end

-- What the file says about interface i (0-based): linktype, snaplen, name
-- (pcapng, when given), units (timestamp units per second), offset (s).
function Reader:interface(i)
  if type(i) ~= "number" then error(base.argerror(WHAT, "interface: i", "a number", i), 2) end
  local ifc = self.interfaces[i + 1]
  if ifc == nil then return nil end
  return { linktype = ifc.linktype, snaplen = ifc.snaplen, name = ifc.name,
    units = tonumber(ifc.units), offset = ifc.offset }
end

function Reader:close()
  local f = self.f
  if f == nil then return end
  self.f = nil
  ffi.gc(f, nil)
  libc.lxsk_libc_fclose(f)
end

-- Feeds every packet of a file to fn(ptr, len, sec, nsec); stops early
-- when fn returns false.  Returns the number of packets fed.
function M.replay(path, fn)
  if type(fn) ~= "function" then error(base.argerror(WHAT, "replay: fn", "a function", fn), 2) end
  local r = M.reader(path)
  local n = 0
  local ok, err = pcall(function()
    for ptr, len, sec, nsec in r:packets() do
      n = n + 1
      if fn(ptr, len, sec, nsec) == false then break end
    end
  end)
  r:close()
  if not ok then error(err, 0) end
  return n
end

return M
