-- udp_sink: counts the UDP datagrams sent to one port of an interface from
-- an AF_XDP socket, while everything else (ARP, ping, ssh, other ports) stays
-- with the kernel.  lua-xsk's steering program (xsk.steer) makes the split.
--
--   sudo ip netns exec NS luajit examples/udp_sink.lua --dev veth0 --port 9000

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local cli = require "lib.cli"

local NAME = "udp_sink"

local USAGE = [[
usage: luajit examples/udp_sink.lua --dev IF --port P [options]

Attaches lua-xsk's steering XDP program to interface IF with one rule, UDP
destination port P, and counts the datagrams that rule sends to an AF_XDP
socket on queue N (IPv4 and IPv6, any destination address).  Their frames
go straight back to the pool: the kernel never sees them.  All other
traffic goes on to the kernel stack, so ping, ARP and other ports keep
working.  Needs root.  Prints live statistics once a second when running
longer than a second, and "received N" when it ends.  Ctrl-C, SIGTERM or
--duration end it.

options:
  --dev IF        interface in the current network namespace (required)
  --port P        the UDP destination port to take (required)
  --queue N       queue id (default 0); datagrams the NIC puts on other
                  queues go to the kernel
  --duration S    stop after S seconds (default: run until stopped)
  -h, --help      show this text

exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.
]]

local OPTIONS = {
  dev = { "string", nil, required = true },
  port = { "uint", nil, required = true },
  queue = { "uint", 0 },
  duration = { "number", nil },
}

-- A port out of range is a usage error (exit 2), found before anything is set up.
local function check(o)
  if o.port and (o.port < 1 or o.port > 65535) then
    cli.usage_error("option --port needs 1..65535, got %d", o.port)
  end
end

local state = {}

-- The socket goes before its UMEM, and the program last, so no packet is
-- redirected to a socket that is half closed.
local cleanup = cli.closer(state, { "sock", "umem", "steer" })

local function main(opts)
  local xsk = require "xsk"
  local stats = require "xsk.stats"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  require("xsk.netns").private_bpffs()

  state.steer = xsk.steer.open { ifname = opts.dev }
  local rule = state.steer:add_rule { proto = "udp", dport = opts.port }
  state.umem = xsk.umem { frame_count = 4096 }
  -- load_program = false: libxdp's default program would take the whole
  -- queue; the steering program already on the interface picks the packets.
  -- RX only, so every frame not on the fill ring is free.
  state.sock = state.umem:socket { ifname = opts.dev, queue = opts.queue, tx = false, load_program = false }
  local umem, sock = state.umem, state.sock
  state.steer:register(sock)
  print(("%s: counting UDP to port %d on %s queue %d (%s mode), the rest goes to the kernel"):format(
    NAME, opts.port, opts.dev, opts.queue, state.steer:mode()))
  io.stdout:flush()

  local rx = umem:batch(64)
  local now, stop_requested = cli.now, cli.stop_requested
  -- Stats only for runs long enough to print a line.
  local st = (opts.duration == nil or opts.duration > 1) and stats.new { interval = 1, sockets = { sock } } or nil
  local deadline = opts.duration and now() + opts.duration or math.huge
  local received = 0

  while true do
    local n = sock:recv(rx, 100)
    if n > 0 then
      if st then
        local bytes = 0
        for i = 0, n - 1 do bytes = bytes + rx.f[i].len end
        st:add_rx(n, bytes)
      end
      received = received + n
      -- Counted, so the frames go back to the pool; recv refills the fill
      -- ring from there.
      umem:release(rx)
    end
    if st then st:tick() end
    if stop_requested() or now() >= deadline then break end
  end
  if st then st:summary() end
  -- The program's own count for the rule, over all queues: more than
  -- received means the RX ring overflowed (see the drops in the statistics)
  -- or datagrams came in on a queue without a socket, where the kernel got them.
  local matched = state.steer:counters(rule)
  print(("%s: rule matched %d packets"):format(NAME, matched))
  print(("received %d"):format(received))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup, check)
