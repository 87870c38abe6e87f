dofile "spec/support/paths.lua"
local ffi = require "ffi"
local h = require "xsk.headers"
local util = require "spec.support.util"
local frames = require "spec.support.frames"
local unhex = util.unhex

local MACS = "020000000002 020000000001"
local UDP4_IP = "450000291c46400040119b0fc0a8010ac0a80114 9c40003500157e93 68656c6c6f2c20776f726c6421"
local UDP6_IP = [[6000000000131140 20010db8000000000000000000000001 20010db8000000000000000000000002
  14e914e900133214 6c75612d78736b20763621]]

local V6ADDRS = "20010db8000000000000000000000001 20010db8000000000000000000000002"
-- UDP from port 53 to port 53 with 8 bytes of payload
local UDP16 = "0035003500100000 6162636465666768"

local F = {
  udp4 = unhex(MACS .. "0800" .. UDP4_IP),
  udp6 = unhex(MACS .. "86dd" .. UDP6_IP),
  icmp6 = unhex(MACS .. [[86dd 6000000000153a40 fe800000000000000000000000000001
    fe800000000000000000000000000002 80009e5512340001 70696e6736207061796c6f6164]]),
  icmp4 = unhex(MACS .. "0800 4500002400074000400124ce0a0101010a010102 08002421424200076162636465666768"),
  tcp4 = unhex(MACS .. [[0800 4500002c00014000400626c90a0000010a000002
    80e80050000003e8000000006002ffffff030000020405b4]]),
  arp = unhex(MACS .. "0806 0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002"),
  vlan = unhex(MACS .. "8100 2064 0800" .. UDP4_IP),
  qinq = unhex(MACS .. "88a8 0007 8100 0064 86dd" .. UDP6_IP),
  -- IHL 6: four bytes of options (NOP NOP NOP EOL) before UDP
  ip4opts = unhex(MACS .. "0800 4600002000000000401100000a0000010a000002 01010100 1234567800080000"),
  -- a Hop-by-Hop header (PadN) then UDP
  ip6hbh = unhex(MACS .. [[86dd 6000000000180040 20010db8000000000000000000000001
    20010db8000000000000000000000002 1100 0104 00000000 0035003500100000 6162636465666768]]),
  -- a later IPv6 fragment: no UDP header in it
  ip6frag = unhex(MACS .. [[86dd 60000000000c2c40 20010db8000000000000000000000001
    20010db8000000000000000000000002 1100 0008 12345678 61626364]]),
  ip4frag = unhex(MACS .. "0800 450000240000 00b9 40110000 0a0000010a000002 6162636465666768 6162636465666768"),
  other = unhex(MACS .. "88cc 0102030405060708"),
  -- a Routing header (type 4, one address: 24 bytes) then UDP
  ip6rt = unhex(MACS .. "86dd 6000000000282b40" .. V6ADDRS .. [[
    1102 0400 00000000 20010db8000000000000000000000003]] .. UDP16),
  -- a Destination Options header (PadN over 12 bytes: 16 bytes) then UDP
  ip6dst = unhex(MACS .. "86dd 6000000000203c40" .. V6ADDRS .. "1101 010c 000000000000000000000000" .. UDP16),
  -- an Authentication Header with a 12-byte ICV: length field 4, 24 bytes
  ip6ah = unhex(MACS .. "86dd 6000000000283340" .. V6ADDRS .. [[
    1104 0000 00000100 00000001 000102030405060708090a0b]] .. UDP16),
  -- the first IPv6 fragment (offset 0, M set): UDP whose length, 1040,
  -- counts the whole datagram, of which this fragment holds 8 payload bytes
  ip6frag1 = unhex(MACS .. "86dd 6000000000182c40" .. V6ADDRS .. [[
    1100 0001 12345678 0035003504100000 6162636465666768]]),
  -- the same as an IPv4 first fragment (MF, offset 0)
  ip4frag1 = unhex(MACS .. "0800 45000024 0001 2000 4011 0000 0a000001 0a000002 1234003504100000 6162636465666768"),
  -- the last IPv6 fragment (offset 256, M clear) behind a Routing header
  ip6fraglast = unhex(MACS .. "86dd 6000000000182b40" .. V6ADDRS .. [[
    2c00 0000 00000000 1100 0800 12345678 6162636465666768]]),
  -- Hop-by-Hop, Destination Options, Routing, Fragment (offset 0, M clear),
  -- AH (16 bytes), Destination Options, then TCP with three bytes of data
  ip6chain = unhex(MACS .. "86dd 60000000004f0040" .. V6ADDRS .. [[
    3c00 0104 00000000  2b00 0104 00000000  2c00 0000 00000000  3300 0000 0000abcd
    3c02 0000 00000100 00000001 deadbeef  0600 0104 00000000
    80e80050 000003e8 00000000 5002ffff 00000000 78797a]]),
}

