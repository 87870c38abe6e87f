#!/usr/bin/env luajit
-- responder (installed as xsk-responder): answers ARP requests for one IPv4
-- address and ICMP echo requests to it from an AF_XDP socket, so `ping` from
-- the other side gets replies while the kernel stack on the interface sees
-- nothing.
--
--   sudo ip netns exec NS xsk-responder --dev veth0 --ip 198.18.0.1
local ffi = require "ffi"
local cli = require "xsk.cli"

local p = cli.parser("xsk-responder", [[
Answers ARP requests for A.B.C.D and ICMP echo requests to it on interface
IF (queue N), rewriting each request into its reply in place and sending it
back out of the same AF_XDP socket.  Everything else on the queue is
dropped (libxdp's default program sends the whole queue to the socket).
Needs root.  Shows what it received and answered once a second.  Ctrl-C,
SIGTERM or --duration end it.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--ip", "the address to answer for", "ip4"):argname("A.B.C.D"):count(1)

local ICMP_ECHO, ICMP_ECHOREPLY = 8, 0

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(o)
  local xsk = require "xsk"
  local headers = xsk.headers

  -- libxdp keeps its program state in bpffs; a no-op when one is mounted.
  xsk.netns.private_bpffs()

  local mac = cli.if_mac(o.dev)
  local ip_bytes = ffi.new("uint8_t[4]")
  local my_ip = headers.ip4_pton(o.ip, ip_bytes)

  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = o.dev, queue = o.queue }
  print(("xsk-responder: answering ARP and ping for %s (%s) on %s queue %d"):format(
    o.ip, cli.mac_string(mac), o.dev, o.queue))
  io.stdout:flush()

  local res = headers.result()
  local ntohs, htons = headers.ntohs, headers.htons
  local update16 = xsk.checksum.update16
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

  local arp_replies, echo_replies = cli.serve {
    sock = state.sock, umem = state.umem, mac = mac, ip_bytes = ip_bytes, duration = o.duration,
    res = res, answer = echo_reply,
  }
  print(("xsk-responder: %d ARP replies, %d echo replies"):format(arp_replies, echo_replies))
end

cli.run(p, main, cleanup)
