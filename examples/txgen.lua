#!/usr/bin/env luajit
-- txgen (installed as xsk-txgen): sends COUNT valid UDP/IPv4 frames of SIZE
-- bytes from an AF_XDP socket, optionally paced to RATE packets per second.
-- Frames come from xsk.template, so the peer's kernel stack accepts every one.
--
--   sudo ip netns exec NS xsk-txgen --dev veth0 \
--     --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
--     --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 9 --count 1000 --size 128
local cli = require "xsk.cli"

local MIN_SIZE = 14 + 20 + 8 -- Ethernet, IPv4 and UDP headers, empty payload
local BURST = 64

local p = cli.parser("xsk-txgen", [[
Sends N UDP/IPv4 frames of BYTES bytes each (Ethernet header included, no
FCS) out of interface IF through a TX-only AF_XDP socket, with correct IP and
UDP checksums, then waits for the kernel to take them all and prints
"sent N".  The payload is zeros.  Needs root.  Shows sent, rate, progress
and ETA once a second.  Ctrl-C, SIGTERM or --duration stop it early.]], [[
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

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(o)
  local xsk = require "xsk"
  local template = require "xsk.template"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  state.umem = xsk.umem { frame_count = 4096 }
  local umem = state.umem
  if o.size < MIN_SIZE or o.size > umem.max_packet then
    cli.usage_error("option --size needs %d to %d bytes, got %d", MIN_SIZE, umem.max_packet, o.size)
  end
  local t = template.new {
    src_mac = o.src_mac, dst_mac = o.dst_mac, src_ip = o.src_ip, dst_ip = o.dst_ip,
    src_port = o.src_port, dst_port = o.dst_port, size = o.size,
  }
  local _, frame_len = t:frame()

  -- TX only: no RX ring means no fill ring to keep topped up, so every
  -- frame of the UMEM is free for sending.
  state.sock = umem:socket { ifname = o.dev, queue = o.queue, rx = false }
  local sock = state.sock

  local count, rate = o.count, o.rate
  local b = umem:batch(BURST)
  local now, sleep, stop_requested = cli.now, cli.sleep, cli.stop_requested
  local start = now()
  local deadline = o.duration and start + o.duration or math.huge
  local st = cli.stats { tx = true, total = count, sockets = { sock } }
  local sent = 0
  while sent < count do
    local t_now = now()
    if t_now >= deadline or stop_requested() then break end
    local want = count - sent
    if rate then
      -- Frames due by now, counted from the start, so a late wake-up is
      -- made up with a burst instead of lowering the average rate.
      local due = math.floor((t_now - start) * rate) + 1 - sent
      if due <= 0 then
        -- Sleep until the next frame is due, but wake at least every 50 ms
        -- for signals, the deadline and the statistics.
        sleep(math.min((sent + 1) / rate - (t_now - start), 0.05))
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
        st:add_tx(n, n * frame_len)
        if n == 0 then sock:poll(10, "out") end
      end
    end
    st:tick(t_now)
  end
  -- Frames stamped but never sent go back to the pool before closing.
  if b.n > 0 then umem:release(b) end
  local left = sock:flush(2000)
  st:summary()
  print(("sent %d"):format(sent - left))
  if sent < count then return false, ("stopped early: %d of %d sent"):format(sent, count) end
  if left > 0 then return false, ("%d frames still on the TX ring after 2 s"):format(left) end
end

cli.run(p, main, cleanup)
