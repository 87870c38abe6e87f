-- responder: answers ARP requests for one IPv4 address and ICMP echo requests
-- to it from an AF_XDP socket, so `ping` from the other side gets replies
-- while the kernel stack on the interface sees nothing.
--
--   sudo ip netns exec NS luajit examples/responder.lua --dev veth0 --ip 198.18.0.1

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/examples/?.lua;" .. package.path
package.cpath = root .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local cli = require "lib.cli"

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

local ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
local ARP_REQUEST, ARP_REPLY = 1, 2
local ICMP_ECHO, ICMP_ECHOREPLY = 8, 0

local state = {}

local cleanup = cli.closer(state, { "sock", "umem" })

local function main(opts)
  local xsk = require "xsk"
  local headers = require "xsk.headers"
  local checksum = require "xsk.checksum"
  local stats = require "xsk.stats"

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

  local rx, tx, drop = umem:batch(64), umem:batch(64), umem:batch(64)
  local res = headers.result()
  local parse, ntohs, htons = headers.parse, headers.ntohs, headers.htons
  local update16 = checksum.C.lxsk_csum_update16
  local copy = ffi.copy

  -- Stats only for runs long enough to print a line.
  local st = (opts.duration == nil or opts.duration > 1) and stats.new { interval = 1, sockets = { sock } } or nil
  local deadline = opts.duration and cli.now() + opts.duration or math.huge
  local arp_replies, echo_replies = 0, 0

  -- ARP request for our address -> reply in place.
  local function arp_reply(f)
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

  -- ICMP echo request to our address -> echo reply in place.  Swapping the
  -- addresses changes neither checksum (one's complement sums commute), so
  -- only the ICMP type word needs an incremental update (RFC 1624).
  local function echo_reply(f)
    local ip, icmp = res.ip4, res.icmp
    if icmp.type ~= ICMP_ECHO or icmp.code ~= 0 or res.frag ~= 0 or ip:dst() ~= my_ip then return false end
    local eth = res.eth
    icmp.type = ICMP_ECHOREPLY
    icmp.check = htons(update16(ntohs(icmp.check), ICMP_ECHO * 256, ICMP_ECHOREPLY * 256))
    ip.saddr, ip.daddr = ip.daddr, ip.saddr
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
          answer = arp_reply(f)
          if answer then arp_replies = arp_replies + 1 end
        elseif res.icmp ~= nil and res.ip4 ~= nil then
          answer = echo_reply(f)
          if answer then echo_replies = echo_replies + 1 end
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
  print(("%s: %d ARP replies, %d echo replies"):format(NAME, arp_replies, echo_replies))
end

cli.run(NAME, USAGE, OPTIONS, main, cleanup)
