-- xsk.flows: what a traffic generator sends: UDP frames whose addresses and
-- ports walk through ranges and whose sizes follow a mix, stamped into the
-- frames of a batch without a checksum pass over any payload.
--
--   local flows = require "xsk.flows"
--   local g = flows.new{ src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
--     src_ip = "198.18.0.1-198.18.0.100", dst_ip = "198.18.1.1", src_port = 9,
--     dst_port = "1000-1999", size = "64,576,1500" }      -- or size = "imix", or 128
--   umem:alloc(b, 64); g:fill(b)                           -- 64 frames, each the next one
--
-- Frame i of the sequence has the i-th value of every range, each range
-- stepping by one per frame and starting over at its end, independently of
-- the others (two ranges of the same length stay in step; lengths without a
-- common factor give their product of distinct flows), and the i-th size of
-- the mix, the mix starting over at its end too.
--
-- One xsk.template per size holds the frame; a frame's fields are set with
-- the template's setters, which update the IP and UDP checksums by RFC 1624
-- from the old and new value, so a frame costs a few small C calls and one
-- copy, whatever its size.  fill allocates nothing and compiles.
local ffi = require "ffi"
local template = require "xsk.template"
local headers = require "xsk.headers"
local base = require "xsk.base"
local frame = require "xsk.frame"

local type, tonumber, tostring, error, ipairs, setmetatable, pcall = type, tonumber, tostring, error, ipairs,
  setmetatable, pcall
local floor, max, min, unpack = math.floor, math.max, math.min, unpack
local istype, batch_t, bad_int = ffi.istype, frame.batch_t, base.bad_int

local WHAT = "xsk.flows"

local M = {}

