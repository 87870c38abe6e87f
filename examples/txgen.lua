#!/usr/bin/env luajit
-- txgen (installed as xsk-txgen): sends COUNT valid UDP/IPv4 frames of SIZE
-- bytes from an AF_XDP socket, optionally paced to RATE packets per second.
-- Frames come from xsk.template, so the peer's kernel stack accepts every one.
--
--   sudo ip netns exec NS xsk-txgen --dev veth0 \
--     --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
--     --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 9 --count 1000 --size 128
--   ... --count 1000000 --queues 2       # a worker per queue, half of the frames each
local cli = require "xsk.cli"

local MIN_SIZE = 14 + 20 + 8 -- Ethernet, IPv4 and UDP headers, empty payload

local p = cli.parser("xsk-txgen", [[
Sends N UDP/IPv4 frames of BYTES bytes each (Ethernet header included, no
FCS) out of interface IF through a TX-only AF_XDP socket, with correct IP and
UDP checksums, then waits for the kernel to take them all and prints
"sent N".  The payload is zeros.  Needs root.  Shows sent, rate, progress
and ETA once a second.  Ctrl-C, SIGTERM or --duration stop it early.
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
cli.option(p, "--src-ip", "source IPv4 address", "ip4"):argname("A"):count(1)
cli.option(p, "--dst-ip", "destination IPv4 address", "ip4"):argname("A"):count(1)
cli.option(p, "--src-port", "source UDP port", "port", 9):argname("P")
cli.option(p, "--dst-port", "destination UDP port", "port"):argname("P"):count(1)
cli.option(p, "--count", "frames to send", "count"):argname("N"):count(1)
cli.option(p, "--size", "frame size in bytes, 42 and up; must fit the MTU", "count"):argname("BYTES"):count(1)
cli.option(p, "--rate", "pace to PPS frames per second (default: as fast as possible)", "number")
  :argname("PPS")
cli.option(p, "--queues", "a worker per queue, from --queue on", "count", 1):argname("Q")

local state = {}

local cleanup = cli.closer(state, { "workers", "sock", "umem" })

-- Sends cfg.count frames on cfg.dev queue cfg.queue from a UMEM and socket
-- of its own (kept in cfg.state for the cleanup), paced to cfg.rate.  It
-- uses no upvalues, so it runs both here and in a worker's VM: cfg.stop
-- (here cli.stop_requested; in a worker workers.stopping), cfg.stats (here
-- the live line) or cfg.slot (in a worker, its counter slot) get the counts.
-- Returns the frames sent and those still on the TX ring at the end.
local function transmit(cfg)
  local xsk = require "xsk"
  local clock = require "xsk.clock"
  local own, stop, st, slot = cfg.state or {}, cfg.stop or xsk.workers.stopping, cfg.stats, cfg.slot
  local now = function() return clock.now() / 1e9 end
  local BURST = 64
  own.umem = xsk.umem { frame_count = 4096 }
  local umem = own.umem
  local t = xsk.template.new(cfg.template)
  local _, frame_len = t:frame()
  -- TX only: no RX ring means no fill ring to keep topped up, so every
  -- frame of the UMEM is free for sending.
  own.sock = umem:socket { ifname = cfg.dev, queue = cfg.queue, rx = false }
  local sock = own.sock
  if cfg.ready then cfg.ready:send(cfg.queue) end

  local count, rate = cfg.count, cfg.rate
  local b = umem:batch(BURST)
  local start = now()
  local deadline = cfg.duration and start + cfg.duration or math.huge
  local sent = 0
  while sent < count do
    local t_now = now()
    if t_now >= deadline or stop() then break end
    local want = count - sent
    if rate then
      -- Frames due by now, counted from the start, so a late wake-up is
      -- made up with a burst instead of lowering the average rate.
      local due = math.floor((t_now - start) * rate) + 1 - sent
      if due <= 0 then
        -- Sleep until the next frame is due, but wake at least every 50 ms
        -- for signals, the deadline and the statistics.
        clock.sleep(math.min((sent + 1) / rate - (t_now - start), 0.05) * 1e9)
        want = 0
      elseif due < want then
        want = due
      end
    end
    if want > 0 then
      -- Frames a full TX ring refused last time are still in b, stamped.
      if b.n == 0 then
        if umem:alloc(b, math.min(want, BURST)) == 0 then
          -- Every frame is in flight: let the kernel complete some.
          sock:poll(10, "out")
          sock:recycle()
        else
          t:fill_batch(b)
        end
      end
      if b.n > 0 then
        local n = sock:send(b)
        sent = sent + n
        if st then st:add_tx(n, n * frame_len) end
        if slot then slot:tx(n, n * frame_len) end
        if n == 0 then sock:poll(10, "out") end
      end
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
local function many(o, template_opts)
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
    ws[i] = workers.start({ transmit, cpu = (i - 1) % ncpu, name = "queue " .. (o.queue + i - 1) }, {
      dev = o.dev, queue = o.queue + i - 1, count = share, rate = o.rate and o.rate / o.queues,
      duration = o.duration, template = template_opts, slot = ctr:slot(i), ready = ready,
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
  if o.size < MIN_SIZE or o.size > max_packet then
    cli.usage_error("option --size needs %d to %d bytes, got %d", MIN_SIZE, max_packet, o.size)
  end
  local template_opts = {
    src_mac = o.src_mac, dst_mac = o.dst_mac, src_ip = o.src_ip, dst_ip = o.dst_ip,
    src_port = o.src_port, dst_port = o.dst_port, size = o.size,
  }
  local count = o.count
  local sent, left
  if o.queues > 1 then
    sent, left = many(o, template_opts)
  else
    local st = cli.stats { tx = true, total = count }
    sent, left = transmit { dev = o.dev, queue = o.queue, count = count, rate = o.rate, duration = o.duration,
      template = template_opts, state = state, stop = cli.stop_requested, stats = st }
    st:summary()
  end
  print(("sent %d"):format(sent - left))
  if sent < count then return false, ("stopped early: %d of %d sent"):format(sent, count) end
  if left > 0 then return false, ("%d frames still on the TX ring after 2 s"):format(left) end
end

cli.run(p, main, cleanup)
