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
-- are tried in id order; the first match decides what happens to the packet:
-- its action, "redirect" (the default), "pass" (to the kernel) or "drop".
--
-- A rule is a table of these keys, all optional (all given must match):
--   ethertype  number or "ipv4", "ipv6", "arp", ... (after any VLAN tags)
--   vlan       outer VLAN id, 0-4095
--   proto      IP protocol: number or "tcp", "udp", "icmp", "icmpv6", ...
--   src, dst   address or prefix, "198.18.0.0/15", "2001:db8::/32" (one family)
--   dport      port, or { first, last } range (TCP, UDP, UDP-Lite, SCTP)
--   action     "redirect", "pass" or "drop"
--
-- A steering object is an xsk.prog object (register, unregister, detach,
-- close, path, mode, id, attached) with the rule methods below.  The rule
-- layout is csrc/steer_abi.h, which the BPF program shares; csrc/steer.c
-- edits the rule maps.
local ffi = require "ffi"
local bit = require "bit"
local C = require "xsk.cdef"
local base = require "xsk.base"
local prog = require "xsk.prog"

local type, pairs, ipairs, tonumber, error, setmetatable, getmetatable = type, pairs, ipairs, tonumber, error,
  setmetatable, getmetatable
local concat, sort, fstring = table.concat, table.sort, ffi.string
local bor, band = bit.bor, bit.band
local argerror, bad_int, describe, core_error = base.argerror, base.bad_int, base.describe, base.core_error

local M = {}

M.MAX_RULES = C.LXSK_RULES_MAX
local UNMATCHED = C.LXSK_RULES_MAX -- the counters slot for packets that matched no rule

M.PROTOS = { icmp = 1, igmp = 2, tcp = 6, udp = 17, gre = 47, esp = 50, ah = 51, icmpv6 = 58, icmp6 = 58,
  sctp = 132, udplite = 136 }
local PROTO_NAMES = { [1] = "icmp", [2] = "igmp", [6] = "tcp", [17] = "udp", [47] = "gre", [50] = "esp", [51] = "ah",
  [58] = "icmpv6", [132] = "sctp", [136] = "udplite" }
M.ETHERTYPES = { ipv4 = 0x0800, arp = 0x0806, ipv6 = 0x86DD, vlan = 0x8100, qinq = 0x88A8, lldp = 0x88CC }
local ETHERTYPE_NAMES = { [0x0800] = "ipv4", [0x0806] = "arp", [0x86DD] = "ipv6" }
M.ACTIONS = { redirect = C.LXSK_ACT_REDIRECT, pass = C.LXSK_ACT_PASS, drop = C.LXSK_ACT_DROP }
local ACTION_NAMES = {}
for name, v in pairs(M.ACTIONS) do ACTION_NAMES[v] = name end

M.schema = {
  ifname = { "string" },                 -- or ifindex, not both
  ifindex = { "int", nil, 1, 0x7fffffff },
  mode = { "enum", "auto", prog.MODES },
  frags = { "bool", false },             -- the xdp.frags build, for multi-buffer sockets
  file = { "string" },                   -- default: bpf/xsk_steer[_frags|_meta].bpf.o next to the core
  replace = { "bool", true },
  rx_time = { "bool", false },           -- stamp redirected packets with their RX time
  rx_meta = { "bool", false },           -- ... and the driver's timestamp, hash, VLAN tag (kfunc build)
}

-- The RX metadata each build can stamp.
local META_TIME = C.LXSK_META_RX_TIME
local META_ALL = bor(C.LXSK_META_RX_TIME, C.LXSK_META_HW_TIME, C.LXSK_META_HASH, C.LXSK_META_VLAN)

-- Where the compiled program lives: LXSK_BPF_DIR, else bpf/ next to the
-- core's shared object, where both the build (build/lua/xsk/) and a rock
-- install put it.  frags: the multi-buffer build; meta: the build that
-- calls the RX metadata kfuncs.
function M.object_path(frags, meta)
  local name = frags and "xsk_steer_frags.bpf.o" or meta and "xsk_steer_meta.bpf.o" or "xsk_steer.bpf.o"
  return prog.include_dir() .. "/" .. name
end

local Steer = setmetatable({}, { __index = prog.Prog })
Steer.__index = Steer
M.Steer = Steer

