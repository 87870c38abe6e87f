-- Steering: lua-xsk's own XDP program (bpf/xsk_steer.c) with rules that pick
-- which packets go to the AF_XDP sockets and which go on to the kernel.
--
--   local steer = require "xsk.steer"
--   local st = steer.open{ ifname = "veth0" }
--   local id = st:add_rule{ proto = "udp", dst = "198.18.0.0/15", dport = 5000 }
--   st:register(sock)                 -- a socket made with load_program = false
--   local packets, bytes = st:counters(id)
--   st:close()
--
-- With no rules every packet goes to the socket of its RX queue; with rules,
-- only packets that match one do, and the rest go to the kernel stack.  A
-- queue without a socket passes its packets to the kernel either way.  Rules
-- are tried in id order; the first match decides.
local ffi = require "ffi"
local bit = require "bit"
local C = require "xsk.cdef"
local config = require "xsk.config"
local errors = require "xsk.errors"
local prog = require "xsk.prog"

local type, pairs, ipairs, tonumber, tostring, error, setmetatable = type, pairs, ipairs, tonumber, tostring, error,
  setmetatable
local floor, concat, sort = math.floor, table.concat, table.sort
local bor, band = bit.bor, bit.band
local raise = errors.raise

local M = {}

M.MAX_RULES = C.LXSK_RULES_MAX
local UNMATCHED = C.LXSK_RULES_MAX -- the counters slot for packets that matched no rule

M.PROTOS = { icmp = 1, igmp = 2, tcp = 6, udp = 17, gre = 47, esp = 50, ah = 51, icmpv6 = 58, icmp6 = 58,
  sctp = 132, udplite = 136 }
local PROTO_NAMES = { [1] = "icmp", [2] = "igmp", [6] = "tcp", [17] = "udp", [47] = "gre", [50] = "esp", [51] = "ah",
  [58] = "icmpv6", [132] = "sctp", [136] = "udplite" }
M.ETHERTYPES = { ipv4 = 0x0800, arp = 0x0806, ipv6 = 0x86DD, vlan = 0x8100, qinq = 0x88A8, lldp = 0x88CC }
local ETHERTYPE_NAMES = { [0x0800] = "ipv4", [0x0806] = "arp", [0x86DD] = "ipv6" }
local ACTIONS = { redirect = C.LXSK_ACT_REDIRECT, pass = C.LXSK_ACT_PASS, drop = C.LXSK_ACT_DROP }
local ACTION_NAMES = { [0] = "redirect", "pass", "drop" }
local RULE_KEYS = { ethertype = true, vlan = true, proto = true, src = true, dst = true, dport = true, action = true }

M.schema = {
  ifname = { "any" },
  ifindex = { "uint", 0 },
  mode = { "enum", "auto", prog.MODES },
  frags = { "bool", false },
  file = { "any" }, -- the object file; default: bpf/xsk_steer[_frags].bpf.o next to the modules
  replace = { "bool", true },
}

-- Where the compiled program lives: LXSK_BPF_DIR, else bpf/ next to the
-- core's shared object, where both the build (build/lua/xsk/) and a rock
-- install put it.
function M.object_path(frags)
  local name = frags and "xsk_steer_frags.bpf.o" or "xsk_steer.bpf.o"
  local dir = os.getenv("LXSK_BPF_DIR")
  if dir and dir ~= "" then return dir .. "/" .. name end
  local core_dir = require("xsk.core").path:match("^(.*)/[^/]*$") or "."
  return core_dir .. "/bpf/" .. name
end

local Steer = {}
Steer.__index = Steer
M.Steer = Steer

-- steer.open{ ifname=, mode="auto"|"native"|"skb", frags=false }
function M.open(cfg)
  local o = config.apply("xsk.steer", M.schema, cfg, 2)
  if o.file ~= nil and (type(o.file) ~= "string" or o.file == "") then
    error("xsk.steer: file must be a non-empty string", 2)
  end
  o.file = o.file or M.object_path(o.frags)
  o.program = o.frags and "xsk_steer_frags" or "xsk_steer"
  o.xskmap = "xsks_map"
  local p = prog.load_checked("xsk.steer", o, 2)
  return setmetatable({ prog = p, p = p.p, ifname = p.ifname, ifindex = p.ifindex, frags = o.frags }, Steer)
end

-- ---- rules: Lua table <-> struct lxsk_rule ----

local function bad(msg, level) error("xsk.steer: " .. msg, level + 1) end

local function whole(v, lo, hi)
  return type(v) == "number" and v == floor(v) and v >= lo and v <= hi
end

