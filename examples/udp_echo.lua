-- udp_echo: answers ARP for one IPv4 address and sends every UDP datagram to
-- ip:port back to its sender, payload unchanged, from an AF_XDP socket.
--
--   sudo ip netns exec NS luajit examples/udp_echo.lua --dev veth0 --ip 198.18.0.1 --port 7

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local cli = require "lib.cli"
local answer = require "lib.answer"

local NAME = "udp_echo"

local USAGE = [[
usage: luajit examples/udp_echo.lua --dev IF --ip A.B.C.D --port P [options]

Answers ARP requests for A.B.C.D on interface IF and echoes every UDP/IPv4
datagram sent to A.B.C.D port P back to its sender (MAC addresses, IP
addresses and ports swapped, payload unchanged).  Everything else on the
queue is dropped.  Needs root.  Prints live statistics once a second.
Ctrl-C, SIGTERM or --duration end it.

options:
  --dev IF        interface in the current network namespace (required)
  --ip A.B.C.D    the address to answer for (required)
  --port P        the UDP port to echo (required)
  --queue N       queue id (default 0)
  --duration S    stop after S seconds (default: run until stopped)
  -h, --help      show this text

exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.
]]

local OPTIONS = {
  dev = { "string", nil, required = true },
  ip = { "ip4", nil, required = true },
  port = { "uint", nil, required = true },
  queue = { "uint", 0 },
  duration = { "number", nil },
}


local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(opts)
  if opts.port < 1 or opts.port > 65535 then cli.usage_error("option --port needs 1..65535, got %d", opts.port) end
  local xsk = require "xsk"
  local headers = require "xsk.headers"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  require("xsk.netns").private_bpffs()

  local mac = cli.if_mac(opts.dev)
  local ip_bytes = ffi.new("uint8_t[4]")
  local my_ip = headers.ip4_pton(opts.ip, ip_bytes)
  local my_port = opts.port

  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = opts.dev, queue = opts.queue }
  local umem, sock = state.umem, state.sock
  print(("%s: echoing UDP to %s:%d (%s) on %s queue %d"):format(
    NAME, opts.ip, my_port, cli.mac_string(mac), opts.dev, opts.queue))
  io.stdout:flush()

  local res = headers.result()
  local l4_csum_set = require("xsk.checksum").C.lxsk_l4_csum_set
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
    l4_csum_set(ip, res.l3_len)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  local arp_replies, echoed = answer.serve {
    sock = sock, umem = umem, mac = mac, ip_bytes = ip_bytes, duration = opts.duration,
    res = res, answer = udp_reply,
  }
  print(("%s: %d ARP replies, %d datagrams echoed"):format(NAME, arp_replies, echoed))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
