-- Shared by the specs of XDP programs (steer, prog, leftover): a veth pair
-- between two namespaces, shell helpers, and what is attached to a device.
--
-- pair() builds namespaces (prefix xsksteer-) with a veth pair: end va
-- (198.18.0.1, 2001:db8::1) in namespace env.ns, which this process enters,
-- end vb (198.18.0.2, 2001:db8::2) in env.peer_ns, where ping and senders
-- run.  Deleting the namespaces also removes any XDP program on them.
local paths = require "support.paths"
local netns = require "xsk.netns"

netns.private_bpffs()

local M = {}

M.OBJ = paths.build .. "/lua/xsk/bpf/xsk_steer.bpf.o"

-- A program of libxdp's package (libxdp1) that is not ours.
local multiarch = io.popen("cc -print-multiarch 2>/dev/null"):read("*l") or ""
M.FOREIGN = ("/usr/lib/%s/bpf/xdpfilt_alw_all.o"):format(multiarch)

-- busted keeps one `finally` per test, so pair() registers exactly one and
-- every other cleanup goes through defer(); they run last-in first-out, the
-- namespaces last.  A test that calls finally() itself would replace that
-- one and leave its namespaces behind.
local cleanups

function M.defer(fn) cleanups[#cleanups + 1] = fn end

-- Must be called from an `it` block (its environment has `finally`).
function M.pair(opts)
  opts = opts or {}
  cleanups = {}
  local list = cleanups
  getfenv(2).finally(function()
    for i = #list, 1, -1 do pcall(list[i]) end
  end)
  local env = netns.setup {
    prefix = "xsksteer-", peer = true, a = "va", b = "vb", mtu = opts.mtu, queues = opts.queues,
    addr_a = "198.18.0.1/24", addr_b = "198.18.0.2/24",
    addr6_a = "2001:db8::1/64", addr6_b = "2001:db8::2/64",
  }
  M.defer(function() env.destroy() end)
  netns.enter(env)
  return env
end

-- Runs a shell command: true when it exited 0, and its output.  (With
-- LuaJIT's Lua 5.1 semantics a popen'd file's close does not tell the exit
-- status, so it is echoed.)
function M.run(cmd)
  local f = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = f:read("*a")
  f:close()
  local body, rc = out:match("^(.-)rc=(%d+)%s*$")
  return tonumber(rc) == 0, body or out
end

function M.sh(cmd)
  local ok, out = M.run(cmd)
  if not ok then error(("command failed: %s\n%s"):format(cmd, out), 2) end
  return out
end

-- Runs a command in the peer namespace; true when it exited 0.
function M.peer(env, cmd)
  return (M.run(("ip netns exec %s %s"):format(env.peer_ns, cmd)))
end

function M.ping(env, count, extra)
  return M.peer(env, ("ping -q -n -c %d -i 0.05 -W 1 %s 198.18.0.1"):format(count, extra or ""))
end

-- count UDP datagrams of `size` payload bytes to addr:port, from the peer
-- (bash's /dev/udp: one socket per datagram).
function M.udp(env, addr, port, count, size)
  local payload = ("x"):rep(size or 16)
  M.sh(("ip netns exec %s bash -c 'for i in $(seq %d); do printf %s > /dev/udp/%s/%d; done'")
    :format(env.peer_ns, count, payload, addr, port))
end

-- The id of the XDP program attached to dev (in the namespace this process
-- is in), as a number, or nil.
function M.xdp_on(dev)
  local ok, out = M.run("ip -d link show dev " .. dev)
  return ok and tonumber(out:match("prog/xdp id (%d+)")) or nil
end

-- Attaches a program to va with ip(8), as a process that is gone would
-- have left it: by netlink, with no owner.
function M.leave_behind(file, how)
  M.sh(("ip link set dev va %s obj %s sec xdp"):format(how or "xdpgeneric", file))
  return assert(M.xdp_on("va"), "ip attached nothing")
end

-- Neighbours resolved first so ARP/ND do not land in the counts.
function M.warm(env)
  assert(M.ping(env, 1))
  M.peer(env, "ping -q -n -c 1 -W 1 2001:db8::1")
end

-- Frames received by sock until `want` arrived or about `ms` passed (recv
-- waits up to 20 ms a call), then anything late; calls each(frame) for each.
function M.receive(sock, umem, want, ms, each)
  local b = umem:batch(64)
  local got = 0
  local function take(n)
    for i = 0, n - 1 do if each then each(b.f[i]) end end
    got = got + n
    if n > 0 then umem:release(b) end
  end
  for _ = 1, (ms or 1000) / 20 do
    if got >= want then break end
    take(sock:recv(b, 20))
  end
  take(sock:recv(b, 50))
  return got
end

-- UDP datagrams the kernel stack of this namespace took in (delivered to a
-- socket or answered with port unreachable), from /proc/self/net/snmp,
-- which shows the namespace of the reading thread.
function M.kernel_udp_in()
  local f = assert(io.open("/proc/self/net/snmp"))
  local names, values
  for line in f:lines() do
    if line:match("^Udp: %a") then names = line elseif line:match("^Udp: %d") then values = line end
  end
  f:close()
  local count, k = {}, {}
  for name in names:gmatch("%a+") do k[#k + 1] = name end
  local i = 1
  for v in values:gmatch("%d+") do count[k[i + 1]] = tonumber(v); i = i + 1 end
  return count.InDatagrams + count.NoPorts + count.InErrors
end

return M
