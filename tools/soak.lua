-- Soak test: PACKETS packets from an AF_XDP sender through an AF_XDP
-- forwarder to an AF_XDP receiver, then checks that nothing was lost,
-- duplicated or reordered beyond what the counters explain, that every frame
-- is back in its pool, and that neither RSS nor the Lua heap grew.
--
--   sudo luajit tools/soak.lua [PACKETS]          (make soak SOAK_PACKETS=n)
--
--   sender  s0 --veth--> s1  forwarder (one UMEM)  f0 --veth--> f1  receiver
--
-- One process does all three in turn, so the path never has more than WINDOW
-- packets in flight.  Every packet carries a 64-bit sequence number; the
-- receiver must see them in order, each once.  A gap is a drop, and drops
-- must add up to what XDP_STATISTICS, the forwarder and the veth counters
-- report: received = sent - counted drops.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local xsk = require "xsk"
local netns = require "xsk.netns"

local PACKETS = tonumber(arg[1] or os.getenv("SOAK_PACKETS")) or 100000000
local WINDOW = tonumber(os.getenv("SOAK_WINDOW")) or 2048
local BATCH = 64
local LEN = 64
local REPORT = math.max(1000000, math.floor(PACKETS / 10))

local u64p = ffi.typeof("uint64_t *")
local HDR = "\255\255\255\255\255\255\2\0\0\0\0\1\136\181"

local C = require "xsk.cdef"
local ts = ffi.new("struct lxsk_timespec")
local function now()
  C.lxsk_libc_clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function rss_kb()
  local f = io.open("/proc/self/status")
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- The counters of a veth end, from `ip -s -j link` (run in our namespace).
local function link_stats(dev)
  local out = netns.sh("ip -s -j link show dev " .. dev)
  local rx = out:match('"rx":%b{}') or ""
  local tx = out:match('"tx":%b{}') or ""
  local function n(s, k) return tonumber(s:match('"' .. k .. '":(%d+)')) or 0 end
  return { rx_packets = n(rx, "packets"), rx_dropped = n(rx, "dropped"), tx_packets = n(tx, "packets"),
    tx_dropped = n(tx, "dropped") }
end

netns.private_bpffs()
local env = netns.setup { prefix = "xsksoak" }
local result

