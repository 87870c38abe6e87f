-- Random-input harness for the Lua parsers (libFuzzer cannot drive LuaJIT):
--
--   luajit tools/fuzz_lua.lua [ITERATIONS [SEED]]      (make fuzz-lua)
--
-- headers.parse: frames built from a known structure (spec/support/frames.lua:
-- Ethernet, VLAN tags, IPv4 with options and fragments, IPv6 with extension
-- header chains, ARP, UDP/TCP/ICMP/ICMPv6) with random fields, cuts and
-- changed bytes, plus plain random bytes.  Each frame ends exactly at a
-- PROT_NONE page, so a read past len faults; every header pointer, offset and
-- length parse() fills in must lie within len, and what it reports must be
-- what was built (up to the first changed byte it interprets).
--
-- pcap.reader: valid files written by pcap.writer, and pcapng files of
-- random sections, interfaces (time resolutions, offsets) and packet block
-- kinds, then truncated and corrupted; reading must give packets or a Lua
-- error that names the file, never a crash, and never more bytes than
-- MAX_CAPLEN.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local bit = require "bit"
local headers = require "xsk.headers"
local pcap = require "xsk.pcap"
local ng = require "spec.support.pcapng"
local frames = require "spec.support.frames"

local ITER = tonumber(arg[1]) or 200000
local SEED = tonumber(arg[2] or os.getenv("XSK_SEED")) or os.time()

ffi.cdef [[
void *lxsk_fz_mmap(void *addr, size_t len, int prot, int flags, int fd, long off) __asm__("mmap");
int lxsk_fz_mprotect(void *addr, size_t len, int prot) __asm__("mprotect");
]]

-- xorshift32, as in spec/support/model.lua
local s = bit.tobit(SEED ~= 0 and SEED or 1)
local function r(n)
  s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
  return s % n
end