-- "198.18.0.0/15", "2001:db8::/32", or a bare address (all bits): family, bytes, len
local function parse_prefix(key, s, level)
  if type(s) ~= "string" then bad(("rule key %s must be an address or prefix string, got %s"):format(key, tostring(s)), level + 1) end
  local addr, len = s:match("^([^/]+)/(%d+)$")
  if not addr then
    if s:find("/", 1, true) then bad(("rule key %s: bad prefix %q"):format(key, s), level + 1) end
    addr = s
  end
  local bytes = ffi.new("uint8_t[16]")
  local fam = C.lxsk_addr_parse(addr, bytes)
  if fam < 0 then bad(("rule key %s: %q is not an IPv4 or IPv6 address or prefix"):format(key, s), level + 1) end
  local max = fam == 4 and 32 or 128
  len = len and tonumber(len) or max
  if len > max then bad(("rule key %s: prefix length %d is too long for IPv%d in %q"):format(key, len, fam, s), level + 1) end
  return fam, bytes, len
end

-- Rule key t[key] as a number in 0..max, or one of names (any case).
local function number_or_name(t, key, names, max, range, listed, level)
  local v = t[key]
  if type(v) == "string" then v = names[v:lower()] end
  if not whole(v, 0, max) then
    bad(("rule key %s must be %s or one of %s, got %s"):format(key, range, listed, tostring(t[key])), level + 1)
  end
  return v
end

local function set_addr(words, bytes)
  ffi.copy(words, bytes, 16)
end

