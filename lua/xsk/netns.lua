-- Throwaway network namespaces and veth pairs, for specs, examples and
-- benchmarks.  Everything made here is named with a prefix and this process's
-- pid, and `destroy` removes it whatever state it was left in.
--
-- Making namespaces, entering them and mounting bpffs all need root
-- (CAP_SYS_ADMIN, and CAP_NET_ADMIN for the links): when the kernel refuses
-- for that reason, the error says "needs root" before anything else.
local C = require "xsk.cdef"
local base = require "xsk.base"

local ipairs, type, error, tonumber = ipairs, type, error, tonumber

local M = {}

local WHAT = "xsk.netns"

-- Runs a shell command and returns its exit status and output.  LuaJIT's
-- popen():close() does not report the status, so the shell prints it last.
local function run(cmd)
  local p = io.popen("{ " .. cmd .. "\n} 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return tonumber(status) or -1, body or out
end

-- What `ip` prints when the caller lacks the capabilities it needs.
local function refused(out)
  return out:find("Operation not permitted", 1, true) or out:find("Permission denied", 1, true)
end

-- nil and the message for a failed command, naming what it was for.
local function failed(what, cmd, status, out)
  if refused(out) then
    return ("%s: %s: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): %s: %s"):format(WHAT, what, cmd,
      (out:gsub("%s+$", "")))
  end
  return ("%s: %s: command failed (exit %d): %s\n%s"):format(WHAT, what, status, cmd, out)
end

-- The helper behind sh and setup: true, output or nil, message.
local function must(what, cmd)
  local status, out = run(cmd)
  if status ~= 0 then return nil, failed(what, cmd, status, out) end
  return true, out
end

-- Runs a shell command; raises with its output when it fails.
function M.sh(cmd)
  local want = base.bad_string(cmd)
  if want then error(base.argerror(WHAT, "sh: cmd", want, cmd), 2) end
  local ok, out = must("sh", cmd)
  if not ok then error(out, 2) end
  return out
end

-- The same, but failure is fine (cleanup paths): returns ok, output.
function M.try(cmd)
  local want = base.bad_string(cmd)
  if want then error(base.argerror(WHAT, "try: cmd", want, cmd), 2) end
  local status, out = run(cmd)
  return status == 0, out
end

local counter = 0

-- A name no other process makes: prefix, pid, a counter.
function M.unique(prefix)
  if prefix ~= nil then
    local want = base.bad_string(prefix)
    if want then error(base.argerror(WHAT, "unique: prefix", want, prefix), 2) end
  end
  counter = counter + 1
  return ("%s%d-%d"):format(prefix or "xsk", C.lxsk_libc_getpid(), counter)
end

local SETUP = {
  prefix = { "string", "xsk" },
  peer = { "bool", false },
  queues = { "int", 1, 1, 1024 },
  mtu = { "int", nil, 68, 65535 },
  a = { "string", "veth0" },
  b = { "string", "veth1" },
  addr_a = { "string" },
  addr_b = { "string" },
  addr6_a = { "string" },
  addr6_b = { "string" },
  up = { "bool", true },
  enter = { "bool", false },
}

-- Builds what env names from the checked options o: true or nil, message.
local function build(env, o)
  local ok, err = must("setup", "ip netns add " .. env.ns)
  if not ok then return nil, err end
  if env.peer_ns ~= env.ns then
    ok, err = must("setup", "ip netns add " .. env.peer_ns)
    if not ok then return nil, err end
  end
  local q = o.queues
  local cmds = {
    ("ip -n %s link add %s numrxqueues %d numtxqueues %d type veth peer name %s numrxqueues %d numtxqueues %d")
      :format(env.ns, env.a, q, q, env.b, q, q),
  }
  if env.peer_ns ~= env.ns then
    cmds[#cmds + 1] = ("ip -n %s link set dev %s netns %s"):format(env.ns, env.b, env.peer_ns)
  end
  -- Without IPv6 addresses asked for, keep the kernel's own IPv6 chatter
  -- (router solicitations, MLD) off the wire so specs see only their packets.
  if not (o.addr6_a or o.addr6_b) then
    for _, ns in ipairs { env.ns, env.peer_ns } do
      cmds[#cmds + 1] = ("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
        .. "net.ipv6.conf.default.disable_ipv6=1"):format(ns)
    end
  end
  local function dev(ns, name, addr, addr6)
    if o.mtu then cmds[#cmds + 1] = ("ip -n %s link set dev %s mtu %d"):format(ns, name, o.mtu) end
    if addr then cmds[#cmds + 1] = ("ip -n %s addr add %s dev %s"):format(ns, addr, name) end
    if addr6 then cmds[#cmds + 1] = ("ip -n %s addr add %s dev %s nodad"):format(ns, addr6, name) end
    if o.up then cmds[#cmds + 1] = ("ip -n %s link set dev %s up"):format(ns, name) end
  end
  dev(env.ns, env.a, o.addr_a, o.addr6_a)
  dev(env.peer_ns, env.b, o.addr_b, o.addr6_b)
  cmds[#cmds + 1] = ("ip -n %s link set dev lo up"):format(env.ns)
  for _, cmd in ipairs(cmds) do
    ok, err = must("setup", cmd)
    if not ok then return nil, err end
  end
  return true
end

-- Makes one namespace (or two with { peer = true }) and a veth pair.
-- opts: prefix, peer (bool: the second end goes into its own namespace),
-- queues (number of RX/TX queues, default 1), mtu, a and b (device names,
-- default "veth0"/"veth1"), addr_a / addr_b ("198.18.0.1/24"), addr6_a /
-- addr6_b (IPv6 stays off unless one is given), up (default true), enter
-- (default false: move this thread into the first namespace).
-- Returns { ns, peer_ns, a, b, destroy = function }.
function M.setup(opts)
  local o, err = base.options(WHAT .. ": setup", SETUP, opts)
  if not o then error(err, 2) end
  local env = { ns = M.unique(o.prefix), a = o.a, b = o.b }
  env.peer_ns = o.peer and (env.ns .. "p") or env.ns
  env.destroy = function() M.destroy(env) end
  local ok
  ok, err = build(env, o)
  if ok and o.enter then
    if C.lxsk_netns_enter(env.ns) < 0 then
      ok, err = nil, base.core_error(WHAT .. ": setup")
    else
      env.entered = true
    end
  end
  if not ok then
    M.destroy(env)
    error(err, 2)
  end
  return env
end

-- Deleting a namespace deletes its veth ends and whatever XDP program is
-- attached to them.  Never raises: it runs on cleanup paths.
function M.destroy(env)
  if type(env) ~= "table" or type(env.ns) ~= "string" then
    error(base.argerror(WHAT, "destroy: env", "what setup returned", env), 2)
  end
  if env.entered then C.lxsk_netns_leave(); env.entered = false end
  run("ip netns delete " .. env.ns)
  if env.peer_ns and env.peer_ns ~= env.ns then run("ip netns delete " .. env.peer_ns) end
end

-- Runs a command inside a namespace; raises when it fails.
function M.exec(ns, cmd)
  local want = base.bad_string(ns)
  if want then error(base.argerror(WHAT, "exec: ns", want, ns), 2) end
  want = base.bad_string(cmd)
  if want then error(base.argerror(WHAT, "exec: cmd", want, cmd), 2) end
  local ok, out = must("exec in " .. ns, ("ip netns exec %s %s"):format(ns, cmd))
  if not ok then error(out, 2) end
  return out
end

-- Moves this thread into the namespace (sockets made now live there).
function M.enter(env_or_name)
  local name = type(env_or_name) == "table" and env_or_name.ns or env_or_name
  local want = base.bad_string(name)
  if want then error(base.argerror(WHAT, "enter: namespace", want, name), 2) end
  if C.lxsk_netns_enter(name) < 0 then error(base.core_error(WHAT .. ": enter"), 2) end
  if type(env_or_name) == "table" then env_or_name.entered = true end
end

-- Back to the namespace this thread started in.
function M.leave()
  if C.lxsk_netns_leave() < 0 then error(base.core_error(WHAT .. ": leave"), 2) end
end

-- Gives this process its own mount namespace with bpffs on /sys/fs/bpf, for
-- libxdp; the host's mounts are not touched.  A no-op where bpffs is mounted.
function M.private_bpffs()
  if C.lxsk_private_bpffs() < 0 then error(base.core_error(WHAT .. ": private_bpffs"), 2) end
end

return M
