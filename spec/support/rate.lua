-- The rate a sender keeps, measured where it arrives: a veth pair between
-- two namespaces, xsk-txgen (the tool, a process of its own) sending on one
-- end, lua-xsk's steering program stamping every arrival on the other
-- (f:rx_time(), CLOCK_MONOTONIC, in the XDP program: no user-space wake-up
-- in it) and a socket in this process collecting the stamps.  Shared by
-- spec/pacing_spec.lua, bench/pacing.lua and bench/replay_gaps.lua.
--
--   local rate = require "support.rate"
--   local lab = rate.lab()                       -- namespaces, program, socket
--   local r = lab:run{ rate = 10000, count = 20000, args = "--burst 4" }   -- xsk-txgen
--   -- r.received, r.pps (arrivals / span), r.gaps (sorted ns between arrivals)
--   r = lab:replay(file, count, "--speed 1")                              -- xsk-replay
--   lab:close()
local ffi = require "ffi"
local xsk = require "xsk"
local netns = require "xsk.netns"

local M = {}

local Lab = {}
Lab.__index = Lab

local ROOT = os.getenv("LXSK_ROOT") or "."

-- opts.cpu_tx, opts.cpu_rx: pin txgen and this process (taskset), for benches.
function M.lab(opts)
  opts = opts or {}
  netns.private_bpffs()
  local env = netns.setup { prefix = "xskrate", peer = true, addr_a = "198.18.0.1/24", addr_b = "198.18.0.2/24" }
  local self = setmetatable({ env = env, opts = opts }, Lab)
  local ok, err = pcall(function()
    netns.enter(env.peer_ns)
    self.st = xsk.steer.open { ifname = env.b, rx_time = true }
    self.st:add_rule { proto = "udp", dport = 9 }
    self.umem = xsk.umem { frame_count = 8192, fill_size = 4096, rx_metadata = true }
    self.sock = self.umem:socket { ifname = env.b, tx = false, load_program = false, rx_size = 4096 }
    self.st:register(self.sock)
    local p = io.popen("ip -br link show " .. env.b)
    self.mac = p:read("*a"):match("%x%x:%x%x:%x%x:%x%x:%x%x:%x%x")
    p:close()
    netns.leave()
    if opts.cpu_rx then os.execute(("taskset -p -c %d %d >/dev/null"):format(opts.cpu_rx, ffi.C.lxsk_libc_getpid())) end
  end)
  if not ok then
    self:close()
    error(err, 2)
  end
  return self
end

-- Runs `cmd` (a shell command run in the sender's namespace, pinned when
-- the lab was made so) in the background and collects the RX time of each
-- arrival until `count` came or nothing came for a second.  Returns
-- { received, out (the command's output), ok (it exited 0), first, last
-- (ns), pps (arrivals over the span), times (double[count]), gaps (sorted),
-- drops (XDP_STATISTICS) }.
function Lab:collect(count, cmd, expected_s)
  local env, b = self.env, self.umem:batch(256)
  local before = self.sock:stats()
  local log = os.tmpname()
  os.execute(("(ip netns exec %s %s%s > %s 2>&1; echo \"exit:$?\" >> %s) &"):format(env.ns,
    self.opts.cpu_tx and ("taskset -c %d "):format(self.opts.cpu_tx) or "", cmd, log, log))
  local times = ffi.new("double[?]", count)
  local n, quiet_since = 0, nil
  local now = xsk.clock.now
  local deadline = now() + ((expected_s or 10) + 30) * 1e9
  while n < count and now() < deadline do
    local got = self.sock:recv(b, 10)
    for i = 0, got - 1 do
      if n < count then times[n] = b.f[i]:rx_time() or 0 end
      n = n + 1
    end
    if got > 0 then
      self.umem:release(b)
      quiet_since = nil
    elseif n > 0 then
      quiet_since = quiet_since or now()
      if now() - quiet_since > 1e9 then break end
    end
  end
  local out = ""
  for _ = 1, 300 do
    local f = io.open(log)
    out = f and f:read("*a") or ""
    if f then f:close() end
    if out:find("exit:%d+") then break end
    os.execute("sleep 0.1")
  end
  os.remove(log)
  local after = self.sock:stats()
  local r = { received = n, out = out, ok = out:find("exit:0") ~= nil, times = times,
    drops = after.rx_dropped + after.rx_ring_full - before.rx_dropped - before.rx_ring_full }
  if n >= 2 then
    local m = math.min(n, count)
    r.first, r.last = times[0], times[m - 1]
    r.pps = (m - 1) / (r.last - r.first) * 1e9
    local gaps = {}
    for i = 1, m - 1 do gaps[i] = times[i] - times[i - 1] end
    table.sort(gaps)
    r.gaps = gaps
  end
  return r
end

-- Sends `cfg.count` 64-byte UDP frames with xsk-txgen (--rate cfg.rate
-- unless nil, and cfg.args) and collects their arrivals.
function Lab:run(cfg)
  local cmd = ("%s/tools/xsk-luajit %s/examples/txgen.lua --dev %s --src-mac 02:00:00:00:00:01 --dst-mac %s "
    .. "--src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 9 --size %d --count %d %s %s"):format(ROOT, ROOT,
    self.env.a, self.mac, cfg.size or 64, cfg.count, cfg.rate and ("--rate " .. cfg.rate) or "", cfg.args or "")
  return self:collect(cfg.count, cmd, cfg.count / (cfg.rate or 1e5))
end

-- A frame the lab's receiver takes (UDP to 198.18.0.2:9), for files to replay.
function Lab:frame(size)
  local t = xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = self.mac, src_ip = "198.18.0.1",
    dst_ip = "198.18.0.2", src_port = 5000, dst_port = 9, size = size or 64 }
  return t
end

-- Replays `file` with xsk-replay (args: --speed X, ...) and collects the
-- `count` arrivals.
function Lab:replay(file, count, args, expected_s)
  local cmd = ("%s/tools/xsk-luajit %s/examples/replay.lua --dev %s --read %s %s"):format(ROOT, ROOT, self.env.a,
    file, args or "")
  return self:collect(count, cmd, expected_s)
end

function Lab:close()
  for _, k in ipairs { "sock", "umem", "st" } do
    if self[k] then pcall(self[k].close, self[k]) end
  end
  self.env.destroy()
end

return M
