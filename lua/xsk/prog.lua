-- XDP programs of our own: load a BPF object file, attach one of its programs
-- to an interface and put AF_XDP sockets into its XSKMAP.
--
--   local prog = require "xsk.prog"
--   local p = prog.load{ file = "my.bpf.o", program = "my_prog", ifname = "veth0" }
--   local s = umem:socket{ ifname = "veth0", queue = 0, load_program = false }
--   p:register(s)        -- packets p redirects at queue 0 now reach s
--   print(p:path())      -- "single" or "dispatcher"
--   p:close()            -- detaches
--
-- A program left attached by a killed process is detached first when it is
-- one of ours (replace = true, the default); prog.detach(ifname) removes what
-- is left by hand.  The C side (csrc/prog.c, csrc/leftover.c) decides what is
-- ours.  xsk.steer's objects are programs too: they inherit these methods.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"

local type, pairs, tonumber, error, setmetatable = type, pairs, tonumber, error, setmetatable
local fstring = ffi.string
local argerror, bad_int, bad_string, core_error = base.argerror, base.bad_int, base.bad_string, base.core_error

local INT_MAX = 0x7fffffff
local U32_MAX = 0xffffffff

local M = {}

M.MODES = { auto = C.LXSK_ATTACH_AUTO, native = C.LXSK_ATTACH_NATIVE, skb = C.LXSK_ATTACH_SKB }
local MODE_NAMES = {}
for name, v in pairs(M.MODES) do MODE_NAMES[v] = name end
local PATH_NAMES = { [C.LXSK_PATH_SINGLE] = "single", [C.LXSK_PATH_DISPATCHER] = "dispatcher" }

M.schema = {
  file = { "string" },
  program = { "string" },                 -- nil: the first program in the file
  xskmap = { "any" },                     -- a map name (nil: "xsks_map"), or false: the program has none
  ifname = { "string" },                  -- or ifindex, not both
  ifindex = { "int", nil, 1, INT_MAX },
  mode = { "enum", "auto", M.MODES },
  frags = { "bool", false },
  replace = { "bool", true },             -- detach a leftover program of ours first
  dev_bound = { "bool", false },          -- bound to the interface: the RX metadata kfuncs (native mode)
}

local Prog = {}
Prog.__index = Prog
M.Prog = Prog

