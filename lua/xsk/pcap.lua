-- Classic pcap files (not pcapng): write captures, read and replay them.
--
-- Files go through C stdio, so a write is two buffered fwrite calls and a
-- read two fread calls into buffers made once: no Lua allocation per packet.
--
--   local w = pcap.writer("out.pcap", { nanosecond = true })
--   w:write(frame.data, frame.len)            -- stamped with the wall clock
--   w:close()
--   local r = pcap.reader("out.pcap")
--   for ptr, len, sec, nsec in r:packets() do ... end
--   local n = r:next_into(frame.data, frame.cap)   -- or fill a batch's frames
local ffi = require "ffi"
local bit = require "bit"
require "xsk.cdef"

local libc = ffi.C
local bswap = bit.bswap

local M = {}

M.MAGIC_US = 0xa1b2c3d4
M.MAGIC_NS = 0xa1b23c4d
M.LINKTYPE_ETHERNET = 1
M.MAX_CAPLEN = 262144 -- what libpcap accepts; above it a record is garbage

local IOFBF, SEEK_CUR, CLOCK_REALTIME = 0, 1, 0
local HDR_SIZE, REC_SIZE = 24, 16
local STDIO_BUF = 1048576

local hdr_t = ffi.typeof("struct lxsk_pcap_hdr")
local rec_t = ffi.typeof("struct lxsk_pcap_rec")

local function syserr()
  return ffi.string(libc.lxsk_libc_strerror(ffi.errno()))
end

local function u32(x) return x % 4294967296 end
local function swap32(x) return bswap(x) % 4294967296 end
local function swap16(x) return bit.rshift(bswap(x), 16) end

-- ---- writer ----

local Writer = {}
Writer.__index = Writer

local writer_keys = { nanosecond = "boolean", snaplen = "number", linktype = "number" }

