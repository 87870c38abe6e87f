-- Packet headers: FFI types with byte-order-aware accessors, an allocation-free
-- parser, and address conversions for setting things up.
--
-- The header structs (struct lxsk_*_hdr in lua/xsk/cdef.lua) keep the wire
-- layout, so their raw fields hold network order; the methods read and write
-- host-order numbers.  Methods are named apart from the raw fields because a
-- field name always wins over a method on cdata (eth.type is the raw field,
-- eth:ethertype() the number).
--
--   local h = require "xsk.headers"
--   local res = h.result()                 -- once
--   if h.parse(frame.data, frame.len, res) and res.udp ~= nil then
--       local port = res.udp:dport()
--   end
local ffi = require "ffi"
local bit = require "bit"
require "xsk.cdef"

local band, bor, rshift, lshift, bswap = bit.band, bit.bor, bit.rshift, bit.lshift, bit.bswap
local cast, fill, sizeof = ffi.cast, ffi.fill, ffi.sizeof
local LE = ffi.abi("le")

local M = {}

M.ETH_P_IP, M.ETH_P_ARP, M.ETH_P_IPV6 = 0x0800, 0x0806, 0x86dd
M.ETH_P_8021Q, M.ETH_P_8021AD, M.ETH_P_QINQ1 = 0x8100, 0x88a8, 0x9100
M.IPPROTO_ICMP, M.IPPROTO_TCP, M.IPPROTO_UDP, M.IPPROTO_ICMPV6 = 1, 6, 17, 58
M.TCP_FIN, M.TCP_SYN, M.TCP_RST, M.TCP_PSH, M.TCP_ACK, M.TCP_URG = 1, 2, 4, 8, 16, 32
M.ETH_HLEN, M.VLAN_HLEN, M.IP4_HLEN, M.IP6_HLEN, M.UDP_HLEN, M.TCP_HLEN = 14, 4, 20, 40, 8, 20

-- Why parse() stopped (result.err); 0 is success.
M.OK = 0
M.ERR_TRUNC = 1  -- the frame ends inside a header
M.ERR_BADLEN = 2 -- a length field says more than the frame holds, or too little
M.ERR_BADHDR = 3 -- a header is malformed (IP version, IHL < 5, TCP offset < 5, ...)
M.ERR_DEPTH = 4  -- more VLAN tags or IPv6 extension headers than we follow
M.errors = { [1] = "truncated", [2] = "bad length field", [3] = "malformed header",
  [4] = "too many tags or extension headers" }

-- ---- byte order ----

-- bit.bswap works on 32 bits, so a 16-bit value comes back in the top half.
local ntohs, ntohl, htonl
if LE then
  ntohs = function(x) return rshift(bswap(x), 16) end
  ntohl = function(x) return bswap(x) % 4294967296 end
  htonl = function(x) return bswap(x) end
else
  ntohs = function(x) return x end
  ntohl = function(x) return x % 4294967296 end
  htonl = function(x) return x end
end
M.ntohs, M.htons, M.ntohl, M.htonl = ntohs, ntohs, ntohl, htonl

-- ---- header types and accessors ----

local eth_pt = ffi.typeof("struct lxsk_eth_hdr *")
local vlan_pt = ffi.typeof("struct lxsk_vlan_hdr *")
local arp_pt = ffi.typeof("struct lxsk_arp_hdr *")
local ip4_pt = ffi.typeof("struct lxsk_ipv4_hdr *")
local ip6_pt = ffi.typeof("struct lxsk_ipv6_hdr *")
local udp_pt = ffi.typeof("struct lxsk_udp_hdr *")
local tcp_pt = ffi.typeof("struct lxsk_tcp_hdr *")
local icmp_pt = ffi.typeof("struct lxsk_icmp_hdr *")
local icmp6_pt = ffi.typeof("struct lxsk_icmp6_hdr *")
M.eth_ptr, M.vlan_ptr, M.arp_ptr = eth_pt, vlan_pt, arp_pt
M.ip4_ptr, M.ip6_ptr, M.udp_ptr, M.tcp_ptr = ip4_pt, ip6_pt, udp_pt, tcp_pt
M.icmp_ptr, M.icmp6_ptr = icmp_pt, icmp6_pt

