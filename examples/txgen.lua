#!/usr/bin/env luajit
-- txgen (installed as xsk-txgen): sends COUNT valid UDP/IPv4 frames from an
-- AF_XDP socket, optionally paced to RATE packets per second, over ranges of
-- addresses and ports and a mix of frame sizes.  Frames come from xsk.flows
-- (xsk.template underneath), so the peer's kernel stack accepts every one.
--
--   sudo ip netns exec NS xsk-txgen --dev veth0 \
--     --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
--     --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 9 --count 1000 --size 128
--   ... --src-ip 198.18.0.1-198.18.0.100 --dst-port 1000-1999 --size imix --rate 10000
--   ... --count 1000000 --queues 2       # a worker per queue, half of the frames each
local cli = require "xsk.cli"
local flows = require "xsk.flows"

local p = cli.parser("xsk-txgen", [[
Sends N UDP/IPv4 frames out of interface IF through a TX-only AF_XDP socket,
with correct IP and UDP checksums, then waits for the kernel to take them
all and prints "sent N".  Addresses and ports may be ranges (A-B): frame i
takes the i-th value of each range, each range starting over at its end.
Frame sizes (Ethernet header included, no FCS) follow the list given, in
turn; "imix" is 7 of 64, 4 of 576 and 1 of 1500 bytes in every 12.  The
payload is zeros.  With --rate the frames leave on an exact schedule (gaps
of BURST/PPS seconds, or exponential gaps of that mean with --poisson).
Needs root.  Shows sent, rate, progress and ETA once a second.  Ctrl-C,
SIGTERM or --duration stop it early.
With --queues Q, a worker (a LuaJIT VM on a thread of its own, pinned to a
CPU round-robin) per queue from --queue on sends its share of N (and of
--rate) from its own UMEM and socket; each queue's count is printed, then
"sent N" with the total.]], [[
Exit status: 0 when all N were sent, 1 on errors or an early stop, 2 on bad
arguments.]])
cli.dev_options(p)
cli.option(p, "--src-mac", "source MAC address", "mac"):argname("M"):count(1)
cli.option(p, "--dst-mac", "destination MAC: the receiver's, or its stack drops the frames", "mac")
  :argname("M"):count(1)
cli.option(p, "--src-ip", "source IPv4 address or range (198.18.0.1-198.18.0.100)", "string"):argname("A"):count(1)
cli.option(p, "--dst-ip", "destination IPv4 address or range", "string"):argname("A"):count(1)
cli.option(p, "--src-port", "source UDP port or range (1000-1999)", "string", 9):argname("P")
cli.option(p, "--dst-port", "destination UDP port or range", "string"):argname("P"):count(1)
cli.option(p, "--count", "frames to send", "count"):argname("N"):count(1)
cli.option(p, "--size", "frame size in bytes, 42 and up (fit the MTU), a list (64,576,1500) or imix", "string")
  :argname("BYTES"):count(1)
cli.option(p, "--rate", "pace to PPS frames per second (default: as fast as possible)", "count"):argname("PPS")
cli.option(p, "--burst", "with --rate: frames leave N at a time, every N/PPS seconds", "count", 1):argname("N")
p:flag("--poisson", "with --rate: exponential gaps between departures (mean BURST/PPS s)")
cli.option(p, "--queues", "a worker per queue, from --queue on", "count", 1):argname("Q")

-- Ranges and sizes are checked before anything is set up.
local function check(o)
  for _, k in ipairs { "src_ip", "dst_ip" } do
    local lo, err = flows.ip4_range(o[k])
    if not lo then cli.usage_error("option --%s needs %s, got %q", k:gsub("_", "-"), err, o[k]) end
  end
  for _, k in ipairs { "src_port", "dst_port" } do
    local lo, err = flows.port_range(o[k])
    if not lo then cli.usage_error("option --%s needs %s, got %q", k:gsub("_", "-"), err, o[k]) end
  end
  local sizes, err = flows.sizes(o.size)
  if not sizes then cli.usage_error("option --size needs %s, got %q", err, o.size) end
  o.sizes = sizes
  if not o.rate and (o.poisson or o.burst ~= 1) then cli.usage_error("--burst and --poisson need --rate") end
  if o.rate and o.rate < o.queues then cli.usage_error("option --rate: at least 1 a second for each of the %d queues",
    o.queues) end
end

local state = {}

local cleanup = cli.closer(state, { "workers", "sock", "umem" })

