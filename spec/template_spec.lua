dofile "spec/support/paths.lua"
local ffi = require "ffi"
local template = require "xsk.template"
local headers = require "xsk.headers"
local ck = require "xsk.checksum"
local util = require "spec.support.util"

local function desc(over)
  local d = {
    src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
    src_ip = "10.0.0.1", dst_ip = "10.0.0.2", src_port = 1234, dst_port = 5678,
    payload = "hello",
  }
  for k, v in pairs(over or {}) do d[k] = v end
  return d
end

local V6 = { src_ip = "2001:db8::1", dst_ip = "2001:db8::2" }
local res = headers.result()

-- The frame parses, its lengths agree with its size, and its checksums
-- verify both through the C code and through the spec's own reference.
local function assert_valid(t)
  local buf, len = t:frame()
  local s = ffi.string(buf, len)
  assert.is_true(headers.parse(buf, len, res), "parse error " .. res.err)
  assert.is_true(res.udp ~= nil)
  assert.equal(len, res.l3_off + res.l3_len)
  local l3 = s:sub(res.l3_off + 1)
  local seg = s:sub(res.l4_off + 1)
  assert.equal(#seg, res.udp:length())
  if res.ip4 ~= nil then
    assert.is_true(ck.ip4_ok(buf + res.l3_off, len - res.l3_off))
    assert.equal(0, util.ref.csum(l3:sub(1, 20)))
    assert.equal(res.udp:checksum(), util.ref.l4(l3:sub(13, 16), l3:sub(17, 20), 17, seg, 6))
  else
    assert.equal(res.udp:checksum(), util.ref.l4(l3:sub(9, 24), l3:sub(25, 40), 17, seg, 6))
  end
  assert.is_true(ck.l4_ok(buf + res.l3_off, len - res.l3_off))
end

describe("template.new", function()
  it("builds UDP over IPv4, padded to the Ethernet minimum", function()
    local t = template.new(desc())
    local buf, len = t:frame()
    assert.equal(60, len)
    assert_valid(t)
    assert.equal("10.0.0.1", headers.ip4_ntop(res.ip4:src()))
    assert.equal(64, res.ip4.ttl)
    assert.equal(1234, res.udp:sport())
    assert.equal(5678, res.udp:dport())
    assert.equal("02:00:00:00:00:02", headers.mac_ntop(res.eth.dst))
    assert.equal("hello" .. ("\0"):rep(13), ffi.string(buf + 42, 18))
  end)

  it("builds UDP over IPv6 with a VLAN tag, TTL, traffic class and flow label", function()
    local t = template.new(desc { src_ip = V6.src_ip, dst_ip = V6.dst_ip, vlan = 100, vlan_pcp = 3,
      ttl = 7, tos = 0x2e, flow_label = 0x12345, size = 128 })
    local _, len = t:frame()
    assert.equal(128, len)
    assert_valid(t)
    assert.equal(1, res.vlan_count)
    assert.equal(100, res.vlan[0]:vid())
    assert.equal(3, res.vlan[0]:pcp())
    assert.equal(7, res.ip6.hop_limit)
    assert.equal(0x2e, res.ip6:traffic_class())
    assert.equal(0x12345, res.ip6:flow_label())
    assert.equal("2001:db8::2", headers.ip6_ntop(res.ip6.daddr))
    assert.equal(128 - 18 - 40, res.ip6:payload_length())
  end)

  it("fits a size exactly, and jumbo frames", function()
    local t = template.new(desc { size = 14 + 20 + 8 + 5 })
    assert.equal(47, t.len)
    assert_valid(t)
    t = template.new(desc { size = template.MAX_SIZE, payload = ("x"):rep(8000) })
    assert_valid(t)
  end)

  it("refuses bad descriptions", function()
    local cases = {
      { 42, "xsk.template: new: expected a table of options, got number" },
      { desc { colour = "red" }, 'xsk.template: new: unknown option "colour"' },
      { desc { src_port = "80" }, 'src_port must be a whole number from 0 to 65535, got "80"' },
      { desc { dst_port = 70000 }, "dst_port must be a whole number from 0 to 65535, got 70000" },
      { desc { size = 1.5 }, "size must be a whole number from 0 to 9022, got 1.5" },
      { desc { payload = 5 }, "payload must be a string, got 5" },
      { desc { size = 46 }, "smaller than headers and payload" },
      { desc { size = 9023 }, "size must be a whole number from 0 to 9022" },
      { desc { src_mac = "02:00:00:00:00" }, "src_mac: bad MAC address" },
      { desc { dst_ip = "10.0.0.256" }, "dst_ip \"10.0.0.256\" is not an IPv4 or IPv6 address" },
      { desc { dst_ip = "::1" }, "different IP versions" },
      { desc { vlan = 4096 }, "vlan must be a whole number from 0 to 4095" },
      { desc { vlan_pcp = 2 }, "vlan_pcp needs vlan" },
      { desc { flow_label = 1 }, "flow_label needs IPv6" },
      { desc { size = 100, max_size = 80 }, "max_size 80 is below size 100" },
      { { src_mac = "02:00:00:00:00:01" }, "is required" },
    }
    for _, c in ipairs(cases) do
      assert.error_matches(function() template.new(c[1]) end, c[2], nil, true)
    end
  end)
end)

describe("template mutators", function()
  local function random_ip4() return math.random(0, 0xffffffff) end
  local function random_ip6()
    local t = {}
    for i = 1, 8 do t[i] = ("%x"):format(math.random(0, 0xffff)) end
    return table.concat(t, ":")
  end

  for _, v6 in ipairs { false, true } do
    it("keep checksums exact over random changes (" .. (v6 and "IPv6" or "IPv4") .. ")", function()
      math.randomseed(v6 and 6 or 4)
      local d = desc { size = 200, max_size = 400, payload = ("abc"):rep(20) }
      if v6 then d.src_ip, d.dst_ip, d.vlan = V6.src_ip, V6.dst_ip, 9 end
      local t = template.new(d)
      for i = 1, 3000 do
        local what = i % 6
        if what == 0 then t:set_src_port(math.random(0, 65535))
        elseif what == 1 then t:set_dst_port(math.random(0, 65535))
        elseif what == 2 then t:set_src_ip(v6 and random_ip6() or random_ip4())
        elseif what == 3 then t:set_dst_ip(v6 and random_ip6() or headers.ip4_ntop(random_ip4()))
        elseif what == 4 then
          local room = t.len - t.payload_off - 4
          if room >= 0 then t:set_u32(math.random(0, room), math.random(0, 0xffffffff)) end
        else t:set_length(math.random(t.hdr_len, 400)) end
        local buf, len = t:frame()
        local l3 = t.l3
        -- exact equality with a full recompute, not just "verifies"
        assert.equal(v6 and ck.udp6(buf + l3, len - l3) or ck.udp4(buf + l3, len - l3), t.udp:checksum())
        if not v6 then assert.equal(ck.ip4(buf + l3, len - l3), t.ip4:checksum()) end
      end
      assert_valid(t)
    end)
  end

  -- One random change in 65536 sums to zero; UDP sends that as 0xffff,
  -- since 0 means "no checksum".  Aim for it instead of waiting for it.
  it("send an updated UDP checksum that sums to zero as 0xffff, never as \"none\"", function()
    local t = template.new(desc { payload = ("\0"):rep(16) })
    t:set_u32(0, 0)
    local buf, len = t:frame()
    local s = ffi.string(buf, len)
    local seg = s:sub(t.l4 + 1)
    local ip = s:sub(t.l3 + 1)
    -- the sum of the pseudo-header and the segment, checksum field zeroed;
    -- the low half of the u32 at payload offset 0 is a 16-bit word of it
    local pseudo = ip:sub(13, 20) .. "\0\17" .. util.ref.be16(#seg)
    local sum = util.ref.sum(pseudo .. seg:sub(1, 6) .. "\0\0" .. seg:sub(9))
    local w = 0xffff - sum
    t:set_u32(0, w)
    s = ffi.string(buf, len)
    seg = s:sub(t.l4 + 1)
    assert.equal(0, util.ref.csum(pseudo .. seg:sub(1, 6) .. "\0\0" .. seg:sub(9)), "aimed at a zero sum")
    assert.equal(0xffff, t.udp:checksum())
    assert.is_true(ck.l4_ok(buf + t.l3, len - t.l3))
  end)

  it("write what they are told", function()
    local t = template.new(desc { size = 64, max_size = 128 })
    t:set_src_port(1)
    t:set_dst_port(65535)
    t:set_src_ip("192.168.7.9")
    t:set_dst_ip(0x0a0b0c0d)
    t:set_u32(2, 0x01020304)
    t:set_src_mac("aa:bb:cc:dd:ee:ff")
    assert_valid(t)
    assert.equal(1, res.udp:sport())
    assert.equal(65535, res.udp:dport())
    assert.equal("192.168.7.9", headers.ip4_ntop(res.ip4:src()))
    assert.equal("10.11.12.13", headers.ip4_ntop(res.ip4:dst()))
    assert.equal("6865" .. "01020304", util.hex(res.base + res.payload_off, 6))
    assert.equal("aa:bb:cc:dd:ee:ff", headers.mac_ntop(res.eth.src))
    t:set_length(100)
    assert_valid(t)
    assert.equal(100 - 14 - 20 - 8, res.payload_len)
  end)

  it("refuse out-of-range changes", function()
    local t = template.new(desc { size = 64 })
    assert.error_matches(function() t:set_u32(64 - 42 - 3, 1) end, "outside the payload")
    assert.error_matches(function() t:set_u32(-1, 1) end, "outside the payload")
    assert.error_matches(function() t:set_length(41) end, "the length must be 42 to 64, got 41")
    assert.error_matches(function() t:set_length(65) end, "the length must be 42 to 64, got 65")
    assert.error_matches(function() t:set_length(50.5) end, "the length must be 42 to 64, got 50.5")
    assert.error_matches(function() t:set_src_ip("1.2.3") end, "bad IPv4 address")
    -- numbers that once wrapped silently: 70000 was written as 4464
    local before = util.hex(t.buf, 64)
    assert.error_matches(function() t:set_src_port(70000) end, "port must be 0 to 65535, got 70000")
    assert.error_matches(function() t:set_dst_port(-1) end, "port must be 0 to 65535, got %-1")
    assert.error_matches(function() t:set_dst_port(80.5) end, "got 80.5")
    assert.error_matches(function() t:set_dst_ip(2 ^ 32) end, "a number from 0 to 4294967295, got 4294967296")
    assert.error_matches(function() t:set_u32(0, -1) end, "the value must be 0 to 4294967295, got %-1")
    assert.error_matches(function() t:set_u32(0, 0 / 0) end, "the value must be 0 to 4294967295")
    assert.equal(before, util.hex(t.buf, 64))
  end)

  it("recompute after changes by hand", function()
    local t = template.new(desc())
    t.buf[42] = 0x55
    assert.is_false(ck.l4_ok(t.buf + 14, t.len - 14))
    t:refresh()
    assert_valid(t)
  end)
end)

describe("stamping", function()
  it("copies the frame and returns its length", function()
    local t = template.new(desc { size = 80 })
    local dst = ffi.new("uint8_t[2048]")
    assert.equal(80, t:stamp(dst, 2048))
    assert.equal(util.hex(t.buf, 80), util.hex(dst, 80))
    assert.error_matches(function() t:stamp(dst, 79) end, "the room given is 79")
  end)

  it("fills the frames of a batch, only its own frames and only up to b.n", function()
    local xsk = require "xsk"
    local t = template.new(desc { size = 70 })
    local u = xsk.umem { frame_count = 8, frame_size = 2048 }
    local b = u:batch(4)
    u:alloc(b, 3)
    t:fill_batch(b)
    for i = 0, 2 do
      assert.equal(70, b.f[i].len)
      assert.equal(util.hex(t.buf, 70), util.hex(b.f[i].data, 70))
    end
    -- past b.n: refused, nothing written
    assert.error_matches(function() t:fill_batch(b, 4) end, "not within the batch's 3 frames")
    b.n = 0
    assert.error_matches(function() t:fill_batch(b, 1) end, "not within the batch's 0 frames")
    -- a frame the script gave back
    b.n = 3
    local gone = u:batch(1)
    gone:push(b.f[2])
    u:release(gone)
    assert.error_matches(function() t:fill_batch(b) end, "frame 2 .- is not the script's: it belongs to the free pool")
    -- a template bigger than the frames
    local big = template.new(desc { size = 1800 })
    assert.error_matches(function() big:fill_batch(b, 2) end,
      "frame 0 %(addr 0x%x+%) has room for 1792 bytes, not 1800")
    -- not a batch
    assert.error_matches(function() t:fill_batch({}) end, "expected a batch from umem:batch%(%), got table")
    u:close()
    assert.error_matches(function() t:fill_batch(b, 0) end, "the UMEM is closed")
  end)

  it("does not allocate per packet once compiled", function()
    local t = template.new(desc { size = 128 })
    local dst = ffi.new("uint8_t[2048]")
    local function loop(n)
      for i = 1, n do
        t:set_u32(0, i)
        t:set_src_port(1024 + i % 1000)
        t:set_dst_ip(0x0a000000 + i % 256)
        t:stamp(dst, 2048)
      end
    end
    local grown = util.heap_growth(loop, 20000, 200000)
    assert.is_true(grown < 64, ("grew %.1f KiB"):format(grown))
    assert_valid(t)
  end)
end)
