-- The loop of a host that answers in place: receive a burst, parse each frame,
-- answer ARP for our address and whatever the example answers, send the
-- answers back out of the same socket without copying, drop the rest.
-- Shared by responder.lua and udp_echo.lua.
local ffi = require "ffi"
local cli = require "lib.cli"

local copy = ffi.copy

local M = {}

local ETH_P_IP = 0x0800
local ARP_REQUEST, ARP_REPLY = 1, 2

-- opts: name, sock, umem, mac (6 bytes), ip_bytes (4 bytes, network order),
-- duration (seconds or nil), answer(res) -> true when it rewrote the parsed
-- frame into its reply.  Returns the ARP replies and the other answers.
function M.serve(opts)
  local headers = require "xsk.headers"
  local stats = require "xsk.stats"
  local sock, umem, mac, ip_bytes, answer = opts.sock, opts.umem, opts.mac, opts.ip_bytes, opts.answer

  local rx, tx, drop = umem:batch(64), umem:batch(64), umem:batch(64)
  local res = opts.res or headers.result()
  local parse = headers.parse
  -- Stats only for runs long enough to print a line.
  local st = (opts.duration == nil or opts.duration > 1) and stats.new { interval = 1, sockets = { sock } } or nil
  local deadline = opts.duration and cli.now() + opts.duration or math.huge
  local arp_replies, answers = 0, 0

  -- ARP request for our address -> reply in place: the asker becomes the
  -- target, we become the sender.
  local function arp_reply()
    local arp = res.arp
    if arp:op() ~= ARP_REQUEST or arp:proto_type() ~= ETH_P_IP then return false end
    local tpa = arp.tpa
    if tpa[0] ~= ip_bytes[0] or tpa[1] ~= ip_bytes[1] or tpa[2] ~= ip_bytes[2] or tpa[3] ~= ip_bytes[3] then
      return false
    end
    local eth = res.eth
    copy(arp.tha, arp.sha, 6)
    copy(arp.tpa, arp.spa, 4)
    copy(arp.sha, mac, 6)
    copy(arp.spa, ip_bytes, 4)
    arp:set_op(ARP_REPLY)
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
      local answered = false
      if parse(f.data, f.len, res) then
        if res.arp ~= nil then
          answered = arp_reply()
          if answered then arp_replies = arp_replies + 1 end
        else
          answered = answer(res)
          if answered then answers = answers + 1 end
        end
      end
      if answered then tx:push(f) else drop:push(f) end
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
  return arp_replies, answers
end

return M