ffi.metatype("struct lxsk_eth_hdr", { __index = {
  ethertype = function(h) return ntohs(h.type) end,
  set_ethertype = function(h, v) h.type = ntohs(v) end,
} })

-- Swaps the destination and source addresses of the Ethernet header at p,
-- as a reflector or l2fwd does.  Three 16-bit swaps, no loop: an inner loop
-- in a per-packet loop can become a trace of its own, and the frame pointer
-- crossing into it is boxed, an allocation per packet.
local u16_pt = ffi.typeof("uint16_t *")
function M.swap_macs(p)
  local w = cast(u16_pt, p)
  w[0], w[3] = w[3], w[0]
  w[1], w[4] = w[4], w[1]
  w[2], w[5] = w[5], w[2]
end

ffi.metatype("struct lxsk_vlan_hdr", { __index = {
  tag = function(h) return ntohs(h.tci) end,
  vid = function(h) return band(ntohs(h.tci), 0x0fff) end,
  pcp = function(h) return rshift(ntohs(h.tci), 13) end,
  dei = function(h) return band(rshift(ntohs(h.tci), 12), 1) end,
  ethertype = function(h) return ntohs(h.type) end,
  set_tag = function(h, v) h.tci = ntohs(v) end,
  set_vid = function(h, v) h.tci = ntohs(bor(band(ntohs(h.tci), 0xf000), band(v, 0x0fff))) end,
  set_pcp = function(h, v) h.tci = ntohs(bor(band(ntohs(h.tci), 0x1fff), lshift(band(v, 7), 13))) end,
  set_ethertype = function(h, v) h.type = ntohs(v) end,
} })

ffi.metatype("struct lxsk_arp_hdr", { __index = {
  op = function(h) return ntohs(h.oper) end,
  set_op = function(h, v) h.oper = ntohs(v) end,
  hw_type = function(h) return ntohs(h.htype) end,
  proto_type = function(h) return ntohs(h.ptype) end,
} })

ffi.metatype("struct lxsk_ipv4_hdr", { __index = {
  version = function(h) return rshift(h.ver_ihl, 4) end,
  ihl = function(h) return band(h.ver_ihl, 15) end,
  hlen = function(h) return band(h.ver_ihl, 15) * 4 end,
  total_length = function(h) return ntohs(h.tot_len) end,
  ident = function(h) return ntohs(h.id) end,
  frag_offset = function(h) return band(ntohs(h.frag_off), 0x1fff) * 8 end,
  dont_fragment = function(h) return band(ntohs(h.frag_off), 0x4000) ~= 0 end,
  more_fragments = function(h) return band(ntohs(h.frag_off), 0x2000) ~= 0 end,
  checksum = function(h) return ntohs(h.check) end,
  src = function(h) return ntohl(h.saddr) end,
  dst = function(h) return ntohl(h.daddr) end,
  set_total_length = function(h, v) h.tot_len = ntohs(v) end,
  set_ident = function(h, v) h.id = ntohs(v) end,
  set_checksum = function(h, v) h.check = ntohs(v) end,
  set_src = function(h, v) h.saddr = htonl(v) end,
  set_dst = function(h, v) h.daddr = htonl(v) end,
} })

ffi.metatype("struct lxsk_ipv6_hdr", { __index = {
  version = function(h) return rshift(ntohl(h.vtc_flow), 28) end,
  traffic_class = function(h) return band(rshift(ntohl(h.vtc_flow), 20), 0xff) end,
  flow_label = function(h) return band(ntohl(h.vtc_flow), 0xfffff) end,
  payload_length = function(h) return ntohs(h.payload_len) end,
  set_payload_length = function(h, v) h.payload_len = ntohs(v) end,
  set_flow_label = function(h, v)
    h.vtc_flow = htonl(bor(band(ntohl(h.vtc_flow), 0xfff00000), band(v, 0xfffff)))
  end,
} })