-- Sends cfg.count frames of the flows cfg.flows (xsk.flows options) on
-- cfg.dev queue cfg.queue from a UMEM and socket of its own (kept in
-- cfg.state for the cleanup), paced by xsk.pace to cfg.rate (cfg.burst,
-- cfg.poisson, cfg.seed).  It uses no upvalues, so it runs both here and in
-- a worker's VM: cfg.stop (here cli.stop_requested; in a worker
-- workers.stopping), cfg.stats (here the live line) or cfg.slot (in a
-- worker, its counter slot) get the counts.  Returns the frames sent and
-- those still on the TX ring at the end.
local function transmit(cfg)
  local xsk = require "xsk"
  local clock = require "xsk.clock"
  local own, stop, st, slot = cfg.state or {}, cfg.stop or xsk.workers.stopping, cfg.stats, cfg.slot
  local now = function() return clock.now() / 1e9 end
  local min = math.min
  local BURST = 64
  own.umem = xsk.umem { frame_count = 4096 }
  local umem = own.umem
  local g = xsk.flows.new(cfg.flows)
  -- TX only: no RX ring means no fill ring to keep topped up, so every
  -- frame of the UMEM is free for sending.
  own.sock = umem:socket { ifname = cfg.dev, queue = cfg.queue, rx = false }
  local sock = own.sock
  if cfg.ready then cfg.ready:send(cfg.queue) end
  local pc = cfg.rate and xsk.pace.new { pps = cfg.rate, burst = cfg.burst, poisson = cfg.poisson, seed = cfg.seed }

  local count = cfg.count
  local b = umem:batch(BURST)
  local deadline = cfg.duration and now() + cfg.duration or math.huge
  local sent = 0
  while sent < count do
    local t_now = now()
    if t_now >= deadline or stop() then break end
    -- Frames a full TX ring refused last time are still in b, stamped and
    -- granted by the pacer: they go first.
    if b.n == 0 then
      local want = min(BURST, count - sent)
      if pc then want = pc:wait(want) end
      local got = umem:alloc(b, want)
      if got < want then
        -- Every frame is in flight: what was granted and not taken is due again.
        if pc then pc:refund(want - got) end
        if got == 0 then
          sock:poll(10, "out")
          sock:recycle()
        end
      end
      if got > 0 then g:fill(b) end
    end
    if b.n > 0 then
      local bytes = 0
      for i = 0, b.n - 1 do bytes = bytes + b.f[i].len end
      local n = sock:send(b)
      for i = 0, b.n - 1 do bytes = bytes - b.f[i].len end
      sent = sent + n
      if st then st:add_tx(n, bytes) end
      if slot then slot:tx(n, bytes) end
      if n == 0 then sock:poll(10, "out") end
    end
    if st then st:tick(t_now) end
  end
  -- Frames stamped but never sent go back to the pool before closing.
  if b.n > 0 then umem:release(b) end
  local left = sock:flush(2000)
  if cfg.state == nil then umem:close() end
  return sent, left
end

-- --queues Q: a worker per queue with its share of the frames and the rate;
-- the main VM shows their total; returns the totals and each queue's.
local function many(o, flow_opts)
  local xsk = require "xsk"
  local workers = xsk.workers
  local ncpu = tonumber(io.popen("nproc"):read("*l")) or 1
  local ctr, ready = workers.counters(o.queues), workers.mailbox(o.queues)
  local ws = {}
  state.workers = { close = function()
    workers.stop()
    pcall(workers.wait, ws, 5)
  end }
  -- Counts from now: before any worker sends.
  local st = cli.stats { tx = true, total = o.count, counters = ctr }
  for i = 1, o.queues do
    local share = math.floor(o.count / o.queues) + (i <= o.count % o.queues and 1 or 0)
    local rate = o.rate and math.floor(o.rate / o.queues) + (i <= o.rate % o.queues and 1 or 0)
    ws[i] = workers.start({ transmit, cpu = (i - 1) % ncpu, name = "queue " .. (o.queue + i - 1) }, {
      dev = o.dev, queue = o.queue + i - 1, count = share, rate = rate, burst = o.burst, poisson = o.poisson,
      seed = i, duration = o.duration, flows = flow_opts, slot = ctr:slot(i), ready = ready,
    })
  end
  for _ = 1, o.queues do
    if not ready:recv(10) then error("a worker did not start", 0) end
  end
  local stop_requested = cli.stop_requested
  local running = true
  while running do
    if stop_requested() then workers.stop() end
    running = false
    for _, w in ipairs(ws) do running = running or w:running() end
    st:tick()
    cli.sleep(0.05)
  end
  local results = workers.wait(ws, 5)
  st:summary()
  local sent, left = 0, 0
  for i, r in ipairs(results) do
    print(("queue %d: sent %d"):format(o.queue + i - 1, r[1] - r[2]))
    sent, left = sent + r[1], left + r[2]
  end
  return sent, left
end

local function main(o)
  local xsk = require "xsk"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  local max_packet = 4096 - xsk.XDP_PACKET_HEADROOM
  for _, size in ipairs(o.sizes) do
    if size > max_packet then
      cli.usage_error("option --size: %d bytes is more than a frame holds (%d)", size, max_packet)
    end
  end
  local flow_opts = {
    src_mac = o.src_mac, dst_mac = o.dst_mac, src_ip = o.src_ip, dst_ip = o.dst_ip,
    src_port = o.src_port, dst_port = o.dst_port, size = o.sizes,
  }
  local count = o.count
  local sent, left
  if o.queues > 1 then
    sent, left = many(o, flow_opts)
  else
    local st = cli.stats { tx = true, total = count }
    sent, left = transmit { dev = o.dev, queue = o.queue, count = count, rate = o.rate, burst = o.burst,
      poisson = o.poisson, duration = o.duration, flows = flow_opts, state = state, stop = cli.stop_requested,
      stats = st }
    st:summary()
  end
  print(("sent %d"):format(sent - left))
  if sent < count then return false, ("stopped early: %d of %d sent"):format(sent, count) end
  if left > 0 then return false, ("%d frames still on the TX ring after 2 s"):format(left) end
end

cli.run(p, main, cleanup, check)
