#!/usr/bin/env luajit
-- dev1_to_dev2: sends N numbered frames from an AF_XDP socket on dev1 to one
-- on dev2 and reports how many arrived and how fast.  One thread does both
-- sides, a batch at a time.
--
--   sudo tools/xsk-luajit examples/dev1_to_dev2.lua --count 1000000
--   sudo tools/xsk-luajit examples/dev1_to_dev2.lua --dev1 v0 --dev2 v1 --shared

local ffi = require "ffi"
local bit = require "bit"
local cli = require "xsk.cli"

local p = cli.parser("dev1_to_dev2", [[
Sends --count frames, each carrying a sequence number, from an AF_XDP socket
on dev1 to an AF_XDP socket on dev2; counts distinct sequence numbers that
arrive, so loss and duplicates are reported honestly.  Stops when all have
arrived or when nothing moved for --quiet ms.  Shows both sides' counts and
rates, progress and ETA once a second.  Needs root.  Without --dev1/--dev2
it builds a throwaway network namespace with a veth pair and removes it when
done.]], [[
Exit status: 0 when every frame arrived, 1 when some were lost or on errors,
2 on bad arguments, 130 when interrupted.]])
cli.option(p, "--count", "frames to send", "count", 100000):argname("N")
cli.option(p, "--size", "bytes per frame, Ethernet header included, at least 20", "count", 64):argname("N")
cli.option(p, "--batch", "frames per send/recv call, at most 65536", "count", 64):argname("N")
cli.option(p, "--frames", "frames per UMEM", "count", 4096):argname("N")
cli.option(p, "--rx-size", "RX ring size", "pow2", 2048):argname("N")
cli.option(p, "--tx-size", "TX ring size", "pow2", 2048):argname("N")
cli.option(p, "--fill-size", "fill ring size", "pow2", 2048):argname("N")
cli.option(p, "--comp-size", "completion ring size", "pow2", 2048):argname("N")
cli.option(p, "--timeout", "poll timeout once everything is sent", "uint", 100):argname("MS")
cli.option(p, "--quiet", "give up after this long without progress", "uint", 1000):argname("MS")
p:flag("--shared", "one UMEM for both sockets")
cli.pair_options(p)

-- Checked with the arguments, so bad sizes are usage errors (exit 2) found
-- before anything touches the network.
local function check(o)
  cli.check_pair(o)
  if o.size < 20 then
    cli.usage_error("option --size needs at least 20 bytes (header and sequence number), got %d", o.size)
  end
  if o.batch > 65536 then cli.usage_error("option --batch is at most 65536, got %d", o.batch) end
end

local now, stop_requested = cli.now, cli.stop_requested

-- Frame layout: broadcast destination, locally administered source, the
-- IEEE local-experiment EtherType, two bytes of padding so the sequence number
-- sits 4-aligned (packet data starts 4-aligned in the UMEM), then the number.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181" .. "\0\0"
local HDR_LEN = #ETH_HEADER
local SEQ_OFF = 16
local ETYPE_HI, ETYPE_LO = 0x88, 0xB5

local state = {}

local cleanup = cli.closer(state, { "sock1", "sock2", "umem1", "umem2" })

-- The measured loop.  Everything it touches is made before it starts; inside
-- there are only FFI calls and arithmetic, so it compiles to one trace tree
-- and allocates nothing.
local function run(o, sock1, sock2, umem1, umem2, tx, rx, hdr, seen, st)
  local copy, cast, min = ffi.copy, ffi.cast, math.min
  local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
  local u32p = ffi.typeof("uint32_t *")
  local count, size, batch = o.count, o.size, o.batch
  local poll_ms, quiet = o.timeout, o.quiet / 1000
  local queued, sent, received, dups, foreign = 0, 0, 0, 0, 0
  -- How many frames to send; lowered to what is already queued on Ctrl-C,
  -- so frames in flight still get counted before the loop ends.
  local limit = count
  local start = now()
  local last_progress, last_rx = start, start
  local interrupted = false
  local iter = 0

  while true do
    local moved = false

    if queued < limit then
      -- Top the batch up; frames the TX ring refused last time are still at
      -- its front, already numbered.
      local have = tx.n
      local want = min(batch - have, limit - queued)
      if want > 0 then
        local got = umem1:alloc(tx, want)
        for i = have, have + got - 1 do
          local f = tx.f[i]
          copy(f.data, hdr, HDR_LEN)
          cast(u32p, f.data + SEQ_OFF)[0] = queued
          f.len = size
          queued = queued + 1
        end
      end
    end
    -- With nothing queued this still reaps completions and kicks the TX ring
    -- until the kernel has taken the last frames.
    local k = sock1:send(tx)
    if k > 0 then
      sent = sent + k
      st:add_tx(k, k * size)
      moved = true
    end

    -- Wait in poll only when there is nothing left to send.
    local n = sock2:recv(rx, sent == limit and poll_ms or 0)
    local before = received
    if n > 0 then
      for i = 0, n - 1 do
        local f = rx.f[i]
        local d = f.data
        if f.len >= SEQ_OFF + 4 and d[12] == ETYPE_HI and d[13] == ETYPE_LO then
          local seq = cast(u32p, d + SEQ_OFF)[0]
          local byte, mask = rshift(seq, 3), lshift(1, band(seq, 7))
          if seq < count and band(seen[byte], mask) == 0 then
            seen[byte] = bor(seen[byte], mask)
            received = received + 1
          else
            dups = dups + 1
          end
        else
          foreign = foreign + 1
        end
      end
      umem2:release(rx)
      st:add_rx(n, n * size)
      moved = true
    end

    local t = now()
    st:tick(t)
    if moved then last_progress = t end
    if received ~= before then last_rx = t end
    if received == limit or t - last_progress > quiet then break end
    -- A syscall per pass would cost a little; every 64th is plenty for a human.
    iter = iter + 1
    if not interrupted and iter % 64 == 0 and stop_requested() then
      interrupted = true
      limit = queued
    end
  end

  return {
    sent = sent, received = received, dups = dups, foreign = foreign,
    elapsed = last_rx - start, interrupted = interrupted,
  }
