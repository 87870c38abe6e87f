#!/usr/bin/env luajit
-- udp_echo (installed as xsk-udp-echo): answers ARP for one IPv4 address and
-- sends every UDP datagram to ip:port back to its sender, payload unchanged,
-- from an AF_XDP socket.
--
--   sudo ip netns exec NS xsk-udp-echo --dev veth0 --ip 198.18.0.1 --port 7
local ffi = require "ffi"
local cli = require "xsk.cli"

local p = cli.parser("xsk-udp-echo", [[
Answers ARP requests for A.B.C.D on interface IF and echoes every UDP/IPv4
datagram sent to A.B.C.D port P back to its sender (MAC addresses, IP
addresses and ports swapped, payload unchanged).  Everything else on the
queue is dropped.  Needs root.  Shows what it received and answered once a
second.  Ctrl-C, SIGTERM or --duration end it.]], [[
Exit status: 0 on a clean stop, 1 on errors, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--ip", "the address to answer for", "ip4"):argname("A.B.C.D"):count(1)
cli.option(p, "--port", "the UDP port to echo", "port"):argname("P"):count(1)

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
  local my_port = o.port

  state.umem = xsk.umem { frame_count = 4096 }
  state.sock = state.umem:socket { ifname = o.dev, queue = o.queue }
  print(("xsk-udp-echo: echoing UDP to %s:%d (%s) on %s queue %d"):format(
    o.ip, my_port, cli.mac_string(mac), o.dev, o.queue))
  io.stdout:flush()

  local res = headers.result()
  local l4_set = xsk.checksum.l4_set
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
    l4_set(ip, res.l3_len)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  local arp_replies, echoed = cli.serve {
    sock = state.sock, umem = state.umem, mac = mac, ip_bytes = ip_bytes, duration = o.duration,
    res = res, answer = udp_reply,
  }
  print(("xsk-udp-echo: %d ARP replies, %d datagrams echoed"):format(arp_replies, echoed))
end

cli.run(p, main, cleanup)