-- Every object attach made (xsk.steer's too): what a method accepts as self.
local objects = setmetatable({}, { __mode = "k" })

-- Loads and attaches a program from options already checked against a schema
-- (M.schema's keys; xsk.steer fills in its own).  Returns an object with
-- metatable class (default Prog), or nil and a message starting with `what`.
function M.attach(what, o, class)
  local missing = base.missing(what, o, { "file" })
  if missing then return nil, missing end
  local xskmap = o.xskmap
  if xskmap == nil then xskmap = "xsks_map" end
  if xskmap ~= false and bad_string(xskmap) then
    return nil, argerror(what, "xskmap", "a map name or false", xskmap)
  end
  if (o.ifname == nil) == (o.ifindex == nil) then
    return nil, ("%s: give ifname or ifindex (one of them), got %s"):format(what,
      o.ifname == nil and "neither" or "both")
  end
  local opts = ffi.new("struct lxsk_prog_opts")
  -- the strings stay alive in o and xskmap until the call returns
  opts.file = o.file
  opts.program = o.program
  opts.xskmap = xskmap or ""
  opts.ifname = o.ifname
  opts.ifindex = o.ifindex or 0
  opts.mode = M.MODES[o.mode]
  opts.frags = o.frags and 1 or 0
  opts.replace = o.replace and 1 or 0
  opts.dev_bound = o.dev_bound and 1 or 0
  local p = C.lxsk_prog_load(opts)
  if p == nil then return nil, core_error(what) end
  ffi.gc(p, C.lxsk_prog_free)
  local self = setmetatable({
    what = what, p = p, file = o.file, program = fstring(C.lxsk_prog_name(p)), xskmap = xskmap or nil,
    ifname = fstring(C.lxsk_prog_ifname(p)), ifindex = C.lxsk_prog_ifindex(p), frags = o.frags, registered = {},
  }, class or Prog)
  objects[self] = true
  return self
end

-- prog.load{ file=, program=, xskmap="xsks_map", ifname= | ifindex=, mode="auto"|"native"|"skb",
--            frags=false, replace=true, dev_bound=false }
function M.load(cfg)
  local o, err = base.options("xsk.prog", M.schema, cfg)
  if not o then error(err, 2) end
  local p
  p, err = M.attach("xsk.prog", o)
  if not p then error(err, 2) end
  return p
end

function M.is_prog(v) return objects[v] == true end

-- ---- the kernel's BPF run statistics ----

local Stats = {}
Stats.__index = Stats

-- Turns the kernel's run statistics of BPF programs on (p:run_stats()) until
-- the returned object is closed (or collected).  They cost every program on
-- the machine a clock read a run, so turn them on only to measure.
function M.stats_on()
  local fd = C.lxsk_bpf_stats_on()
  if fd < 0 then error(core_error("xsk.prog: stats_on"), 2) end
  local box = ffi.gc(ffi.new("int[1]", fd), function(b) C.lxsk_bpf_stats_off(b[0]) end)
  return setmetatable({ box = box }, Stats)
end

function Stats:close()
  if self.box then
    C.lxsk_bpf_stats_off(self.box[0])
    ffi.gc(self.box, nil)
    self.box = nil
  end
end

-- The folder with the headers an XDP program of one's own includes to stamp
-- RX metadata (xsk_meta.h, meta_abi.h): next to the compiled programs.
function M.include_dir()
  local dir = os.getenv("LXSK_BPF_DIR")
  if dir and dir ~= "" then return dir end
  local core_dir = require("xsk.core").path:match("^(.*)/[^/]*$") or "."
  return core_dir .. "/bpf"
end

-- nil when self is an open program (any object attach made), else what is wrong.
local function bad_self(self, method)
  if not objects[self] then
    return ("xsk.prog: %s must be called on a program, as p:%s(...), got %s"):format(method, method,
      base.describe(self))
  end
  if self.closed then return ("%s: %s: the program is closed"):format(self.what, method) end
end

-- The fd and queue that register(sock) or register(fd, queue) means, or nil
-- and a message.
local function socket_of(self, sock, queue)
  local what = self.what .. ": register"
  if type(sock) == "number" then
    local want = bad_int(sock, 0, INT_MAX)
    if want then return nil, argerror(what, "fd", want, sock) end
    want = bad_int(queue, 0, U32_MAX)
    if want then return nil, argerror(what, "queue", want, queue) end
    return sock, queue
  end
  if type(sock) ~= "table" or type(sock.fd) ~= "function" or type(sock.queue) ~= "number" then
    return nil, argerror(what, "sock", "an xsk socket or a file descriptor", sock)
  end
  if sock:is_closed() then return nil, what .. ": the socket is closed" end
  if queue ~= nil and queue ~= sock.queue then
    return nil, ("%s: the socket is bound to queue %d, not %s: packets redirected to another queue's "
      .. "socket are dropped"):format(what, sock.queue, base.describe(queue))
  end
  if type(sock.ifindex) == "function" and sock:ifindex() ~= self.ifindex then
    return nil, ("%s: the socket is on interface index %d, the program on %s (index %d)")
      :format(what, sock:ifindex(), self.ifname, self.ifindex)
  end
  return sock:fd(), sock.queue
end

-- p:register(sock) or p:register(fd, queue): the socket receives what the
-- program redirects at its queue.
function Prog:register(sock, queue)
  local err = bad_self(self, "register")
  if err then error(err, 2) end
  local fd, q = socket_of(self, sock, queue)
  if not fd then error(q, 2) end
  if C.lxsk_prog_register(self.p, q, fd) < 0 then error(core_error(self.what), 2) end
  self.registered[q] = sock
  return self
end

-- p:unregister(queue) or p:unregister(sock).
function Prog:unregister(queue)
  local err = bad_self(self, "unregister")
  if err then error(err, 2) end
  if type(queue) == "table" then queue = queue.queue end
  local want = bad_int(queue, 0, U32_MAX)
  if want then error(argerror(self.what .. ": unregister", "queue", want .. " or an xsk socket", queue), 2) end
  if C.lxsk_prog_unregister(self.p, queue) < 0 then error(core_error(self.what), 2) end
  self.registered[queue] = nil
  return self
end

-- Detaches the program from its interface; the object stays open (its maps
-- still readable) until close.  Idempotent.
function Prog:detach()
  if not objects[self] then error(bad_self(self, "detach"), 2) end
  if self.closed then return end
  if C.lxsk_prog_detach(self.p) < 0 then error(core_error(self.what), 2) end
end

-- Detaches and closes; idempotent (the GC does it too).
function Prog:close()
  if not objects[self] then error(bad_self(self, "close"), 2) end
  if self.closed then return end
  self.closed = true
  self.registered = {}
  C.lxsk_prog_close(self.p)
end

-- "single" (libxdp attached our program alone) or "dispatcher" (libxdp's
-- multi-program dispatcher runs it).
function Prog:path()
  if not objects[self] then error(bad_self(self, "path"), 2) end
  return PATH_NAMES[C.lxsk_prog_path(self.p)]
end

-- The attach mode in force: "native", "skb" (or "auto" when unknown).
function Prog:mode()
  if not objects[self] then error(bad_self(self, "mode"), 2) end
  return MODE_NAMES[C.lxsk_prog_mode(self.p)] or "auto"
end

function Prog:attached()
  if not objects[self] then error(bad_self(self, "attached"), 2) end
  return C.lxsk_prog_attached(self.p) ~= 0
end

-- The kernel's id for the program (as bpftool and `ip link` show it); nil
-- once closed.
function Prog:id()
  if not objects[self] then error(bad_self(self, "id"), 2) end
  local id = C.lxsk_prog_id(self.p)
  if id < 0 then return nil end
  return tonumber(id)
end

local run_ns, runs = ffi.new("uint64_t[1]"), ffi.new("uint64_t[1]")

-- The kernel's run statistics of the program: ns spent in it and how many
-- times it ran, counted while BPF run statistics are on (prog.stats_on()).
function Prog:run_stats()
  local err = bad_self(self, "run_stats")
  if err then error(err, 2) end
  if C.lxsk_prog_run_stats(self.p, run_ns, runs) < 0 then error(core_error(self.what), 2) end
  return tonumber(run_ns[0]), tonumber(runs[0])
end

-- A map fd of the program, by name (for bpf_map_* calls of your own).
function Prog:map_fd(name)
  local err = bad_self(self, "map_fd")
  if err then error(err, 2) end
  local want = bad_string(name)
  if want then error(argerror(self.what .. ": map_fd", "name", want, name), 2) end
  local fd = C.lxsk_prog_map_fd(self.p, name)
  if fd < 0 then error(core_error(self.what), 2) end
  return fd
end

function Prog:__tostring()
  return ("xsk.prog(%s:%s on %s%s)"):format(self.file, self.program, self.ifname, self.closed and ", closed" or "")
end

-- The ifindex of an interface given by name or index, or nil and a message.
local function ifindex_of(ifname)
  if type(ifname) == "string" then
    local idx = C.lxsk_if_index(ifname)
    if idx < 0 then return nil, core_error("xsk.prog: detach") end
    return idx
  end
  local want = bad_int(ifname, 1, INT_MAX)
  if want then
    return nil, argerror("xsk.prog: detach", "ifname", "an interface name or index (" .. want .. ")", ifname)
  end
  return ifname
end

-- Detaches every XDP program from an interface (a leftover of a killed
-- process, say).  With ours_only, only lua-xsk's programs and libxdp's xsk
-- default program, and none that is in use.  Returns how many went.
function M.detach(ifname, ours_only)
  local idx, err = ifindex_of(ifname)
  if not idx then error(err, 2) end
  if ours_only ~= nil and type(ours_only) ~= "boolean" then
    error(argerror("xsk.prog: detach", "ours_only", "true, false or nil", ours_only), 2)
  end
  local n = ours_only and C.lxsk_detach_ours(idx) or C.lxsk_detach_all(idx)
  if n < 0 then error(core_error("xsk.prog: detach"), 2) end
  return n
end

return M
