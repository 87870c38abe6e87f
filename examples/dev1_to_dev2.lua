#!/usr/bin/env luajit
-- dev1_to_dev2: sends N numbered frames from an AF_XDP socket on dev1 to one
-- on dev2 and reports how many arrived and how fast.  One thread does both
-- sides, a batch at a time; with --threads the sender and the receiver are
-- workers of their own (xsk.workers), each on a CPU of its own.
--
--   sudo tools/xsk-luajit examples/dev1_to_dev2.lua --count 1000000
--   sudo tools/xsk-luajit examples/dev1_to_dev2.lua --dev1 v0 --dev2 v1 --shared
--   sudo tools/xsk-luajit examples/dev1_to_dev2.lua --count 1000000 --threads --shared

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
done.  With --threads the sender and the receiver run in workers of their
own (a LuaJIT VM each, on a thread pinned to its own CPU), on partitions of
one UMEM (--shared) or on a UMEM each.]], [[
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
p:flag("--threads", "sender and receiver in workers of their own")
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
local report -- the accounting, below

-- Frame layout: broadcast destination, locally administered source, the
-- IEEE local-experiment EtherType, two bytes of padding so the sequence number
-- sits 4-aligned (packet data starts 4-aligned in the UMEM), then the number.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181" .. "\0\0"
local HDR_LEN = #ETH_HEADER
local SEQ_OFF = 16
local ETYPE_HI, ETYPE_LO = 0x88, 0xB5

local state = {}

local cleanup = cli.closer(state, { "workers", "sock1", "sock2", "umem1", "umem2" })

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

-- ---- --threads: each side in a worker of its own ----

-- The sending worker: numbered frames on cfg.dev from cfg.umem (a partition
-- handed over) or a UMEM of its own, counted in its counter slot, until
-- cfg.count went or it is told to stop.  It stays at most cfg.window frames
-- ahead of what the receiver counted (its slot in the shared block), as the
-- one-thread loop does by taking turns: without that, a sender on a CPU of
-- its own outruns the receiver's fill ring.  No upvalues: it runs in another
-- VM.
local function sender(cfg)
  local ffi = require "ffi" -- luacheck: ignore 431 (this runs in a VM without the chunk's locals)
  local xsk = require "xsk"
  local stopping = xsk.workers.stopping
  local umem = cfg.umem or xsk.umem(cfg.ucfg)
  local sock = umem:socket { ifname = cfg.dev, queue = cfg.queue, rx = false, tx = true, tx_size = cfg.tx_size,
    batch_size = cfg.batch }
  local tx = umem:batch(cfg.batch)
  local hdr = ffi.new("uint8_t[?]", #cfg.header)
  ffi.copy(hdr, cfg.header, #cfg.header)
  local u32p = ffi.typeof("uint32_t *")
  local count, size, batch, slot, ctr, window = cfg.count, cfg.size, cfg.batch, cfg.slot, cfg.ctr, cfg.window
  local queued, sent = 0, 0
  while sent < count and not stopping() do
    local have = tx.n
    local want = math.min(batch - have, count - queued, window - (queued - ctr:value(2, "rx_packets")))
    if want > 0 then
      local got = umem:alloc(tx, want)
      for i = have, have + got - 1 do
        local f = tx.f[i]
        ffi.copy(f.data, hdr, #cfg.header)
        ffi.cast(u32p, f.data + cfg.seq_off)[0] = queued
        f.len = size
        queued = queued + 1
      end
    end
    local k = sock:send(tx)
    if k > 0 then
      sent = sent + k
      slot:tx(k, k * size)
    end
  end
  if tx.n > 0 then umem:release(tx) end
  sock:flush(1000)
  umem:close()
  return sent
end

-- The receiving worker: counts distinct sequence numbers on cfg.dev until
-- all cfg.count arrived or it is told to stop (the main VM cancels it after
-- the quiet time).  Returns the counts and the time from the first frame to
-- the last.
local function receiver(cfg)
  local ffi = require "ffi" -- luacheck: ignore 431 (this runs in a VM without the chunk's locals)
  local bit = require "bit" -- luacheck: ignore 431
  local xsk = require "xsk"
  local clock = require "xsk.clock"
  local stopping = xsk.workers.stopping
  local umem = cfg.umem or xsk.umem(cfg.ucfg)
  local sock = umem:socket { ifname = cfg.dev, queue = cfg.queue, rx = true, tx = false, rx_size = cfg.rx_size,
    batch_size = cfg.batch }
  cfg.ready:send("listening")
  local rx = umem:batch(cfg.batch)
  local seen = ffi.new("uint8_t[?]", math.floor((cfg.count + 7) / 8))
  local u32p = ffi.typeof("uint32_t *")
  local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
  local count, size, slot, seq_off = cfg.count, cfg.size, cfg.slot, cfg.seq_off
  local received, dups, foreign, first, last = 0, 0, 0, nil, nil
  while received < count and not stopping() do
    local n = sock:recv(rx, 100)
    if n > 0 then
      for i = 0, n - 1 do
        local f = rx.f[i]
        local d = f.data
        if f.len >= seq_off + 4 and d[12] == cfg.etype_hi and d[13] == cfg.etype_lo then
          local seq = ffi.cast(u32p, d + seq_off)[0]
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
      umem:release(rx)
      slot:rx(n, n * size)
      last = clock.now()
      first = first or last
    end
  end
  local k = sock:stats()
  umem:close()
  return { received = received, dups = dups, foreign = foreign, elapsed = first and (last - first) / 1e9 or 0,
    rx_dropped = k.rx_dropped, rx_ring_full = k.rx_ring_full, fill_empty = k.rx_fill_ring_empty_descs }
end

-- Both sides in workers, pinned to two CPUs; the main VM shows the live
-- line from their counters and ends the receiver after the quiet time.
local function threaded(o, dev1, dev2, ucfg)
  local xsk = require "xsk"
  local workers = xsk.workers
  local ctr, ready = workers.counters(2), workers.mailbox(1)
  local ws = {}
  state.workers = { close = function()
    workers.stop()
    pcall(workers.wait, ws, 5)
  end }
  local shared = o.shared and xsk.umem(ucfg)
  state.umem1 = shared or nil
  local base = {
    queue = o.queue, count = o.count, size = o.size, batch = o.batch, ucfg = ucfg, header = ETH_HEADER,
    seq_off = SEQ_OFF, etype_hi = ETYPE_HI, etype_lo = ETYPE_LO,
  }
  local function cfg(t)
    for k, v in pairs(base) do if t[k] == nil then t[k] = v end end
    return t
  end
  local half = math.floor(o.frames / 2)
  ws[2] = workers.start({ receiver, cpu = 1 % (tonumber(io.popen("nproc"):read("*l")) or 1), name = "receiver" },
    cfg { dev = dev2, rx_size = o.rx_size, slot = ctr:slot(2), ready = ready, umem = shared and shared:share(half) })
  if not ready:recv(10) then error("the receiver did not start", 0) end
  print(("%s -> %s: %d frames of %d bytes, batch %d, a worker each side, %s"):format(dev1, dev2, o.count, o.size,
    o.batch, o.shared and "one shared UMEM (a partition each)" or "a UMEM per worker"))
  io.stdout:flush()
  local st = cli.stats { rx = true, tx = true, total = o.count, counters = ctr }
  ws[1] = workers.start({ sender, cpu = 0, name = "sender" },
    cfg { dev = dev1, tx_size = o.tx_size, slot = ctr:slot(1), umem = shared and shared:share(half), ctr = ctr,
      window = math.min(o.rx_size, o.fill_size, half) / 2 })
  local last_rx, last_t, interrupted = 0, now(), false
  while ws[2]:running() do
    local t = now()
    st:tick(t)
    local got = ctr:value(2, "rx_packets")
    if got ~= last_rx then last_rx, last_t = got, t end
    -- Everything the sender could send has gone: give the rest the quiet time.
    if not ws[1]:running() and t - last_t > o.quiet / 1000 then ws[2]:cancel() end
    if not interrupted and stop_requested() then
      interrupted = true
      workers.stop()
    end
    cli.sleep(0.01)
  end
  local results = workers.wait(ws, 5)
  st:end_line()
  local r = results[2][1]
  r.sent, r.interrupted = results[1][1], interrupted
  return r
end

local function main(o)
  local xsk = require "xsk"
  -- veth drops frames longer than its MTU allows.
  local dev1, dev2 = cli.dev_pair(o, state, { mtu = o.size - 14 > 1500 and o.size - 14 or nil })

  local ucfg = {
    frame_count = o.frames, fill_size = o.fill_size, comp_size = o.comp_size,
  }
  if o.threads then
    if o.size > 4096 - xsk.XDP_PACKET_HEADROOM then
      error(("--size %d does not fit a frame (at most %d bytes)"):format(o.size, 4096 - xsk.XDP_PACKET_HEADROOM), 0)
    end
    return report(o, threaded(o, dev1, dev2, ucfg), function() return nil end)
  end
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
  return report(o, r, function() return state.sock2:stats() end)
end

-- The accounting, the same for one thread and for two: what went, what
-- arrived once, what was lost, duplicated or foreign, and how fast.
report = function(o, r, kernel)
  local lost = r.sent - r.received
  print(("sent:     %d"):format(r.sent))
  print(("received: %d"):format(r.received))
  print(("lost:     %d"):format(lost))
  if r.dups > 0 then print(("duplicate: %d"):format(r.dups)) end
  if r.foreign > 0 then print(("other frames: %d"):format(r.foreign)) end
  print(("elapsed:  %.3f s"):format(r.elapsed))
  print(("pps:      %.0f"):format(r.elapsed > 0 and r.received / r.elapsed or 0))
  if lost > 0 or r.sent < o.count then
    local k = kernel() or { rx_dropped = r.rx_dropped, rx_ring_full = r.rx_ring_full,
      rx_fill_ring_empty_descs = r.fill_empty }
    print(("dev2 socket: rx_dropped %d, rx_ring_full %d, fill_ring_empty %d"):format(
      k.rx_dropped, k.rx_ring_full, k.rx_fill_ring_empty_descs))
  end
  -- Raised only now, so the totals counted so far are printed first.
  if r.interrupted then cli.interrupted() end
  if r.received ~= o.count then return false, "not every frame arrived" end
end

-- cli.run removes the namespace whatever happens.
cli.run(p, main, cleanup, check)
