-- Random frames built from a known structure, each with what headers.parse
-- must report for it: headers_spec's random specs and tools/fuzz_lua.lua
-- compare parse's result with what was built, not only that it stayed
-- within the frame.
--
-- This builds bytes from a description and notes offsets as it writes them;
-- it never parses.  Each frame is well formed: Ethernet, up to two VLAN tags,
-- then IPv4 (options, fragments), IPv6 (a chain of Hop-by-Hop, Routing,
-- Destination Options, AH and Fragment headers), ARP or another EtherType;
-- UDP, TCP, ICMP, ICMPv6 or an unknown protocol; sometimes Ethernet padding.
--
--   local frames = require "support.frames"
--   local f = frames.random(rnd)     -- rnd(n): a whole number in 0 .. n-1
--   f.bytes, f.want (result fields), f.opaque[i] (byte i, 0-based, is one
--   that parse neither follows nor reports: addresses, ports, payload ...)
--   frames.compare(result, f.want) -> nil, or a message naming the field
local bit = require "bit"
local ffi = require "ffi"
local headers = require "xsk.headers"

local band, rshift = bit.band, bit.rshift
local char, unpack = string.char, unpack
local ERR_TRUNC, ERR_BADLEN = headers.ERR_TRUNC, headers.ERR_BADLEN

local M = {}

-- The IPv6 extension headers headers.parse follows, and how many it takes
-- before it gives up (ERR_DEPTH): at most MAX_EXT - 1 and then the upper layer.
M.EXT = { 0, 43, 60, 51, 44 }
M.MAX_EXT_FOLLOWED = 7

local function be16(v) return char(band(rshift(v, 8), 255), band(v, 255)) end