-- Frame sizes (bytes, Ethernet header included, no FCS) of the "imix"
-- preset: 7 of 64, 4 of 576 and 1 of 1500 in every 12 frames (the "simple
-- IMIX"), spread out rather than in runs.
M.IMIX = { 64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 64, 576 }
-- The smallest frame: Ethernet, IPv4 and UDP headers, empty payload.
M.MIN_SIZE = 14 + 20 + 8
M.MAX_SIZES = 1024

-- ---- parsing ranges and mixes (for command lines); nil and why on bad input ----

-- "a.b.c.d" or "a.b.c.d-e.f.g.h": the first and last address as host-order
-- numbers.
function M.ip4_range(s)
  if type(s) ~= "string" then return nil, "an IPv4 address or range (a.b.c.d-e.f.g.h)" end
  local a, b = s:match("^([%d.]+)%-([%d.]+)$")
  a = a or s
  local ok1, lo = pcall(headers.ip4_pton, a)
  local ok2, hi = pcall(headers.ip4_pton, b or a)
  if not (ok1 and ok2) or not lo or not hi then
    return nil, "an IPv4 address or range (a.b.c.d-e.f.g.h)"
  end
  if hi < lo then return nil, ("a range whose first address is not after its last (%s)"):format(s) end
  return lo, hi
end

-- "P" or "P-Q" (ports from 0 to 65535), or a number: the first and last port.
function M.port_range(s)
  local lo, hi
  if type(s) == "number" then
    lo, hi = s, s
  elseif type(s) == "string" then
    local a, b = s:match("^(%d+)%-(%d+)$")
    lo, hi = tonumber(a or s:match("^%d+$")), tonumber(b or s:match("^%d+$"))
  end
  if bad_int(lo, 0, 65535) or bad_int(hi, 0, 65535) then
    return nil, "a port or range of ports from 0 to 65535 (P or P-Q)"
  end
  if hi < lo then return nil, ("a range whose first port is not after its last (%s)"):format(s) end
  return lo, hi
end

-- "64,576,1500", "imix", a number or a list of numbers: a list of sizes.
function M.sizes(s)
  local list = {}
  if type(s) == "number" then
    list[1] = s
  elseif type(s) == "table" then
    for i, v in ipairs(s) do list[i] = v end
  elseif type(s) == "string" and s:lower() == "imix" then
    for i, v in ipairs(M.IMIX) do list[i] = v end
  elseif type(s) == "string" then
    for item in (s .. ","):gmatch("([^,]*),") do list[#list + 1] = tonumber(item) or item end
  end
  if #list == 0 or #list > M.MAX_SIZES then
    return nil, ("1 to %d frame sizes (64,576,1500) or \"imix\""):format(M.MAX_SIZES)
  end
  for _, v in ipairs(list) do
    if bad_int(v, M.MIN_SIZE, template.MAX_SIZE) then
      return nil, ("frame sizes from %d to %d bytes"):format(M.MIN_SIZE, template.MAX_SIZE)
    end
  end
  return list
end

-- ---- the generator ----

local Flows = {}
Flows.__index = Flows

local schema = {
  src_mac = { "string" }, dst_mac = { "string" },
  src_ip = { "string" }, dst_ip = { "string" },
  src_port = { "any", 9 }, dst_port = { "any" },
  size = { "any", 64 },
  vlan = { "int", nil, 0, 4095 },
  payload = { "string" },
}

-- A range field: its first and last value and how many values it has.
local function range(lo, hi) return { lo = lo, hi = hi, n = hi - lo + 1 } end

function M.new(cfg)
  local o, err = base.options(WHAT, schema, cfg)
  if not o then error(err, 2) end
  err = base.missing(WHAT, o, { "src_mac", "dst_mac", "src_ip", "dst_ip", "dst_port" })
  if err then error(err, 2) end
  local v6 = headers.ip_family(o.src_ip) == 6 or headers.ip_family(o.dst_ip) == 6
  local fields = {}
  for _, k in ipairs { "src_ip", "dst_ip" } do
    if v6 then
      fields[k] = false -- one IPv6 address each, as the template has it
    else
      local lo, hi = M.ip4_range(o[k])
      if not lo then error(base.argerror(WHAT, k, hi, o[k]), 2) end
      fields[k] = range(lo, hi)
    end
  end
  for _, k in ipairs { "src_port", "dst_port" } do
    local lo, hi = M.port_range(o[k])
    if not lo then error(base.argerror(WHAT, k, hi, o[k]), 2) end
    fields[k] = range(lo, hi)
  end
  local sizes
  sizes, err = M.sizes(o.size)
  if not sizes then error(base.argerror(WHAT, "size", err, o.size), 2) end

  -- One template per distinct size, all starting at the first flow.
  local by_size, tpl = {}, {}
  for i, size in ipairs(sizes) do
    local t = by_size[size]
    if not t then
      local ok, made = pcall(template.new, {
        src_mac = o.src_mac, dst_mac = o.dst_mac,
        src_ip = v6 and o.src_ip or headers.ip4_ntop(fields.src_ip.lo),
        dst_ip = v6 and o.dst_ip or headers.ip4_ntop(fields.dst_ip.lo),
        src_port = fields.src_port.lo, dst_port = fields.dst_port.lo,
        size = size, vlan = o.vlan, payload = o.payload,
      })
      if not ok then error(WHAT .. ": " .. tostring(made):gsub("^.-template%.new: ", ""), 2) end
      t = made
      -- what the template holds now, so a setter runs only on a change
      t.cur_src_ip, t.cur_dst_ip = fields.src_ip and fields.src_ip.lo, fields.dst_ip and fields.dst_ip.lo
      t.cur_src_port, t.cur_dst_port = fields.src_port.lo, fields.dst_port.lo
      by_size[size] = t
    end
    tpl[i - 1] = t
  end

  local src_ip, dst_ip, src_port, dst_port = fields.src_ip, fields.dst_ip, fields.src_port, fields.dst_port
  local n_flows = 1
  for _, f in ipairs { src_ip or { n = 1 }, dst_ip or { n = 1 }, src_port, dst_port } do n_flows = n_flows * f.n end
  return setmetatable({
    tpl = tpl, nsizes = #sizes, sizes = sizes,
    -- ranges of one value never change: fill skips them
    src_ip = src_ip and src_ip.n > 1 and src_ip or nil, dst_ip = dst_ip and dst_ip.n > 1 and dst_ip or nil,
    src_port = src_port.n > 1 and src_port or nil, dst_port = dst_port.n > 1 and dst_port or nil,
    v6 = v6, max_size = max(unpack(sizes)), min_size = min(unpack(sizes)),
    generated = 0,
    combinations = n_flows,
  }, Flows)
end

-- Stamps frames first .. first+n-1 of b (defaults: every frame of the
-- batch), each with the next flow and size, and sets their lengths.  Each
-- must be the script's, with room for its size.  Frame k of the sequence
-- takes value k % n of each range and size k % #sizes of the mix, computed
-- rather than stepped: a wrap-around is no branch for the JIT to trace apart.
function Flows:fill(b, first, n)
  if not istype(batch_t, b) then error(frame.not_a_batch("xsk.flows: fill", b), 2) end
  first = first or 0
  n = n or b.n - first
  if bad_int(first, 0, b.n) or bad_int(n, 0, b.n - first) then
    error(("xsk.flows: fill: frames %s to %s are not within the batch's %d frames")
      :format(tostring(first), tostring(first + (tonumber(n) or 0) - 1), b.n), 2)
  end
  local tpl, nsizes, k = self.tpl, self.nsizes, self.generated
  local sip, dip, sport, dport = self.src_ip, self.dst_ip, self.src_port, self.dst_port
  for i = first, first + n - 1 do
    local t = tpl[k % nsizes]
    if sip then
      local v = sip.lo + k % sip.n
      if v ~= t.cur_src_ip then t:set_src_ip(v); t.cur_src_ip = v end
    end
    if dip then
      local v = dip.lo + k % dip.n
      if v ~= t.cur_dst_ip then t:set_dst_ip(v); t.cur_dst_ip = v end
    end
    if sport then
      local v = sport.lo + k % sport.n
      if v ~= t.cur_src_port then t:set_src_port(v); t.cur_src_port = v end
    end
    if dport then
      local v = dport.lo + k % dport.n
      if v ~= t.cur_dst_port then t:set_dst_port(v); t.cur_dst_port = v end
    end
    t:fill_batch(b, 1, i)
    k = k + 1
  end
  self.generated = k
end

-- Frames generated so far.
function Flows:count() return self.generated end

-- The bytes of the i-th frame size of the mix (0-based, cycling): for
-- counting bytes without looking at the frames.
function Flows:size_at(i)
  return self.sizes[floor(i) % self.nsizes + 1]
end

return M
