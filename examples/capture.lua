#!/usr/bin/env luajit
-- capture (installed as xsk-capture): writes every frame an AF_XDP socket
-- receives to a pcap file.
--
--   sudo ip netns exec NS xsk-capture --dev veth0 --write out.pcap --count 100
local cli = require "xsk.cli"

local p = cli.parser("xsk-capture", [[
Receives every frame of interface IF (queue N) through an RX-only AF_XDP
socket and writes it to FILE (classic pcap, microsecond timestamps, readable
by tcpdump -r).  The kernel stack on IF sees none of them while this runs.
Prints "captured N" at the end.  Needs root.  Shows received, rate and drops
once a second.  Ctrl-C, SIGTERM, --count or --duration end it.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--write", "pcap file to write (replaced if it exists)", "string"):argname("FILE"):count(1)
cli.option(p, "--count", "stop after N frames", "count"):argname("N")

local state = {}

local cleanup = cli.closer(state, { "sock", "umem", "writer" })

local function main(o)
  local xsk = require "xsk"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  state.writer = xsk.pcap.writer(o.write)
  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = o.dev, queue = o.queue, tx = false }
  local umem, sock, w = state.umem, state.sock, state.writer
  print(("xsk-capture: capturing %s queue %d to %s"):format(o.dev, o.queue, o.write))
  io.stdout:flush()

  local b = umem:batch(64)
  local now, stop_requested = cli.now, cli.stop_requested
  local deadline = o.duration and now() + o.duration or math.huge
  local limit = o.count or math.huge
  local st = cli.stats { rx = true, total = o.count, sockets = { sock } }
  local captured = 0
  while captured < limit do
    local n = sock:recv(b, 100)
    local bytes = 0
    -- With --count, frames past the limit are received but not written.
    local keep = math.min(n, limit - captured)
    for i = 0, keep - 1 do
      local f = b.f[i]
      w:write(f.data, f.len)
      bytes = bytes + f.len
    end
    captured = captured + keep
    if n > 0 then umem:release(b) end
    st:add_rx(keep, bytes)
    local t = now()
    st:tick(t)
    if stop_requested() or t >= deadline then break end
  end
  st:summary()
  -- Close here rather than in cleanup so a write error fails the run.
  state.writer = nil
  w:close()
  print(("captured %d"):format(captured))
end

cli.run(p, main, cleanup)
