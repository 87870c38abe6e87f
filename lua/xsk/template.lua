-- Packet templates: build a UDP frame once, then stamp copies into frames
-- and change a few fields per packet with incremental checksum updates
-- (RFC 1624), so a generator never recomputes a checksum over the payload.
--
--   local t = template.new{ src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
--       src_ip = "10.0.0.1", dst_ip = "10.0.0.2", src_port = 1234, dst_port = 5678,
--       payload = "hello", size = 64 }
--   t:set_u32(0, seq)                  -- a sequence number at payload offset 0
--   t:fill_batch(b)                    -- into every frame of a batch
--
-- Keys: src_mac, dst_mac, src_ip, dst_ip (both IPv4 or both IPv6), src_port,
-- dst_port are required; payload (string, zero-padded up to size), size
-- (whole frame, default the payload's length or 60), max_size (room for
-- set_length to grow into), vlan (VID) and vlan_pcp, ttl (hop limit on IPv6),
-- tos (traffic class on IPv6) and flow_label (IPv6) are optional.
local ffi = require "ffi"
local bit = require "bit"
local C = require "xsk.cdef"
local headers = require "xsk.headers"
local base = require "xsk.base"
local frame = require "xsk.frame"

local band, rshift = bit.band, bit.rshift
local ntohs, ntohl = headers.ntohs, headers.ntohl
local cast, copy, istype = ffi.cast, ffi.copy, ffi.istype
local type, tostring, tonumber, error = type, tostring, tonumber, error
local bad_int, batch_t = base.bad_int, frame.batch_t
local update16, update32, update_bytes = C.lxsk_csum_update16, C.lxsk_csum_update32, C.lxsk_csum_update

local M = {}

-- Jumbo MTU 9000 plus the Ethernet header and two VLAN tags.
M.MAX_SIZE = 9000 + 14 + 8
M.MIN_SIZE = 60 -- Ethernet minimum without FCS: the default pads up to it

local Template = {}
Template.__index = Template

-- ---- checking the description ----

local WHAT = "xsk.template: new"
local SCHEMA = {
  src_mac = { "string" }, dst_mac = { "string" }, src_ip = { "string" }, dst_ip = { "string" },
  src_port = { "int", nil, 0, 65535 }, dst_port = { "int", nil, 0, 65535 },
  payload = { "any" }, size = { "int", nil, 0, M.MAX_SIZE }, max_size = { "int", nil, 0, M.MAX_SIZE },
  vlan = { "int", nil, 0, 4095 }, vlan_pcp = { "int", nil, 0, 7 }, ttl = { "int", 64, 0, 255 },
  tos = { "int", 0, 0, 255 }, flow_label = { "int", nil, 0, 0xfffff },
}
local REQUIRED = { "src_mac", "dst_mac", "src_ip", "dst_ip", "src_port", "dst_port" }

-- ---- building ----

local function put16(p, o, v)
  p[o], p[o + 1] = rshift(v, 8), band(v, 255)
end

local function family(s, what)
  local fam = headers.ip_family(s)
  if not fam then return nil, ("%s: %s %q is not an IPv4 or IPv6 address"):format(WHAT, what, s) end
  return fam
end

-- The description checked and completed, or nil and a message.
local function checked(desc)
  local d, err = base.options(WHAT, SCHEMA, desc)
  if not d then return nil, err end
  err = base.missing(WHAT, d, REQUIRED)
  if err then return nil, err end
  if d.payload ~= nil and type(d.payload) ~= "string" then
    return nil, base.argerror(WHAT, "payload", "a string", d.payload)
  end
  local fam, dfam
  fam, err = family(d.src_ip, "src_ip")
  if not fam then return nil, err end
  dfam, err = family(d.dst_ip, "dst_ip")
  if not dfam then return nil, err end
  if dfam ~= fam then return nil, WHAT .. ": src_ip and dst_ip are of different IP versions" end
  if d.flow_label and fam ~= 6 then return nil, WHAT .. ": flow_label needs IPv6 addresses" end
  if d.vlan_pcp and not d.vlan then return nil, WHAT .. ": vlan_pcp needs vlan" end
  for _, k in ipairs { "src_mac", "dst_mac" } do
    local ok, why = pcall(headers.mac_pton, d[k])
    if not ok then return nil, ("%s: %s: %s"):format(WHAT, k, tostring(why):gsub("^.-mac_pton: ", "")) end
  end
  return d, fam
