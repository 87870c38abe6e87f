-- Random-input harness for the Lua parsers (libFuzzer cannot drive LuaJIT):
--
--   luajit tools/fuzz_lua.lua [ITERATIONS [SEED]]      (make fuzz-lua)
--
-- headers.parse: structured frames (Ethernet, up to three VLAN tags, IPv4
-- with options, IPv6 with extension headers, ARP, UDP/TCP/ICMP/ICMPv6) with
-- random fields, truncations and bit flips, plus plain random bytes.  Each
-- frame ends exactly at a PROT_NONE page, so a read past len faults; every
-- header pointer, offset and length parse() fills in must lie within len.
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
local function be16(v) return string.char(bit.band(bit.rshift(v, 8), 255), bit.band(v, 255)) end
local function pick(t) return t[r(#t) + 1] end

local function l4(proto)
  local pay = bytes(r(40))
  if proto == 17 then
    local ulen = r(4) == 0 and r(65536) or 8 + #pay
    return be16(r(65536)) .. be16(r(65536)) .. be16(ulen) .. be16(0) .. pay
  elseif proto == 6 then
    local doff = r(4) == 0 and r(16) or 5 + r(3)
    return bytes(12) .. string.char(doff * 16) .. bytes(7) .. bytes(math.max(0, doff - 5) * 4) .. pay
  elseif proto == 1 or proto == 58 then
    return bytes(8) .. pay
  end
  return bytes(r(30))
end

local function ip4()
  local proto = pick { 1, 6, 17, 17, 58, 47, r(256) }
  local ihl = r(6) == 0 and r(16) or 5 + r(3)
  local rest = l4(proto)
  local opts = bytes(math.max(0, ihl - 5) * 4)
  local tot = r(5) == 0 and r(65536) or 20 + #opts + #rest
  local frag = pick { 0, 0, 0, 0x2000, 0x0001, r(65536) }
  return string.char(0x40 + ihl, 0) .. be16(tot) .. be16(r(65536)) .. be16(frag) .. string.char(64, proto)
    .. be16(0) .. bytes(8) .. opts .. rest
end

local function ip6()
  local chain = {}
  local nh_first
  local n_ext = r(4) == 0 and r(12) or r(3)
  local nhs = {}
  for i = 1, n_ext do nhs[i] = pick { 0, 43, 60, 51, 44 } end
  local last = pick { 6, 17, 58, 1, 59, r(256) }
  nh_first = nhs[1] or last
  for i = 1, n_ext do
    local nh = nhs[i + 1] or last
    local t = nhs[i]
    if t == 44 then
      chain[#chain + 1] = string.char(nh, 0) .. be16(pick { 0, 1, 8, r(65536) }) .. bytes(4)
    elseif t == 51 then
      local l = r(4)
      chain[#chain + 1] = string.char(nh, l) .. bytes((l + 2) * 4 - 2)
    else
      local l = r(3)
      chain[#chain + 1] = string.char(nh, l) .. bytes((l + 1) * 8 - 2)
    end
  end
  local body = table.concat(chain) .. l4(last)
  local plen = r(5) == 0 and r(65536) or #body
  return string.char(0x60 + r(2) * 0x10, 0, 0, 0) .. be16(plen) .. string.char(nh_first, 64) .. bytes(32) .. body
end

local function frame()
  if r(10) == 0 then return bytes(r(200)) end
  local f = { bytes(12) }
  for _ = 1, (r(3) == 0 and r(4) or 0) do f[#f + 1] = be16(pick { 0x8100, 0x88a8, 0x9100 }) .. bytes(2) end
  local kind = r(8)
  if kind < 3 then f[#f + 1] = be16(0x0800) .. ip4()
  elseif kind < 6 then f[#f + 1] = be16(0x86dd) .. ip6()
  elseif kind == 6 then
    f[#f + 1] = be16(0x0806) .. (r(2) == 0 and (be16(1) .. be16(0x0800) .. string.char(6, 4)) or bytes(6)) .. bytes(22)
  else f[#f + 1] = be16(r(65536)) .. bytes(r(60)) end
  local out = table.concat(f)
  -- truncate, flip bits
  if r(4) == 0 then out = out:sub(1, r(#out + 1)) end
  for _ = 1, (r(3) == 0 and r(4) or 0) do
    if #out > 0 then
      local i = r(#out) + 1
      out = out:sub(1, i - 1) .. string.char(bit.bxor(out:byte(i), bit.lshift(1, r(8)))) .. out:sub(i + 1)
    end
  end
  return out
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

local function check_parse(fr)
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
  if res.udp ~= nil and good then
    local ulen = res.udp:length()
    if res.l4_off + ulen > n then fail("parse", fr, "UDP length past the frame") end
  end
end

local t0 = os.clock()
for _ = 1, ITER do check_parse(frame()) end
-- every length of one frame, down to 0
local whole = frame()
for n = #whole, 0, -1 do check_parse(whole:sub(1, n)) end
io.stdout:write(("fuzz_lua: headers.parse: %d frames, no fault (%.1fs, XSK_SEED=%d)\n")
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