local u8p = ffi.typeof("const uint8_t *")

-- Every header and range the parser reports lies inside the len bytes.
local function assert_within(r, len)
  local function off(ptr) return tonumber(ffi.cast(u8p, ptr) - r.base) end
  local function hdr(ptr, size, name)
    if ptr ~= nil then
      local o = off(ptr)
      assert.is_true(o >= 0 and o + size <= len,
        ("%s at %d+%d outside %d"):format(name, o, size, len))
    end
  end
  hdr(r.eth, 14, "eth")
  for i = 0, 1 do hdr(r.vlan[i], 4, "vlan") end
  hdr(r.arp, 28, "arp")
  if r.ip4 ~= nil then hdr(r.ip4, r.ip4:hlen(), "ip4") end
  hdr(r.ip6, 40, "ip6")
  hdr(r.udp, 8, "udp")
  if r.tcp ~= nil then hdr(r.tcp, r.tcp:hlen(), "tcp") end
  hdr(r.icmp, 8, "icmp")
  hdr(r.icmp6, 8, "icmp6")
  assert.is_true(r.l3_off + r.l3_len <= len, "l3 range")
  assert.is_true(r.l4_off <= len, "l4 offset")
  assert.is_true(r.payload_off + r.payload_len <= len, "payload range")
end

-- Parse the first len bytes of frame placed against an unreadable page.
local function parse_guarded(frame, len, r)
  local p = util.at_end(frame, len)
  local ok = h.parse(p, len, r)
  assert_within(r, len)
  return ok
end

