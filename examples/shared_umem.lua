#!/usr/bin/env luajit
-- shared_umem: one UMEM, two sockets.  A socket on dev1 transmits frames out
-- of the UMEM, a socket on dev2 receives them into the same UMEM.  Drives the
-- four rings by hand (fill, TX, completion, RX), as xsk-rs's example does.
--
--   sudo tools/xsk-luajit examples/shared_umem.lua
--   sudo tools/xsk-luajit examples/shared_umem.lua --dev1 v0 --dev2 v1 --count 8

local cli = require "xsk.cli"

local MAX_COUNT = 16

local p = cli.parser("shared_umem", [[
Makes one UMEM and two AF_XDP sockets on it: dev1 (TX only) and dev2 (RX
only).  Frames written into the UMEM and sent on dev1 arrive on dev2 in
other frames of the same UMEM; prints what arrived and where.  Needs root.
Without --dev1/--dev2 it builds a throwaway network namespace with a veth
pair and removes it when done.]], [[
Exit status: 0 when every frame arrived, 1 when not or on errors, 2 on bad
arguments, 130 when interrupted.]])
cli.option(p, "--count", "frames to send, 1 to 16", "uint", 4):argname("N")
cli.pair_options(p)
cli.option(p, "--timeout", "how long to wait for the frames", "uint", 1000):argname("MS")

-- Checked with the arguments, so a bad --count is a usage error (exit 2).
local function check(o)
  cli.check_pair(o)
  if o.count < 1 or o.count > MAX_COUNT then
    cli.usage_error("option --count needs a number from 1 to %d, got %d", MAX_COUNT, o.count)
  end
end

-- Broadcast destination, locally administered source, local-experiment
-- EtherType: frames the kernel stack on either side leaves alone.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181"

local state = {}

local cleanup = cli.closer(state, { "sock1", "sock2", "umem" })

local function main(o)
  local xsk = require "xsk"
  local dev1, dev2 = cli.dev_pair(o, state)

  state.umem = xsk.umem { frame_count = 64 }
  local umem = state.umem
  -- auto_fill off: this example feeds dev2's fill ring itself.
  state.sock1 = umem:socket { ifname = dev1, queue = o.queue, rx = false, auto_fill = false }
  state.sock2 = umem:socket { ifname = dev2, queue = o.queue, tx = false, auto_fill = false }
  local sock1, sock2 = state.sock1, state.sock2
  if cli.stop_requested() then cli.interrupted() end
  print(("one UMEM (%d frames of %d bytes) shared by %s (TX) and %s (RX)"):format(
    umem.frame_count, umem.frame_size, dev1, dev2))

  -- 1. Give dev2's fill ring frames to receive into.  They come from the same
  -- pool the sender allocates from.
  local fill = umem:batch(16)
  umem:alloc(fill)
  local filled = sock2.fill:produce(fill)
  if filled == 0 then error("dev2's fill ring took no frames") end
  if sock2.fill:needs_wakeup() then sock2.fill:wakeup() end
  print(("%s fill ring: %d frames handed to the kernel"):format(dev2, filled))

  -- 2. Write the frames in place in the UMEM and put them on dev1's TX ring.
  local tx = umem:batch(o.count)
  if umem:alloc(tx, o.count) ~= o.count then error("not enough free frames in the UMEM") end
  local expect = {}
  for i = 0, o.count - 1 do
    local msg = ("frame %d from %s"):format(i + 1, dev1)
    tx.f[i]:set(ETH_HEADER .. msg)
    expect[msg] = true
    print(("%s sends: %q from UMEM addr 0x%x"):format(dev1, msg, tonumber(tx.f[i].addr)))
  end
  if sock1.tx:produce_and_wakeup(tx) ~= o.count then error("dev1's TX ring had no room") end

  -- 3. Receive on dev2 until every message is in or time is up.
  local rx = umem:batch(16)
  local got, deadline = 0, cli.now() + o.timeout / 1000
  while got < o.count and cli.now() < deadline do
    if cli.stop_requested() then cli.interrupted() end
    local n = sock2.rx:poll_and_consume(rx, 50)
    for i = 0, n - 1 do
      local f = rx.f[i]
      local pkt = f:bytes()
      if pkt:sub(1, #ETH_HEADER) == ETH_HEADER then
        local msg = pkt:sub(#ETH_HEADER + 1)
        local same = f.umem_id == umem.id and "the same UMEM" or "ANOTHER UMEM"
        print(("%s received: %q in UMEM addr 0x%x (%s)"):format(dev2, msg, tonumber(f.addr), same))
        if expect[msg] and f.umem_id == umem.id then
          expect[msg] = nil
          got = got + 1
        end
      end
    end
    -- The frames go back to the UMEM's pool, where either socket can use them.
    umem:release(rx)
  end

  -- 4. dev1's sent frames come back on its completion ring.
  local comp = umem:batch(16)
  local back, comp_deadline = 0, cli.now() + 0.2
  while back < o.count and cli.now() < comp_deadline do
    back = back + sock1.comp:consume(comp)
    umem:release(comp)
    if back < o.count then
      -- dev1 has no RX ring, so this poll just waits a moment (and kicks the
      -- TX ring if the kernel still has work there).
      sock1:poll(10)
    end
  end
  print(("%s completion ring: %d of %d sent frames back"):format(dev1, back, o.count))

  print(("received %d of %d frames, in the UMEM the sender wrote them to"):format(got, o.count))
  if got ~= o.count then return false, "not every frame arrived" end
end

-- cli.run removes the namespace whatever happens.
cli.run(p, main, cleanup, check)