ffi.metatype("struct lxsk_udp_hdr", { __index = {
  sport = function(h) return ntohs(h.source) end,
  dport = function(h) return ntohs(h.dest) end,
  length = function(h) return ntohs(h.len) end,
  checksum = function(h) return ntohs(h.check) end,
  set_sport = function(h, v) h.source = ntohs(v) end,
  set_dport = function(h, v) h.dest = ntohs(v) end,
  set_length = function(h, v) h.len = ntohs(v) end,
  set_checksum = function(h, v) h.check = ntohs(v) end,
} })

ffi.metatype("struct lxsk_tcp_hdr", { __index = {
  sport = function(h) return ntohs(h.source) end,
  dport = function(h) return ntohs(h.dest) end,
  seqno = function(h) return ntohl(h.seq) end,
  ackno = function(h) return ntohl(h.ack_seq) end,
  hlen = function(h) return rshift(h.doff_res, 4) * 4 end,
  window_size = function(h) return ntohs(h.window) end,
  checksum = function(h) return ntohs(h.check) end,
  has = function(h, flag) return band(h.flags, flag) ~= 0 end,
  set_sport = function(h, v) h.source = ntohs(v) end,
  set_dport = function(h, v) h.dest = ntohs(v) end,
  set_seqno = function(h, v) h.seq = htonl(v) end,
  set_ackno = function(h, v) h.ack_seq = htonl(v) end,
  set_window_size = function(h, v) h.window = ntohs(v) end,
  set_checksum = function(h, v) h.check = ntohs(v) end,
} })

local icmp_methods = { __index = {
  checksum = function(h) return ntohs(h.check) end,
  echo_id = function(h) return ntohs(h.id) end,
  echo_seq = function(h) return ntohs(h.sequence) end,
  set_checksum = function(h, v) h.check = ntohs(v) end,
  set_echo_id = function(h, v) h.id = ntohs(v) end,
  set_echo_seq = function(h, v) h.sequence = ntohs(v) end,
} }
ffi.metatype("struct lxsk_icmp_hdr", icmp_methods)
ffi.metatype("struct lxsk_icmp6_hdr", icmp_methods)

-- ---- parser ----

local u8p = ffi.typeof("const uint8_t *")
local result_t = ffi.typeof("struct lxsk_parsed")
local RESULT_SIZE = sizeof(result_t)

-- One result per loop, reused for every frame.
function M.result() return result_t() end

local function rd16(p, o) return bor(lshift(p[o], 8), p[o + 1]) end

local function fail(out, code)
  out.err = code
  return false
end

-- The upper layer of an IP packet whose bytes run from l4 to l4end.  In the
-- first fragment of a longer datagram (out.frag set) the UDP length counts the
-- whole datagram: the payload is then what this fragment holds.
local function parse_l4(p, out, proto, l4, l4end, v6)
  local rem = l4end - l4
  out.l4_off = l4
  if proto == 17 then
    if rem < 8 then return fail(out, 1) end
    local ulen = rd16(p, l4 + 4)
    if ulen < 8 then return fail(out, 3) end
    if ulen > rem then
      if out.frag == 0 then return fail(out, 2) end
      ulen = rem
    end
    out.udp = cast(udp_pt, p + l4)
    out.payload_off, out.payload_len = l4 + 8, ulen - 8
  elseif proto == 6 then
    if rem < 20 then return fail(out, 1) end
    local doff = rshift(p[l4 + 12], 4) * 4
    if doff < 20 then return fail(out, 3) end
    if doff > rem then return fail(out, 1) end
    out.tcp = cast(tcp_pt, p + l4)
    out.payload_off, out.payload_len = l4 + doff, rem - doff
  elseif proto == 1 and not v6 then
    if rem < 8 then return fail(out, 1) end
    out.icmp = cast(icmp_pt, p + l4)
    out.payload_off, out.payload_len = l4 + 8, rem - 8
  elseif proto == 58 and v6 then
    if rem < 8 then return fail(out, 1) end
    out.icmp6 = cast(icmp6_pt, p + l4)
    out.payload_off, out.payload_len = l4 + 8, rem - 8
  else
    out.payload_off, out.payload_len = l4, rem
  end
  return true
end

