-- capture: writes every frame an AF_XDP socket receives to a pcap file.
--
--   sudo ip netns exec NS luajit examples/capture.lua --dev veth0 --write out.pcap --count 100

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local cli = require "lib.cli"

local NAME = "capture"

local USAGE = [[
usage: luajit examples/capture.lua --dev IF --write FILE.pcap [options]

Receives every frame of interface IF (queue N) through an RX-only AF_XDP
socket and writes it to FILE.pcap (classic pcap, microsecond timestamps,
readable by tcpdump -r).  The kernel stack on IF sees none of them while this
runs.  Prints "captured N" at the end.  Needs root.  Prints live statistics
once a second.  Ctrl-C, SIGTERM, --count or --duration end it.

options:
  --dev IF          interface in the current network namespace (required)
  --write FILE      pcap file to write (required; replaced if it exists)
  --count N         stop after N frames
  --queue N         queue id (default 0)
  --duration S      stop after S seconds
  -h, --help        show this text

exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.
]]

local OPTIONS = {
  dev = { "string", nil, required = true },
  write = { "string", nil, required = true },
  count = { "uint", nil },
  queue = { "uint", 0 },
  duration = { "number", nil },
}

local state = {}

local cleanup = cli.closer(state, { "sock", "umem", "writer" })

local function main(opts)
  local xsk = require "xsk"
  local pcap = require "xsk.pcap"
  local stats = require "xsk.stats"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  require("xsk.netns").private_bpffs()

  state.writer = pcap.writer(opts.write)
  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = opts.dev, queue = opts.queue, tx = false }
  local umem, sock, w = state.umem, state.sock, state.writer
  print(("%s: capturing %s queue %d to %s"):format(NAME, opts.dev, opts.queue, opts.write))
  io.stdout:flush()

  local b = umem:batch(64)
  local now, stop_requested = cli.now, cli.stop_requested
  local start = now()
  local deadline = opts.duration and start + opts.duration or math.huge
  local limit = opts.count or math.huge
  local st = stats.new { interval = 1, sockets = { sock } }
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
    st:tick()
    if stop_requested() or now() >= deadline then break end
  end
  if now() - start > 1 then st:summary() end
  -- Close here rather than in cleanup so a write error fails the run.
  state.writer = nil
  w:close()
  print(("captured %d"):format(captured))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