-- steer.open{ ifname= | ifindex=, mode="auto"|"native"|"skb", frags=false, file=, replace=true,
--             rx_time=false, rx_meta=false }
-- rx_meta loads the kfunc build bound to the interface, which the kernel
-- takes in native mode only.
function M.open(cfg)
  local o, err = base.options("xsk.steer", M.schema, cfg)
  if not o then error(err, 2) end
  if o.rx_meta and o.frags then
    error("xsk.steer: rx_meta and frags do not go together: the kfunc build is single-buffer", 2)
  end
  if o.rx_meta and o.mode == "skb" then
    error("xsk.steer: rx_meta needs native mode (the RX metadata kfuncs run only in a device-bound program, "
      .. "which the kernel does not attach in skb mode)", 2)
  end
  o.file = o.file or M.object_path(o.frags, o.rx_meta)
  o.program = o.frags and "xsk_steer_frags" or o.rx_meta and "xsk_steer_meta" or "xsk_steer"
  o.xskmap = "xsks_map"
  o.dev_bound = o.rx_meta
  local meta = o.rx_meta and META_ALL or o.rx_time and META_TIME or 0
  local st
  st, err = prog.attach("xsk.steer", o, Steer)
  if not st then error(err, 2) end
  -- What set_metadata(true) turns on: what this build can stamp.
  st.meta_bits = o.rx_meta and META_ALL or META_TIME
  if meta ~= 0 and C.lxsk_steer_meta_set(st.p, meta) < 0 then
    local msg = core_error("xsk.steer")
    st:close()
    error(msg, 2)
  end
  return st
end

-- ---- rules: Lua table <-> struct lxsk_rule ----
-- Each helper returns its result, or nil and a message starting with `what`.

