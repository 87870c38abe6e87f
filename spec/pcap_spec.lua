dofile "spec/support/paths.lua"
local shell = require "support.shell"
local ffi = require "ffi"
local pcap = require "xsk.pcap"
local template = require "xsk.template"
local util = require "spec.support.util"
local jit_watch = require "support.jit_watch"
local ng = require "spec.support.pcapng"
local bit = require "bit"

-- busted keeps one `finally` per test (the last one given), so every
-- cleanup of a test goes on one list, run in reverse order when it ends.
local cleanups = {}
local function run_cleanups()
  for i = #cleanups, 1, -1 do
    local fn = table.remove(cleanups, i)
    pcall(fn)
  end
end
local function on_exit(fn)
  cleanups[#cleanups + 1] = fn
  finally(run_cleanups)
end

local function tmpfile()
  local path = os.tmpname()
  on_exit(function() os.remove(path) end)
  return path
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Runs a shell command: its output (stdout and stderr) and whether it exited 0.
local sh = shell.ok

-- Frames that differ in ports and size, so a mix-up shows.
local function frames(n)
  local out = {}
  for i = 1, n do
    local t = template.new {
      src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
      src_ip = "10.0.0.1", dst_ip = "10.0.0.2", src_port = 1000 + i, dst_port = 5678,
      payload = ("p%03d"):format(i % 1000), size = 60 + i % 1400,
    }
    local buf, len = t:frame()
    out[i] = ffi.string(buf, len)
  end
  return out
end

local function write_file(path, opts, pkts, ts)
  local w = pcap.writer(path, opts)
  for i, p in ipairs(pkts) do
    if ts then w:write(p, #p, ts[i][1], ts[i][2]) else w:write(p) end
  end
  w:close()
end

local function read_all(path)
  local r = pcap.reader(path)
  local got = {}
  for ptr, len, sec, nsec, orig, iface in r:packets() do
    got[#got + 1] = { data = ffi.string(ptr, len), sec = sec, nsec = nsec, orig = orig, iface = iface,
      linktype = r.linktype }
  end
  r:close()
  return got, r
end

local function tcpdump(path, flags)
  local p = assert(io.popen("tcpdump -r " .. path .. " -nn " .. (flags or "") .. " 2>/dev/null"))
  local out = p:read("*a")
  p:close()
  return out
end

-- The same file in the other byte order, field by field.
local function byteswapped(s)
  local function sw(bytes) return bytes:reverse() end
  local out = { sw(s:sub(1, 4)), sw(s:sub(5, 6)), sw(s:sub(7, 8)), sw(s:sub(9, 12)),
    sw(s:sub(13, 16)), sw(s:sub(17, 20)), sw(s:sub(21, 24)) }
  local pos = 25
  while pos <= #s do
    local rec = s:sub(pos, pos + 15)
    local caplen = rec:byte(9) + rec:byte(10) * 256 + rec:byte(11) * 65536 + rec:byte(12) * 16777216
    for k = 0, 3 do out[#out + 1] = sw(rec:sub(4 * k + 1, 4 * k + 4)) end
    out[#out + 1] = s:sub(pos + 16, pos + 15 + caplen)
    pos = pos + 16 + caplen
  end
  return table.concat(out)
end

-- A batch of a UMEM of its own with room for `cap` frames, `n` of them
-- allocated; the UMEM closes when the test ends.
local function umem_batch(cap, n, frame_count)
  local u = require("xsk").umem { frame_count = frame_count or 16 }
  on_exit(function() u:close() end)
  local b = u:batch(cap)
  u:alloc(b, n)
  return b, u
end

describe("pcap files", function()
  local pkts = frames(20)
  local ts = {}
  for i = 1, #pkts do ts[i] = { 1700000000 + i, i * 37 } end

  for _, nano in ipairs { false, true } do
    local kind = nano and "nanosecond" or "microsecond"

    it("round-trip " .. kind .. " files", function()
      local path = tmpfile()
      write_file(path, { nanosecond = nano }, pkts, ts)
      local head = slurp(path):sub(1, 4)
      assert.equal(nano and "4d3cb2a1" or "d4c3b2a1", util.hex(head, 4)) -- little-endian host
      local got, r = read_all(path)
      assert.equal("pcap", r.format)
      assert.equal(nano, r.nanosecond)
      assert.equal(1, r.linktype)
      assert.equal(#pkts, #got)
      for i, p in ipairs(pkts) do
        assert.equal(util.hex(p, #p), util.hex(got[i].data, #got[i].data))
        assert.equal(#p, got[i].orig)
        assert.equal(ts[i][1], got[i].sec)
        assert.equal(nano and ts[i][2] or ts[i][2] * 1000, got[i].nsec)
        assert.equal(0, got[i].iface)
      end
    end)

    it("writes " .. kind .. " files tcpdump reads", function()
      local path = tmpfile()
      write_file(path, { nanosecond = nano }, pkts, ts)
      local out = tcpdump(path)
      local lines = 0
      for _ in out:gmatch("[^\n]+") do lines = lines + 1 end
      assert.equal(#pkts, lines)
      assert.matches("10%.0%.0%.1%.1001 > 10%.0%.0%.2%.5678: UDP, length 19", out)
      assert.matches("10%.0%.0%.1%.1020 > 10%.0%.0%.2%.5678: UDP, length 38", out)
      -- tcpdump checks the checksums itself: a second opinion on templates
      local _, ok = tcpdump(path, "-vv"):gsub("%[udp sum ok%]", "")
      assert.equal(#pkts, ok)
    end)

    it("reads " .. kind .. " files of the other byte order", function()
      local path = tmpfile()
      write_file(path, { nanosecond = nano }, pkts, ts)
      local swapped = tmpfile()
      spit(swapped, byteswapped(slurp(path)))
      local got, r = read_all(swapped)
      assert.is_true(r.swap)
      assert.equal(#pkts, #got)
      for i, p in ipairs(pkts) do
        assert.equal(p, got[i].data)
        assert.equal(ts[i][1], got[i].sec)
        assert.equal(nano and ts[i][2] or ts[i][2] * 1000, got[i].nsec)
      end
      assert.equal(#pkts, select(2, tcpdump(swapped):gsub("UDP", "")))
    end)
  end

  it("stamps packets with the wall clock by default", function()
    local path = tmpfile()
    local before = os.time()
    write_file(path, { nanosecond = true }, { pkts[1] })
    local got = read_all(path)
    assert.is_true(got[1].sec >= before and got[1].sec <= os.time() + 1)
    assert.is_true(got[1].nsec >= 0 and got[1].nsec < 1e9)
  end)

  it("keeps snaplen bytes and the original length", function()
    local path = tmpfile()
    write_file(path, { snaplen = 40 }, pkts, ts)
    local got, r = read_all(path)
    assert.equal(40, r.snaplen)
    for i, p in ipairs(pkts) do
      assert.equal(p:sub(1, 40), got[i].data)
      assert.equal(#p, got[i].orig)
    end
  end)

  it("copies into memory with next_into, skipping what does not fit", function()
    local path = tmpfile()
    write_file(path, nil, pkts, ts)
    local r = pcap.reader(path)
    local dst = ffi.new("uint8_t[128]")
    local n, sec, nsec, caplen, orig, iface = r:next_into(dst, 128)
    assert.equal(#pkts[1], n)
    assert.equal(ts[1][1], sec)
    assert.equal(ts[1][2] * 1000, nsec)
    assert.equal(#pkts[1], caplen)
    assert.equal(#pkts[1], orig)
    assert.equal(0, iface)
    assert.equal(pkts[1], ffi.string(dst, n))
    -- a frame too small: the rest is skipped and the next packet is whole
    local _
    n, _, _, caplen = r:next_into(dst, 50)
    assert.equal(50, n)
    assert.equal(#pkts[2], caplen)
    assert.equal(pkts[2]:sub(1, 50), ffi.string(dst, 50))
    n = r:next_into(dst, 128)
    assert.equal(pkts[3], ffi.string(dst, n))
    r:close()
  end)

  it("fills only the frames a batch holds (b.n), and loses no packet", function()
    local path = tmpfile()
    write_file(path, nil, pkts, ts)
    local r = pcap.reader(path)
    -- room for 8, 3 in use: the slots past b.n hold no frame of the script's;
    -- the UMEM's other 13 frames are in another batch, marked
    local b, u = umem_batch(8, 3)
    local others = u:batch(13)
    assert.equal(13, u:alloc(others, 13, 100))
    for i = 0, 12 do ffi.fill(others.f[i].data, others.f[i].cap, 0xee) end
    local total = 0
    while true do
      local got = r:next_batch(b)
      assert.equal(3, b.n)
      for i = 0, got - 1 do
        total = total + 1
        assert.equal(pkts[total], ffi.string(b.f[i].data, b.f[i].len))
      end
      if got < 3 then break end
    end
    assert.equal(#pkts, total) -- 20 = 6 batches of 3 and one of 2
    for i = 0, 12 do
      local f = others.f[i]
      assert.equal(100, f.len)
      for k = 0, f.cap - 1 do
        if f.data[k] ~= 0xee then error(("frame %d of the other batch written at byte %d"):format(i, k)) end
      end
    end
    assert.equal(0, r:next_batch(b))
    assert.is_nil(r:next())
    -- an empty batch takes nothing from the file
    r:close()
    r = pcap.reader(path)
    u:release(b)
    assert.equal(0, r:next_batch(b))
    local dst = ffi.new("uint8_t[256]")
    assert.equal(#pkts[1], r:next_into(dst, 256))
    assert.equal(pkts[1], ffi.string(dst, #pkts[1]))
    r:close()
  end)

  it("replays through a callback, and stops when it says so", function()
    local path = tmpfile()
    write_file(path, nil, pkts, ts)
    local seen = {}
    assert.equal(#pkts, pcap.replay(path, function(ptr, len) seen[#seen + 1] = ffi.string(ptr, len) end))
    assert.same(pkts, seen)
    local calls = 0
    assert.equal(3, pcap.replay(path, function()
      calls = calls + 1
      if calls == 3 then return false end
    end))
    assert.equal(3, calls)
  end)

  it("writes without allocating once compiled", function()
    local w = pcap.writer("/dev/null")
    local buf = ffi.new("uint8_t[64]")
    local function loop(n) for i = 1, n do w:write(buf, 64, i, 0) end end
    local grown = util.heap_growth(loop, 20000, 200000)
    w:close()
    assert.is_true(grown < 64, ("grew %.1f KiB"):format(grown))
  end)
end)

describe("pcap writer arguments", function()
  local pkt = frames(1)[1]

  local function written(path)
    local got = read_all(path)
    return #got
  end

  it("refuses lengths that are negative, fractional, NaN or too large, naming len", function()
    local path = tmpfile()
    local w = pcap.writer(path)
    local buf = ffi.new("uint8_t[64]")
    for _, bad in ipairs { -1, 2.5, 0 / 0, 1 / 0, 262145, 2 ^ 32, "64" } do
      assert.error_matches(function() w:write(buf, bad) end,
        "xsk.pcap: write: len must be a whole number from 0 to 262144", nil, true)
    end
    -- a string's length is its limit
    assert.error_matches(function() w:write(pkt, #pkt + 1) end,
      ("xsk.pcap: write: len must be a whole number from 0 to %d (the string's length"):format(#pkt), nil, true)
    assert.error_matches(function() w:write(pkt, -1) end, "write: len must be", nil, true)
    assert.error_matches(function() w:write(nil, 10) end, "xsk.pcap: write: data must be a string or a pointer",
      nil, true)
    assert.error_matches(function() w:write({}, 10) end, "xsk.pcap: write: data must be", nil, true)
    assert.error_matches(function() w:write(ffi.cast("uint8_t *", nil), 10) end, "write: data must be", nil, true)
    w:write(pkt, 0, 1, 0)
    w:write(pkt, 10, 2, 0)
    w:close()
    assert.equal(2, written(path)) -- nothing of the refused calls reached the file
    assert.is_true(#slurp(path) < 100)
  end)

  it("refuses timestamps out of range, naming the argument", function()
    local w = pcap.writer(tmpfile())
    assert.error_matches(function() w:write(pkt, #pkt, -1, 0) end, "xsk.pcap: write: ts_sec must be a whole number",
      nil, true)
    assert.error_matches(function() w:write(pkt, #pkt, 2 ^ 32, 0) end, "ts_sec must be", nil, true)
    assert.error_matches(function() w:write(pkt, #pkt, 1, 1000000) end,
      "xsk.pcap: write: ts_frac must be a whole number from 0 to 999999 (us)", nil, true)
    assert.error_matches(function() w:write(pkt, #pkt, 1, 0.5) end, "ts_frac must be", nil, true)
    assert.error_matches(function() w:write(pkt, #pkt, nil, 5) end, "ts_sec must be given with ts_frac", nil, true)
    w:close()
    local wn = pcap.writer(tmpfile(), { nanosecond = true })
    wn:write(pkt, #pkt, 1, 999999999)
    assert.error_matches(function() wn:write(pkt, #pkt, 1, 1e9) end, "from 0 to 999999999 (ns)", nil, true)
    wn:close()
  end)

  it("checks options and use after close", function()
    assert.error_matches(function() pcap.writer(tmpfile(), { nanoseconds = true }) end,
      'xsk.pcap: writer: unknown option "nanoseconds"', nil, true)
    assert.error_matches(function() pcap.writer(tmpfile(), { snaplen = 0 }) end,
      "xsk.pcap: writer: snaplen must be a whole number from 1 to 262144, got 0", nil, true)
    assert.error_matches(function() pcap.writer(tmpfile(), { nanosecond = 1 }) end,
      "nanosecond must be true or false", nil, true)
    assert.error_matches(function() pcap.writer(nil) end, "xsk.pcap: writer: path must be", nil, true)
    local w = pcap.writer(tmpfile())
    w:close()
    w:close()
    assert.error_matches(function() w:write("x") end, "xsk.pcap: write: the writer is closed", nil, true)
  end)
end)

describe("pcap errors", function()
  local pkts = frames(3)

  local function good_file()
    local path = tmpfile()
    write_file(path, nil, pkts, { { 1, 0 }, { 2, 0 }, { 3, 0 } })
    return path, slurp(path)
  end

  local function reading(s)
    local path = tmpfile()
    spit(path, s)
    return function()
      local r = pcap.reader(path)
      for _ in r:packets() do end
      r:close()
    end
  end

  it("names a missing file", function()
    assert.error_matches(function() pcap.reader("/nonexistent/x.pcap") end,
      "xsk.pcap: reader: cannot open /nonexistent/x.pcap: No such file", nil, true)
    assert.error_matches(function() pcap.writer("/nonexistent/x.pcap") end, "cannot open", nil, true)
  end)

  it("refuses short headers and bad magic", function()
    local _, s = good_file()
    assert.error_matches(reading(""), "truncated file header", nil, true)
    assert.error_matches(reading(s:sub(1, 23)), "truncated file header", nil, true)
    assert.error_matches(reading(util.unhex("0b0d0d0a") .. s:sub(5)), "bad magic 0x0a0d0d0b", nil, true)
    assert.error_matches(reading(s:sub(1, 4) .. "\3\0" .. s:sub(7)), "unsupported pcap version 3", nil, true)
  end)

  it("reports truncated records", function()
    local _, s = good_file()
    local first = 24 + 16 + #pkts[1]
    assert.error_matches(reading(s:sub(1, first + 7)), "truncated record header after packet 1", nil, true)
    assert.error_matches(reading(s:sub(1, first + 16 + 10)), "packet 2 truncated", nil, true)
    assert.error_matches(reading(s:sub(1, #s - 1)), "packet 3 truncated (1 bytes missing)", nil, true)
    -- a header alone, and whole records, are fine
    assert.has_no.errors(reading(s:sub(1, 24)))
    assert.has_no.errors(reading(s:sub(1, first)))
  end)

  it("refuses caplen over snaplen or over 256 KiB", function()
    local _, s = good_file()
    local function with_caplen(file, n)
      local c = string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256,
        math.floor(n / 16777216) % 256)
      return file:sub(1, 24 + 8) .. c .. file:sub(24 + 13)
    end
    assert.error_matches(reading(with_caplen(s, 262145)), "packet 1 claims 262145 bytes", nil, true)
    local small = s:sub(1, 16) .. "\64\0\0\0" .. s:sub(21) -- snaplen 64
    assert.error_matches(reading(with_caplen(small, 65)), "corrupted file", nil, true)
    local huge = s:sub(1, 16) .. "\255\255\255\255" .. s:sub(21) -- snaplen 4 GiB
    assert.error_matches(reading(with_caplen(huge, 300000)), "limit 262144", nil, true)
  end)

  it("checks reader arguments and use after close", function()
    local path = good_file()
    local r = pcap.reader(path)
    assert.error_matches(function() r:next(ffi.new("uint8_t[10]"), 10) end, "packet 1 has", nil, true)
    -- that packet was skipped: the next call reads the next one whole
    local _, len = r:next(ffi.new("uint8_t[256]"), 256)
    assert.equal(#pkts[2], len)
    for _, bad in ipairs { -1, 1.5, 0 / 0, 2 ^ 31, "10" } do
      assert.error_matches(function() r:next_into(ffi.new("uint8_t[10]"), bad) end,
        "xsk.pcap: next_into: cap must be a whole number", nil, true)
    end
    assert.error_matches(function() r:next_into(nil, 10) end, "xsk.pcap: next_into: dst must be a pointer", nil, true)
    assert.error_matches(function() r:next_batch({}) end, "xsk.pcap: next_batch: expected a batch", nil, true)
    local b = umem_batch(2, 2)
    b.n = 3
    assert.error_matches(function() r:next_batch(b) end, "holds 3 frames but has room for 2", nil, true)
    r:close()
    assert.error_matches(function() r:next() end, "xsk.pcap: the reader is closed", nil, true)
    assert.error_matches(function() r:next_into(ffi.new("uint8_t[10]"), 10) end, "closed", nil, true)
  end)
end)

-- ---- pcapng ----

describe("pcapng files", function()
  local pkts = frames(8)

  local function file_of(s)
    local path = tmpfile()
    spit(path, s)
    return path
  end

  it("reads sections of either byte order, each with its own interfaces", function()
    local s = ng.shb(true) .. ng.idb(1, 0, nil, true)
      .. ng.idb(113, 128, ng.option(2, "any", true) .. ng.option(9, "\9", true), true)
    local hi, lo = ng.ts(1700000001, 5, 1e6)
    s = s .. ng.epb(0, hi, lo, pkts[1], true)
    hi, lo = ng.ts(1700000002, 123456789, 1e9)
    s = s .. ng.epb(1, hi, lo, pkts[2], true)
    hi, lo = ng.ts(1700000003, 7, 1e3)
    s = s .. ng.shb(false) .. ng.idb(101, 0, ng.option(9, "\3")) .. ng.epb(0, hi, lo, pkts[3])
    local got, r = read_all(file_of(s))
    assert.equal("pcapng", r.format)
    assert.equal(3, #got)
    assert.same({ pkts[1], pkts[2], pkts[3] }, { got[1].data, got[2].data, got[3].data })
    assert.same({ 1700000001, 5000 }, { got[1].sec, got[1].nsec })
    assert.same({ 1700000002, 123456789 }, { got[2].sec, got[2].nsec })
    assert.same({ 1700000003, 7000000 }, { got[3].sec, got[3].nsec })
    assert.same({ 0, 1, 0 }, { got[1].iface, got[2].iface, got[3].iface })
    assert.same({ 1, 113, 101 }, { got[1].linktype, got[2].linktype, got[3].linktype })
    assert.equal(2, r.sections)
    -- the second section forgot the first one's interfaces
    assert.same({ linktype = 101, snaplen = 0, units = 1000, offset = 0 }, r:interface(0))
    assert.is_nil(r:interface(1))
  end)

  it("converts every time resolution and offset to exact ns", function()
    local pkt = pkts[1]
    local cases = {
      -- if_tsresol byte, units per second, seconds, frac, ns expected, if_tsoffset
      { "\6", 1e6, 1600000000, 999999, 999999000, 0 },
      { "\9", 1e9, 1600000000, 999999999, 999999999, 100 },
      -- picoseconds: 2^64 of them is 213 days, so the epoch comes from the offset
      { "\12", 1e12, 1000000, 123456789012, 123456789, 1600000000 },
      { "\12", 1e12, 1000000, 5, 0, -50 },
      { "\0", 1, 1600000000, 0, 0, 0 },
      { "\148", 2 ^ 20, 1600000000, 2 ^ 19, 500000000, 0 },  -- 2^-20 s
      { "\148", 2 ^ 20, 1600000000, 1, 953, 0 },             -- 953.67 ns, floored
      { "\160", 2 ^ 32, 1600000000, 2 ^ 32 - 1, 999999999, 0 }, -- 2^-32 s
      -- 2^-63 s: (2^54 - 1) units is 1953124.99.. ns, which a double would round up
      { "\191", 2 ^ 63, 0, bit.lshift(1ULL, 54) - 1, 1953124, 1600000000 },
    }
    for k, c in ipairs(cases) do
      local units, sec, frac, want_ns, offset = c[2], c[3], c[4], c[5], c[6]
      local opts = ng.option(9, c[1]) .. (offset ~= 0 and ng.tsoffset(offset) or "")
      local hi, lo = ng.ts(sec, frac, units)
      local got, r = read_all(file_of(ng.shb() .. ng.idb(1, 0, opts) .. ng.epb(0, hi, lo, pkt)))
      assert.same({ sec + offset, want_ns }, { got[1].sec, got[1].nsec }, "case " .. k)
      assert.equal(units, r:interface(0).units)
      assert.equal(offset, r:interface(0).offset)
      -- and big-endian
      local obe = ng.option(9, c[1], true) .. (offset ~= 0 and ng.tsoffset(offset, true) or "")
      got = read_all(file_of(ng.shb(true) .. ng.idb(1, 0, obe, true) .. ng.epb(0, hi, lo, pkt, true)))
      assert.same({ sec + offset, want_ns }, { got[1].sec, got[1].nsec }, "case " .. k .. " big-endian")
    end
  end)

  -- floor(f * 1e9 / 2^r) for f = hi * 2^32 + lo < 2^r, by long multiplication
  -- in 16-bit limbs (every partial product stays exact in a double).
  local function binary_ns(hi, lo, r)
    local limbs = { lo % 65536, math.floor(lo / 65536), hi % 65536, math.floor(hi / 65536) }
    local prod, carry = {}, 0
    for k = 1, 4 do
      local v = limbs[k] * 1e9 + carry
      prod[k] = v % 65536
      carry = math.floor(v / 65536)
    end
    prod[5] = carry % 65536
    prod[6] = math.floor(carry / 65536)
    -- the product as bits, shifted right by r
    local ns = 0
    for bitpos = 95, r, -1 do
      local limb = prod[math.floor(bitpos / 16) + 1]
      local b = math.floor(limb / 2 ^ (bitpos % 16)) % 2
      ns = ns * 2 + b
    end
    return ns
  end

  it("splits random timestamps exactly at every resolution", function()
    local x = 77
    local function rnd32()
      x = (x * 1103515245 + 12345) % 2147483648
      return x * 2 + x % 2
    end
    for _, resol in ipairs { "\0", "\3", "\6", "\9", "\12", "\19", "\138", "\148", "\158", "\160", "\191" } do
      local v = resol:byte()
      local units = v >= 128 and bit.lshift(1ULL, v - 128) or 10ULL ^ v
      local s, want = { ng.shb(), ng.idb(1, 0, ng.option(9, resol)) }, {}
      for i = 1, 300 do
        local hi, lo = rnd32(), rnd32()
        if i % 3 == 0 then hi = hi % 2 ^ 21 end -- small ones too
        s[#s + 1] = ng.epb(0, hi, lo, pkts[1])
        local t = ffi.new("uint64_t", hi) * 4294967296ULL + lo
        local frac = t % units
        -- ns = floor(frac * 1e9 / units), without overflowing 64 bits
        local ns
        if v >= 128 then
          ns = binary_ns(tonumber(bit.rshift(frac, 32)), tonumber(bit.band(frac, 0xffffffffULL)), v - 128)
        elseif units <= 1000000000ULL then
          ns = tonumber(frac * 1000000000ULL / units)
        else
          ns = tonumber(frac / (units / 1000000000ULL))
        end
        want[i] = { tonumber(t / units), ns }
      end
      local got = read_all(file_of(table.concat(s)))
      for i = 1, 300 do
        local w, g = want[i], got[i]
        -- seconds past 2^53 cannot be exact in a double: compare them as doubles
        assert.same(w, { g.sec, g.nsec }, ("if_tsresol %d, packet %d"):format(v, i))
      end
    end
  end)

  it("reads simple and obsolete packet blocks and skips blocks it does not use", function()
    local s = ng.shb() .. ng.block(4, ng.u16(0) .. ng.u16(0)) -- a name resolution block, empty
      .. ng.idb(1, 50, ng.option(2, "veth0"))
      .. ng.spb(pkts[1]:sub(1, 50), #pkts[1])               -- cut to interface 0's snaplen
      .. ng.block(0x40000bad, ("custom"):rep(3) .. "\0\0")   -- a custom block
      .. ng.pb(0, 0, 42 * 1e6 + 1000, pkts[2]:sub(1, 50))
      .. ng.block(5, ng.u32(0) .. ng.u32(0) .. ng.u32(0))    -- interface statistics
      .. ng.epb(0, 0, 43 * 1e6, pkts[3]:sub(1, 40), false, #pkts[3], ng.option(2, "\1\0\0\0") .. ng.option(0, ""))
    local got, r = read_all(file_of(s))
    assert.equal(3, #got)
    assert.equal(pkts[1]:sub(1, 50), got[1].data)
    assert.equal(#pkts[1], got[1].orig)
    assert.is_nil(got[1].sec) -- a simple packet block has no time
    assert.is_nil(got[1].nsec)
    assert.same({ pkts[2]:sub(1, 50), 42, 1000000 }, { got[2].data, got[2].sec, got[2].nsec })
    assert.same({ pkts[3]:sub(1, 40), #pkts[3], 43 }, { got[3].data, got[3].orig, got[3].sec })
    assert.equal("veth0", r:interface(0).name)
    assert.equal(50, r:interface(0).snaplen)
  end)

  it("copies pcapng packets into frames with next_into and next_batch", function()
    local s = ng.shb() .. ng.idb(1, 0)
    for i, p in ipairs(pkts) do s = s .. ng.epb(0, 0, i, p) end
    local r = pcap.reader(file_of(s))
    local dst = ffi.new("uint8_t[256]")
    local n, sec, nsec, caplen = r:next_into(dst, 30)
    assert.same({ 30, 0, 1000, #pkts[1] }, { n, sec, nsec, caplen })
    assert.equal(pkts[1]:sub(1, 30), ffi.string(dst, 30))
    local b = umem_batch(4, 4)
    assert.equal(4, r:next_batch(b))
    for i = 0, 3 do assert.equal(pkts[i + 2], ffi.string(b.f[i].data, b.f[i].len)) end
    assert.equal(3, r:next_batch(b))
    assert.is_nil(r:next_into(dst, 256))
    r:close()
  end)

  it("refuses damaged files with a message naming the file and the packet", function()
    local good = ng.shb() .. ng.idb(1, 0)
    local function refused(s, msg)
      local path = file_of(s)
      local ok, err = pcall(function()
        local r = pcap.reader(path)
        for _ in r:packets() do end
        r:close()
      end)
      assert.is_false(ok, "read: " .. msg)
      assert.matches("xsk%.pcap: " .. path:gsub("%p", "%%%0") .. ": ", err)
      assert.truthy(err:find(msg, 1, true), err)
    end
    local epb = ng.epb(0, 0, 1, pkts[1])
    refused(good .. epb:sub(1, 20), "truncated packet block")
    refused(good .. epb:sub(1, #epb - 8), "packet 1 truncated")
    refused(good .. epb:sub(1, 4), "truncated block header after packet 0")
    refused(good .. ng.block(6, ("\0"):rep(20), false, 8), "block 2 (type 0x6) has length 8")
    refused(good .. ng.block(6, ("\0"):rep(21), false, 33), "has length 33")
    refused(good .. ng.epb(1, 0, 1, pkts[1]), "packet 1 names interface 1, the section has 1")
    -- caplen past the block
    refused(good .. epb:sub(1, 20) .. ng.u32(#pkts[1] + 100) .. epb:sub(25), "packet 1 claims")
    refused(ng.shb() .. ng.idb(1, 40) .. epb, "snaplen 40")
    refused(good .. epb:sub(1, #epb - 4) .. ng.u32(12345), "trailing length differs")
    refused(ng.shb(false, 2), "unsupported pcapng version 2")
    refused(ng.shb():sub(1, 8) .. ng.u32(0x11223344) .. ng.shb():sub(13), "bad byte-order magic 0x11223344")
    refused(ng.shb() .. ng.idb(1, 0, ng.option(9, "\20")) .. epb, "if_tsresol 10^-20 is not supported")
    refused(ng.shb() .. ng.idb(1, 0, ng.option(9, "\255")) .. epb, "if_tsresol 2^-127 is not supported")
    refused(ng.shb() .. ng.block(1, ng.u16(1) .. ng.u16(0) .. ng.u32(0) .. ng.u16(2) .. ng.u16(200) .. "abcd"),
      "option 2 runs past the block")
    refused(ng.shb() .. ng.spb(pkts[1]), "packet 1 comes before any interface block")
    refused(ng.shb():sub(1, 20), "truncated section header block")
    refused(good .. ng.u32(0x123) .. ng.u32(0xfffffff0) .. "xx", "block 2 (type 0x123) has length 4294967280")
    -- a clean end after any whole block is fine
    assert.equal(0, #read_all(file_of(good)))
  end)

  it("reads without allocating once compiled", function()
    local path = tmpfile()
    local s = { ng.shb(), ng.idb(1, 0, ng.option(9, "\9")) }
    local pkt = pkts[1]
    for i = 1, 80000 do
      local hi, lo = ng.ts(1700000000 + i, i, 1e9)
      s[#s + 1] = ng.epb(0, hi, lo, pkt, false, nil, i % 2 == 0 and ng.option(2, "\1\0\0\0") .. ng.option(0, "") or nil)
    end
    spit(path, table.concat(s))
    local r = pcap.reader(path)
    local dst = ffi.new("uint8_t[2048]")
    local function loop(n)
      local bytes = 0
      for _ = 1, n do
        local len, sec, nsec = r:next_into(dst, 2048)
        bytes = bytes + len + sec % 2 + nsec % 2
      end
      return bytes
    end
    local m = jit_watch.measure(function(warm) return loop(warm and 2000 or 10000) end)
    r:close()
    assert.same({}, jit_watch.real_aborts(m), jit_watch.abort_report(m))
    assert.is_true(m.growth_kib < 1, jit_watch.growth_report(m, 10000))
  end)
end)

describe("pcapng from real tools", function()
  local pkts = frames(12)

  -- tshark's view of a file: per packet interface, caplen, time and bytes.
  local function tshark(path)
    local out, ok = sh("tshark -r " .. path .. " -T fields -e frame.interface_id -e frame.cap_len -e frame.len "
      .. "-e frame.time_epoch 2>/dev/null")
    assert.is_true(ok, out)
    local list = {}
    for iface, caplen, len, sec, nsec in out:gmatch("(%d+)\t(%d+)\t(%d+)\t(%d+)%.(%d+)\n") do
      list[#list + 1] = { iface = tonumber(iface), caplen = tonumber(caplen), orig = tonumber(len),
        sec = tonumber(sec), nsec = tonumber((nsec .. "000000000"):sub(1, 9)) }
    end
    local hex = assert(sh("tshark -r " .. path .. " -x 2>/dev/null"))
    local k, bytes = 1, {}
    for line in (hex .. "\n"):gmatch("([^\n]*)\n") do
      if line:match("^%x%x%x%x  ") then
        for h in line:sub(7, 53):gmatch("%x%x") do bytes[#bytes + 1] = string.char(tonumber(h, 16)) end
      elseif #bytes > 0 then
        list[k].data, k, bytes = table.concat(bytes), k + 1, {}
      end
    end
    return list
  end

  local function same_as_tshark(path)
    local want = tshark(path)
    local got = read_all(path)
    assert.equal(#want, #got)
    for i, w in ipairs(want) do
      local g = got[i]
      assert.same(w, { iface = g.iface, caplen = #g.data, orig = g.orig, sec = g.sec, nsec = g.nsec, data = g.data },
        "packet " .. i)
    end
    return got
  end

  it("reads what editcap and mergecap make of µs and ns files", function()
    local ts = {}
    for i = 1, #pkts do ts[i] = { 1700000000 + i, i * 1001 } end
    local us, ns = tmpfile(), tmpfile()
    write_file(us, nil, pkts, ts)
    write_file(ns, { nanosecond = true }, pkts, ts)
    local usng, nsng, merged = tmpfile(), tmpfile(), tmpfile()
    for _, cmd in ipairs { "editcap -F pcapng " .. us .. " " .. usng, "editcap -F pcapng " .. ns .. " " .. nsng,
      "mergecap -a -F pcapng -w " .. merged .. " " .. usng .. " " .. nsng } do
      local out, ok = sh(cmd)
      assert.is_true(ok, cmd .. ": " .. out)
    end
    for _, f in ipairs { usng, nsng } do
      local got, r = read_all(f)
      assert.equal("pcapng", r.format)
      assert.equal(#pkts, #got)
      local nano = f == nsng
      for i, p in ipairs(pkts) do
        assert.equal(p, got[i].data)
        assert.same({ ts[i][1], nano and ts[i][2] or ts[i][2] * 1000 }, { got[i].sec, got[i].nsec })
      end
    end
    -- one file, two interfaces with their own resolutions: µs, then ns
    local got, r = read_all(merged)
    assert.equal(2 * #pkts, #got)
    assert.equal(1e6, r:interface(0).units)
    assert.equal(1e9, r:interface(1).units)
    assert.same({ 0, ts[1][2] * 1000, 1, ts[1][2] }, { got[1].iface, got[1].nsec, got[#pkts + 1].iface,
      got[#pkts + 1].nsec })
    same_as_tshark(merged)
  end)

  it("reads a dumpcap capture of two link types that libpcap refuses", function()
    local net = require "support.net"
    local env = net.veth { addr_a = "198.18.0.1/24", addr_b = "198.18.0.2/24", peer = true, enter = false }
    on_exit(env.destroy) -- net.veth's own `finally` is replaced by ours
    local path, log, pidfile = tmpfile(), tmpfile(), tmpfile()
    -- veth0 (Ethernet) and "any" (Linux cooked capture) into one pcapng
    assert(sh(("ip netns exec %s dumpcap -q -i %s -i any -a duration:3 -w %s >%s 2>&1 & echo $! >%s")
      :format(env.ns, env.a, path, log, pidfile)))
    local pid = tonumber(slurp(pidfile))
    on_exit(function() sh("kill " .. pid .. " 2>/dev/null") end)
    for _ = 1, 100 do
      if slurp(log):find("Capturing on", 1, true) then break end
      sh("sleep 0.05")
    end
    assert.truthy(slurp(log):find("Capturing on", 1, true), slurp(log))
    sh(("ip netns exec %s ping -c 3 -i 0.2 -W 1 198.18.0.2"):format(env.ns))
    for _ = 1, 100 do
      if not select(2, sh("kill -0 " .. pid .. " 2>/dev/null")) then break end
      sh("sleep 0.1")
    end
    local got = same_as_tshark(path)
    local kinds, echoes = {}, 0
    for _, g in ipairs(got) do
      kinds[g.linktype] = (kinds[g.linktype] or 0) + 1
      if g.linktype == 1 and #g.data >= 35 and g.data:byte(13) == 8 and g.data:byte(35) == 8 then
        echoes = echoes + 1 -- IPv4, ICMP echo request on veth0
      end
    end
    assert.is_true(echoes >= 3, "echo requests seen on veth0: " .. echoes)
    assert.truthy(kinds[1], "no Ethernet packets")
    assert.truthy(kinds[113] or kinds[276], "no cooked-capture packets")
    -- and this is why the reader is our own: libpcap (tcpdump) stops at the second interface
    local out = sh("tcpdump -r " .. path .. " -nn")
    assert.truthy(out:find("different from the type of the first interface", 1, true), out)
  end)
end)