local function parse_ip4(p, len, out, l3)
  if l3 + 20 > len then return fail(out, 1) end
  local vi = p[l3]
  if rshift(vi, 4) ~= 4 or band(vi, 15) < 5 then return fail(out, 3) end
  local hl = band(vi, 15) * 4
  if l3 + hl > len then return fail(out, 1) end
  out.ip4 = cast(ip4_pt, p + l3)
  local tot = rd16(p, l3 + 2)
  if tot < hl or l3 + tot > len then return fail(out, 2) end
  out.l3_len = tot
  local proto = p[l3 + 9]
  out.l4_proto = proto
  local fo = rd16(p, l3 + 6)
  if band(fo, 0x3fff) ~= 0 then out.frag = 1 end
  -- Only the first fragment starts with the upper header.
  if band(fo, 0x1fff) ~= 0 then
    out.payload_off, out.payload_len = l3 + hl, tot - hl
    return true
  end
  return parse_l4(p, out, proto, l3 + hl, l3 + tot, false)
end

local MAX_EXT = 8

local function parse_ip6(p, len, out, l3)
  if l3 + 40 > len then return fail(out, 1) end
  if rshift(p[l3], 4) ~= 6 then return fail(out, 3) end
  out.ip6 = cast(ip6_pt, p + l3)
  local l4end = l3 + 40 + rd16(p, l3 + 4)
  if l4end > len then return fail(out, 2) end
  out.l3_len = l4end - l3
  local nh, off = p[l3 + 6], l3 + 40
  for _ = 1, MAX_EXT do
    local elen
    if nh == 0 or nh == 43 or nh == 60 then
      if off + 2 > l4end then return fail(out, 1) end
      elen = (p[off + 1] + 1) * 8
    elseif nh == 51 then
      if off + 2 > l4end then return fail(out, 1) end
      elen = (p[off + 1] + 2) * 4
    elseif nh == 44 then
      if off + 8 > l4end then return fail(out, 1) end
      out.frag = 1
      if band(rd16(p, off + 2), 0xfff8) ~= 0 then
        out.l4_proto = p[off]
        out.payload_off, out.payload_len = off + 8, l4end - off - 8
        return true
      end
      elen = 8
    else
      out.l4_proto = nh
      return parse_l4(p, out, nh, off, l4end, true)
    end
    if off + elen > l4end then return fail(out, 1) end
    nh, off = p[off], off + elen
  end
  return fail(out, 4)
end

-- Fill out (from M.result()) with what the len bytes at ptr hold.  Returns
-- true if every header it met was whole and sane; otherwise false with
-- out.err set, and the headers before the bad one still filled in.  Offsets
-- and pointers always lie within len.  out.frag is 1 for any IP fragment; a
-- later fragment has no upper header (out.l4_off 0, its data is the payload),
-- and the payload of a first fragment is the part of the datagram it holds.
function M.parse(ptr, len, out)
  local p = cast(u8p, ptr)
  fill(out, RESULT_SIZE)
  out.base, out.len = p, len
  if len < 14 then return fail(out, 1) end
  out.eth = cast(eth_pt, p)
  local off, n = 12, 0
  local et = rd16(p, 12)
  while et == 0x8100 or et == 0x88a8 or et == 0x9100 do
    if n == 2 then
      out.l3_type = et
      return fail(out, 4)
    end
    if off + 6 > len then return fail(out, 1) end
    out.vlan[n] = cast(vlan_pt, p + off + 2)
    out.vlan_off[n] = off + 2
    out.vlan_tci[n] = rd16(p, off + 2)
    n = n + 1
    out.vlan_count = n
    off = off + 4
    et = rd16(p, off)
  end
  local l3 = off + 2
  out.l3_type = et
  out.l3_off = l3
  if et == 0x0800 then
    return parse_ip4(p, len, out, l3)
  elseif et == 0x86dd then
    return parse_ip6(p, len, out, l3)
  elseif et == 0x0806 then
    if l3 + 28 > len then return fail(out, 1) end
    if rd16(p, l3) ~= 1 or rd16(p, l3 + 2) ~= 0x0800 or p[l3 + 4] ~= 6 or p[l3 + 5] ~= 4 then
      return fail(out, 3)
    end
    out.arp = cast(arp_pt, p + l3)
    out.l3_len = 28
    out.payload_off, out.payload_len = l3 + 28, len - l3 - 28
    return true
  end
  out.payload_off, out.payload_len = l3, len - l3
  return true
