-- XDP programs of our own: load a BPF object file, attach one of its programs
-- to an interface and put AF_XDP sockets into its XSKMAP.
--
--   local prog = require "xsk.prog"
--   local p = prog.load{ file = "my.bpf.o", program = "my_prog", ifname = "veth0" }
--   local s = umem:socket{ ifname = "veth0", queue = 0, load_program = false }
--   p:register(s)        -- packets p redirects at queue 0 now reach s
--   print(p:path())      -- "single" or "dispatcher"
--   p:close()            -- detaches
local ffi = require "ffi"
local C = require "xsk.cdef"
local config = require "xsk.config"
local errors = require "xsk.errors"

local setmetatable, getmetatable, type, tonumber, error = setmetatable, getmetatable, type, tonumber, error
local raise = errors.raise

local M = {}

M.MODES = { auto = 0, native = 1, skb = 2 }
local MODE_NAMES = { [0] = "auto", "native", "skb" }
local PATH_NAMES = { [0] = "single", "dispatcher" }

M.schema = {
  file = { "string" },
  program = { "any" },      -- string; nil: the first program in the file
  xskmap = { "any" },       -- string, default "xsks_map"; false: the program has none
  ifname = { "any" },       -- string, or ifindex
  ifindex = { "uint", 0 },
  mode = { "enum", "auto", M.MODES },
  frags = { "bool", false },
  replace = { "bool", true }, -- detach a leftover program of ours first
}

local Prog = {}
Prog.__index = Prog
M.Prog = Prog

-- Builds the C options from a checked config; used by xsk.steer too.
function M.load_checked(what, o, level)
  level = (level or 1) + 1
  if o.program ~= nil and (type(o.program) ~= "string" or o.program == "") then
    error(what .. ": program must be a non-empty string", level)
  end
  local xskmap = o.xskmap
  if xskmap == nil then xskmap = "xsks_map" end
  if xskmap == false then xskmap = "" end
  if type(xskmap) ~= "string" then error(what .. ": xskmap must be a map name or false", level) end
  if o.ifname ~= nil and (type(o.ifname) ~= "string" or o.ifname == "") then
    error(what .. ": ifname must be a non-empty string", level)
  end
  if o.ifname == nil and o.ifindex == 0 then error(what .. ": ifname (or ifindex) is required", level) end

  local opts = ffi.new("struct lxsk_prog_opts")
  -- the strings must outlive the call: keep them in locals
  local file, program, ifname = o.file, o.program, o.ifname
  opts.file = file
  opts.program = program
  opts.xskmap = xskmap
  opts.ifname = ifname
  opts.ifindex = o.ifindex
  opts.mode = M.MODES[o.mode]
  opts.frags = o.frags and 1 or 0
  opts.replace = o.replace and 1 or 0
  local p = C.lxsk_prog_load(opts)
  if p == nil then raise(level) end
  ffi.gc(p, C.lxsk_prog_free)
  local ifidx = C.lxsk_prog_ifindex(p)
  return setmetatable({
    p = p, file = file, program = ffi.string(C.lxsk_prog_name(p)), xskmap = xskmap ~= "" and xskmap or nil,
    ifname = ifname, ifindex = ifidx, frags = o.frags, registered = {},
  }, Prog)
end

-- prog.load{ file=, program=, xskmap="xsks_map", ifname=, mode="auto"|"native"|"skb", frags=false }
function M.load(cfg)
  local o = config.apply("xsk.prog", M.schema, cfg, 2)
  config.require("xsk.prog", o, "file", 2)
  local p = M.load_checked("xsk.prog", o, 2) -- not a tail call: error levels count this frame
  return p
end

local function check_open(self, level)
  if self.closed then error("xsk.prog: the program is closed", level + 1) end
end

-- p:register(sock) or p:register(fd, queue): the socket receives what the
-- program redirects at its queue.
function Prog:register(sock, queue)
  check_open(self, 2)
  local fd
  if type(sock) == "number" then
    fd = sock
    if type(queue) ~= "number" then error("xsk.prog: register(fd, queue) needs a queue number", 2) end
  elseif type(sock) == "table" and type(sock.fd) == "function" then
    if sock.closed then error("xsk.prog: register: the socket is closed", 2) end
    fd = sock:fd()
    queue = queue or sock.queue
    if sock.ifindex and sock:ifindex() ~= self.ifindex then
      error(("xsk.prog: register: the socket is on interface index %d, the program on %s (index %d)")
        :format(sock:ifindex(), self.ifname or "?", self.ifindex), 2)
    end
  else
    error("xsk.prog: register expects an xsk socket or (fd, queue)", 2)
  end
  if C.lxsk_prog_register(self.p, queue, fd) < 0 then raise(2) end
  self.registered[queue] = sock
  return self
end

function Prog:unregister(queue)
  check_open(self, 2)
  if type(queue) == "table" then queue = queue.queue end
  if type(queue) ~= "number" then error("xsk.prog: unregister expects a queue number or a socket", 2) end
  if C.lxsk_prog_unregister(self.p, queue) < 0 then raise(2) end
  self.registered[queue] = nil
  return self
end

function Prog:detach()
  if self.closed then return end
  if C.lxsk_prog_detach(self.p) < 0 then raise(2) end
end

function Prog:close()
  if self.closed then return end
  self.closed = true
  self.registered = {}
  C.lxsk_prog_close(self.p)
end

-- "single" (libxdp attached our program alone) or "dispatcher" (libxdp's
-- multi-program dispatcher runs it).
function Prog:path() return PATH_NAMES[C.lxsk_prog_path(self.p)] end

-- The attach mode in force: "native", "skb" (or "auto" when unknown).
function Prog:mode() return MODE_NAMES[C.lxsk_prog_mode(self.p)] or "auto" end

function Prog:attached() return C.lxsk_prog_attached(self.p) ~= 0 end

-- The kernel's id for the program (as bpftool and `ip link` show it).
function Prog:id() return tonumber(C.lxsk_prog_id(self.p)) end

-- A map fd of the program, by name (for bpf_map_* calls of your own).
function Prog:map_fd(name)
  check_open(self, 2)
  local fd = C.lxsk_prog_map_fd(self.p, name)
  if fd < 0 then raise(2) end
  return fd
end

function Prog:__tostring()
  return ("xsk.prog(%s:%s on %s%s)"):format(self.file, self.program or "?", self.ifname or self.ifindex,
    self.closed and ", closed" or "")
end

local function ifindex_of(ifname, level)
  if type(ifname) == "number" then return ifname end
  if type(ifname) ~= "string" then error("xsk.detach: expects an interface name", level + 1) end
  local idx = C.lxsk_if_index(ifname)
  if idx < 0 then raise(level + 1) end
  return idx
end

-- Detaches every XDP program from an interface (a leftover of a killed
-- process, say).  With ours_only, only lua-xsk's programs and libxdp's xsk
-- default program.  Returns how many programs were detached.
function M.detach(ifname, ours_only)
  local idx = ifindex_of(ifname, 2)
  local n = ours_only and C.lxsk_detach_ours(idx) or C.lxsk_detach_all(idx)
  if n < 0 then raise(2) end
  return n
end

function M.is_prog(v) return type(v) == "table" and getmetatable(v) == Prog end

return M
