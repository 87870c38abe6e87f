#!/usr/bin/env luajit
-- udp_sink (installed as xsk-udp-sink): counts the UDP datagrams sent to one
-- port of an interface from an AF_XDP socket, while everything else (ARP,
-- ping, ssh, other ports) stays with the kernel.  lua-xsk's steering program
-- (xsk.steer) makes the split.
--
--   sudo ip netns exec NS xsk-udp-sink --dev veth0 --port 9000
--   sudo ip netns exec NS xsk-udp-sink --dev veth0 --port 9000 --queues 4
local cli = require "xsk.cli"

local p = cli.parser("xsk-udp-sink", [[
Attaches lua-xsk's steering XDP program to interface IF with one rule, UDP
destination port P, and counts the datagrams that rule sends to an AF_XDP
socket on queue N (IPv4 and IPv6, any destination address).  Their frames
go straight back to the pool: the kernel never sees them.  All other
traffic goes on to the kernel stack, so ping, ARP and other ports keep
working; datagrams the NIC puts on other queues go to the kernel too.
Needs root.  Shows received, rate and drops once a second, and prints
"received N" when it ends.  Ctrl-C, SIGTERM or --duration end it.
With --queues N, a worker (a LuaJIT VM on a thread of its own, pinned to a
CPU round-robin) per queue N..N+Q-1 from --queue, each with its own UMEM and
socket; it prints each queue's count, then "received N" with the total.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--port", "the UDP destination port to take", "port"):argname("P"):count(1)
cli.option(p, "--queues", "a worker per queue, from --queue on", "count", 1):argname("Q")

local state = {}

-- The workers (and their sockets) and the socket go before the UMEM, and
-- the program last, so no packet is redirected to a socket that is half
-- closed.
local cleanup = cli.closer(state, { "workers", "sock", "umem", "steer" })

-- One queue's worker, in a VM of its own (so no upvalues): its own UMEM and
-- socket; the main VM puts the socket in the program's map (the fd is the
-- process's).  Counts in its counter slot until told to stop.
local function sink(cfg)
  local xsk = require "xsk"
  local stopping = xsk.workers.stopping
  local umem = xsk.umem { frame_count = 4096 }
  local sock = umem:socket { ifname = cfg.dev, queue = cfg.queue, tx = false, load_program = false }
  cfg.ready:send({ queue = cfg.queue, fd = sock:fd() })
  local rx, slot, received = umem:batch(64), cfg.slot, 0
  while not stopping() do
    local n = sock:recv(rx, 100)
    if n > 0 then
      local bytes = 0
      for i = 0, n - 1 do bytes = bytes + rx.f[i].len end
      slot:rx(n, bytes)
      received = received + n
      umem:release(rx)
    end
  end
  local k = sock:stats()
  umem:close()
  return { queue = cfg.queue, received = received, drops = k.rx_dropped + k.rx_ring_full + k.rx_invalid_descs }
end

-- --queues Q: a worker per queue, the main VM shows their total and a line
-- per queue; returns the total received.
local function many(o, xsk)
  local workers = xsk.workers
  local ncpu = tonumber(io.popen("nproc"):read("*l")) or 1
  local ctr, ready = workers.counters(o.queues), workers.mailbox(o.queues)
  local ws = {}
  state.workers = { close = function()
    workers.stop()
    pcall(workers.wait, ws, 5)
  end }
  for i = 1, o.queues do
    local q = o.queue + i - 1
    ws[i] = workers.start({ sink, cpu = (i - 1) % ncpu, name = "queue " .. q },
      { dev = o.dev, queue = q, slot = ctr:slot(i), ready = ready })
  end
  for _ = 1, o.queues do
    local m = ready:recv(10)
    if not m then error("a worker did not start", 0) end
    state.steer:register(m.fd, m.queue)
  end
  print(("xsk-udp-sink: counting UDP to port %d on %s queues %d-%d (%s mode), the rest goes to the kernel"):format(
    o.port, o.dev, o.queue, o.queue + o.queues - 1, state.steer:mode()))
  io.stdout:flush()
  local now, sleep, stop_requested = cli.now, cli.sleep, cli.stop_requested
  local st = cli.stats { rx = true, counters = ctr }
  local deadline = o.duration and now() + o.duration or math.huge
  while not stop_requested() and not workers.stopping() do
    local t = now()
    st:tick(t)
    if t >= deadline then break end
    sleep(0.05)
  end
  workers.stop()
  local results = workers.wait(ws, 5)
  st:summary()
  local total = 0
  for _, r in ipairs(results) do
    r = r[1]
    print(("queue %d: received %d, dropped %d"):format(r.queue, r.received, r.drops))
    total = total + r.received
  end
  return total
end

local function main(o)
  local xsk = require "xsk"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  state.steer = xsk.steer.open { ifname = o.dev }
  local rule = state.steer:add_rule { proto = "udp", dport = o.port }
  if o.queues > 1 then
    local received = many(o, xsk)
    print(("xsk-udp-sink: rule matched %d packets"):format(state.steer:counters(rule)))
    print(("received %d"):format(received))
    return
  end
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
