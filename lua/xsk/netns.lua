-- Throwaway network namespaces and veth pairs, for specs, examples and
-- benchmarks.  Everything made here is named with a prefix and this process's
-- pid, and `destroy` removes it whatever state it was left in.
local ffi = require "ffi"
local C = require "xsk.cdef"
local errors = require "xsk.errors"


local ipairs, type, pcall, error = ipairs, type, pcall, error

local M = {}

local counter = 0

-- Runs a shell command and returns its exit status and output.  LuaJIT's
-- popen():close() does not report the status, so the shell prints it last.
local function run(cmd)
  local p = io.popen("{ " .. cmd .. "\n} 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return tonumber(status) or -1, body or out
end

-- Runs a shell command; raises with its output when it fails.
function M.sh(cmd)
  local status, out = run(cmd)
  if status ~= 0 then
    error(("command failed (exit %d): %s\n%s"):format(status, cmd, out), 2)
  end
  return out
end

-- The same, but failure is fine (cleanup paths): returns ok, output.
function M.try(cmd)
  local status, out = run(cmd)
  return status == 0, out
end

function M.unique(prefix)
  counter = counter + 1
  return ("%s%d-%d"):format(prefix or "xsk", ffi.C.lxsk_libc_getpid(), counter)
end

-- Makes one namespace (or two with { peer = true }) and a veth pair.
-- opts: prefix, peer (bool: the second end goes into its own namespace),
-- queues (number of RX/TX queues, default 1), mtu, a and b (device names,
-- default "veth0"/"veth1"), addr_a / addr_b ("198.18.0.1/24"), addr6_a /
-- addr6_b (IPv6 stays off unless one is given), up (default true).
-- Returns { ns, peer_ns, a, b, destroy = function }.
function M.setup(opts)
  opts = opts or {}
  local env = {
    ns = M.unique(opts.prefix or "xsk"),
    a = opts.a or "veth0",
    b = opts.b or "veth1",
  }
  env.peer_ns = opts.peer and (env.ns .. "p") or env.ns
  env.destroy = function() M.destroy(env) end
  local ok, err = pcall(function()
    M.sh("ip netns add " .. env.ns)
    if env.peer_ns ~= env.ns then M.sh("ip netns add " .. env.peer_ns) end
    local q = opts.queues or 1
    M.sh(("ip -n %s link add %s numrxqueues %d numtxqueues %d type veth peer name %s numrxqueues %d numtxqueues %d")
      :format(env.ns, env.a, q, q, env.b, q, q))
    if env.peer_ns ~= env.ns then
      M.sh(("ip -n %s link set dev %s netns %s"):format(env.ns, env.b, env.peer_ns))
    end
    local function dev(ns, name, addr, addr6)
      if opts.mtu then M.sh(("ip -n %s link set dev %s mtu %d"):format(ns, name, opts.mtu)) end
      if addr then M.sh(("ip -n %s addr add %s dev %s"):format(ns, addr, name)) end
      if addr6 then M.sh(("ip -n %s addr add %s dev %s nodad"):format(ns, addr6, name)) end
      if opts.up ~= false then M.sh(("ip -n %s link set dev %s up"):format(ns, name)) end
    end
    -- Without IPv6 addresses asked for, keep the kernel's own IPv6 chatter
    -- (router solicitations, MLD) off the wire so specs see only their packets.
    if not (opts.addr6_a or opts.addr6_b) then
      for _, ns in ipairs{ env.ns, env.peer_ns } do
        M.sh(("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"):format(ns))
      end
    end
    dev(env.ns, env.a, opts.addr_a, opts.addr6_a)
    dev(env.peer_ns, env.b, opts.addr_b, opts.addr6_b)
    M.sh(("ip -n %s link set dev lo up"):format(env.ns))
  end)
  if not ok then
    M.destroy(env)
    error(err, 2)
  end
  return env
end

-- Deleting a namespace deletes its veth ends and whatever XDP program is
-- attached to them.
function M.destroy(env)
  if env.entered then M.leave(); env.entered = false end
  M.try("ip netns delete " .. env.ns)
  if env.peer_ns and env.peer_ns ~= env.ns then M.try("ip netns delete " .. env.peer_ns) end
end

-- Runs a command inside a namespace.
function M.exec(ns, cmd)
  return M.sh(("ip netns exec %s %s"):format(ns, cmd))
end

-- Moves this thread into the namespace (sockets made now live there).
function M.enter(env_or_name)
  local name = type(env_or_name) == "table" and env_or_name.ns or env_or_name
  if C.lxsk_netns_enter(name) < 0 then errors.raise(2) end
  if type(env_or_name) == "table" then env_or_name.entered = true end
end

function M.leave()
  if C.lxsk_netns_leave() < 0 then errors.raise(2) end
end

-- Gives this process its own mount namespace with bpffs on /sys/fs/bpf, for
-- libxdp; the host's mounts are not touched.
function M.private_bpffs()
  if C.lxsk_private_bpffs() < 0 then errors.raise(2) end
end

return M