describe("headers.parse", function()
  local r = h.result()

  it("parses UDP over IPv4", function()
    assert.is_true(parse_guarded(F.udp4, #F.udp4, r))
    assert.equal(h.OK, r.err)
    assert.equal(h.ETH_P_IP, r.l3_type)
    assert.equal(0x0800, r.eth:ethertype())
    assert.equal(14, r.l3_off)
    assert.equal(41, r.l3_len)
    assert.equal(17, r.l4_proto)
    assert.equal(34, r.l4_off)
    assert.equal(42, r.payload_off)
    assert.equal(13, r.payload_len)
    assert.equal("hello, world!", ffi.string(r.base + r.payload_off, r.payload_len))
    assert.equal(40000, r.udp:sport())
    assert.equal(53, r.udp:dport())
    assert.equal(21, r.udp:length())
    assert.equal(0x7e93, r.udp:checksum())
    assert.equal(4, r.ip4:version())
    assert.equal(20, r.ip4:hlen())
    assert.equal(0x1c46, r.ip4:ident())
    assert.is_true(r.ip4:dont_fragment())
    assert.equal("192.168.1.10", h.ip4_ntop(r.ip4:src()))
    assert.equal("192.168.1.20", h.ip4_ntop(r.ip4:dst()))
    assert.equal(0xc0a8010a, r.ip4:src())
    assert.equal("02:00:00:00:00:01", h.mac_ntop(r.eth.src))
    assert.is_nil(r.ip6 ~= nil and r.ip6 or nil)
    assert.is_true(r.tcp == nil and r.icmp == nil and r.arp == nil)
  end)

  it("parses UDP over IPv6", function()
    assert.is_true(parse_guarded(F.udp6, #F.udp6, r))
    assert.equal(h.ETH_P_IPV6, r.l3_type)
    assert.equal(6, r.ip6:version())
    assert.equal(19, r.ip6:payload_length())
    assert.equal(64, r.ip6.hop_limit)
    assert.equal("2001:db8::1", h.ip6_ntop(r.ip6.saddr))
    assert.equal(5353, r.udp:dport())
    assert.equal(62, r.payload_off)
    assert.equal("lua-xsk v6!", ffi.string(r.base + r.payload_off, r.payload_len))
    assert.is_true(r.ip4 == nil)
  end)

  it("parses ICMP, ICMPv6 and TCP", function()
    assert.is_true(parse_guarded(F.icmp4, #F.icmp4, r))
    assert.equal(8, r.icmp.type)
    assert.equal(0x4242, r.icmp:echo_id())
    assert.equal(7, r.icmp:echo_seq())
    assert.equal("abcdefgh", ffi.string(r.base + r.payload_off, r.payload_len))

    assert.is_true(parse_guarded(F.icmp6, #F.icmp6, r))
    assert.equal(58, r.l4_proto)
    assert.equal(128, r.icmp6.type)
    assert.equal(0x1234, r.icmp6:echo_id())
    assert.equal(0x9e55, r.icmp6:checksum())
    assert.equal("ping6 payload", ffi.string(r.base + r.payload_off, r.payload_len))

    assert.is_true(parse_guarded(F.tcp4, #F.tcp4, r))
    assert.equal(33000, r.tcp:sport())
    assert.equal(80, r.tcp:dport())
    assert.equal(1000, r.tcp:seqno())
    assert.equal(24, r.tcp:hlen())
    assert.is_true(r.tcp:has(h.TCP_SYN))
    assert.is_false(r.tcp:has(h.TCP_ACK))
    assert.equal(65535, r.tcp:window_size())
    assert.equal(58, r.payload_off)
    assert.equal(0, r.payload_len)
  end)

  it("parses ARP", function()
    assert.is_true(parse_guarded(F.arp, #F.arp, r))
    assert.equal(h.ETH_P_ARP, r.l3_type)
    assert.equal(1, r.arp:op())
    assert.equal("10.0.0.2", h.ip4_ntop(r.arp.tpa))
    assert.equal("02:00:00:00:00:01", h.mac_ntop(r.arp.sha))
  end)

  it("follows one and two VLAN tags", function()
    assert.is_true(parse_guarded(F.vlan, #F.vlan, r))
    assert.equal(1, r.vlan_count)
    assert.equal(100, r.vlan[0]:vid())
    assert.equal(1, r.vlan[0]:pcp())
    assert.equal(0x2064, r.vlan_tci[0])
    assert.equal(18, r.l3_off)
    assert.equal(53, r.udp:dport())

    assert.is_true(parse_guarded(F.qinq, #F.qinq, r))
    assert.equal(2, r.vlan_count)
    assert.equal(7, r.vlan[0]:vid())
    assert.equal(100, r.vlan[1]:vid())
    assert.equal(0x86dd, r.vlan[1]:ethertype())
    assert.equal(22, r.l3_off)
    assert.equal(5353, r.udp:sport())
  end)

  it("honours IPv4 options and IPv6 extension headers", function()
    assert.is_true(parse_guarded(F.ip4opts, #F.ip4opts, r))
    assert.equal(24, r.ip4:hlen())
    assert.equal(38, r.l4_off)
    assert.equal(0x1234, r.udp:sport())

    assert.is_true(parse_guarded(F.ip6hbh, #F.ip6hbh, r))
    assert.equal(17, r.l4_proto)
    assert.equal(62, r.l4_off)
    assert.equal(53, r.udp:dport())
    assert.equal("abcdefgh", ffi.string(r.base + r.payload_off, r.payload_len))
  end)

  -- Each extension header must be followed to the upper layer: a parser that
  -- skipped one would report it as the upper protocol, at the wrong offset.
  local function assert_ext_udp(name, l4_off)
    assert.is_true(parse_guarded(F[name], #F[name], r), name)
    assert.equal(17, r.l4_proto, name)
    assert.equal(l4_off, r.l4_off, name)
    assert.equal(l4_off, tonumber(ffi.cast("const uint8_t *", r.udp) - r.base), name)
    assert.equal(53, r.udp:dport(), name)
    assert.equal(l4_off + 8, r.payload_off, name)
    assert.equal("abcdefgh", ffi.string(r.base + r.payload_off, r.payload_len), name)
    assert.equal(0, r.frag, name)
  end

  it("follows Routing, Destination Options and Authentication headers", function()
    assert_ext_udp("ip6rt", 14 + 40 + 24)
    assert_ext_udp("ip6dst", 14 + 40 + 16)
    assert_ext_udp("ip6ah", 14 + 40 + 24)
  end)

  it("follows a chain of six extension headers, with a first fragment among them, to TCP", function()
    assert.is_true(parse_guarded(F.ip6chain, #F.ip6chain, r))
    assert.equal(6, r.l4_proto)
    assert.equal(1, r.frag)
    assert.equal(14 + 40 + 56, r.l4_off)
    assert.equal(33000, r.tcp:sport())
    assert.equal(1000, r.tcp:seqno())
    assert.equal(14 + 40 + 56 + 20, r.payload_off)
    assert.equal("xyz", ffi.string(r.base + r.payload_off, r.payload_len))
    assert.equal(40 + 79, r.l3_len)
  end)

  it("follows at most seven extension headers, then reports the depth", function()
    local function chain(n)
      local t = {}
      for i = 1, n do t[i] = (i < n and "3c" or "11") .. "00 0104 00000000" end
      local ext = table.concat(t)
      local plen = n * 8 + 16
      return unhex(MACS .. ("86dd 60000000 %04x 3c40"):format(plen) .. V6ADDRS .. ext .. UDP16)
    end
    local seven = chain(7)
    assert.is_true(parse_guarded(seven, #seven, r))
    assert.equal(14 + 40 + 56, r.l4_off)
    assert.equal(53, r.udp:dport())
    local eight = chain(8)
    assert.is_false(parse_guarded(eight, #eight, r))
    assert.equal(h.ERR_DEPTH, r.err)
    assert.is_true(r.ip6 ~= nil and r.udp == nil)
  end)

  it("parses the upper header of a first fragment, whose UDP length counts the whole datagram", function()
    for _, name in ipairs { "ip6frag1", "ip4frag1" } do
      assert.is_true(parse_guarded(F[name], #F[name], r), name)
      assert.equal(h.OK, r.err, name)
      assert.equal(1, r.frag, name)
      assert.equal(17, r.l4_proto, name)
      local l4 = name == "ip6frag1" and 14 + 40 + 8 or 14 + 20
      assert.equal(l4, r.l4_off, name)
      assert.is_true(r.udp ~= nil, name)
      assert.equal(1040, r.udp:length(), name)
      assert.equal(l4 + 8, r.payload_off, name)
      assert.equal("abcdefgh", ffi.string(r.base + r.payload_off, r.payload_len), name)
    end
    -- a whole datagram whose UDP length says more than it holds is still wrong
    local whole = F.ip4frag1:sub(1, 20) .. "\0\0" .. F.ip4frag1:sub(23)
    assert.is_false(parse_guarded(whole, #whole, r))
    assert.equal(h.ERR_BADLEN, r.err)
    assert.equal(0, r.frag)
  end)

  it("reports later fragments without an upper header", function()
    assert.is_true(parse_guarded(F.ip6frag, #F.ip6frag, r))
    assert.equal(1, r.frag)
    assert.equal(17, r.l4_proto)
    assert.is_true(r.udp == nil)
    assert.equal("abcd", ffi.string(r.base + r.payload_off, r.payload_len))

    assert.equal(0, r.l4_off)
    assert.equal(14 + 40 + 8, r.payload_off)

    assert.is_true(parse_guarded(F.ip6fraglast, #F.ip6fraglast, r))
    assert.equal(1, r.frag)
    assert.equal(17, r.l4_proto)
    assert.is_true(r.udp == nil)
    assert.equal(0, r.l4_off)
    assert.equal(14 + 40 + 16, r.payload_off)
    assert.equal("abcdefgh", ffi.string(r.base + r.payload_off, r.payload_len))

    assert.is_true(parse_guarded(F.ip4frag, #F.ip4frag, r))
    assert.equal(1, r.frag)
    assert.equal(0x5c8, r.ip4:frag_offset())
    assert.is_true(r.udp == nil)
    assert.equal(34, r.payload_off)
    assert.equal(16, r.payload_len)
  end)

  it("hands unknown EtherTypes over as payload", function()
    assert.is_true(parse_guarded(F.other, #F.other, r))
    assert.equal(0x88cc, r.l3_type)
    assert.equal(14, r.payload_off)
    assert.equal(8, r.payload_len)
  end)

  it("ignores Ethernet padding after the IP packet", function()
    local padded = F.udp4 .. ("\0"):rep(5)
    assert.is_true(parse_guarded(padded, #padded, r))
    assert.equal(13, r.payload_len)
    assert.equal(41, r.l3_len)
  end)

  it("never reads or reports past len, at every truncation of every frame", function()
    for name, frame in pairs(F) do
      for len = 0, #frame - 1 do
        local ok = parse_guarded(frame, len, r)
        -- Every frame here ends with a header or a length-checked payload,
        -- except the ones whose payload runs to the end of the frame.
        if name ~= "other" and name ~= "arp" then
          assert.is_false(ok, name .. " cut to " .. len)
          assert.is_true(r.err == h.ERR_TRUNC or r.err == h.ERR_BADLEN, name .. " " .. len)
        end
      end
      assert.is_true(parse_guarded(frame, #frame, r), name)
    end
  end)

  -- Random frames from support.frames, built from a known structure: parse
  -- must report what was built, not only stay within the frame.
  local function rnd(n) return math.random(0, n - 1) end

  local function check(f, len, bad_at, bytes)
    local ok = parse_guarded(bytes or f.bytes, len, r)
    local wrong = frames.check(f, len, bad_at, ok, r)
    if wrong then
      error(("%s\n  frame cut to %d of %d bytes%s: %s"):format(wrong, len, f.len,
        bad_at and (", changed from byte " .. bad_at) or "", util.hex(bytes or f.bytes, f.len)), 2)
    end
  end

  it("reports exactly what was built for random well-formed frames", function()
    math.randomseed(7)
    for _ = 1, 5000 do
      local f = frames.random(rnd)
      check(f, f.len)
    end
  end)

  it("fails every cut of a random frame that ends inside a header or an IP packet, keeping what came before", function()
    math.randomseed(11)
    for _ = 1, 300 do
      local f = frames.random(rnd)
      for len = 0, f.len do check(f, len) end
    end
  end)

  it("survives random corruption, and reports what was built up to the first changed byte it interprets", function()
    math.randomseed(42)
    for i = 1, 20000 do
      local f = frames.random(rnd)
      -- every other frame has only bytes parse does not interpret changed:
      -- then its result must be exactly what was built
      local bytes, bad_at = frames.corrupt(f, rnd, i % 2 == 0)
      local len = rnd(8) == 0 and rnd(f.len + 1) or f.len
      check(f, len, bad_at, bytes)
    end
  end)

  local function bad(frame, patch_at, bytes)
    return frame:sub(1, patch_at) .. unhex(bytes) .. frame:sub(patch_at + #unhex(bytes) + 1)
  end

  it("flags malformed frames", function()
    local cases = {
      { "IHL 4", bad(F.udp4, 14, "44"), h.ERR_BADHDR },
      { "IP version 5", bad(F.udp4, 14, "55"), h.ERR_BADHDR },
      { "total length over the frame", bad(F.udp4, 16, "0100"), h.ERR_BADLEN },
      { "total length under the header", bad(F.udp4, 16, "0010"), h.ERR_BADLEN },
      { "IPv6 payload length lies", bad(F.udp6, 18, "0014"), h.ERR_BADLEN },
      { "UDP length under 8", bad(F.udp4, 38, "0007"), h.ERR_BADHDR },
      { "UDP length over the IP payload", bad(F.udp4, 38, "0016"), h.ERR_BADLEN },
      { "TCP data offset 4", bad(F.tcp4, 46, "40"), h.ERR_BADHDR },
      { "TCP data offset past the packet", bad(F.tcp4, 46, "f0"), h.ERR_TRUNC },
      { "IPv6 extension header past the packet", bad(F.ip6hbh, 55, "05"), h.ERR_TRUNC },
      { "ARP for another protocol", bad(F.arp, 16, "86dd"), h.ERR_BADHDR },
      { "three VLAN tags", unhex(MACS .. "8100 0001 8100 0002 8100 0003 0800") .. F.udp4:sub(15), h.ERR_DEPTH },
    }
    for _, c in ipairs(cases) do
      local name, frame, err = c[1], c[2], c[3]
      assert.is_false(parse_guarded(frame, #frame, r), name)
      assert.equal(err, r.err, name)
      assert.is_true(r.udp == nil and r.tcp == nil, name)
    end
    -- What came before the bad header is still there.
    parse_guarded(bad(F.udp4, 38, "0007"), #F.udp4, r)
    assert.is_true(r.ip4 ~= nil)
    assert.equal(34, r.l4_off)
  end)

  it("does not allocate once compiled", function()
    local bufs, lens = {}, {}
    for _, name in ipairs { "udp4", "udp6", "tcp4", "vlan" } do
      local b = ffi.new("uint8_t[?]", #F[name])
      ffi.copy(b, F[name], #F[name])
      bufs[#bufs + 1], lens[#lens + 1] = b, #F[name]
    end
    local parse = h.parse
    local function loop(n)
      local ports = 0
      for i = 1, n do
        local k = i % 4 + 1
        if parse(bufs[k], lens[k], r) and r.udp ~= nil then ports = ports + r.udp:dport() end
      end
      return ports
    end
    local grown = util.heap_growth(loop, 20000, 200000)
    assert.is_true(grown < 64, ("grew %.1f KiB"):format(grown))
  end)
end)

describe("header accessors", function()
  it("swap_macs swaps an Ethernet header's two addresses and nothing else", function()
    local frame = unhex("0a0b0c0d0e0f 010203040506 0800 4500")
    local buf = ffi.new("uint8_t[?]", #frame)
    ffi.copy(buf, frame, #frame)
    h.swap_macs(buf)
    assert.equal("010203040506" .. "0a0b0c0d0e0f" .. "08004500", util.hex(buf, #frame))
    h.swap_macs(buf)
    assert.equal(frame, ffi.string(buf, #frame))
  end)

  it("write host-order values in network order", function()
    local buf = ffi.new("uint8_t[64]")
    local ip = ffi.cast(h.ip4_ptr, buf)
    ip:set_src(0x0a000001)
    ip:set_dst(0xc0a80114)
    ip:set_total_length(0x1234)
    assert.equal("0a000001", util.hex(buf + 12, 4))
    assert.equal("c0a80114", util.hex(buf + 16, 4))
    assert.equal("1234", util.hex(buf + 2, 2))
    assert.equal(0xc0a80114, ip:dst())

    local udp = ffi.cast(h.udp_ptr, buf + 20)
    udp:set_sport(0xabcd)
    udp:set_dport(53)
    assert.equal("abcd0035", util.hex(buf + 20, 4))

    local tcp = ffi.cast(h.tcp_ptr, buf + 20)
    tcp:set_seqno(0xfedcba98)
    assert.equal("fedcba98", util.hex(buf + 24, 4))
    assert.equal(0xfedcba98, tcp:seqno())

    local v = ffi.cast(h.vlan_ptr, buf)
    v:set_tag(0)
    v:set_vid(4095)
    v:set_pcp(5)
    assert.equal(4095, v:vid())
    assert.equal(5, v:pcp())
    assert.equal("afff", util.hex(buf, 2))

    local ip6 = ffi.cast(h.ip6_ptr, buf)
    ffi.fill(buf, 4)
    buf[0] = 0x6a
    ip6:set_flow_label(0xabcde)
    assert.equal(6, ip6:version())
    assert.equal(0xa0, ip6:traffic_class())
    assert.equal(0xabcde, ip6:flow_label())
  end)

  it("convert byte order", function()
    assert.equal(0x3412, h.ntohs(0x1234))
    assert.equal(0x04030201, h.ntohl(0x01020304))
    assert.equal(0xfdfeff01, h.ntohl(0x01fffefd))
  end)
end)

describe("address helpers", function()
  it("round-trip MAC addresses", function()
    local m = h.mac_pton("AA:bb:0c:DD:ee:0F")
    assert.equal("aa:bb:0c:dd:ee:0f", h.mac_ntop(m))
    assert.equal("01:02:03:04:05:06", h.mac_ntop(h.mac_pton("01-02-03-04-05-06")))
    local into = ffi.new("uint8_t[8]")
    h.mac_pton("ff:ff:ff:ff:ff:ff", into + 1)
    assert.equal(0, into[0])
    assert.equal(255, into[6])
    assert.equal(0, into[7])
  end)

  it("round-trip IPv4 and IPv6 addresses", function()
    assert.equal(0xc0a80001, h.ip4_pton("192.168.0.1"))
    assert.equal("192.168.0.1", h.ip4_ntop(0xc0a80001))
    assert.equal("255.255.255.255", h.ip4_ntop(h.ip4_pton("255.255.255.255")))
    local b = ffi.new("uint8_t[4]")
    h.ip4_pton("10.1.2.3", b)
    assert.equal("10.1.2.3", h.ip4_ntop(b))
    for _, s in ipairs { "::", "::1", "2001:db8::8:800:200c:417a", "fe80::1:2", "::ffff:10.0.0.1" } do
      assert.equal(s, h.ip6_ntop(h.ip6_pton(s)))
    end
    assert.equal(4, h.ip_family("1.2.3.4"))
    assert.equal(6, h.ip_family("::1"))
    assert.is_nil(h.ip_family("nope"))
  end)

  it("reject bad strings clearly", function()
    for _, s in ipairs { "", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aa:bb:cc:dd:ee:fg",
      "aa:bb-cc:dd:ee:ff", "aabb.ccdd.eeff" } do
      assert.error_matches(function() h.mac_pton(s) end, "bad MAC address", nil, true)
    end
    for _, s in ipairs { "", "1.2.3", "1.2.3.256", "1.2.3.4 ", "::1", "01.2.3.4x" } do
      assert.error_matches(function() h.ip4_pton(s) end, "bad IPv4 address", nil, true)
    end
    for _, s in ipairs { "", ":::", "1::2::3", "12345::", "g::1", "1.2.3.4" } do
      assert.error_matches(function() h.ip6_pton(s) end, "bad IPv6 address", nil, true)
    end
    assert.error_matches(function() h.ip4_pton(42) end, "expected a string", nil, true)
    assert.error_matches(function() h.ip4_ntop(2 ^ 32) end, "bad IPv4 address number", nil, true)
  end)
end)
