#!/usr/bin/env luajit
-- replay (installed as xsk-replay): sends the packets of a capture file out
-- of an interface through an AF_XDP socket: with their recorded gaps (scaled
-- by --speed), at a fixed rate (--pps) or as fast as possible (--top).
--
--   sudo ip netns exec NS xsk-replay --dev veth0 --read trace.pcapng
--   sudo ip netns exec NS xsk-replay --dev veth0 --read trace.pcap --speed 10 --loop 3
--   sudo ip netns exec NS xsk-replay --dev veth0 --read trace.pcap --pps 100000
--
-- Reads classic pcap (microsecond and nanosecond) and pcapng (what dumpcap
-- and Wireshark write) with xsk.pcap, straight into UMEM frames.  With
-- recorded gaps the schedule is absolute: packet i leaves at
-- t0 + (ts_i - ts_0) / speed on xsk.clock's clock, reached by sleeping and
-- then spinning the last stretch (clock.wait_until), so late wake-ups never
-- add up; packets due together go out in one send.
local cli = require "xsk.cli"

local BURST = 64
local ETHERNET = 1

local p = cli.parser("xsk-replay", [[
Sends the packets of FILE (pcap or pcapng) out of interface IF through a
TX-only AF_XDP socket, each as it was captured: with the gaps between their
timestamps (divided by --speed; default 1: as recorded), at a fixed rate
(--pps) or as fast as the socket takes them (--top).  --loop N sends the
file N times, each pass right after the one before.  Packets of another link
type than Ethernet, or larger than a frame, are skipped and counted.  Ends
with "replayed N".  Needs root.  Shows sent and rate once a second.
Ctrl-C, SIGTERM or --duration stop it early.]], [[
Exit status: 0 when the whole file went out, 1 on errors or an early stop,
2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--read", "capture file to send (pcap or pcapng)", "string"):argname("FILE"):count(1)
cli.option(p, "--speed", "scale the recorded gaps: 2 is twice as fast (default 1)", "number"):argname("X")
cli.option(p, "--pps", "send N packets a second instead (xsk.pace)", "count"):argname("N")
p:flag("--top", "send as fast as possible")
cli.option(p, "--loop", "send the file N times", "count", 1):argname("N")

local function check(o)
  local modes = (o.speed and 1 or 0) + (o.pps and 1 or 0) + (o.top and 1 or 0)
  if modes > 1 then cli.usage_error("--speed, --pps and --top go one at a time") end
  if modes == 0 then o.speed = 1 end
  local f = io.open(o.read, "rb")
  if not f then cli.usage_error("option --read: cannot open %s", o.read) end
  f:close()
end

local state = {}
local cleanup = cli.closer(state, { "reader", "sock", "umem" })

local function main(o)
  local xsk = require "xsk"
  local clock, pcap = xsk.clock, xsk.pcap

  xsk.netns.private_bpffs()
  state.umem = xsk.umem { frame_count = 4096 }
  local umem = state.umem
  state.sock = umem:socket { ifname = o.dev, queue = o.queue, rx = false }
  local sock = state.sock
  local pc = o.pps and xsk.pace.new { pps = o.pps }
  -- Sleeps end up to the timer slack late (50 us by default): 1 us, as the pacer has it.
  clock.set_timer_slack(1000)
  print(("xsk-replay: %s to %s queue %d, %s"):format(o.read, o.dev, o.queue,
    o.pps and o.pps .. " packets a second" or o.top and "as fast as possible"
      or ("recorded gaps / %g"):format(o.speed)))
  io.stdout:flush()

  local b, spare = umem:batch(BURST), umem:batch(1)
  local st = cli.stats { tx = true, sockets = { sock } }
  local now, stop_requested = cli.now, cli.stop_requested
  local deadline = o.duration and now() + o.duration or math.huge
  local replayed, skipped_type, skipped_size, stopped = 0, 0, 0, false

  -- Sends every frame of b, waiting for room on the TX ring as needed.
  local function flush()
    while b.n > 0 do
      local bytes = 0
      for i = 0, b.n - 1 do bytes = bytes + b.f[i].len end
      local n = sock:send(b)
      for i = 0, b.n - 1 do bytes = bytes - b.f[i].len end
      replayed = replayed + n
      st:add_tx(n, bytes)
      if n == 0 then sock:poll(1, "out") end
    end
  end

  -- Reads the next packet of r into the spare frame; returns its length
  -- and time (nil at the end), skipping what cannot be sent.
  local function read_next(r)
    while true do
      if spare.n == 0 and umem:alloc(spare, 1) == 0 then
        flush()
        sock:recycle()
        if umem:alloc(spare, 1) == 0 then
          sock:poll(10, "out")
          sock:recycle()
        end
      end
      if spare.n == 1 then
        local f = spare.f[0]
        local n, sec, nsec, caplen = r:next_into(f.data, f.cap)
        if not n then return nil end
        if r.linktype ~= ETHERNET then
          skipped_type = skipped_type + 1
        elseif caplen > n then
          skipped_size = skipped_size + 1
        else
          f:setlen(n)
          return n, sec, nsec
        end
      end
    end
  end

  local function take_spare()
    b:push(spare.f[0])
    spare:clear()
    if b.n == BURST then flush() end
  end

  local t0, last_due
  for pass = 1, o.loop do
    state.reader = pcap.reader(o.read)
    local r = state.reader
    local base_sec, base_nsec -- the pass's first timestamp
    local turn = 0
    while true do
      -- the clock, signals and the live line once every BURST packets
      turn = turn + 1
      if turn % BURST == 0 or not o.speed then
        local t_now = now()
        if t_now >= deadline or stop_requested() then stopped = true break end
        st:tick(t_now)
      end
      if o.speed then
        local n, sec, nsec = read_next(r)
        if not n then break end
        local due
        if sec == nil then
          due = last_due or clock.now() -- a Simple Packet Block has no time: with the one before
        else
          if not base_sec then
            -- the pass starts where the last one ended (or now)
            base_sec, base_nsec = sec, nsec
            t0 = last_due or clock.now()
          end
          due = t0 + ((sec - base_sec) * 1e9 + (nsec - base_nsec)) / o.speed
        end
        last_due = due
        if due > clock.now() then
          flush()
          clock.wait_until(due)
        end
        take_spare()
      else
        local want = pc and pc:wait(BURST) or BURST
        local got = 0
        while got < want do
          local n = read_next(r)
          if not n then break end
          take_spare()
          got = got + 1
        end
        flush()
        if pc and got < want then pc:refund(want - got) end
        if got < want then break end
      end
    end
    flush()
    r:close()
    state.reader = nil
    if stopped then break end
    if pass == 1 and replayed == 0 and skipped_type + skipped_size == 0 then break end -- an empty file
  end
  if spare.n > 0 then umem:release(spare) end
  local left = sock:flush(2000)
  st:summary()
  if skipped_type > 0 then print(("xsk-replay: skipped %d packets not of Ethernet"):format(skipped_type)) end
  if skipped_size > 0 then
    print(("xsk-replay: skipped %d packets larger than a frame (%d bytes)"):format(skipped_size, umem.max_packet))
  end
  print(("replayed %d"):format(replayed - left))
  if stopped then return false, "stopped early" end
  if left > 0 then return false, ("%d frames still on the TX ring after 2 s"):format(left) end
end

cli.run(p, main, cleanup, check)
