-- udp_echo: answers ARP for one IPv4 address and sends every UDP datagram to
-- ip:port back to its sender, payload unchanged, from an AF_XDP socket.
--
--   sudo ip netns exec NS luajit examples/udp_echo.lua --dev veth0 --ip 198.18.0.1 --port 7

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local cli = require "lib.cli"

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

local ETH_P_IP = 0x0800
local ARP_REQUEST, ARP_REPLY = 1, 2

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(opts)
  if opts.port < 1 or opts.port > 65535 then cli.usage_error("option --port needs 1..65535, got %d", opts.port) end
  local xsk = require "xsk"
  local headers = require "xsk.headers"
  local stats = require "xsk.stats"

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

  local rx, tx, drop = umem:batch(64), umem:batch(64), umem:batch(64)
  local res = headers.result()
  local parse = headers.parse
  local copy = ffi.copy
  local l4_csum_set = require("xsk.checksum").C.lxsk_l4_csum_set

  -- Stats only for runs long enough to print a line.
  local st = (opts.duration == nil or opts.duration > 1) and stats.new { interval = 1, sockets = { sock } } or nil
  local deadline = opts.duration and cli.now() + opts.duration or math.huge
  local arp_replies, echoed = 0, 0

  -- ARP request for our address -> reply in place.
  local function arp_reply()
    local arp = res.arp
    if arp:op() ~= ARP_REQUEST or arp:proto_type() ~= ETH_P_IP then return false end
    local tpa = arp.tpa
    if tpa[0] ~= ip_bytes[0] or tpa[1] ~= ip_bytes[1] or tpa[2] ~= ip_bytes[2] or tpa[3] ~= ip_bytes[3] then
      return false
    end
    local eth = res.eth
    -- The asker becomes the target; we become the sender.
    copy(arp.tha, arp.sha, 6)
    copy(arp.tpa, arp.spa, 4)
    copy(arp.sha, mac, 6)
    copy(arp.spa, ip_bytes, 4)
    arp:set_op(ARP_REPLY)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  -- A datagram to our ip:port -> the same datagram back.  Swapping the two
  -- addresses and the two ports leaves the IP checksum as it is (one's
  -- complement sums commute).  The UDP checksum is recomputed anyway: a
  -- sender with checksum offload (veth, most NICs) hands XDP a frame whose
  -- UDP checksum holds only the pseudo-header sum, and echoing that back
  -- would make the receiver drop the datagram.
  local function udp_reply()
    local ip, udp = res.ip4, res.udp
    if res.frag ~= 0 or ip:dst() ~= my_ip or udp:dport() ~= my_port then return false end
    local eth = res.eth
    ip.saddr, ip.daddr = ip.daddr, ip.saddr
    udp.source, udp.dest = udp.dest, udp.source
    l4_csum_set(ip, res.l3_len)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  while true do
    local n = sock:recv(rx, 100)
    local bytes = 0
    for i = 0, n - 1 do
      local f = rx.f[i]
      bytes = bytes + f.len
      local answer = false
      if parse(f.data, f.len, res) then
        if res.arp ~= nil then
          answer = arp_reply()
          if answer then arp_replies = arp_replies + 1 end
        elseif res.udp ~= nil and res.ip4 ~= nil then
          answer = udp_reply()
          if answer then echoed = echoed + 1 end
        end
      end
      if answer then tx:push(f) else drop:push(f) end
    end
    rx:clear()
    local out_n, out_bytes = tx.n, 0
    for i = 0, out_n - 1 do out_bytes = out_bytes + tx.f[i].len end
    -- forward sends the frames back out without copying; what the TX ring
    -- has no room for goes back to the pool, as a full NIC would drop it.
    if out_n > 0 then sock:forward(tx) end
    if drop.n > 0 then umem:release(drop) end
    if st then
      st:add_rx(n, bytes)
      st:add_tx(out_n, out_bytes)
      st:tick()
    end
    if cli.stop_requested() or cli.now() >= deadline then break end
  end
  sock:flush(1000)
  if st then st:summary() end
  print(("%s: %d ARP replies, %d datagrams echoed"):format(NAME, arp_replies, echoed))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
