-- A veth pair with N queues between two namespaces, for the specs of
-- workers on many queues: va (198.18.0.1) in env.ns, which this process
-- enters and where the receiving workers run, vb (198.18.0.2) in
-- env.peer_ns, where the senders are.  vb knows va's MAC address without
-- asking (the workers' sockets take every frame on va, ARP included).
--
-- One `finally` per test (busted keeps one): it stops and joins every worker
-- the test started through start() and removes the namespaces, in that
-- order, even when the test failed.
local ffi = require "ffi"
local netns = require "xsk.netns"
local workers = require "xsk.workers"

netns.private_bpffs()

local M = {}

local ETH_TEST = 0x88b5

local started, cleanups

function M.defer(fn) cleanups[#cleanups + 1] = fn end

local function cleanup(list, ws)
  workers.stop()
  for _, w in ipairs(ws) do pcall(w.join, w, 5) end
  pcall(workers.reset)
  pcall(workers.catch_signals, false)
  for i = #list, 1, -1 do pcall(list[i]) end
end

-- Must be called from an `it` block.  opts.queues (default 2); opts.peer:
-- false keeps both ends in one namespace.
function M.setup(opts)
  opts = opts or {}
  started, cleanups = {}, {}
  local ws, list = started, cleanups
  getfenv(2).finally(function() cleanup(list, ws) end)
  local env = netns.setup { prefix = "xskq-", peer = true, queues = opts.queues or 2, a = "va", b = "vb",
    addr_a = "198.18.0.1/24", addr_b = "198.18.0.2/24" }
  M.defer(function() env.destroy() end)
  netns.enter(env)
  local mac = io.popen("cat /sys/class/net/va/address 2>/dev/null"):read("*l")
  if not mac or mac == "" then
    mac = netns.exec(env.ns, "cat /sys/class/net/va/address"):match("%S+")
  end
  env.mac_a = mac
  netns.exec(env.peer_ns, ("ip neigh replace 198.18.0.1 lladdr %s dev vb nud permanent"):format(mac))
  return env
end

-- Runs a shell command in the peer namespace; raises when it fails.
function M.peer(env, cmd)
  return netns.exec(env.peer_ns, cmd)
end

-- Starts a worker that the cleanup will stop and join.
function M.start(...)
  local w = workers.start(...)
  started[#started + 1] = w
  return w
end

-- A sender on vb: a TX-only socket per queue on one UMEM, made inside the
-- peer namespace.  send(q, first, n) sends frames carrying (q, first ..
-- first+n-1) on queue q and waits until the kernel took them.
function M.sender(env, queues)
  local xsk = require "xsk"
  netns.enter(env.peer_ns)
  local umem = xsk.umem { frame_count = 1024, fill_size = 64, comp_size = 512 }
  local socks = {}
  for q = 0, queues - 1 do
    socks[q] = umem:socket { ifname = "vb", queue = q, rx = false, load_program = false, tx_size = 256 }
  end
  netns.enter(env)
  local b = umem:batch(64)
  local mac = {}
  for x in env.mac_a:gmatch("%x%x") do mac[#mac + 1] = tonumber(x, 16) end
  local s = {}
  function s.send(q, first, n)
    local seq = first
    while seq < first + n do
      local want = math.min(64, first + n - seq) - b.n
      if want > 0 then assert(umem:alloc(b, want, 22) == want, "sender: out of frames") end
      for i = 0, b.n - 1 do
        local p = b.f[i].data
        for j = 0, 5 do p[j] = mac[j + 1]; p[j + 6] = 2 end
        p[12], p[13] = math.floor(ETH_TEST / 256), ETH_TEST % 256
        local v = ffi.cast("uint32_t *", p + 14)
        v[0], v[1] = q, seq + i
        b.f[i].len = 22
      end
      local k = socks[q]:send(b)
      seq = seq + k
      socks[q]:flush(1000)
    end
  end
  function s.close() umem:close() end
  M.defer(s.close)
  return s
end

-- Waits (up to `limit` seconds, a hang guard, not a measurement) until f()
-- is true.
function M.wait_until(f, limit)
  local deadline = os.time() + (limit or 10)
  while not f() do
    if os.time() > deadline then return false end
    os.execute("sleep 0.02")
  end
  return true
end

-- Threads of this process now (each worker is one while it runs).
function M.threads()
  local p = io.popen("ls /proc/" .. ffi.C.lxsk_libc_getpid() .. "/task | wc -l")
  local n = tonumber(p:read("*l"))
  p:close()
  return n
end

ffi.cdef [[
int xskq_getsockopt(int fd, int level, int name, void *val, uint32_t *len) __asm__("getsockopt");
]]
local SOL_SOCKET, SO_DOMAIN, AF_XDP = 1, 39, 44

-- AF_XDP sockets this process holds open (the file descriptors whose
-- socket domain is AF_XDP).
function M.xsk_sockets()
  local p = io.popen("ls /proc/" .. ffi.C.lxsk_libc_getpid() .. "/fd")
  local n, dom, len = 0, ffi.new("int[1]"), ffi.new("uint32_t[1]")
  for fd in p:lines() do
    len[0] = 4
    if ffi.C.xskq_getsockopt(tonumber(fd), SOL_SOCKET, SO_DOMAIN, dom, len) == 0 and dom[0] == AF_XDP then
      n = n + 1
    end
  end
  p:close()
  return n
end

-- The id of the XDP program on dev in this namespace, or nil.
function M.xdp_on(dev)
  local p = io.popen("ip -d link show dev " .. dev .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return tonumber(out:match("prog/xdp id (%d+)"))
end

return M