local function fail(what, frame, detail)
  local hex = {}
  for i = 1, math.min(#frame, 128) do hex[i] = ("%02x"):format(frame:byte(i)) end
  io.stderr:write(("fuzz_lua: %s (XSK_SEED=%d): %s\n  frame (%d bytes): %s\n"):format(what, SEED, detail,
    #frame, table.concat(hex)))
  os.exit(1)
end

-- ---- frames ----

local function bytes(n)
  local t = {}
  for i = 1, n do t[i] = string.char(r(256)) end
  return table.concat(t)
end
-- A frame built from a known structure (spec/support/frames.lua), often with
-- bytes changed (only ones parse does not interpret, or any) and often cut:
-- returns the frame's description, the bytes to parse and the first changed
-- byte parse interprets (nil: none).
local function structured()
  local f = frames.random(r)
  local data, bad_at = f.bytes, nil
  local kind = r(3)
  if kind > 0 then data, bad_at = frames.corrupt(f, r, kind == 1) end
  if r(4) == 0 then data = data:sub(1, r(#data + 1)) end
  return f, data, bad_at
end

-- Bytes for the pcap writers: mostly structured frames, some plain noise.
local function frame()
  if r(10) == 0 then return bytes(r(200)) end
  local _, data = structured()
  return data
end

-- ---- headers.parse ----

local PAGE = 4096
local area = ffi.cast("uint8_t *", ffi.C.lxsk_fz_mmap(nil, 2 * PAGE, 3, 0x22, -1, 0))
assert(area ~= ffi.cast("uint8_t *", -1), "mmap failed")
assert(ffi.C.lxsk_fz_mprotect(area + PAGE, PAGE, 0) == 0, "mprotect failed")

local sizes = {
  eth = 14, vlan = 4, arp = 28, ip4 = 20, ip6 = 40, udp = 8, tcp = 20, icmp = 8, icmp6 = 8,
}

local res = headers.result()
local function within(fr, name, p, size)
  if p == nil then return end
  local off = ffi.cast("const uint8_t *", p) - res.base
  if off < 0 or off + size > res.len then
    fail("parse", fr, ("%s header at %d (+%d) outside len %d"):format(name, tonumber(off), size, res.len))
  end
end

-- fr: the bytes; f, bad_at: the structure they were built from and the first
-- changed byte parse interprets (see structured()), when there is one.
local function check_parse(fr, f, bad_at)
  local n = #fr
  if n > PAGE then fr = fr:sub(1, PAGE); n = PAGE end
  local p = area + PAGE - n
  ffi.copy(p, fr, n)
  local ok, good = pcall(headers.parse, p, n, res)
  if not ok then fail("parse raised", fr, tostring(good)) end
  if not good and res.err == 0 then fail("parse", fr, "false without err") end
  if good and res.err ~= 0 then fail("parse", fr, "true with err " .. res.err) end
  for name, size in pairs(sizes) do
    if name == "vlan" then
      for i = 0, 1 do within(fr, "vlan", res.vlan[i], size) end
    else
      within(fr, name, res[name], size)
    end
  end
  if res.payload_off + res.payload_len > n and good then
    fail("parse", fr, ("payload %d+%d past len %d"):format(res.payload_off, res.payload_len, n))
  end
  if res.l3_off > 0 and good and res.l3_off + res.l3_len > n then
    fail("parse", fr, ("l3 %d+%d past len %d"):format(res.l3_off, res.l3_len, n))
  end
  -- a first fragment's UDP length counts the whole datagram
  if res.udp ~= nil and good and res.frag == 0 then
    local ulen = res.udp:length()
    if res.l4_off + ulen > n then fail("parse", fr, "UDP length past the frame") end
  end
  if f then
    local wrong = frames.check(f, n, bad_at, good, res)
    if wrong then
      fail("parse", fr, ("%s (built %d bytes%s)"):format(wrong, f.len,
        bad_at and (", changed from byte " .. bad_at) or ""))
    end
  end
end

local t0 = os.clock()
for _ = 1, ITER do
  if r(10) == 0 then
    check_parse(bytes(r(200)))
  else
    local f, data, bad_at = structured()
    check_parse(data, f, bad_at)
  end
end
-- every length of one frame, down to 0
local whole = frames.random(r)
for n = whole.len, 0, -1 do check_parse(whole.bytes:sub(1, n), whole) end
io.stdout:write(("fuzz_lua: headers.parse: %d frames, each as built, no fault (%.1fs, XSK_SEED=%d)\n")
  :format(ITER, os.clock() - t0, SEED))

-- ---- pcap.reader ----

local path = os.tmpname()
local function write_valid(count)
  local w = pcap.writer(path, { nanosecond = r(2) == 0 })
  for _ = 1, count do
    local fr = frame()
    w:write(fr, #fr)
  end
  w:close()
  local f = io.open(path, "rb")
  local data = f:read("*a")
  f:close()
  return data
end

local function corrupt(data)
  local kind = r(4)
  if kind == 0 then return data:sub(1, r(#data + 1)) end
  local t = { data:byte(1, -1) }
  for _ = 1, 1 + r(8) do
    if #t > 0 then
      local i = r(#t) + 1
      -- favour the headers: the first 24 bytes and the first record's
      if r(2) == 0 then i = r(math.min(#t, 40)) + 1 end
      t[i] = r(256)
    end
  end
  local out = {}
  for i = 1, #t, 4096 do out[#out + 1] = string.char(unpack(t, i, math.min(i + 4095, #t))) end
  return table.concat(out)
end

-- A valid pcapng file: 1-2 sections of either byte order, 1-3 interfaces
-- each, packets of every block kind.
local function write_valid_ng()
  local out = {}
  for _ = 1, 1 + r(2) do
    local be = r(2) == 0
    out[#out + 1] = ng.shb(be)
    local nif = 1 + r(3)
    for _ = 1, nif do
      local resol = r(2) == 0 and string.char(r(20)) or string.char(0x80 + r(64))
      local opts = ng.option(9, resol, be) .. (r(2) == 0 and ng.tsoffset(r(2000) - 1000, be) or "")
      out[#out + 1] = ng.idb(1, r(3) == 0 and 64 + r(100) or 0, opts, be)
    end
    for _ = 1, 1 + r(5) do
      local fr = frame():sub(1, 64)
      local kind = r(4)
      if kind == 0 then out[#out + 1] = ng.spb(fr, #fr, be)
      elseif kind == 1 then out[#out + 1] = ng.pb(r(nif), r(65536), r(65536), fr, be)
      elseif kind == 2 then out[#out + 1] = ng.block(0x40000bad, ("x"):rep(4 * r(4)), be)
      else out[#out + 1] = ng.epb(r(nif), r(65536), r(65536), fr, be) end
    end
  end
  return table.concat(out)
end

local PCAP_ITER = math.max(100, math.floor(ITER / 100))
local t1 = os.clock()
local read_ok, read_err = 0, 0
local dst = ffi.new("uint8_t[?]", 2048)
for it = 1, PCAP_ITER do
  local data = corrupt(it % 3 == 0 and write_valid_ng() or write_valid(1 + r(6)))
  local f = io.open(path, "wb")
  f:write(data)
  f:close()
  local ok, err = pcall(function()
    local rd = pcap.reader(path)
    local use_into = it % 2 == 0
    while true do
      if use_into then
        local n = rd:next_into(dst, 1 + r(2048))
        if n == nil then break end
      else
        local p, caplen = rd:next()
        if p == nil then break end
        if caplen > pcap.MAX_CAPLEN then error("caplen past MAX_CAPLEN") end
      end
    end
    rd:close()
  end)
  if ok then
    read_ok = read_ok + 1
  else
    read_err = read_err + 1
    if not tostring(err):find("pcap", 1, true) or not tostring(err):find(path, 1, true) and
      not tostring(err):find("buffer holds", 1, true) then
      fail("pcap reader", data, "unclear error: " .. tostring(err))
    end
  end
end
os.remove(path)
io.stdout:write(("fuzz_lua: pcap.reader: %d corrupted files, %d read, %d refused with a clear error, "
  .. "no crash (%.1fs)\n"):format(PCAP_ITER, read_ok, read_err, os.clock() - t1))
