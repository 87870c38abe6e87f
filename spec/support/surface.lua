-- Prints lua-xsk's public surface, one name a line, as docs/API.md names it:
--   MODULE.function   a function of a public module (xsk.umem, headers.parse)
--   OBJECT:method     a method of an object users get (umem:alloc, f:set)
--   OBJECT.function   a function field of a plain table users get (env.destroy)
-- Run by spec/api_spec.lua as a process of its own (tools/xsk-luajit
-- spec/support/surface.lua), as root: it makes a namespace with a veth pair,
-- a UMEM, a socket, a steering program and the other objects, and reads their
-- method tables at run time, so what it prints is what the code has now.
--
-- Public modules are the files in lua/xsk/ but the INTERNAL ones.  FFI types
-- are caught as they get their metatables (ffi.metatype is wrapped before
-- lua-xsk loads) and named by FFI_NAMES.  Lines starting with "!" are
-- problems the spec reports as they are (an object it could not make, an FFI
-- type without a name in docs/API.md).
local ffi = require "ffi"

-- Modules users reach only through xsk or the objects it makes.
local INTERNAL = {
  base = true, cdef = true, config = true, errors = true, core = true,
  umem = true, socket = true, frame = true, init = true, handover = true,
}

-- FFI type -> the name docs/API.md gives its values.
local FFI_NAMES = {
  ["struct lxsk_frame"] = "f", ["struct lxsk_batch"] = "b",
  ["struct lxsk_eth_hdr"] = "eth", ["struct lxsk_vlan_hdr"] = "vlan", ["struct lxsk_arp_hdr"] = "arp",
  ["struct lxsk_ipv4_hdr"] = "ip4", ["struct lxsk_ipv6_hdr"] = "ip6", ["struct lxsk_udp_hdr"] = "udp",
  ["struct lxsk_tcp_hdr"] = "tcp", ["struct lxsk_icmp_hdr"] = "icmp", ["struct lxsk_icmp6_hdr"] = "icmp6",
  ["struct lxsk_hist"] = "h",
}

local metatypes = {}
local real_metatype = ffi.metatype
ffi.metatype = function(ct, mt) -- luacheck: ignore 122 (wrapping it is the point)
  metatypes[#metatypes + 1] = { ct = ct, mt = mt }
  return real_metatype(ct, mt)
end

local out = {}
local function emit(s) out[#out + 1] = s end
local function problem(fmt, ...) emit("!" .. fmt:format(...)) end

local function public(k)
  return type(k) == "string" and k:sub(1, 1) ~= "_"
end

-- The functions of a table and of the __index tables behind it.
local function methods(v, seen)
  seen = seen or {}
  local t = {}
  local function walk(tbl)
    if type(tbl) ~= "table" or seen[tbl] then return end
    seen[tbl] = true
    for k, fn in pairs(tbl) do
      if public(k) and type(fn) == "function" then t[k] = true end
    end
    local mt = getmetatable(tbl)
    if type(mt) == "table" then walk(rawget(mt, "__index")) end
  end
  -- An object's methods are its metatable's; the fields of a plain table
  -- (netns.setup's env) are its API.
  local mt = type(v) == "table" and getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then
    walk(rawget(mt, "__index"))
  elseif type(v) == "table" then
    walk(v)
  end
  return t
end

-- Methods are called with ":", the functions of a plain table with ".".
local function object(name, v)
  if v == nil then return problem("no %s object to read", name) end
  local mt = type(v) == "table" and getmetatable(v)
  local sep = type(mt) == "table" and type(rawget(mt, "__index")) == "table" and ":" or "."
  for k in pairs(methods(v)) do emit(name .. sep .. k) end
end

-- ---- modules ----

local xsk = require "xsk"
local mods = { xsk = xsk }
local p = io.popen("ls lua/xsk/*.lua")
for file in p:lines() do
  local name = file:match("([%w_]+)%.lua$")
  if not INTERNAL[name] then mods[name] = require("xsk." .. name) end
end
p:close()
for name, m in pairs(mods) do
  -- xsk's lazy fields are modules, not functions: rawget keeps them unloaded.
  for k, v in pairs(m) do
    if public(k) and type(v) == "function" then emit(name .. "." .. k) end
  end
end

-- ---- objects ----

local netns, steer, prog = xsk.netns, xsk.steer, xsk.prog
local objs = {}
local env
local ok, err = pcall(function()
  netns.private_bpffs()
  env = netns.setup { prefix = "xskapi", enter = true }
  object("env", env)
  local umem = xsk.umem { frame_count = 64 }
  objs[#objs + 1] = umem
  object("umem", umem)
  local sock = umem:socket { ifname = env.a }
  object("sock", sock)
  local sender, receiver = umem:channel(4)
  object("sender", sender)
  object("receiver", receiver)
  local worker = xsk.workers.start(function() end)
  worker:join(5)
  object("worker", worker)
  object("mb", xsk.mailbox.new(1))
  local ctr = xsk.counters.new(1)
  object("ctr", ctr)
  object("slot", ctr:slot(1))
  for _, ring in ipairs { "fill", "comp", "rx", "tx" } do object(ring, sock[ring]) end
  local b = umem:batch(4)
  umem:alloc(b, 1)
  local tmp = os.tmpname()
  local w = xsk.pcap.writer(tmp)
  object("w", w)
  w:write(b.f[0].data, 60)
  w:close()
  local r = xsk.pcap.reader(tmp)
  object("r", r)
  r:close()
  os.remove(tmp)
  umem:release(b)
  object("t", xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
    src_ip = "198.18.0.1", dst_ip = "198.18.0.2", src_port = 1, dst_port = 2 })
  object("g", xsk.flows.new { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
    src_ip = "198.18.0.1", dst_ip = "198.18.0.2", dst_port = 2 })
  object("stats", xsk.stats.new { rx = true, out = { write = function() end } })
  object("pc", xsk.pace.new { pps = 1000 })
  object("flt", xsk.filter.compile("udp"))
  -- One program on an interface at a time: the steering one, then a plain one.
  local st = steer.open { ifname = env.b }
  object("st", st)
  st:close()
  local pr = prog.load { file = steer.object_path(), program = "xsk_steer", ifname = env.b }
  object("p", pr)
  pr:close()
  -- the parser of cli.parser is argparse's, documented there.
end)
for i = #objs, 1, -1 do pcall(objs[i].close, objs[i]) end
if env then env.destroy() end
if not ok then problem("making the objects failed: %s", tostring(err)) end

for _, m in ipairs(metatypes) do
  local ct = tostring(m.ct):match("^ctype<(.*)>$") or tostring(m.ct)
  local name = FFI_NAMES[ct]
  if not name then
    problem("FFI type %s has methods but no name in docs/API.md's legend (spec/support/surface.lua FFI_NAMES)", ct)
  elseif type(m.mt.__index) ~= "table" then
    problem("FFI type %s: its __index is not a table, its methods cannot be listed", ct)
  else
    for k in pairs(methods(m.mt.__index)) do emit(name .. ":" .. k) end
  end
end

table.sort(out)
local last
for _, line in ipairs(out) do
  if line ~= last then print(line) end
  last = line
end
