dofile "spec/support/paths.lua"
local ffi = require "ffi"
local ck = require "xsk.checksum"
local util = require "spec.support.util"
local ref, unhex = util.ref, util.unhex

local C = require "xsk.cdef"

-- Frames with checksums computed by a separate Python implementation.
local UDP4 = unhex [[020000000002020000000001 0800
  450000291c46400040119b0fc0a8010ac0a80114
  9c40003500157e93 68656c6c6f2c20776f726c6421]]
local UDP6 = unhex [[020000000002020000000001 86dd
  6000000000131140 20010db8000000000000000000000001 20010db8000000000000000000000002
  14e914e900133214 6c75612d78736b20763621]]
local ICMP6 = unhex [[020000000002020000000001 86dd
  6000000000153a40 fe800000000000000000000000000001 fe800000000000000000000000000002
  80009e5512340001 70696e6736207061796c6f6164]]
local ICMP4 = unhex [[020000000002020000000001 0800
  4500002400074000400124ce0a0101010a010102
  08002421424200076162636465666768]]
local TCP4 = unhex [[020000000002020000000001 0800
  4500002c00014000400626c90a0000010a000002
  80e80050000003e8000000006002ffffff030000020405b4]]

local function ip(frame) return frame:sub(15) end

local function flip(s, pos)
  return s:sub(1, pos - 1) .. string.char(bit.bxor(s:byte(pos), 0x40)) .. s:sub(pos + 1)
end

describe("internet checksum", function()
  it("matches the RFC 1071 example", function()
    local data = unhex "0001f203f4f5f6f7"
    assert.equal(0xddf2, ck.partial(data))
    assert.equal(0x220d, ck.csum(data))
    assert.equal(0x220d, ck.fold(0xddf2))
  end)

  it("chains running sums over even-sized chunks", function()
    local data = unhex "0001f203f4f5f6f7aa"
    local s = ck.partial(data:sub(1, 4))
    s = ck.partial(data:sub(5, 8), nil, s)
    s = ck.partial(data:sub(9), nil, s)
    assert.equal(ck.csum(data), ck.fold(s))
  end)

  it("agrees with the reference on random buffers of every length and alignment", function()
    math.randomseed(1071)
    local buf = ffi.new("uint8_t[600]")
    for len = 0, 300 do
      for align = 0, 3 do
        local t = {}
        for i = 1, len do t[i] = string.char(math.random(0, 255)) end
        local s = table.concat(t)
        ffi.copy(buf + align, s, len)
        assert.equal(ref.csum(s), ck.csum(buf + align, len))
      end
    end
  end)

  it("reads nothing past the given length", function()
    for len = 0, 33 do
      local p = util.at_end(("\255"):rep(len), len)
      assert.equal(ref.csum(("\255"):rep(len)), ck.csum(p, len))
    end
  end)
end)

describe("IPv4 header checksum", function()
  -- A captured header with its checksum 0xb861 (the textbook example).
  local HDR = unhex "45000073000040004011b861c0a80001c0a800c7"

  it("computes and verifies a captured header", function()
    assert.equal(0xb861, ck.ip4(HDR))
    assert.is_true(ck.ip4_ok(HDR))
    assert.is_false(ck.ip4_ok(flip(HDR, 9)))
  end)

  it("computes the header of real frames", function()
    assert.equal(0x9b0f, ck.ip4(ip(UDP4)))
    assert.equal(0x24ce, ck.ip4(ip(ICMP4)))
    assert.equal(0x26c9, ck.ip4(ip(TCP4)))
  end)

  it("stores the checksum in place, options included", function()
    local hdr = unhex "4600001c0000000040110000c0a80001c0a800c7 01010100"
    local buf = ffi.new("uint8_t[24]")
    ffi.copy(buf, hdr, 24)
    local c = ck.ip4_set(buf, 24)
    assert.equal(ref.csum(hdr), c)
    assert.equal(c, util.rd16(buf, 10))
    assert.is_true(ck.ip4_ok(buf, 24))
  end)

  it("refuses malformed and truncated headers", function()
    assert.error_matches(function() ck.ip4("\69\0\0") end, "truncated")
    assert.error_matches(function() ck.ip4(HDR:sub(1, 19)) end, "truncated")
    assert.error_matches(function() ck.ip4("\68" .. HDR:sub(2)) end, "malformed") -- IHL 4
    assert.error_matches(function() ck.ip4("\101" .. HDR:sub(2)) end, "malformed") -- version 6
    assert.error_matches(function() ck.ip4("\70" .. HDR:sub(2)) end, "truncated") -- IHL 6, 20 bytes
    local ok, why = ck.ip4_ok(HDR:sub(1, 10))
    assert.is_false(ok)
    assert.matches("truncated", why)
    assert.equal(-22, C.lxsk_ip4_csum(nil, 20))
  end)
end)