-- Collects a frame's bytes and which of them parse does not interpret.
local function writer(rnd)
  local w = { parts = {}, n = 0, opaque = {} }
  -- s: bytes; opaque: parse neither follows nor reports them
  function w.put(s, opaque)
    w.parts[#w.parts + 1] = s
    if opaque then
      for i = w.n, w.n + #s - 1 do w.opaque[i] = true end
    end
    w.n = w.n + #s
  end
  function w.random(n)
    local t = {}
    for i = 1, n do t[i] = char(rnd(256)) end
    w.put(table.concat(t), true)
  end
  return w
end

local function pick(rnd, t) return t[rnd(#t) + 1] end

-- A protocol number that is none of the given ones.
local function other_proto(rnd, taken)
  while true do
    local p = rnd(256)
    local used = false
    for _, q in ipairs(taken) do used = used or p == q end
    if not used then return p end
  end
end

-- The upper layer at w.n, `room` bytes long (the IP packet's rest); fills
-- want's l4 and payload fields.  `first_frag`: the IP packet is the first
-- fragment of a longer datagram, so a UDP length may count more than is here.
local function upper(w, rnd, want, proto, room, v6, first_frag)
  local l4 = w.n
  want.l4_off = l4
  if proto == 17 and room >= 8 then
    local pay = room - 8
    -- the UDP length: exact, or shorter than the IP payload (trailing bytes
    -- in the IP packet), or on a first fragment the whole datagram's
    local ulen = 8 + pay
    if pay > 0 and rnd(4) == 0 then ulen = 8 + rnd(pay) end
    if first_frag and rnd(2) == 0 then ulen = 8 + pay + 1 + rnd(2000) end
    w.random(4) -- ports
    w.put(be16(ulen))
    w.random(2 + pay) -- checksum, payload
    want.udp = l4
    want.payload_off, want.payload_len = l4 + 8, math.min(ulen, room) - 8
  elseif proto == 6 and room >= 20 then
    local doff = 5 + rnd(math.min(11, math.floor((room - 20) / 4) + 1))
    w.random(12)
    w.put(char(doff * 16 + rnd(16)))
    w.random(room - 13)
    want.tcp = l4
    want.payload_off, want.payload_len = l4 + doff * 4, room - doff * 4
  elseif ((proto == 1 and not v6) or (proto == 58 and v6)) and room >= 8 then
    w.random(room)
    want[v6 and "icmp6" or "icmp"] = l4
    want.payload_off, want.payload_len = l4 + 8, room - 8
  else
    -- any other protocol: the parser hands the rest over as payload
    w.random(room)
    want.payload_off, want.payload_len = l4, room
  end
end

-- Upper-layer protocol numbers and how many bytes its header and payload take.
local function upper_choice(rnd, v6)
  local proto = pick(rnd, { 17, 17, 6, 6, v6 and 58 or 1, v6 and 1 or 58, 59, 47, -1 })
  if proto == -1 then
    proto = other_proto(rnd, v6 and { 6, 17, 58, 0, 43, 60, 51, 44 } or { 1, 6, 17 })
  end
  local hdr = (proto == 6) and 20 + 4 * rnd(4) or 8
  return proto, hdr + rnd(40)
end

local function ipv4(w, rnd, want)
  local l3 = w.n
  local ihl = 5 + rnd(4)
  local proto, room = upper_choice(rnd, false)
  -- fragment field: whole, DF, first fragment (MF), later fragment
  local kind = rnd(4)
  local fo = ({ 0, 0x4000, 0x2000, 0 })[kind + 1]
  if kind == 3 then fo = 1 + rnd(0x1fff) + (rnd(2) == 1 and 0x2000 or 0) end
  local tot = ihl * 4 + room
  w.put(char(0x40 + ihl), false)
  w.random(1) -- TOS
  w.put(be16(tot))
  w.random(2) -- id
  w.put(be16(fo))
  w.random(1) -- TTL
  w.put(char(proto))
  w.random(10 + (ihl - 5) * 4) -- checksum, addresses, options
  want.ip4, want.l3_len, want.l4_proto = l3, tot, proto
  want.frag = band(fo, 0x3fff) ~= 0 and 1 or 0
  if band(fo, 0x1fff) ~= 0 then
    -- a later fragment: no upper header in it
    w.random(room)
    want.payload_off, want.payload_len = l3 + ihl * 4, room
  else
    upper(w, rnd, want, proto, room, false, band(fo, 0x2000) ~= 0)
  end
end

local function ipv6(w, rnd, want)
  local l3 = w.n
  local n_ext = rnd(4) == 0 and rnd(M.MAX_EXT_FOLLOWED + 1) or rnd(3)
  local chain = {}
  for i = 1, n_ext do chain[i] = pick(rnd, M.EXT) end
  local proto, room = upper_choice(rnd, true)
  -- Lengths first: the fixed header carries the payload length.
  local sizes, later_frag = {}, nil
  local plen = room
  for i, t in ipairs(chain) do
    if t == 51 then sizes[i] = 4 * (2 + rnd(4))
    elseif t == 44 then sizes[i] = 8
    else sizes[i] = 8 * (1 + rnd(3)) end
    plen = plen + sizes[i]
  end
  w.put(char(0x60 + rnd(16)))
  w.random(3) -- traffic class, flow label
  w.put(be16(plen))
  w.put(char(chain[1] or proto))
  w.random(33) -- hop limit, addresses
  want.ip6, want.l3_len = l3, 40 + plen
  for i, t in ipairs(chain) do
    local nh = chain[i + 1] or proto
    local off = w.n
    w.put(char(nh))
    if t == 44 then
      want.frag = 1
      -- offset (13 bits), reserved, M; a later fragment ends the walk
      local foff = rnd(3) == 0 and 0 or 1 + rnd(0x1fff)
      w.random(1)
      w.put(be16(foff * 8 + rnd(8)))
      w.random(4)
      if foff ~= 0 then
        later_frag = off
        -- the rest, headers named in the chain or not, is fragment data
        local rest = 0
        for j = i + 1, #chain do rest = rest + sizes[j] end
        w.random(rest + room)
        want.l4_proto = nh
        want.payload_off, want.payload_len = off + 8, rest + room
        break
      end
    elseif t == 51 then
      w.put(char(sizes[i] / 4 - 2))
      w.random(sizes[i] - 2)
    else
      w.put(char(sizes[i] / 8 - 1))
      w.random(sizes[i] - 2)
    end
  end
  if not later_frag then
    want.l4_proto = proto
    upper(w, rnd, want, proto, room, true, want.frag == 1)
  end
end

local function arp(w, rnd, want)
  local l3 = w.n
  w.put(be16(1) .. be16(0x0800) .. char(6, 4))
  w.random(22) -- operation, addresses
  local extra = rnd(20)
  w.random(extra)
  want.arp, want.l3_len = l3, 28
  want.payload_off, want.payload_len = l3 + 28, extra
end

-- Fields of struct lxsk_parsed compared as numbers, and header pointers
-- compared as offsets from the frame's start (nil: not set).
M.FIELDS = { "err", "vlan_count", "l3_type", "l4_proto", "frag", "l3_off", "l3_len", "l4_off",
  "payload_off", "payload_len" }
M.HEADERS = { "eth", "arp", "ip4", "ip6", "udp", "tcp", "icmp", "icmp6" }

-- A random well-formed frame and what parse must report for it.
function M.random(rnd)
  local w = writer(rnd)
  local want = {
    err = 0, vlan_count = 0, l3_type = 0, l4_proto = 0, frag = 0, l3_off = 0, l3_len = 0, l4_off = 0,
    payload_off = 0, payload_len = 0, eth = 0, vlan_tci = {}, vlan_off = {},
  }
  w.random(12) -- addresses
  local tags = rnd(3) == 0 and 1 + rnd(2) or 0
  for i = 0, tags - 1 do
    local tci = rnd(65536)
    w.put(be16(pick(rnd, { 0x8100, 0x88a8, 0x9100 })) .. be16(tci))
    want.vlan_tci[i], want.vlan_off[i] = tci, 14 + 4 * i
  end
  want.vlan_count = tags
  local kind = rnd(8)
  local et
  if kind < 3 then et = 0x0800
  elseif kind < 6 then et = 0x86dd
  elseif kind == 6 then et = 0x0806
  else
    repeat et = rnd(65536) until et ~= 0x0800 and et ~= 0x86dd and et ~= 0x0806 and et ~= 0x8100
      and et ~= 0x88a8 and et ~= 0x9100
  end
  w.put(be16(et))
  want.l3_type, want.l3_off = et, w.n
  if et == 0x0800 then ipv4(w, rnd, want)
  elseif et == 0x86dd then ipv6(w, rnd, want)
  elseif et == 0x0806 then arp(w, rnd, want)
  else
    local n = rnd(60)
    w.random(n)
    want.payload_off, want.payload_len = want.l3_off, n
  end
  -- Ethernet padding after an IP packet is not part of it
  if (et == 0x0800 or et == 0x86dd) and rnd(4) == 0 then w.random(1 + rnd(20)) end
  local bytes = table.concat(w.parts)
  return { bytes = bytes, want = want, opaque = w.opaque, len = #bytes }
end

local u8p = ffi.typeof("const uint8_t *")

local function offset_of(r, ptr)
  if ptr == nil then return nil end
  return tonumber(ffi.cast(u8p, ptr) - r.base)
end

-- nil when the result r says exactly what want says; otherwise a message
-- naming the first field that differs.
function M.compare(r, want)
  for _, k in ipairs(M.FIELDS) do
    if tonumber(r[k]) ~= want[k] then
      return ("%s is %s, built %s"):format(k, tostring(tonumber(r[k])), tostring(want[k]))
    end
  end
  for _, k in ipairs(M.HEADERS) do
    local got = offset_of(r, r[k])
    if got ~= want[k] then
      return ("%s header at %s, built at %s"):format(k, tostring(got), tostring(want[k]))
    end
  end
  for i = 0, 1 do
    local got, built = offset_of(r, r.vlan[i]), want.vlan_off[i]
    if got ~= built or (built and (r.vlan_tci[i] ~= want.vlan_tci[i] or r.vlan_off[i] ~= built)) then
      return ("VLAN tag %d at %s (TCI %d), built at %s (TCI %s)"):format(i, tostring(got), r.vlan_tci[i],
        tostring(built), tostring(want.vlan_tci[i]))
    end
  end
  return nil
end

-- nil when what parse reports for bytes before `limit` (default: all) agrees
-- with what was built: every header it reports there sits where one was
-- built, and so do the VLAN tags and the layer 3 type it read.  For frames
-- that were cut or corrupted: parse may stop early, but what it filled in
-- before the damage must be right.
function M.compare_prefix(r, want, limit)
  limit = limit or math.huge
  for _, k in ipairs(M.HEADERS) do
    local got = offset_of(r, r[k])
    if got ~= nil and got < limit and got ~= want[k] then
      return ("%s header at %d, built %s"):format(k, got, tostring(want[k]))
    end
  end
  for i = 0, r.vlan_count - 1 do
    if r.vlan_off[i] + 2 <= limit and (r.vlan_tci[i] ~= want.vlan_tci[i] or r.vlan_off[i] ~= want.vlan_off[i]) then
      return ("VLAN tag %d (TCI %d at %d) was not built so"):format(i, r.vlan_tci[i], r.vlan_off[i])
    end
  end
  if r.l3_off ~= 0 and r.l3_off <= limit and (r.l3_off ~= want.l3_off or r.l3_type ~= want.l3_type) then
    return ("layer 3 type 0x%04x at %d, built 0x%04x at %d"):format(r.l3_type, r.l3_off, want.l3_type,
      want.l3_off)
  end
  return nil
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- What parse must say about the first len bytes of frame f: true and the
-- fields, or false when the cut ends inside a header or inside the IP packet
-- whose length the frame announces (the frame's payload may be cut short
-- only where it runs to the frame's end: ARP and unknown EtherTypes).
function M.want_cut(f, len)
  local w = f.want
  if len >= f.len then return true, w end
  if len < w.l3_off then return false end
  if w.ip4 or w.ip6 then
    if len < w.l3_off + w.l3_len then return false end
    return true, w
  end
  if w.arp and len < w.l3_off + 28 then return false end
  local c = copy(w)
  c.payload_len = len - w.payload_off
  return true, c
end

-- The frame's bytes with 1 to 4 bytes changed (only bytes parse does not
-- interpret when opaque_only), and the lowest offset of a changed byte that
-- parse does interpret (nil when none).
function M.corrupt(f, rnd, opaque_only)
  local t = { f.bytes:byte(1, -1) }
  local candidates
  if opaque_only then
    candidates = {}
    for i = 0, f.len - 1 do
      if f.opaque[i] then candidates[#candidates + 1] = i end
    end
    if #candidates == 0 then return f.bytes, nil end
  end
  local bad_at
  for _ = 1, 1 + rnd(4) do
    local i = candidates and candidates[rnd(#candidates) + 1] or rnd(f.len)
    local v = rnd(256)
    if v ~= t[i + 1] and not f.opaque[i] and (bad_at == nil or i < bad_at) then bad_at = i end
    t[i + 1] = v
  end
  return char(unpack(t)), bad_at
end

-- Checks parse's verdict ok and result r for the first len bytes of frame f,
-- whose bytes parse interprets were changed from offset bad_at on (nil: not
-- changed).  Returns nil, or what is wrong.
function M.check(f, len, bad_at, ok, r)
  if ok ~= (r.err == 0) then return ("parse returned %s with err %d"):format(tostring(ok), r.err) end
  if bad_at then return M.compare_prefix(r, f.want, bad_at) end
  local want_ok, want = M.want_cut(f, len)
  if want_ok then
    if not ok then return ("parse failed (err %d) on a well-formed frame"):format(r.err) end
    return M.compare(r, want)
  end
  if ok then return ("parse accepted the frame cut to %d of %d bytes"):format(len, f.len) end
  if r.err ~= ERR_TRUNC and r.err ~= ERR_BADLEN then
    return ("a frame cut to %d of %d bytes: err %d, not truncated or bad length"):format(len, f.len, r.err)
  end
  return M.compare_prefix(r, f.want)
end

return M