local ok, err = pcall(function()
  netns.enter(env)
  -- the second veth pair, for the forwarder's way out
  netns.sh("ip link add f0 type veth peer name f1")
  netns.sh("ip link set dev f0 up && ip link set dev f1 up")
  netns.sh("ip link set dev veth0 name s0 && ip link set dev veth1 name s1")

  local su = xsk.umem { frame_count = 4096, fill_size = 2048, comp_size = 2048 }
  local fu = xsk.umem { frame_count = 8192, fill_size = 2048, comp_size = 2048 }
  local ru = xsk.umem { frame_count = 4096, fill_size = 2048, comp_size = 2048 }
  local sender = su:socket { ifname = "s0", rx = false, load_program = false }
  local fwd_in = fu:socket { ifname = "s1", tx = false }
  local fwd_out = fu:socket { ifname = "f0", rx = false, load_program = false }
  local recv = ru:socket { ifname = "f1", tx = false }
  local sb, fb, rb = su:batch(BATCH), fu:batch(BATCH), ru:batch(BATCH)

  local sent, received, next_seq, gaps, fwd_dropped, forwarded = 0, 0, 0, 0, 0, 0
  local errors = 0
  local bad_msg

  local function pump_receiver()
    local n = recv:recv(rb, 0)
    for i = 0, n - 1 do
      local f = rb.f[i]
      local seq = tonumber(ffi.cast(u64p, f.data + 14)[0])
      if f.len ~= LEN then
        errors = errors + 1; bad_msg = bad_msg or ("packet of length " .. f.len)
      elseif seq == next_seq then
        next_seq = seq + 1
      elseif seq > next_seq then
        gaps = gaps + (seq - next_seq)
        next_seq = seq + 1
      else
        errors = errors + 1
        bad_msg = bad_msg or ("sequence %d after %d: duplicate or reordered"):format(seq, next_seq - 1)
      end
    end
    received = received + n
    if n > 0 then ru:release(rb) end
    return n
  end

  local function pump_forwarder()
    local n = fwd_in:recv(fb, 0)
    if n > 0 then
      local k = fwd_out:forward(fb)
      forwarded = forwarded + k
      fwd_dropped = fwd_dropped + (n - k)
    else
      -- forward stops kicking when the device pushes back (EAGAIN); with
      -- nothing more arriving, the frames left on the TX ring need a kick
      if fwd_out.tx:needs_wakeup() then fwd_out.tx:wakeup() end
      fwd_out:recycle()
    end
    return n
  end

  local function pump_sender(limit)
    local want = math.min(BATCH, limit - sent, WINDOW - (sent - received - gaps - fwd_dropped))
    if want <= 0 then
      if sender.tx:needs_wakeup() then sender.tx:wakeup() end
      sender:recycle()
      return 0
    end
    if sb.n < want then su:alloc(sb, want - sb.n) end
    -- frames a short send left at the front are stamped again with the
    -- same numbers: they are the next ones due
    for i = 0, sb.n - 1 do
      local f = sb.f[i]
      if f.len == 0 then
        ffi.copy(f.data, HDR, 14)
        f.len = LEN
      end
      ffi.cast(u64p, f.data + 14)[0] = sent + i
    end
    local k = sender:send(sb)
    sent = sent + k
    return k
  end

  -- one round of all three, until `limit` packets are sent
  local function run(limit)
    local idle = 0
    local t_idle = nil
    while true do
      local a = pump_sender(limit)
      local b = pump_forwarder()
      local c = pump_receiver()
      if sent >= limit and received + gaps + fwd_dropped >= sent then break end
      if a + b + c == 0 then
        idle = idle + 1
        if idle > 100 then
          t_idle = t_idle or now()
          -- nothing moves for 2 s: what is missing is lost
          if now() - t_idle > 2 then break end
          if idle > 10000 then
            fwd_in:poll(1)
            recv:poll(1)
          end
        end
      else
        idle, t_idle = 0, nil
      end
    end
  end

  -- warm up, then sample memory
  local warm = math.min(1000000, math.floor(PACKETS / 10))
  run(warm)
  collectgarbage(); collectgarbage()
  local heap0, rss0 = collectgarbage("count"), rss_kb()
  local t0, sent0 = now(), sent
  local last_t, last_sent = t0, sent
  while sent < PACKETS do
    run(math.min(PACKETS, sent + REPORT))
    local t = now()
    io.stdout:write(("soak: %d sent, %d received, %d gaps, %d forward drops, %.2f Mpps, RSS %d kB, heap %.0f kB\n")
      :format(sent, received, gaps, fwd_dropped, (sent - last_sent) / math.max(t - last_t, 1e-3) / 1e6, rss_kb(),
        collectgarbage("count")))
    io.stdout:flush()
    last_t, last_sent = t, sent
    if errors > 0 then break end
    if received == 0 then error("nothing arrives: the path is broken") end
  end
  local elapsed = now() - t0
  collectgarbage(); collectgarbage()
  local heap1, rss1 = collectgarbage("count"), rss_kb()

  -- let everything in flight land, then read the counters
  sender:flush(1000)
  run(sent)
  local drops = 0
  for _, s in pairs { fwd_in = fwd_in, recv = recv, sender = sender, fwd_out = fwd_out } do
    local st = s:stats()
    drops = drops + st.rx_dropped + st.rx_ring_full + st.rx_invalid_descs + st.tx_invalid_descs
  end
  local veth_drops = 0
  for _, dev in ipairs { "s0", "s1", "f0", "f1" } do
    local ls = link_stats(dev)
    veth_drops = veth_drops + ls.tx_dropped + ls.rx_dropped
  end

  -- every frame back: release what the script holds, close, count the pools
  if sb.n > 0 then su:release(sb) end
  local function frames_home(u, name)
    for i = 0, u.frame_count - 1 do
      local o = u:owner(i * u.frame_size)
      if o == "user" then error(("%s: frame %d still the script's"):format(name, i)) end
    end
  end
  frames_home(su, "sender"); frames_home(fu, "forwarder"); frames_home(ru, "receiver")
  sender:close(); fwd_in:close(); fwd_out:close(); recv:close()
  local free = { su:free_frames(), fu:free_frames(), ru:free_frames() }
  su:close(); fu:close(); ru:close()

  result = {
    sent = sent, received = received, gaps = gaps, fwd_dropped = fwd_dropped, xdp_drops = drops,
    veth_drops = veth_drops, errors = errors, bad = bad_msg, elapsed = elapsed,
    pps = (sent - sent0) / elapsed, heap0 = heap0, heap1 = heap1, rss0 = rss0, rss1 = rss1, free = free,
  }
end)
env.destroy()
if not ok then
  io.stderr:write("soak: ", tostring(err), "\n")
  os.exit(1)
end

local r = result
print(("soak: %d sent, %d received in %.1f s (%.2f Mpps)"):format(r.sent, r.received, r.elapsed, r.pps / 1e6))
print(("soak: drops: %d forwarder (TX ring full), %d XDP_STATISTICS, %d veth; %d sequence gaps")
  :format(r.fwd_dropped, r.xdp_drops, r.veth_drops, r.gaps))
print(("soak: frames free after close: sender %d/4096, forwarder %d/8192, receiver %d/4096")
  :format(r.free[1], r.free[2], r.free[3]))
print(("soak: Lua heap %.0f -> %.0f kB, RSS %d -> %d kB"):format(r.heap0, r.heap1, r.rss0, r.rss1))
local fails = {}
local counted = r.fwd_dropped + r.xdp_drops + r.veth_drops
if r.errors > 0 then fails[#fails + 1] = ("%d bad packets (%s)"):format(r.errors, r.bad) end
if r.received ~= r.sent - counted then
  fails[#fails + 1] = ("received %d ~= sent %d - counted drops %d (%d unexplained)")
    :format(r.received, r.sent, counted, r.sent - counted - r.received)
end
if r.gaps + r.fwd_dropped ~= r.sent - r.received then
  fails[#fails + 1] = "sequence gaps do not match the missing packets"
end
if r.free[1] ~= 4096 or r.free[2] ~= 8192 or r.free[3] ~= 4096 then fails[#fails + 1] = "frames missing from a pool" end
if r.heap1 > r.heap0 + 256 then fails[#fails + 1] = ("Lua heap grew by %.0f kB"):format(r.heap1 - r.heap0) end
if r.rss1 > r.rss0 + 2048 then fails[#fails + 1] = ("RSS grew by %d kB"):format(r.rss1 - r.rss0) end
if #fails > 0 then
  print("soak: FAILED: " .. table.concat(fails, "; "))
  os.exit(1)
end
print("soak: OK")