describe("upper-layer checksums", function()
  local cases = {
    { "UDP/IPv4", UDP4, ck.udp4, 0x7e93, 20, 6, 17, "lxsk_udp4_csum" },
    { "TCP/IPv4", TCP4, ck.tcp4, 0xff03, 20, 16, 6, "lxsk_tcp4_csum" },
    { "ICMP", ICMP4, ck.icmp4, 0x2421, 20, 2, 1, "lxsk_icmp4_csum" },
    { "UDP/IPv6", UDP6, ck.udp6, 0x3214, 40, 6, 17, "lxsk_udp6_csum" },
    { "ICMPv6", ICMP6, ck.icmp6, 0x9e55, 40, 2, 58, "lxsk_icmp6_csum" },
  }
  for _, case in ipairs(cases) do
    local name, frame, fn, want, hl, off, proto, cname = unpack(case)
    local pkt = ip(frame)
    local seg = pkt:sub(hl + 1)
    local saddr, daddr
    if hl == 40 then saddr, daddr = pkt:sub(9, 24), pkt:sub(25, 40)
    elseif proto ~= 1 then saddr, daddr = pkt:sub(13, 16), pkt:sub(17, 20) end

    it(name .. " has the known checksum, and the reference agrees", function()
      assert.equal(want, fn(pkt))
      assert.equal(want, ref.l4(saddr, daddr, proto, seg, off))
      assert.equal(want, util.rd16(seg, off))
      if hl == 40 then
        assert.equal(want, ck.l4v6(saddr, daddr, proto, seg))
      else
        assert.equal(want, ck.l4v4(saddr, daddr, proto, seg))
      end
    end)

    it(name .. " verifies, and a changed byte anywhere fails", function()
      assert.is_true(ck.l4_ok(pkt))
      for pos = hl + 1, #pkt do
        if pos ~= hl + off + 1 and pos ~= hl + off + 2 then
          assert.is_false(ck.l4_ok(flip(pkt, pos)), "byte " .. pos)
        end
      end
      -- Addresses are in the pseudo-header (ICMPv4 has none).
      if saddr then assert.is_false(ck.l4_ok(flip(pkt, hl == 40 and 9 or 13))) end
    end)

    it(name .. " is stored by l4_set", function()
      local buf = ffi.new("uint8_t[?]", #pkt)
      ffi.copy(buf, pkt, #pkt)
      buf[hl + off], buf[hl + off + 1] = 0x12, 0x34
      assert.is_false(ck.l4_ok(buf, #pkt))
      assert.equal(want, ck.l4_set(buf, #pkt))
      assert.equal(pkt, ffi.string(buf, #pkt))
    end)

    it(name .. " never reads past a truncated packet", function()
      for len = 0, #pkt - 1 do
        local p = util.at_end(pkt, len)
        local r = C.lxsk_l4_csum_ok(p, len)
        assert.is_true(r < 0, "length " .. len)
        assert.is_true(C[cname](p, len) < 0)
        assert.is_true(C.lxsk_l4_csum_set(p, len) < 0)
      end
      assert.equal(1, C.lxsk_l4_csum_ok(util.at_end(pkt, #pkt), #pkt))
    end)
  end

  it("ignores Ethernet padding after the IP packet", function()
    local pkt = ip(UDP4) .. ("\0"):rep(20)
    assert.equal(0x7e93, ck.udp4(pkt))
    assert.is_true(ck.l4_ok(pkt))
  end)

  it("takes an IPv4 UDP checksum of zero as none", function()
    local pkt = ip(UDP4)
    pkt = pkt:sub(1, 26) .. "\0\0" .. pkt:sub(29)
    assert.is_true(ck.l4_ok(pkt))
    -- IPv6 has no such exception.
    local p6 = ip(UDP6)
    p6 = p6:sub(1, 46) .. "\0\0" .. p6:sub(49)
    assert.is_false(ck.l4_ok(p6))
  end)

  -- One UDP segment in 65536 sums to zero, and UDP sends that checksum as
  -- 0xffff, since 0 means "none".  Aim for it: with the source port zeroed
  -- the checksum is c, and a source port of c then makes the sum 0xffff.
  it("computes a UDP checksum that sums to zero as 0xffff, over IPv4 and IPv6", function()
    for _, v in ipairs { { ip(UDP4), 20, ck.udp4 }, { ip(UDP6), 40, ck.udp6 } } do
      local pkt, hl, fn = v[1], v[2], v[3]
      local saddr = hl == 40 and pkt:sub(9, 24) or pkt:sub(13, 16)
      local daddr = hl == 40 and pkt:sub(25, 40) or pkt:sub(17, 20)
      local function with_port(port)
        return pkt:sub(1, hl) .. ref.be16(port) .. pkt:sub(hl + 3)
      end
      local c = ref.l4(saddr, daddr, 17, with_port(0):sub(hl + 1), 6)
      local aimed = with_port(c)
      local seg = aimed:sub(hl + 1)
      local len = ref.be16(#seg)
      local pseudo = hl == 40 and (saddr .. daddr .. "\0\0" .. len .. "\0\0\0\17") or (saddr .. daddr .. "\0\17" .. len)
      assert.equal(0, ref.csum(pseudo .. seg:sub(1, 6) .. "\0\0" .. seg:sub(9)), "aimed at a zero sum")
      assert.equal(0xffff, fn(aimed))
      local buf = ffi.new("uint8_t[?]", #aimed)
      ffi.copy(buf, aimed, #aimed)
      assert.equal(0xffff, ck.l4_set(buf, #aimed))
      assert.equal(0xffff, util.rd16(buf, hl + 6))
      assert.is_true(ck.l4_ok(buf, #aimed))
    end
  end)

  it("refuses lying lengths and wrong protocols", function()
    local pkt = ip(UDP4)
    assert.error_matches(function() ck.tcp4(pkt) end, "protocol")
    assert.error_matches(function() ck.udp6(pkt) end, "protocol")
    assert.error_matches(function() ck.icmp6(ip(UDP6)) end, "protocol")
    -- IP total length over the buffer
    local long = pkt:sub(1, 2) .. "\0\200" .. pkt:sub(5)
    assert.error_matches(function() ck.udp4(long) end, "truncated")
    -- UDP length over the IP payload, and under the UDP header
    local ulong = pkt:sub(1, 24) .. "\0\100" .. pkt:sub(27)
    assert.error_matches(function() ck.udp4(ulong) end, "truncated")
    local ushort = pkt:sub(1, 24) .. "\0\4" .. pkt:sub(27)
    assert.error_matches(function() ck.udp4(ushort) end, "malformed")
    -- IPv6 payload length over the buffer
    local p6 = ip(UDP6)
    local lie = p6:sub(1, 4) .. "\1\0" .. p6:sub(7)
    assert.error_matches(function() ck.udp6(lie) end, "truncated")
    -- fragments carry no whole upper layer
    local frag = pkt:sub(1, 6) .. "\32\0" .. pkt:sub(9)
    assert.error_matches(function() ck.udp4(frag) end, "fragment")
    assert.error_matches(function() ck.l4v4(nil, nil, 47, "12345678") end, "protocol")
  end)
end)

describe("incremental update (RFC 1624)", function()
  local function rnd16() return math.random(0, 0xffff) end

  it("matches the RFC 1624 worked example", function()
    -- HC = 0xdd2f, m = 0x5555 -> m' = 0x3285: HC' = 0x0000
    assert.equal(0x0000, ck.update16(0xdd2f, 0x5555, 0x3285))
  end)

  it("equals a full recompute of the IPv4 header over random 16-bit changes", function()
    math.randomseed(1624)
    local buf = ffi.new("uint8_t[20]")
    ffi.copy(buf, unhex "450000291c46400040119b0fc0a8010ac0a80114", 20)
    for _ = 1, 20000 do
      local w = math.random(0, 9)
      if w ~= 5 then -- not the checksum word itself
        local old, new = util.rd16(buf, 2 * w), rnd16()
        if w == 0 then new = 0x4500 + new % 256 end -- keep it IPv4, IHL 5
        buf[2 * w], buf[2 * w + 1] = math.floor(new / 256), new % 256
        local inc = ck.update16(util.rd16(buf, 10), old, new)
        buf[10], buf[11] = math.floor(inc / 256), inc % 256
        assert.equal(ck.ip4(buf, 20), inc)
        assert.is_true(ck.ip4_ok(buf, 20))
      end
    end
  end)

  it("equals a full recompute for address changes in IP and UDP checksums", function()
    math.randomseed(32)
    local pkt = ip(UDP4)
    local buf = ffi.new("uint8_t[?]", #pkt)
    ffi.copy(buf, pkt, #pkt)
    for i = 1, 5000 do
      local off = (i % 2 == 0) and 12 or 16
      local old = util.rd16(buf, off) * 65536 + util.rd16(buf, off + 2)
      local new = math.random(0, 0xffff) * 65536 + math.random(0, 0xffff)
      for k = 0, 3 do buf[off + k] = math.floor(new / 256 ^ (3 - k)) % 256 end
      local ic = ck.update32(util.rd16(buf, 10), old, new)
      buf[10], buf[11] = math.floor(ic / 256), ic % 256
      local uc = ck.update32(util.rd16(buf, 26), old, new)
      if uc == 0 then uc = 0xffff end
      buf[26], buf[27] = math.floor(uc / 256), uc % 256
      assert.equal(ck.ip4(buf, #pkt), ic)
      assert.equal(ck.udp4(buf, #pkt), uc)
    end
  end)

  it("equals a full recompute for byte runs at odd and even offsets", function()
    math.randomseed(7)
    local pkt = ip(UDP6)
    local n = #pkt
    local buf = ffi.new("uint8_t[?]", n)
    local old = ffi.new("uint8_t[16]")
    ffi.copy(buf, pkt, n)
    for _ = 1, 5000 do
      local len = math.random(1, 8)
      local pos = math.random(48, n - len) -- inside the UDP payload
      ffi.copy(old, buf + pos, len)
      for k = 0, len - 1 do buf[pos + k] = math.random(0, 255) end
      local c = ck.update(util.rd16(buf, 46), old, buf + pos, len, (pos - 40) % 2 == 1)
      if c == 0 then c = 0xffff end
      buf[46], buf[47] = math.floor(c / 256), c % 256
      assert.equal(ck.udp6(buf, n), c)
    end
  end)
end)

describe("udp_frame_fix", function()
  it("rebuilds lengths and checksums of frames it was given wrong", function()
    for _, frame in ipairs { UDP4, UDP6 } do
      local n = #frame
      local buf = ffi.new("uint8_t[?]", n)
      ffi.copy(buf, frame, n)
      if frame == UDP4 then
        buf[16], buf[17], buf[24], buf[25] = 0xde, 0xad, 1, 2 -- total length, checksum
      else
        buf[18], buf[19] = 0xbe, 0xef -- payload length
      end
      local l4 = frame == UDP4 and 34 or 54
      buf[l4 + 4], buf[l4 + 6] = 0x77, 0x77
      assert.equal(0, ck.udp_frame_fix(buf, n))
      assert.equal(util.hex(frame, n), util.hex(buf, n))
    end
  end)

  it("follows VLAN tags and refuses what it cannot fix", function()
    local tagged = UDP4:sub(1, 12) .. unhex "8100 0064" .. UDP4:sub(13)
    local buf = ffi.new("uint8_t[128]")
    ffi.copy(buf, tagged, #tagged)
    assert.equal(0, ck.udp_frame_fix(buf, #tagged + 10))
    assert.is_true(ck.ip4_ok(buf + 18, #tagged + 10 - 18))
    assert.is_true(ck.l4_ok(buf + 18, #tagged + 10 - 18))
    assert.equal(#tagged + 10 - 18, util.rd16(buf, 20))
    ffi.copy(buf, TCP4, #TCP4)
    assert.error_matches(function() ck.udp_frame_fix(buf, #TCP4) end, "protocol")
    for len = 0, #UDP6 - 1 do
      if len < 62 then
        assert.is_true(C.lxsk_udp_frame_fix(util.at_end(UDP6, len), len) < 0, "length " .. len)
      end
    end
  end)
end)
