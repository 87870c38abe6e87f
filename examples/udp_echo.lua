#!/usr/bin/env luajit
-- udp_echo (installed as xsk-udp-echo): answers ARP for one IPv4 address and
-- sends every UDP datagram to ip:port back to its sender, payload unchanged,
-- from an AF_XDP socket.
--
--   sudo ip netns exec NS xsk-udp-echo --dev veth0 --ip 198.18.0.1 --port 7
--   sudo ip netns exec NS xsk-udp-echo --dev veth0 --ip 198.18.0.1 --port 7 --queues 4
local cli = require "xsk.cli"

local p = cli.parser("xsk-udp-echo", [[
Answers ARP requests for A.B.C.D on interface IF and echoes every UDP/IPv4
datagram sent to A.B.C.D port P back to its sender (MAC addresses, IP
addresses and ports swapped, payload unchanged).  Everything else on the
queue is dropped.  Needs root.  Shows what it received and answered once a
second.  Ctrl-C, SIGTERM or --duration end it.  With --queues Q, a worker
(a LuaJIT VM on a thread of its own, pinned to a CPU round-robin) per queue
from --queue on answers on its queue with its own UMEM and socket; each
queue's counts are printed at the end, then the totals.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--ip", "the address to answer for", "ip4"):argname("A.B.C.D"):count(1)
cli.option(p, "--port", "the UDP port to echo", "port"):argname("P"):count(1)
cli.option(p, "--queues", "a worker per queue, from --queue on", "count", 1):argname("Q")

local state = {}

local cleanup = cli.closer(state, { "workers", "sock", "umem" })

-- Echoes on cfg.dev queue cfg.queue until cfg.stop() (or the duration)
-- says so.  It uses no upvalues, so it runs both here and in a worker's VM
-- (where cfg.stop is nil: workers.stopping, and cfg.slot gets the counts).
-- The UMEM and socket go in cfg.state for the cleanup.  Returns the ARP
-- replies and the datagrams echoed.
local function echo(cfg)
  local ffi = require "ffi"
  local xsk = require "xsk"
  local tool = require "xsk.cli" -- this VM's: in a worker, main's cli is not there
  local headers = xsk.headers
  local own = cfg.state or {}

  local mac = tool.if_mac(cfg.dev)
  local ip_bytes = ffi.new("uint8_t[4]")
  local my_ip = headers.ip4_pton(cfg.ip, ip_bytes)
  local my_port = cfg.port

  own.umem = xsk.umem { frame_count = 4096 }
  own.sock = own.umem:socket { ifname = cfg.dev, queue = cfg.queue }
  if cfg.ready then
    cfg.ready:send(cfg.queue)
  else
    print(("xsk-udp-echo: echoing UDP to %s:%d (%s) on %s queue %d"):format(
      cfg.ip, my_port, tool.mac_string(mac), cfg.dev, cfg.queue))
    io.stdout:flush()
  end

  local res = headers.result()
  local l4_set = xsk.checksum.l4_set
  local copy = ffi.copy

  -- A datagram to our ip:port -> the same datagram back.  Swapping the two
  -- addresses and the two ports leaves the IP checksum as it is (one's
  -- complement sums commute).  The UDP checksum is recomputed anyway: a
  -- sender with checksum offload (veth, most NICs) hands XDP a frame whose
  -- UDP checksum holds only the pseudo-header sum, and echoing that back
  -- would make the receiver drop the datagram.
  local function udp_reply()
    local ip, udp = res.ip4, res.udp
    if udp == nil or ip == nil then return false end
    if res.frag ~= 0 or ip:dst() ~= my_ip or udp:dport() ~= my_port then return false end
    local eth = res.eth
    ip.saddr, ip.daddr = ip.daddr, ip.saddr
    udp.source, udp.dest = udp.dest, udp.source
    l4_set(ip, res.l3_len)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  local arp_replies, echoed = tool.serve {
    sock = own.sock, umem = own.umem, mac = mac, ip_bytes = ip_bytes, duration = cfg.duration,
    res = res, answer = udp_reply, stop = cfg.stop or xsk.workers.stopping, slot = cfg.slot,
  }
  if cfg.state == nil then own.umem:close() end
  return arp_replies, echoed
end

-- --queues Q: a worker per queue; the main VM shows their total and each
-- queue's line, and returns the totals.
local function many(o)
  local xsk = require "xsk"
  local workers = xsk.workers
  local ncpu = tonumber(io.popen("nproc"):read("*l")) or 1
  local ctr, ready = workers.counters(o.queues), workers.mailbox(o.queues)
  local ws = {}
  state.workers = { close = function()
    workers.stop()
    pcall(workers.wait, ws, 5)
  end }
  local st = cli.stats { rx = true, tx = true, counters = ctr, per_worker = true }
  for i = 1, o.queues do
    local q = o.queue + i - 1
    ws[i] = workers.start({ echo, cpu = (i - 1) % ncpu, name = "queue " .. q }, {
      dev = o.dev, queue = q, ip = o.ip, port = o.port, slot = ctr:slot(i), ready = ready,
    })
  end
  for _ = 1, o.queues do
    if not ready:recv(10) then error("a worker did not start", 0) end
  end
  print(("xsk-udp-echo: echoing UDP to %s:%d on %s queues %d-%d"):format(o.ip, o.port, o.dev, o.queue,
    o.queue + o.queues - 1))
  io.stdout:flush()
  local now, deadline = cli.now, o.duration and cli.now() + o.duration or math.huge
  while not cli.stop_requested() and not workers.stopping() and now() < deadline do
    st:tick()
    cli.sleep(0.05)
  end
  workers.stop()
  local results = workers.wait(ws, 5)
  st:summary()
  local arp, echoed = 0, 0
  for i, r in ipairs(results) do
    print(("queue %d: %d ARP replies, %d datagrams echoed"):format(o.queue + i - 1, r[1], r[2]))
    arp, echoed = arp + r[1], echoed + r[2]
  end
  return arp, echoed
end

local function main(o)
  local xsk = require "xsk"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  local arp_replies, echoed
  if o.queues > 1 then
    arp_replies, echoed = many(o)
  else
    arp_replies, echoed = echo { dev = o.dev, queue = o.queue, ip = o.ip, port = o.port, duration = o.duration,
      state = state, stop = cli.stop_requested }
  end
  print(("xsk-udp-echo: %d ARP replies, %d datagrams echoed"):format(arp_replies, echoed))
end

cli.run(p, main, cleanup)