-- Checks a rule table and fills a struct lxsk_rule.
function M.encode(t, level)
  level = (level or 1) + 1
  if type(t) ~= "table" then bad("a rule must be a table, got " .. type(t), level) end
  for k in pairs(t) do
    if not RULE_KEYS[k] then
      local known = {}
      for name in pairs(RULE_KEYS) do known[#known + 1] = name end
      sort(known)
      bad(("unknown rule key %s (known: %s)"):format(tostring(k), concat(known, ", ")), level)
    end
  end
  local r = ffi.new("struct lxsk_rule")
  local match = 0

  if t.ethertype ~= nil then
    r.ethertype = number_or_name(t, "ethertype", M.ETHERTYPES, 0xffff, "0-0xffff", "ipv4, ipv6, arp", level)
    match = bor(match, C.LXSK_RULE_ETHERTYPE)
  end
  if t.vlan ~= nil then
    if not whole(t.vlan, 0, 4095) then bad(("rule key vlan must be a VLAN id 0-4095, got %s"):format(tostring(t.vlan)), level) end
    r.vlan = t.vlan
    match = bor(match, C.LXSK_RULE_VLAN)
  end
  if t.proto ~= nil then
    r.proto = number_or_name(t, "proto", M.PROTOS, 255, "0-255", "tcp, udp, icmp, icmpv6, sctp", level)
    match = bor(match, C.LXSK_RULE_PROTO)
  end
  local sfam, dfam
  if t.src ~= nil then
    local fam, bytes, len = parse_prefix("src", t.src, level)
    set_addr(r.src, bytes)
    r.src_len = len
    sfam = fam
    match = bor(match, fam == 4 and C.LXSK_RULE_SRC4 or C.LXSK_RULE_SRC6)
  end
  if t.dst ~= nil then
    local fam, bytes, len = parse_prefix("dst", t.dst, level)
    set_addr(r.dst, bytes)
    r.dst_len = len
    dfam = fam
    match = bor(match, fam == 4 and C.LXSK_RULE_DST4 or C.LXSK_RULE_DST6)
  end
  if sfam and dfam and sfam ~= dfam then
    bad(("rule mixes an IPv%d src (%s) with an IPv%d dst (%s)"):format(sfam, t.src, dfam, t.dst), level)
  end
  if t.dport ~= nil then
    local lo, hi
    if type(t.dport) == "table" then
      lo, hi = t.dport[1], t.dport[2]
      if #t.dport ~= 2 then bad("rule key dport must be a port or a {first, last} range", level) end
    else
      lo, hi = t.dport, t.dport
    end
    if not whole(lo, 0, 65535) or not whole(hi, 0, 65535) then
      bad(("rule key dport: ports must be whole numbers 0-65535, got %s"):format(
        type(t.dport) == "table" and ("{%s, %s}"):format(tostring(lo), tostring(hi)) or tostring(t.dport)), level)
    end
    if lo > hi then bad(("rule key dport: empty range {%d, %d}"):format(lo, hi), level) end
    r.dport_lo, r.dport_hi = lo, hi
    match = bor(match, C.LXSK_RULE_DPORT)
  end
  if t.action ~= nil then
    local a = ACTIONS[t.action]
    if not a then bad(("rule key action must be \"redirect\", \"pass\" or \"drop\", got %s"):format(tostring(t.action)), level) end
    r.action = a
  end
  r.match = match
  return r
end

local function format_addr(fam, words, len)
  local buf = ffi.new("char[64]")
  if C.lxsk_addr_format(fam, ffi.cast("const uint8_t *", words), buf, 64) < 0 then return "?" end
  return ("%s/%d"):format(ffi.string(buf), len)
end

-- struct lxsk_rule -> the table add_rule takes (names where there are names).
function M.decode(r, id)
  local m = r.match
  local t = { id = id }
  if band(m, C.LXSK_RULE_ETHERTYPE) ~= 0 then t.ethertype = ETHERTYPE_NAMES[r.ethertype] or r.ethertype end
  if band(m, C.LXSK_RULE_VLAN) ~= 0 then t.vlan = r.vlan end
  if band(m, C.LXSK_RULE_PROTO) ~= 0 then t.proto = PROTO_NAMES[r.proto] or r.proto end
  if band(m, C.LXSK_RULE_SRC4) ~= 0 then t.src = format_addr(4, r.src, r.src_len) end
  if band(m, C.LXSK_RULE_SRC6) ~= 0 then t.src = format_addr(6, r.src, r.src_len) end
  if band(m, C.LXSK_RULE_DST4) ~= 0 then t.dst = format_addr(4, r.dst, r.dst_len) end
  if band(m, C.LXSK_RULE_DST6) ~= 0 then t.dst = format_addr(6, r.dst, r.dst_len) end
  if band(m, C.LXSK_RULE_DPORT) ~= 0 then
    if r.dport_lo == r.dport_hi then t.dport = r.dport_lo else t.dport = { r.dport_lo, r.dport_hi } end
  end
  t.action = ACTION_NAMES[r.action] or r.action
  return t
end

-- ---- the object ----

local function check_open(self, level)
  if self.prog.closed then error("xsk.steer: closed", level + 1) end
end

local function check_id(id, level, allow_unmatched)
  local max = allow_unmatched and UNMATCHED or UNMATCHED - 1
  if not whole(id, 0, max) then bad(("rule id must be a whole number 0-%d, got %s"):format(max, tostring(id)), level + 1) end
end

-- Adds a rule (see the file header for its keys); returns its id.
function Steer:add_rule(t)
  check_open(self, 2)
  local r = M.encode(t, 2)
  local id = C.lxsk_steer_rule_add(self.p, r)
  if id < 0 then raise(2) end
  return id
end

function Steer:remove_rule(id)
  check_open(self, 2)
  check_id(id, 2)
  if C.lxsk_steer_rule_remove(self.p, id) < 0 then raise(2) end
end

-- The rule with this id, as a table, or nil.
function Steer:rule(id)
  check_open(self, 2)
  check_id(id, 2)
  local r = ffi.new("struct lxsk_rule")
  local rc = C.lxsk_steer_rule_get(self.p, id, r)
  if rc < 0 then raise(2) end
  if rc == 0 then return nil end
  return M.decode(r, id)
end

-- Every rule, in id order: { {id=, proto=, dst=, ...}, ... }
function Steer:rules()
  check_open(self, 2)
  local out = {}
  local r = ffi.new("struct lxsk_rule")
  for id = 0, UNMATCHED - 1 do
    local rc = C.lxsk_steer_rule_get(self.p, id, r)
    if rc < 0 then raise(2) end
    if rc == 1 then out[#out + 1] = M.decode(r, id) end
  end
  return out
end

function Steer:clear_rules()
  for _, t in ipairs(self:rules()) do self:remove_rule(t.id) end
end

-- Packets and bytes that matched rule id (summed over CPUs).
function Steer:counters(id)
  check_open(self, 2)
  check_id(id, 2)
  local c = ffi.new("struct lxsk_counter")
  if C.lxsk_steer_counters(self.p, id, c) < 0 then raise(2) end
  return tonumber(c.packets), tonumber(c.bytes)
end

-- Packets and bytes that matched no rule (with no rules: every packet).
function Steer:unmatched()
  check_open(self, 2)
  local c = ffi.new("struct lxsk_counter")
  if C.lxsk_steer_counters(self.p, UNMATCHED, c) < 0 then raise(2) end
  return tonumber(c.packets), tonumber(c.bytes)
end

-- Zeroes the counters of one rule, or of every slot when id is nil.
function Steer:reset_counters(id)
  check_open(self, 2)
  if id ~= nil then check_id(id, 2, true) end
  for slot = id or 0, id or UNMATCHED do
    if C.lxsk_steer_counters_reset(self.p, slot) < 0 then raise(2) end
  end
end

function Steer:register(sock, queue)
  check_open(self, 2)
  self.prog:register(sock, queue)
  return self
end

function Steer:unregister(queue)
  check_open(self, 2)
  self.prog:unregister(queue)
  return self
end

function Steer:detach() self.prog:detach() end
function Steer:close() self.prog:close() end
function Steer:path() return self.prog:path() end
function Steer:mode() return self.prog:mode() end
function Steer:id() return self.prog:id() end
function Steer:attached() return self.prog:attached() end

function Steer:__tostring()
  return ("xsk.steer(%s%s%s)"):format(self.ifname or self.ifindex, self.frags and ", frags" or "",
    self.prog.closed and ", closed" or "")
end

return M
