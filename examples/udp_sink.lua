#!/usr/bin/env luajit
-- udp_sink (installed as xsk-udp-sink): counts the UDP datagrams sent to one
-- port of an interface from an AF_XDP socket, while everything else (ARP,
-- ping, ssh, other ports) stays with the kernel.  lua-xsk's steering program
-- (xsk.steer) makes the split.
--
--   sudo ip netns exec NS xsk-udp-sink --dev veth0 --port 9000
local cli = require "xsk.cli"

local p = cli.parser("xsk-udp-sink", [[
Attaches lua-xsk's steering XDP program to interface IF with one rule, UDP
destination port P, and counts the datagrams that rule sends to an AF_XDP
socket on queue N (IPv4 and IPv6, any destination address).  Their frames
go straight back to the pool: the kernel never sees them.  All other
traffic goes on to the kernel stack, so ping, ARP and other ports keep
working; datagrams the NIC puts on other queues go to the kernel too.
Needs root.  Shows received, rate and drops once a second, and prints
"received N" when it ends.  Ctrl-C, SIGTERM or --duration end it.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--port", "the UDP destination port to take", "port"):argname("P"):count(1)

local state = {}

-- The socket goes before its UMEM, and the program last, so no packet is
-- redirected to a socket that is half closed.
local cleanup = cli.closer(state, { "sock", "umem", "steer" })

local function main(o)
  local xsk = require "xsk"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  state.steer = xsk.steer.open { ifname = o.dev }
  local rule = state.steer:add_rule { proto = "udp", dport = o.port }
  state.umem = xsk.umem { frame_count = 4096 }
  -- load_program = false: libxdp's default program would take the whole
  -- queue; the steering program already on the interface picks the packets.
  -- RX only, so every frame not on the fill ring is free.
  state.sock = state.umem:socket { ifname = o.dev, queue = o.queue, tx = false, load_program = false }
  local umem, sock = state.umem, state.sock
  state.steer:register(sock)
  print(("xsk-udp-sink: counting UDP to port %d on %s queue %d (%s mode), the rest goes to the kernel"):format(
    o.port, o.dev, o.queue, state.steer:mode()))
  io.stdout:flush()

  local rx = umem:batch(64)
  local now, stop_requested = cli.now, cli.stop_requested
  local st = cli.stats { rx = true, sockets = { sock } }
  local deadline = o.duration and now() + o.duration or math.huge
  local received = 0

  while true do
    local n = sock:recv(rx, 100)
    if n > 0 then
      local bytes = 0
      for i = 0, n - 1 do bytes = bytes + rx.f[i].len end
      st:add_rx(n, bytes)
      received = received + n
      -- Counted, so the frames go back to the pool; recv refills the fill
      -- ring from there.
      umem:release(rx)
    end
    local t = now()
    st:tick(t)
    if stop_requested() or t >= deadline then break end
  end
  st:summary()
  -- The program's own count for the rule, over all queues: more than
  -- received means the RX ring overflowed (see the drops) or datagrams came
  -- in on a queue without a socket, where the kernel got them.
  local matched = state.steer:counters(rule)
  print(("xsk-udp-sink: rule matched %d packets"):format(matched))
  print(("received %d"):format(received))
end

cli.run(p, main, cleanup)
