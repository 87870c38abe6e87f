#!/usr/bin/env luajit
-- hello_xdp: one Ethernet frame carrying "Hello, world!" goes out of an
-- AF_XDP socket on dev1 and comes back in through an AF_XDP socket on dev2.
--
--   sudo tools/xsk-luajit examples/hello_xdp.lua                      (throwaway veth pair)
--   sudo tools/xsk-luajit examples/hello_xdp.lua --dev1 v0 --dev2 v1  (existing devices)
local cli = require "xsk.cli"

local MESSAGE = "Hello, world!"

local p = cli.parser("hello_xdp", [[
Sends one Ethernet frame (broadcast, EtherType 0x88B5) carrying
"Hello, world!" from an AF_XDP socket on dev1 to an AF_XDP socket on dev2.
Needs root.  Without --dev1/--dev2 it builds a throwaway network namespace
with a veth pair and removes it when done.]], [[
Exit status: 0 when the frame arrived, 1 when it did not or on errors, 2 on
bad arguments, 130 when interrupted.]])
cli.pair_options(p)
cli.option(p, "--timeout", "how long to wait for the frame", "uint", 1000):argname("MS")

-- Broadcast destination, a locally administered source, then the EtherType
-- IEEE reserves for local experiments, which no stack on the way consumes.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181"

-- Everything that must be undone, in the order it is undone.
local state = {}

local cleanup = cli.closer(state, { "sock1", "sock2", "umem1", "umem2" })

local function main(o)
  local xsk = require "xsk"
  local dev1, dev2 = cli.dev_pair(o, state)

  -- Two UMEMs, as in xsk-rs's hello_xdp: each socket owns its own frames.
  state.umem1 = xsk.umem { frame_count = 32 }
  state.umem2 = xsk.umem { frame_count = 32 }
  state.sock1 = state.umem1:socket { ifname = dev1, queue = o.queue, rx = false }
  state.sock2 = state.umem2:socket { ifname = dev2, queue = o.queue, tx = false }
  local umem1, umem2, sock1, sock2 = state.umem1, state.umem2, state.sock1, state.sock2
  if cli.stop_requested() then cli.interrupted() end

  local tx = umem1:batch(1)
  if umem1:alloc(tx, 1) ~= 1 then error("no free frame in dev1's UMEM") end
  tx.f[0]:set(ETH_HEADER .. MESSAGE)
  print(("sending: %q"):format(MESSAGE))
  -- One frame always fits an empty TX ring; a 0 here would be a core bug.
  if sock1:send(tx) ~= 1 then error("dev1's TX ring took no frame") end

  local rx = umem2:batch(32)
  local deadline = cli.now() + o.timeout / 1000
  while cli.now() < deadline do
    if cli.stop_requested() then cli.interrupted() end
    local n = sock2:recv(rx, 50)
    for i = 0, n - 1 do
      local pkt = rx.f[i]:bytes()
      if pkt:sub(1, #ETH_HEADER) == ETH_HEADER then
        local payload = pkt:sub(#ETH_HEADER + 1)
        print(("received: %q"):format(payload))
        if payload == MESSAGE then
          umem2:release(rx)
          return true
        end
      end
    end
    umem2:release(rx)
  end
  return false, "no matching frame received within " .. o.timeout .. " ms"
end

-- cli.run removes the namespace whatever happens.
cli.run(p, main, cleanup, cli.check_pair)