end

function M.new(desc)
  local d, fam = checked(desc)
  if not d then error(fam, 2) end
  local v6 = fam == 6
  local payload = d.payload or ""
  local l3 = d.vlan and 18 or 14
  local l4 = l3 + (v6 and 40 or 20)
  local pl = l4 + 8
  local need = pl + #payload
  local size = d.size or math.max(M.MIN_SIZE, need)
  if size < need then
    error(("%s: size %d is smaller than headers and payload (%d)"):format(WHAT, size, need), 2)
  end
  local cap = d.max_size or size
  if cap < size then error(("%s: max_size %d is below size %d"):format(WHAT, cap, size), 2) end

  local buf = ffi.new("uint8_t[?]", cap) -- zeroed: the padding
  headers.mac_pton(d.dst_mac, buf)
  headers.mac_pton(d.src_mac, buf + 6)
  if d.vlan then
    put16(buf, 12, 0x8100)
    put16(buf, 14, (d.vlan_pcp or 0) * 8192 + d.vlan)
  end
  put16(buf, l3 - 2, v6 and 0x86dd or 0x0800)
  local ttl = d.ttl
  if v6 then
    local flow = d.flow_label or 0
    local tc = d.tos
    put16(buf, l3, 0x6000 + tc * 16 + rshift(flow, 16))
    put16(buf, l3 + 2, band(flow, 0xffff))
    buf[l3 + 6], buf[l3 + 7] = 17, ttl
    headers.ip6_pton(d.src_ip, buf + l3 + 8)
    headers.ip6_pton(d.dst_ip, buf + l3 + 24)
  else
    buf[l3], buf[l3 + 1] = 0x45, d.tos
    buf[l3 + 8], buf[l3 + 9] = ttl, 17
    headers.ip4_pton(d.src_ip, buf + l3 + 12)
    headers.ip4_pton(d.dst_ip, buf + l3 + 16)
  end
  put16(buf, l4, d.src_port)
  put16(buf, l4 + 2, d.dst_port)
  copy(buf + pl, payload, #payload)
  local r = C.lxsk_udp_frame_fix(buf, size)
  if r < 0 then error(("%s: cannot finish the frame (%d)"):format(WHAT, r), 2) end

  return setmetatable({
    buf = buf, len = size, cap = cap, v6 = v6,
    l3 = l3, l4 = l4, payload_off = pl, hdr_len = pl,
    ip4 = (not v6) and cast(headers.ip4_ptr, buf + l3) or nil,
    ip6 = v6 and cast(headers.ip6_ptr, buf + l3) or nil,
    udp = cast(headers.udp_ptr, buf + l4),
    old = ffi.new("uint8_t[16]"), -- bytes before a change, for the update
  }, Template)
end

-- ---- per packet ----

-- Copy the frame to dst, a pointer with cap bytes of room; returns its
-- length.  A raw write, checked only against the cap given: for frames of a
-- batch, fill_batch checks each frame against the UMEM itself.
function Template:stamp(dst, cap)
  local n = self.len
  if type(cap) ~= "number" or cap < n then
    error(("xsk.template: stamp: the frame is %d bytes, the room given is %s"):format(n, tostring(cap)), 2)
  end
  copy(dst, self.buf, n)
  return n
end

-- Stamp into n frames of a batch from frame first (defaults: all b.n frames
-- from 0), setting their lengths.  Each must be the script's, with room.
function Template:fill_batch(b, n, first)
  if not istype(batch_t, b) then error(frame.not_a_batch("xsk.template: fill_batch", b), 2) end
  first = first or 0
  n = n or b.n - first
  if bad_int(first, 0, b.n) or bad_int(n, 0, b.n - first) then
    error(("xsk.template: fill_batch: frames %s to %s are not within the batch's %d frames")
      :format(tostring(first), tostring(first + (tonumber(n) or 0) - 1), b.n), 2)
  end
  if C.lxsk_batch_fill(b, first, n, self.buf, self.len) < 0 then error(base.core_error("xsk.template"), 2) end
end

-- The frame itself, to read or to change by hand (then call :refresh()).
function Template:frame() return self.buf, self.len end

-- A UDP checksum update; zero means "no checksum" on the wire.
local function udp_fix(udp, c)
  if c == 0 then c = 0xffff end
  udp.check = ntohs(c)
end

function Template:set_src_port(port)
  if bad_int(port, 0, 65535) then error(base.argerror("xsk.template: set_src_port", "port", "0 to 65535", port), 2) end
  local u = self.udp
  local old = ntohs(u.source)
  u.source = ntohs(port)
  udp_fix(u, update16(ntohs(u.check), old, port))
end

function Template:set_dst_port(port)
  if bad_int(port, 0, 65535) then error(base.argerror("xsk.template: set_dst_port", "port", "0 to 65535", port), 2) end
  local u = self.udp
  local old = ntohs(u.dest)
  u.dest = ntohs(port)
  udp_fix(u, update16(ntohs(u.check), old, port))
end

-- nil, or why addr cannot be this template's address.
local function bad_addr(self, addr)
  if type(addr) == "string" then return nil end
  if self.v6 then
    if type(addr) ~= "cdata" then return "an IPv6 address string or a pointer to 16 bytes" end
  elseif bad_int(addr, 0, 4294967295) then
    return "an IPv4 address string or a number from 0 to 4294967295"
  end
end

local function set_addr(self, addr, field, off6)
  if self.v6 then
    local dst = self.buf + self.l3 + off6
    copy(self.old, dst, 16)
    if type(addr) == "string" then headers.ip6_pton(addr, dst) else copy(dst, addr, 16) end
    local u = self.udp
    udp_fix(u, update_bytes(ntohs(u.check), self.old, dst, 16, 0))
    return
  end
  if type(addr) == "string" then addr = headers.ip4_pton(addr) end
  local ip, u = self.ip4, self.udp
  local old = ntohl(ip[field])
  ip[field] = headers.htonl(addr)
  ip.check = ntohs(update32(ntohs(ip.check), old, addr))
  udp_fix(u, update32(ntohs(u.check), old, addr))
end

-- IPv4: a host-order number or "a.b.c.d"; IPv6: a string or 16 bytes.
function Template:set_src_ip(addr)
  local want = bad_addr(self, addr)
  if want then error(base.argerror("xsk.template: set_src_ip", "the address", want, addr), 2) end
  set_addr(self, addr, "saddr", 8)
end
function Template:set_dst_ip(addr)
  local want = bad_addr(self, addr)
  if want then error(base.argerror("xsk.template: set_dst_ip", "the address", want, addr), 2) end
  set_addr(self, addr, "daddr", 24)
end

-- A big-endian 32-bit value at payload offset off (any alignment).
function Template:set_u32(off, v)
  if bad_int(off, 0, self.len) or self.payload_off + off + 4 > self.len then
    error(("xsk.template: set_u32: offset %s is outside the payload"):format(tostring(off)), 2)
  end
  if bad_int(v, 0, 4294967295) then
    error(base.argerror("xsk.template: set_u32", "the value", "0 to 4294967295", v), 2)
  end
  local pos = self.payload_off + off
  local p, old = self.buf + pos, self.old
  old[0], old[1], old[2], old[3] = p[0], p[1], p[2], p[3]
  p[0], p[1], p[2], p[3] = band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255)
  local u = self.udp
  udp_fix(u, update_bytes(ntohs(u.check), old, p, 4, band(pos - self.l4, 1)))
end
Template.set_seq = Template.set_u32

-- A new total frame length: IP and UDP lengths and both checksums follow.
-- Grows into zeros up to max_size.
function Template:set_length(n)
  if bad_int(n, self.hdr_len, self.cap) then
    error(base.argerror("xsk.template: set_length", "the length", ("%d to %d"):format(self.hdr_len, self.cap), n), 2)
  end
  self.len = n
  C.lxsk_udp_frame_fix(self.buf, n)
end

-- After changing the frame by hand: recompute lengths and checksums.
function Template:refresh()
  local r = C.lxsk_udp_frame_fix(self.buf, self.len)
  if r < 0 then error("xsk.template: refresh: the frame is no longer UDP over IP (" .. r .. ")", 2) end
end

function Template:set_src_mac(mac) headers.mac_pton(mac, self.buf + 6) end
function Template:set_dst_mac(mac) headers.mac_pton(mac, self.buf) end

return M
