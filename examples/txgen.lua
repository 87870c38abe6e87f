-- txgen: sends COUNT valid UDP/IPv4 frames of SIZE bytes from an AF_XDP
-- socket, optionally paced to RATE packets per second.  Frames come from
-- xsk.template, so the peer's kernel stack accepts every one.
--
--   sudo ip netns exec NS luajit examples/txgen.lua --dev veth0 \
--     --src-mac 02:00:00:00:00:01 --dst-mac 02:00:00:00:00:02 \
--     --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 9 --count 1000 --size 128

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local cli = require "lib.cli"

local NAME = "txgen"

local USAGE = [[
usage: luajit examples/txgen.lua --dev IF --src-mac M --dst-mac M --src-ip A
         --dst-ip A --dst-port P --count N --size BYTES [options]

Sends N UDP/IPv4 frames of BYTES bytes each (Ethernet header included, no
FCS) out of interface IF through a TX-only AF_XDP socket, with correct IP and
UDP checksums, then waits for the kernel to take them all and prints
"sent N".  The payload is zeros.  Needs root.  Prints live statistics once a
second.  Ctrl-C, SIGTERM or --duration stop it early.

options:
  --dev IF          interface in the current network namespace (required)
  --src-mac M       source MAC, aa:bb:cc:dd:ee:ff (required)
  --dst-mac M       destination MAC (required): the receiver's, or the
                    peer stack drops the frames as not addressed to it
  --src-ip A        source IPv4 address (required)
  --dst-ip A        destination IPv4 address (required)
  --src-port P      source UDP port (default 9)
  --dst-port P      destination UDP port (required)
  --count N         frames to send (required)
  --size BYTES      frame size, 42 .. 3840 (required); must fit the MTU
  --rate PPS        pace to PPS frames per second (default: as fast as possible)
  --queue N         queue id (default 0)
  --duration S      stop after S seconds even if not all were sent
  -h, --help        show this text

exit status: 0 when all N were sent, 1 on errors or an early stop, 2 on bad
arguments.
]]

local OPTIONS = {
  dev = { "string", nil, required = true },
  ["src-mac"] = { "mac", nil, required = true },
  ["dst-mac"] = { "mac", nil, required = true },
  ["src-ip"] = { "ip4", nil, required = true },
  ["dst-ip"] = { "ip4", nil, required = true },
  ["src-port"] = { "uint", 9 },
  ["dst-port"] = { "uint", nil, required = true },
  count = { "uint", nil, required = true },
  size = { "uint", nil, required = true },
  rate = { "number", nil },
  queue = { "uint", 0 },
  duration = { "number", nil },
}

local MIN_SIZE = 14 + 20 + 8 -- Ethernet, IPv4 and UDP headers, empty payload
local BURST = 64

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(opts)
  for _, k in ipairs { "src-port", "dst-port" } do
    if opts[k] < 1 or opts[k] > 65535 then cli.usage_error("option --%s needs 1..65535, got %d", k, opts[k]) end
  end
  local xsk = require "xsk"
  local template = require "xsk.template"
  local stats = require "xsk.stats"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  require("xsk.netns").private_bpffs()

  state.umem = xsk.umem { frame_count = 4096 }
  local umem = state.umem
  local max_size = umem.max_packet
  if opts.size < MIN_SIZE or opts.size > max_size then
    cli.usage_error("option --size needs %d..%d, got %d", MIN_SIZE, max_size, opts.size)
  end
  local t = template.new {
    src_mac = opts["src-mac"], dst_mac = opts["dst-mac"],
    src_ip = opts["src-ip"], dst_ip = opts["dst-ip"],
    src_port = opts["src-port"], dst_port = opts["dst-port"],
    size = opts.size,
  }
  local _, frame_len = t:frame()
  if frame_len ~= opts.size then error(("template built %d bytes, not %d"):format(frame_len, opts.size)) end

  -- TX only: no RX ring means no fill ring to keep topped up, so every
  -- frame of the UMEM is free for sending.
  state.sock = umem:socket { ifname = opts.dev, queue = opts.queue, rx = false }
  local sock = state.sock

  local count, rate = opts.count, opts.rate
  local b = umem:batch(BURST)
  local now, sleep, stop_requested = cli.now, cli.sleep, cli.stop_requested
  local start = now()
  local deadline = opts.duration and start + opts.duration or math.huge
  local st = stats.new { interval = 1, sockets = { sock } }
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
        -- for signals and the deadline.
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
    st:tick()
  end
  -- Frames stamped but never sent go back to the pool before closing.
  if b.n > 0 then umem:release(b) end
  local left = sock:flush(2000)
  if now() - start > 1 then st:summary() end
  print(("sent %d"):format(sent - left))
  if sent < count then error(("stopped early: %d of %d sent"):format(sent, count)) end
  if left > 0 then error(("%d frames still on the TX ring after 2 s"):format(left)) end
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
