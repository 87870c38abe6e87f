-- CI, after the rock is installed (.ci/rock): a packet script as a user
-- writes one, run with plain luajit from a folder outside the repository.
-- It must load lua-xsk from the installed tree (arg[1]), and uses umem,
-- socket, steer, pcap, template and stats on a veth pair it sets up:
-- template-made UDP frames go out of veth0, the steering program on veth1
-- sends those to port 9000 to an AF_XDP socket (the rest to the kernel),
-- what arrives is written to a pcap file and read back.
--
--   luajit rock_check.lua TREE
local ffi = require "ffi"
local xsk = require "xsk"
local cli = require "xsk.cli"

local tree = assert(arg[1], "usage: luajit rock_check.lua TREE")

local function check(cond, fmt, ...)
  if not cond then error("rock check: " .. fmt:format(...), 0) end
end

-- Installed, not picked up from a checkout.
check(xsk.core_path:sub(1, #tree + 1) == tree .. "/", "xsk.core from %s, not from %s", xsk.core_path, tree)
for _, name in ipairs { "xsk", "xsk.steer", "xsk.pcap", "xsk.template", "xsk.stats", "xsk.cli" } do
  local path = package.searchpath(name, package.path)
  check(path and path:sub(1, #tree + 1) == tree .. "/", "%s from %s, not from %s", name, tostring(path), tree)
end
check(xsk.version == "0.2.0", "xsk.version is %s", tostring(xsk.version))
check(xsk.steer.object_path():sub(1, #tree + 1) == tree .. "/", "BPF object at %s", xsk.steer.object_path())

local N, OTHER, PORT = 200, 50, 9000

local env = xsk.netns.setup { prefix = "xskrock", enter = true }
local objs = {}
local ok, err = pcall(function()
  xsk.netns.private_bpffs()
  local st = xsk.steer.open { ifname = env.b }
  objs[#objs + 1] = st
  local rule = st:add_rule { proto = "udp", dport = PORT }

  local rx_umem = xsk.umem { frame_count = 1024 }
  objs[#objs + 1] = rx_umem
  local rx_sock = rx_umem:socket { ifname = env.b, tx = false, load_program = false }
  st:register(rx_sock)
  local tx_umem = xsk.umem { frame_count = 1024 }
  objs[#objs + 1] = tx_umem
  local tx_sock = tx_umem:socket { ifname = env.a, rx = false }

  local function template(port)
    return xsk.template.new {
      src_mac = cli.mac_string(cli.if_mac(env.a)), dst_mac = cli.mac_string(cli.if_mac(env.b)),
      src_ip = "198.18.0.1", dst_ip = "198.18.0.2", src_port = 1234, dst_port = port, size = 100,
    }
  end
  local to_port, to_other = template(PORT), template(PORT + 1)

  local out = io.open("stats.txt", "w")
  local stats = xsk.stats.new { rx = true, sockets = { rx_sock }, out = out, live = false }
  local pcap_path = "rock_check.pcap"
  local w = xsk.pcap.writer(pcap_path)

  -- Send: N frames to the port, OTHER elsewhere (those go to veth1's kernel).
  local b = tx_umem:batch(64)
  local left = { [to_port] = N, [to_other] = OTHER }
  for t, n in pairs(left) do
    while n > 0 do
      local got = tx_umem:alloc(b, math.min(n, 64))
      t:fill_batch(b)
      n = n - got
      while b.n > 0 do tx_sock:send(b) end
    end
  end
  check(tx_sock:flush(2000) == 0, "frames left on the TX ring")

  -- Receive what the rule steered, write it to the pcap file.
  local rx = rx_umem:batch(64)
  local received, deadline = 0, cli.now() + 5
  while received < N and cli.now() < deadline do
    local n = rx_sock:recv(rx, 50)
    local bytes = 0
    for i = 0, n - 1 do
      w:write(rx.f[i].data, rx.f[i].len)
      bytes = bytes + rx.f[i].len
    end
    stats:add_rx(n, bytes)
    received = received + n
    if n > 0 then rx_umem:release(rx) end
  end
  w:close()
  local sum = stats:summary()
  out:close()
  check(received == N, "received %d of %d steered frames", received, N)
  check(sum.rx_pkts == N and sum.drops == 0, "stats: %d packets, %d drops", sum.rx_pkts, sum.drops)
  check(st:counters(rule) == N, "rule counted %d", st:counters(rule))
  check(st:unmatched() >= OTHER, "unmatched counted %d, want at least %d", st:unmatched(), OTHER)

  -- The file holds exactly the template's frames.
  local want = ffi.string(to_port:frame(), 100)
  local r, count = xsk.pcap.reader(pcap_path), 0
  for ptr, len in r:packets() do
    count = count + 1
    check(len == 100 and ffi.string(ptr, len) == want, "packet %d in the pcap file differs from the template's frame",
      count)
  end
  r:close()
  check(count == N, "pcap file has %d packets", count)
  os.remove(pcap_path)
end)
for i = #objs, 1, -1 do pcall(objs[i].close, objs[i]) end
env.destroy()
if not ok then
  io.stderr:write(cli.message(err), "\n")
  os.exit(1)
end
print(("rock check: %d frames steered, received, written to pcap and read back; lua-xsk %s from %s")
  :format(N, xsk.version, tree))
