-- responder: answers ARP requests for one IPv4 address and ICMP echo requests
-- to it from an AF_XDP socket, so `ping` from the other side gets replies
-- while the kernel stack on the interface sees nothing.
--
--   sudo ip netns exec NS luajit examples/responder.lua --dev veth0 --ip 198.18.0.1

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/" .. (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local cli = require "lib.cli"
local answer = require "lib.answer"

local NAME = "responder"

local USAGE = [[
usage: luajit examples/responder.lua --dev IF --ip A.B.C.D [options]

Answers ARP requests for A.B.C.D and ICMP echo requests to it on interface
IF (queue N), rewriting each request into its reply in place and sending it
back out of the same AF_XDP socket.  Everything else on the queue is
dropped (libxdp's default program sends the whole queue to the socket).
Needs root.  Prints live statistics once a second.  Ctrl-C, SIGTERM or
--duration end it.

options:
  --dev IF        interface in the current network namespace (required)
  --ip A.B.C.D    the address to answer for (required)
  --queue N       queue id (default 0)
  --duration S    stop after S seconds (default: run until stopped)
  -h, --help      show this text

exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.
]]

local OPTIONS = {
  dev = { "string", nil, required = true },
  ip = { "ip4", nil, required = true },
  queue = { "uint", 0 },
  duration = { "number", nil },
}

local ICMP_ECHO, ICMP_ECHOREPLY = 8, 0

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(opts)
  local xsk = require "xsk"
  local headers = require "xsk.headers"
  local checksum = require "xsk.checksum"

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  require("xsk.netns").private_bpffs()

  local mac = cli.if_mac(opts.dev)
  local ip_bytes = ffi.new("uint8_t[4]")
  local my_ip = headers.ip4_pton(opts.ip, ip_bytes)

  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = opts.dev, queue = opts.queue }
  local umem, sock = state.umem, state.sock
  print(("%s: answering ARP and ping for %s (%s) on %s queue %d"):format(
    NAME, opts.ip, cli.mac_string(mac), opts.dev, opts.queue))
  io.stdout:flush()

  local res = headers.result()
  local ntohs, htons = headers.ntohs, headers.htons
  local update16 = checksum.C.lxsk_csum_update16
  local copy = ffi.copy

  -- ICMP echo request to our address -> echo reply in place.  Swapping the
  -- addresses changes neither checksum (one's complement sums commute), so
  -- only the ICMP type word needs an incremental update (RFC 1624).
  local function echo_reply()
    local ip, icmp = res.ip4, res.icmp
    if icmp == nil or ip == nil then return false end
    if icmp.type ~= ICMP_ECHO or icmp.code ~= 0 or res.frag ~= 0 or ip:dst() ~= my_ip then return false end
    local eth = res.eth
    icmp.type = ICMP_ECHOREPLY
    icmp.check = htons(update16(ntohs(icmp.check), ICMP_ECHO * 256, ICMP_ECHOREPLY * 256))
    ip.saddr, ip.daddr = ip.daddr, ip.saddr
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  local arp_replies, echo_replies = answer.serve {
    sock = sock, umem = umem, mac = mac, ip_bytes = ip_bytes, duration = opts.duration,
    res = res, answer = echo_reply,
  }
  print(("%s: %d ARP replies, %d echo replies"):format(NAME, arp_replies, echo_replies))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
