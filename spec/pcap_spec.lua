dofile "spec/support/paths.lua"
local ffi = require "ffi"
local pcap = require "xsk.pcap"
local template = require "xsk.template"
local util = require "spec.support.util"

local function tmpfile()
  local path = os.tmpname()
  finally(function() os.remove(path) end)
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

-- Frames that differ in ports and size, so a mix-up shows.
local function frames(n)
  local out = {}
  for i = 1, n do
    local t = template.new {
      src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
      src_ip = "10.0.0.1", dst_ip = "10.0.0.2", src_port = 1000 + i, dst_port = 5678,
      payload = ("p%03d"):format(i), size = 60 + i,
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
  for ptr, len, sec, nsec, orig in r:packets() do
    got[#got + 1] = { data = ffi.string(ptr, len), sec = sec, nsec = nsec, orig = orig }
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
      assert.equal(nano, r.nanosecond)
      assert.equal(1, r.linktype)
      assert.equal(#pkts, #got)
      for i, p in ipairs(pkts) do
        assert.equal(util.hex(p, #p), util.hex(got[i].data, #got[i].data))
        assert.equal(#p, got[i].orig)
        assert.equal(ts[i][1], got[i].sec)
        assert.equal(nano and ts[i][2] or ts[i][2] * 1000, got[i].nsec)
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

  it("copies into frames with next_into and next_batch", function()
    local path = tmpfile()
    write_file(path, nil, pkts, ts)
    local r = pcap.reader(path)
    local dst = ffi.new("uint8_t[128]")
    local n, sec, nsec, caplen = r:next_into(dst, 128)
    assert.equal(#pkts[1], n)
    assert.equal(ts[1][1], sec)
    assert.equal(ts[1][2] * 1000, nsec)
    assert.equal(#pkts[1], caplen)
    assert.equal(pkts[1], ffi.string(dst, n))
    -- a frame too small: the rest is skipped and the next packet is whole
    n, _, _, caplen = r:next_into(dst, 50)
    assert.equal(50, n)
    assert.equal(#pkts[2], caplen)
    assert.equal(pkts[2]:sub(1, 50), ffi.string(dst, 50))
    local u = require("xsk").umem { frame_count = 8 }
    local b = u:batch(8)
    u:alloc(b, 8)
    local total = 2
    while true do
      local got = r:next_batch(b)
      if got == 0 then break end
      for i = 0, got - 1 do
        total = total + 1
        assert.equal(pkts[total], ffi.string(b.f[i].data, b.f[i].len))
      end
    end
    assert.equal(#pkts, total)
    assert.is_nil(r:next())
    r:close()
    u:close()
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
      "cannot open /nonexistent/x.pcap: No such file", nil, true)
    assert.error_matches(function() pcap.writer("/nonexistent/x.pcap") end, "cannot open", nil, true)
  end)

  it("refuses short headers and bad magic", function()
    local _, s = good_file()
    assert.error_matches(reading(""), "truncated file header", nil, true)
    assert.error_matches(reading(s:sub(1, 23)), "truncated file header", nil, true)
    assert.error_matches(reading(util.unhex("0a0d0d0a") .. s:sub(5)), "bad magic 0x0a0d0d0a", nil, true)
    assert.error_matches(reading(s:sub(1, 4) .. "\3\0" .. s:sub(7)), "unsupported version 3", nil, true)
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

  it("checks writer options and use after close", function()
    assert.error_matches(function() pcap.writer(tmpfile(), { nanoseconds = true }) end,
      "unknown option nanoseconds", nil, true)
    assert.error_matches(function() pcap.writer(tmpfile(), { snaplen = 0 }) end, "snaplen", nil, true)
    assert.error_matches(function() pcap.writer(tmpfile(), { nanosecond = 1 }) end,
      "nanosecond must be a boolean", nil, true)
    local w = pcap.writer(tmpfile())
    w:close()
    w:close()
    assert.error_matches(function() w:write("x") end, "closed", nil, true)
    local path = good_file()
    local r = pcap.reader(path)
    assert.error_matches(function() r:next(ffi.new("uint8_t[10]"), 10) end, "buffer holds 10", nil, true)
    r:close()
    assert.error_matches(function() r:next() end, "closed", nil, true)
  end)
end)
