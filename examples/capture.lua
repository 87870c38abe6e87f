#!/usr/bin/env luajit
-- capture (installed as xsk-capture): writes every frame an AF_XDP socket
-- receives to a pcap file, or only those a tcpdump filter expression
-- matches (xsk.filter: libpcap compiles it, it runs on each frame in place).
--
--   sudo ip netns exec NS xsk-capture --dev veth0 --write out.pcap --count 100
--   sudo ip netns exec NS xsk-capture --dev veth0 --write dns.pcap --filter 'udp port 53'
local cli = require "xsk.cli"

local p = cli.parser("xsk-capture", [[
Receives every frame of interface IF (queue N) through an RX-only AF_XDP
socket and writes it to FILE (classic pcap, microsecond timestamps, readable
by tcpdump -r); with --filter only the frames the expression matches (tcpdump's
filter language).  The kernel stack on IF sees none of the frames while this
runs, matching or not.  Prints "captured N" at the end (frames written).
Needs root.  Shows received, rate and drops once a second.  Ctrl-C, SIGTERM,
--count or --duration end it.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--write", "pcap file to write (replaced if it exists)", "string"):argname("FILE"):count(1)
cli.option(p, "--count", "stop after N frames written", "count"):argname("N")
cli.option(p, "--filter", "write only frames this tcpdump filter matches ('udp port 53')", "string")
  :argname("EXPR")

-- The filter compiles before anything is set up, so a bad one is a usage error.
local function check(o)
  if o.filter then
    local ok, flt = pcall(require("xsk.filter").compile, o.filter)
    if not ok then cli.usage_error("option --filter: %s", cli.message(flt)) end
    o.flt = flt
  end
end

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
  print(("xsk-capture: capturing %s queue %d to %s%s"):format(o.dev, o.queue, o.write,
    o.filter and (" (filter: %s)"):format(o.filter) or ""))
  io.stdout:flush()

  local b = umem:batch(64)
  local now, stop_requested = cli.now, cli.stop_requested
  local deadline = o.duration and now() + o.duration or math.huge
  local limit = o.count or math.huge
  local st = cli.stats { rx = true, total = o.count, sockets = { sock } }
  local captured, received = 0, 0
  local flt = o.flt
  while captured < limit do
    local n = sock:recv(b, 100)
    local bytes = 0
    -- With --count, frames past the limit are received but not written.
    for i = 0, n - 1 do
      if captured >= limit then break end
      local f = b.f[i]
      if not flt or flt:match(f.data, f.len) then
        w:write(f.data, f.len)
        captured = captured + 1
      end
      bytes = bytes + f.len
    end
    received = received + n
    if n > 0 then umem:release(b) end
    st:add_rx(n, bytes)
    local t = now()
    st:tick(t)
    if stop_requested() or t >= deadline then break end
  end
  st:summary()
  -- Close here rather than in cleanup so a write error fails the run.
  state.writer = nil
  w:close()
  if flt then print(("xsk-capture: %d of %d frames matched the filter"):format(captured, received)) end
  print(("captured %d"):format(captured))
end

cli.run(p, main, cleanup, check)