end

-- ---- addresses (for setting up, not for per-packet work) ----

local AF_INET, AF_INET6 = 2, 10
local scratch = ffi.new("uint8_t[16]")
local textbuf = ffi.new("char[64]")

-- nil, or the message for a non-string where an address string goes.
local function not_string(s, what)
  if type(s) ~= "string" then return ("xsk.headers: %s: expected a string, got %s"):format(what, type(s)) end
end

-- "aa:bb:cc:dd:ee:ff" (or with '-') into dst (6 bytes) or a new uint8_t[6].
function M.mac_pton(s, dst)
  local bad = not_string(s, "mac_pton")
  if bad then error(bad, 2) end
  local b = { s:match("^(%x%x)([:-])(%x%x)%2(%x%x)%2(%x%x)%2(%x%x)%2(%x%x)$") }
  if #b ~= 7 then error(("xsk.headers: mac_pton: bad MAC address %q (want aa:bb:cc:dd:ee:ff)"):format(s), 2) end
  dst = dst or ffi.new("uint8_t[6]")
  local d = cast("uint8_t *", dst)
  d[0] = tonumber(b[1], 16)
  for i = 1, 5 do d[i] = tonumber(b[i + 2], 16) end
  return dst
end

function M.mac_ntop(ptr)
  local p = cast(u8p, ptr)
  return ("%02x:%02x:%02x:%02x:%02x:%02x"):format(p[0], p[1], p[2], p[3], p[4], p[5])
end

-- "a.b.c.d" into a host-order number; also stored as 4 network-order bytes
-- into dst when given.
function M.ip4_pton(s, dst)
  local bad = not_string(s, "ip4_pton")
  if bad then error(bad, 2) end
  if ffi.C.lxsk_libc_inet_pton(AF_INET, s, scratch) ~= 1 then
    error(("xsk.headers: ip4_pton: bad IPv4 address %q (want a.b.c.d)"):format(s), 2)
  end
  if dst then ffi.copy(dst, scratch, 4) end
  return scratch[0] * 16777216 + scratch[1] * 65536 + scratch[2] * 256 + scratch[3]
end

-- A host-order number, or a pointer to 4 network-order bytes, to "a.b.c.d".
function M.ip4_ntop(a)
  if type(a) == "number" then
    if a < 0 or a > 4294967295 or a % 1 ~= 0 then
      error(("xsk.headers: ip4_ntop: bad IPv4 address number %s"):format(tostring(a)), 2)
    end
    return ("%d.%d.%d.%d"):format(band(rshift(a, 24), 255), band(rshift(a, 16), 255),
      band(rshift(a, 8), 255), band(a, 255))
  end
  local p = cast(u8p, a)
  return ("%d.%d.%d.%d"):format(p[0], p[1], p[2], p[3])
end

-- An IPv6 address string into dst (16 bytes) or a new uint8_t[16].
function M.ip6_pton(s, dst)
  local bad = not_string(s, "ip6_pton")
  if bad then error(bad, 2) end
  if ffi.C.lxsk_libc_inet_pton(AF_INET6, s, scratch) ~= 1 then
    error(("xsk.headers: ip6_pton: bad IPv6 address %q"):format(s), 2)
  end
  dst = dst or ffi.new("uint8_t[16]")
  ffi.copy(dst, scratch, 16)
  return dst
end

function M.ip6_ntop(ptr)
  if ffi.C.lxsk_libc_inet_ntop(AF_INET6, ptr, textbuf, 64) == nil then
    error("xsk.headers: ip6_ntop: " .. ffi.string(ffi.C.lxsk_libc_strerror(ffi.errno())), 2)
  end
  return ffi.string(textbuf)
end

-- 4 or 6 for a string that is an IPv4 or IPv6 address, else nil.
function M.ip_family(s)
  if type(s) ~= "string" then return nil end
  if ffi.C.lxsk_libc_inet_pton(AF_INET, s, scratch) == 1 then return 4 end
  if ffi.C.lxsk_libc_inet_pton(AF_INET6, s, scratch) == 1 then return 6 end
  return nil
end

return M