function M.writer(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("pcap.writer: path must be a string", 2) end
  if type(opts) ~= "table" then error("pcap.writer: options must be a table", 2) end
  for k, v in pairs(opts) do
    if writer_keys[k] == nil then error("pcap.writer: unknown option " .. tostring(k), 2) end
    if type(v) ~= writer_keys[k] then
      error(("pcap.writer: %s must be a %s"):format(k, writer_keys[k]), 2)
    end
  end
  local snaplen = opts.snaplen or M.MAX_CAPLEN
  if snaplen < 1 or snaplen > M.MAX_CAPLEN or snaplen % 1 ~= 0 then
    error(("pcap.writer: snaplen must be an integer in 1..%d"):format(M.MAX_CAPLEN), 2)
  end
  local f = libc.lxsk_libc_fopen(path, "wb")
  if f == nil then error(("pcap.writer: cannot open %s: %s"):format(path, syserr()), 2) end
  f = ffi.gc(f, libc.lxsk_libc_fclose)
  libc.lxsk_libc_setvbuf(f, nil, IOFBF, STDIO_BUF)
  local h = hdr_t()
  h.magic = opts.nanosecond and M.MAGIC_NS or M.MAGIC_US
  h.version_major, h.version_minor = 2, 4
  h.snaplen = snaplen
  h.linktype = opts.linktype or M.LINKTYPE_ETHERNET
  if libc.lxsk_libc_fwrite(h, HDR_SIZE, 1, f) ~= 1 then
    error(("pcap.writer: cannot write %s: %s"):format(path, syserr()), 2)
  end
  return setmetatable({
    f = f, path = path, nano = opts.nanosecond and true or false, snaplen = snaplen,
    rec = rec_t(), ts = ffi.new("struct lxsk_timespec"), count = 0,
  }, Writer)
end

-- Append a packet of len bytes at ptr (a pointer, or a Lua string with len
-- optional).  ts_frac is in the file's unit (us or ns); without ts_sec the
-- wall clock stamps the packet.  Only snaplen bytes are kept.
function Writer:write(ptr, len, ts_sec, ts_frac)
  local f = self.f
  if f == nil then error("pcap writer: closed", 2) end
  if len == nil then len = #ptr end
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
  if libc.lxsk_libc_fwrite(rec, REC_SIZE, 1, f) ~= 1 or (cap > 0 and libc.lxsk_libc_fwrite(ptr, 1, cap, f) ~= cap) then
    error(("pcap writer: %s: %s"):format(self.path, syserr()), 2)
  end
  self.count = self.count + 1
end

function Writer:flush()
  if self.f ~= nil and libc.lxsk_libc_fflush(self.f) ~= 0 then
    error(("pcap writer: %s: %s"):format(self.path, syserr()), 2)
  end
end

-- Flushes and closes; a failure to get the data onto the file is an error.
function Writer:close()
  local f = self.f
  if f == nil then return end
  self.f = nil
  ffi.gc(f, nil)
  local bad = libc.lxsk_libc_ferror(f) ~= 0
  if libc.lxsk_libc_fclose(f) ~= 0 or bad then
    error(("pcap writer: %s: %s"):format(self.path, syserr()), 2)
  end
end

-- ---- reader ----

local Reader = {}
Reader.__index = Reader

function M.reader(path)
  if type(path) ~= "string" then error("pcap.reader: path must be a string", 2) end
  local f = libc.lxsk_libc_fopen(path, "rb")
  if f == nil then error(("pcap.reader: cannot open %s: %s"):format(path, syserr()), 2) end
  f = ffi.gc(f, libc.lxsk_libc_fclose)
  libc.lxsk_libc_setvbuf(f, nil, IOFBF, STDIO_BUF)
  local h = hdr_t()
  if libc.lxsk_libc_fread(h, 1, HDR_SIZE, f) ~= HDR_SIZE then
    error(("pcap.reader: %s: truncated file header (under %d bytes)"):format(path, HDR_SIZE), 2)
  end
  local magic = u32(h.magic)
  local swap, nano
  if magic == M.MAGIC_US then swap, nano = false, false
  elseif magic == M.MAGIC_NS then swap, nano = false, true
  elseif swap32(magic) == M.MAGIC_US then swap, nano = true, false
  elseif swap32(magic) == M.MAGIC_NS then swap, nano = true, true
  else
    error(("pcap.reader: %s: bad magic 0x%08x (not a classic pcap file; pcapng is not read)")
      :format(path, magic), 2)
  end
  local major = swap and swap16(h.version_major) or h.version_major
  if major ~= 2 then
    error(("pcap.reader: %s: unsupported version %d"):format(path, major), 2)
  end
  local snaplen = swap and swap32(h.snaplen) or h.snaplen
  local linktype = swap and swap32(h.linktype) or h.linktype
  return setmetatable({
    f = f, path = path, swap = swap, nanosecond = nano,
    snaplen = snaplen, linktype = linktype % 65536, -- the upper bits carry FCS flags
    rec = rec_t(), buf = nil, count = 0,
  }, Reader)
end

-- Read a record header: caplen, origlen, sec, nsec, or nil at a clean end.
local function record(self)
  local f = self.f
  if f == nil then error("pcap reader: closed", 3) end
  local rec = self.rec
  local got = libc.lxsk_libc_fread(rec, 1, REC_SIZE, f)
  if got ~= REC_SIZE then
    if got == 0 and libc.lxsk_libc_ferror(f) == 0 then return nil end
    if libc.lxsk_libc_ferror(f) ~= 0 then
      error(("pcap reader: %s: %s"):format(self.path, syserr()), 3)
    end
    error(("pcap reader: %s: truncated record header after packet %d")
      :format(self.path, self.count), 3)
  end
  local caplen, len, sec, frac
  if self.swap then
    caplen, len, sec, frac = swap32(rec.caplen), swap32(rec.len), swap32(rec.ts_sec), swap32(rec.ts_frac)
  else
    caplen, len, sec, frac = rec.caplen, rec.len, rec.ts_sec, rec.ts_frac
  end
  if caplen > M.MAX_CAPLEN or (self.snaplen > 0 and caplen > self.snaplen) then
    error(("pcap reader: %s: packet %d claims %d bytes (snaplen %d, limit %d): corrupted file")
      :format(self.path, self.count + 1, caplen, self.snaplen, M.MAX_CAPLEN), 3)
  end
  self.count = self.count + 1
  if not self.nanosecond then frac = frac * 1000 end
  return caplen, len, sec, frac
end

local function body_error(self, want)
  if libc.lxsk_libc_ferror(self.f) ~= 0 then
    error(("pcap reader: %s: %s"):format(self.path, syserr()), 3)
  end
  error(("pcap reader: %s: packet %d truncated (%d bytes missing)")
    :format(self.path, self.count, want), 3)
end

-- The next packet: ptr, caplen, ts_sec, ts_nsec, original length; nil at the
-- end.  Without buf the bytes land in the reader's own buffer, valid until
-- the next call; with buf they must fit in cap bytes.
function Reader:next(buf, cap)
  local caplen, len, sec, nsec = record(self)
  if caplen == nil then return nil end
  if buf == nil then
    buf = self.buf
    if buf == nil then
      buf = ffi.new("uint8_t[?]", M.MAX_CAPLEN)
      self.buf = buf
    end
  elseif cap == nil or caplen > cap then
    error(("pcap reader: packet %d has %d bytes, buffer holds %s")
      :format(self.count, caplen, tostring(cap)), 2)
  end
  local got = caplen > 0 and libc.lxsk_libc_fread(buf, 1, caplen, self.f) or 0
  if got ~= caplen then body_error(self, caplen - tonumber(got)) end
  return buf, caplen, sec, nsec, len
end

-- The next packet copied into dst (room for cap bytes, e.g. a UMEM frame):
-- returns the bytes copied, ts_sec, ts_nsec, caplen; nil at the end.  Bytes
-- past cap are skipped, as a snaplen would.
function Reader:next_into(dst, cap)
  local caplen, _, sec, nsec = record(self)
  if caplen == nil then return nil end
  local n = caplen < cap and caplen or cap
  local got = n > 0 and libc.lxsk_libc_fread(dst, 1, n, self.f) or 0
  if got ~= n then body_error(self, caplen - tonumber(got)) end
  if caplen > n and libc.lxsk_libc_fseek(self.f, caplen - n, SEEK_CUR) ~= 0 then
    error(("pcap reader: %s: %s"):format(self.path, syserr()), 2)
  end
  return n, sec, nsec, caplen
end

-- Fill the frames of a batch (struct lxsk_batch) from the file, up to its
-- cap: sets f[i].len and b.n; returns the count (0 at the end).
function Reader:next_batch(b)
  local n = 0
  for i = 0, b.cap - 1 do
    local fr = b.f[i]
    local len = self:next_into(fr.data, fr.cap)
    if len == nil then break end
    fr.len = len
    n = n + 1
  end
  b.n = n
  return n
end

function Reader:packets()
  return function() return self:next() end
end

function Reader:close()
  local f = self.f
  if f == nil then return end
  self.f = nil
  ffi.gc(f, nil)
  libc.lxsk_libc_fclose(f)
end

-- Feed every packet of a file to fn(ptr, len, ts_sec, ts_nsec); stops early
-- when fn returns false.  Returns the number of packets fed.
function M.replay(path, fn)
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