local RULE_KEYS = { ethertype = true, vlan = true, proto = true, src = true, dst = true, dport = true, action = true }
local KNOWN_KEYS = {}
for k in pairs(RULE_KEYS) do KNOWN_KEYS[#KNOWN_KEYS + 1] = k end
sort(KNOWN_KEYS)
KNOWN_KEYS = concat(KNOWN_KEYS, ", ")

-- The number-valued keys: { key, match bit, largest value, names (any case) }.
local NUMBERS = {
  { "ethertype", C.LXSK_RULE_ETHERTYPE, 0xffff, M.ETHERTYPES, "ipv4, ipv6, arp, ..." },
  { "vlan", C.LXSK_RULE_VLAN, 4095 },
  { "proto", C.LXSK_RULE_PROTO, 255, M.PROTOS, "tcp, udp, icmp, icmpv6, sctp, ..." },
}
-- The address keys: { key, match bit for IPv4, for IPv6, prefix length field }.
local ADDRESSES = {
  { "src", C.LXSK_RULE_SRC4, C.LXSK_RULE_SRC6, "src_len" },
  { "dst", C.LXSK_RULE_DST4, C.LXSK_RULE_DST6, "dst_len" },
}

local addr_buf = ffi.new("uint8_t[16]")
local text_buf = ffi.new("char[64]")

local function number_of(what, spec, v)
  local key, max, names, listed = spec[1], spec[3], spec[4], spec[5]
  local n = v
  if names and type(v) == "string" then n = names[v:lower()] end
  local want = bad_int(n, 0, max)
  if want then
    if names then want = want .. " or one of " .. listed end
    return nil, argerror(what, "rule." .. key, want, v)
  end
  return n
end

-- "198.18.0.0/15", "2001:db8::/32", or a bare address (all bits): the family
-- (4 or 6) and prefix length; the address is left in addr_buf.
local function prefix_of(what, key, s)
  if type(s) ~= "string" then return nil, argerror(what, "rule." .. key, "an address or prefix string", s) end
  local addr, len = s:match("^([^/]+)/(%d+)$")
  if not addr then
    if s:find("/", 1, true) then return nil, ("%s: rule.%s: bad prefix %q"):format(what, key, s) end
    addr = s
  end
  local fam = C.lxsk_addr_parse(addr, addr_buf)
  if fam < 0 then
    return nil, ("%s: rule.%s: %q is not an IPv4 or IPv6 address or prefix"):format(what, key, s)
  end
  local max = fam == 4 and 32 or 128
  local n = len and tonumber(len) or max
  if n > max then
    return nil, ("%s: rule.%s: prefix length %s is too long for IPv%d in %q"):format(what, key, len, fam, s)
  end
  return fam, n
end

local function ports_of(what, v)
  local lo, hi = v, v
  if type(v) == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if n ~= 2 or v[1] == nil or v[2] == nil then
      return nil, ("%s: rule.dport must be a port or a {first, last} range, got a table of %d entries")
        :format(what, n)
    end
    lo, hi = v[1], v[2]
  end
  if bad_int(lo, 0, 65535) or bad_int(hi, 0, 65535) then
    local shown = type(v) == "table" and ("{%s, %s}"):format(describe(lo), describe(hi)) or describe(v)
    return nil, ("%s: rule.dport: ports must be whole numbers from 0 to 65535, got %s"):format(what, shown)
  end
  if lo > hi then return nil, ("%s: rule.dport: the range {%d, %d} is empty"):format(what, lo, hi) end
  return lo, hi
end

-- Checks a rule table and fills a struct lxsk_rule; `what` starts the
-- messages (default "xsk.steer: encode").
function M.encode(t, what)
  what = what or "xsk.steer: encode"
  if type(t) ~= "table" then return nil, argerror(what, "rule", "a table", t) end
  for k in pairs(t) do
    if not RULE_KEYS[k] then
      return nil, ("%s: unknown rule key %s (known: %s)"):format(what, describe(k), KNOWN_KEYS)
    end
  end
  local r = ffi.new("struct lxsk_rule")
  local match = 0
  for _, spec in ipairs(NUMBERS) do
    local v = t[spec[1]]
    if v ~= nil then
      local n, err = number_of(what, spec, v)
      if not n then return nil, err end
      r[spec[1]] = n
      match = bor(match, spec[2])
    end
  end
  local family = {}
  for _, spec in ipairs(ADDRESSES) do
    local key, v = spec[1], t[spec[1]]
    if v ~= nil then
      local fam, len = prefix_of(what, key, v)
      if not fam then return nil, len end
      ffi.copy(r[key], addr_buf, 16)
      r[spec[4]] = len
      match = bor(match, fam == 4 and spec[2] or spec[3])
      family[key] = fam
    end
  end
  if family.src and family.dst and family.src ~= family.dst then
    return nil, ("%s: rule mixes an IPv%d src (%s) with an IPv%d dst (%s)"):format(what, family.src, t.src,
      family.dst, t.dst)
  end
  if t.dport ~= nil then
    local lo, hi = ports_of(what, t.dport)
    if not lo then return nil, hi end
    r.dport_lo, r.dport_hi = lo, hi
    match = bor(match, C.LXSK_RULE_DPORT)
  end
  if t.action ~= nil then
    local want = base.bad_enum(t.action, M.ACTIONS)
    if want then return nil, argerror(what, "rule.action", want, t.action) end
    r.action = M.ACTIONS[t.action]
  end
  r.match = match
  return r
end

local function format_addr(fam, words, len)
  if C.lxsk_addr_format(fam, ffi.cast("const uint8_t *", words), text_buf, 64) < 0 then return "?" end
  return ("%s/%d"):format(fstring(text_buf), len)
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

-- ---- the rule methods ----

-- nil when self is an open steering object, else what is wrong.
local function bad_self(self, method)
  if getmetatable(self) ~= Steer or not prog.is_prog(self) then
    return ("xsk.steer: %s must be called on a steering object, as st:%s(...), got %s"):format(method, method,
      describe(self))
  end
  if self.closed then return ("xsk.steer: %s: the program is closed"):format(method) end
end

-- nil when id is a rule id (or, with unmatched, also the no-match slot).
local function bad_id(method, id, unmatched)
  local want = bad_int(id, 0, unmatched and UNMATCHED or UNMATCHED - 1)
  if want then return argerror("xsk.steer: " .. method, "id", want, id) end
end

-- Adds a rule (see the file header for its keys); returns its id.
function Steer:add_rule(t)
  local err = bad_self(self, "add_rule")
  if err then error(err, 2) end
  local r
  r, err = M.encode(t, "xsk.steer: add_rule")
  if not r then error(err, 2) end
  local id = C.lxsk_steer_rule_add(self.p, r)
  if id < 0 then error(core_error("xsk.steer"), 2) end
  return id
end

function Steer:remove_rule(id)
  local err = bad_self(self, "remove_rule") or bad_id("remove_rule", id)
  if err then error(err, 2) end
  if C.lxsk_steer_rule_remove(self.p, id) < 0 then error(core_error("xsk.steer"), 2) end
end

-- The rule with this id, as a table, or nil.
function Steer:rule(id)
  local err = bad_self(self, "rule") or bad_id("rule", id)
  if err then error(err, 2) end
  local r = ffi.new("struct lxsk_rule")
  local rc = C.lxsk_steer_rule_get(self.p, id, r)
  if rc < 0 then error(core_error("xsk.steer"), 2) end
  if rc == 0 then return nil end
  return M.decode(r, id)
end

-- Every rule in id order, or nil and a message.
local function list_rules(self)
  local out = {}
  local r = ffi.new("struct lxsk_rule")
  for id = 0, UNMATCHED - 1 do
    local rc = C.lxsk_steer_rule_get(self.p, id, r)
    if rc < 0 then return nil, core_error("xsk.steer") end
    if rc == 1 then out[#out + 1] = M.decode(r, id) end
  end
  return out
end

-- Every rule, in id order: { {id=, proto=, dst=, ...}, ... }
function Steer:rules()
  local err = bad_self(self, "rules")
  if err then error(err, 2) end
  local out
  out, err = list_rules(self)
  if not out then error(err, 2) end
  return out
end

function Steer:clear_rules()
  local err = bad_self(self, "clear_rules")
  if err then error(err, 2) end
  local list
  list, err = list_rules(self)
  if not list then error(err, 2) end
  for _, t in ipairs(list) do
    if C.lxsk_steer_rule_remove(self.p, t.id) < 0 then error(core_error("xsk.steer"), 2) end
  end
end

local counter = ffi.new("struct lxsk_counter")

-- Packets and bytes that matched rule id (summed over CPUs).
function Steer:counters(id)
  local err = bad_self(self, "counters") or bad_id("counters", id)
  if err then error(err, 2) end
  if C.lxsk_steer_counters(self.p, id, counter) < 0 then error(core_error("xsk.steer"), 2) end
  return tonumber(counter.packets), tonumber(counter.bytes)
end

-- Packets and bytes that matched no rule (with no rules: every packet).
function Steer:unmatched()
  local err = bad_self(self, "unmatched")
  if err then error(err, 2) end
  if C.lxsk_steer_counters(self.p, UNMATCHED, counter) < 0 then error(core_error("xsk.steer"), 2) end
  return tonumber(counter.packets), tonumber(counter.bytes)
end

-- Zeroes the counters of one rule (steer.MAX_RULES: the no-match slot), or of
-- every slot when id is nil.
function Steer:reset_counters(id)
  local err = bad_self(self, "reset_counters") or (id ~= nil and bad_id("reset_counters", id, true))
  if err then error(err, 2) end
  for slot = id or 0, id or UNMATCHED do
    if C.lxsk_steer_counters_reset(self.p, slot) < 0 then error(core_error("xsk.steer"), 2) end
  end
end

-- Turns the stamping of redirected packets with RX metadata on or off while
-- traffic flows (what open's rx_time or rx_meta asked for, or what the
-- build can stamp); returns whether it was on.
function Steer:set_metadata(on)
  local err = bad_self(self, "set_metadata")
  if err then error(err, 2) end
  if type(on) ~= "boolean" then error(argerror("xsk.steer: set_metadata", "on", "true or false", on), 2) end
  local before = C.lxsk_steer_meta_set(self.p, on and self.meta_bits or 0)
  if before < 0 then error(core_error("xsk.steer"), 2) end
  return before ~= 0
end

-- Whether redirected packets are stamped with RX metadata now.
function Steer:metadata()
  local err = bad_self(self, "metadata")
  if err then error(err, 2) end
  local bits = C.lxsk_steer_meta_get(self.p)
  if bits < 0 then error(core_error("xsk.steer"), 2) end
  return bits ~= 0
end

function Steer:__tostring()
  return ("xsk.steer(%s%s%s)"):format(self.ifname, self.frags and ", frags" or "", self.closed and ", closed" or "")
end

return M