end

local function main(o)
  local xsk = require "xsk"
  -- veth drops frames longer than its MTU allows.
  local dev1, dev2 = cli.dev_pair(o, state, { mtu = o.size - 14 > 1500 and o.size - 14 or nil })

  local ucfg = {
    frame_count = o.frames, fill_size = o.fill_size, comp_size = o.comp_size,
  }
  state.umem1 = xsk.umem(ucfg)
  state.umem2 = o.shared and state.umem1 or xsk.umem(ucfg)
  local umem1, umem2 = state.umem1, state.umem2
  if o.size > umem1.max_packet then
    error(("--size %d does not fit a frame (at most %d bytes)"):format(o.size, umem1.max_packet), 0)
  end
  local scfg = { queue = o.queue, rx_size = o.rx_size, tx_size = o.tx_size, batch_size = o.batch }
  scfg.ifname, scfg.rx, scfg.tx = dev1, false, true
  state.sock1 = umem1:socket(scfg)
  scfg.ifname, scfg.rx, scfg.tx = dev2, true, false
  state.sock2 = umem2:socket(scfg)

  local tx, rx = umem1:batch(o.batch), umem2:batch(o.batch)
  local hdr = ffi.new("uint8_t[?]", HDR_LEN)
  ffi.copy(hdr, ETH_HEADER, HDR_LEN)
  -- One bit per sequence number: a billion frames still fit in 125 MB.
  local seen = ffi.new("uint8_t[?]", math.floor((o.count + 7) / 8))

  print(("%s -> %s: %d frames of %d bytes, batch %d, %s"):format(dev1, dev2, o.count, o.size, o.batch,
    o.shared and "one shared UMEM" or "a UMEM per socket"))
  -- The header goes out now, not at exit, for whoever watches a pipe or file.
  io.stdout:flush()
  if stop_requested() then cli.interrupted() end
  local st = cli.stats { rx = true, tx = true, total = o.count, sockets = { state.sock2 } }
  local r = run(o, state.sock1, state.sock2, umem1, umem2, tx, rx, hdr, seen, st)
  st:end_line()
  -- Frames the TX ring never took go back to the pool before the sockets close.
  if tx.n > 0 then umem1:release(tx) end

  local lost = r.sent - r.received
  print(("sent:     %d"):format(r.sent))
  print(("received: %d"):format(r.received))
  print(("lost:     %d"):format(lost))
  if r.dups > 0 then print(("duplicate: %d"):format(r.dups)) end
  if r.foreign > 0 then print(("other frames: %d"):format(r.foreign)) end
  print(("elapsed:  %.3f s"):format(r.elapsed))
  print(("pps:      %.0f"):format(r.elapsed > 0 and r.received / r.elapsed or 0))
  if lost > 0 or r.sent < o.count then
    local k = state.sock2:stats()
    print(("dev2 socket: rx_dropped %d, rx_ring_full %d, fill_ring_empty %d"):format(
      k.rx_dropped, k.rx_ring_full, k.rx_fill_ring_empty_descs))
  end
  -- Raised only now, so the totals counted so far are printed first.
  if r.interrupted then cli.interrupted() end
  if r.received ~= o.count then return false, "not every frame arrived" end
end

-- cli.run removes the namespace whatever happens.
cli.run(p, main, cleanup, check)
