-- bench/meta_cost.lua: what RX metadata costs a packet, against the plain
-- receive loop.  Run by `make bench` after bench/run; needs root.
--
--   luajit bench/meta_cost.lua [ROUNDS]        (default 200; LXSK_BUILD picks the build)
--
-- A veth pair in a throwaway namespace; an AF_XDP sender on veth0, lua-xsk's
-- steering program and a receiving socket on veth1.  Each round sends a
-- burst of 1024 64-byte frames, waits until all of them sit on the RX ring,
-- then times draining the ring: recv and the per-packet loop, nothing else.
-- Two costs per packet, for each configuration:
--   * XDP: the steering program's run time per packet, from the kernel's BPF
--     run statistics (stamping happens there);
--   * user: the drain's wall time per packet (the core's metadata guard runs
--     in recv, the accessors in the loop).  The sender's copy ran on this
--     CPU just before, so the frames are warm in the cache: a lower bound
--     for frames another CPU wrote.
-- Medians over the rounds.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local xsk = require "xsk"
local netns, prog, steer, clock = xsk.netns, xsk.prog, xsk.steer, xsk.clock

local ROUNDS = tonumber(arg[1]) or 200
local BURST = 1024
local now = clock.now

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

-- The per-packet loops: each returns something so the work is not skipped.
local loops = {
  plain = function(b, n)
    local s = 0
    for i = 0, n - 1 do s = s + b.f[i].len end
    return s
  end,
  -- what a real loop does: look into the packet (the UDP destination port)
  touch = function(b, n)
    local s = 0
    for i = 0, n - 1 do
      local p = b.f[i].data
      s = s + p[36] + p[37]
    end
    return s
  end,
  touch_rx_time = function(b, n)
    local s = 0
    for i = 0, n - 1 do
      local f = b.f[i]
      local p = f.data
      s = s + p[36] + p[37] + (f:rx_time() or 0)
    end
    return s
  end,
  rx_time = function(b, n)
    local s = 0
    for i = 0, n - 1 do
      local f = b.f[i]
      s = s + f.len + (f:rx_time() or 0)
    end
    return s
  end,
  rx_time_hash = function(b, n)
    local s = 0
    for i = 0, n - 1 do
      local f = b.f[i]
      s = s + f.len + (f:rx_time() or 0) + (f:rx_hash() or 0)
    end
    return s
  end,
}

-- { what, steer.open options, umem rx_metadata (the guard), loop }
local CONFIGS = {
  { "no metadata, no guard; loop reads f.len", {}, false, "plain" },
  { "no metadata, guard; loop reads f.len", {}, true, "plain" },
  { "rx_time stamped, no guard; loop reads f.len", { rx_time = true }, false, "plain" },
  { "rx_time stamped, guard; loop reads f.len", { rx_time = true }, true, "plain" },
  { "rx_time stamped, guard; loop reads f:rx_time()", { rx_time = true }, true, "rx_time" },
  { "no metadata, no guard; loop reads the UDP port", {}, false, "touch" },
  { "rx_time stamped, guard; loop reads the UDP port, f:rx_time()", { rx_time = true }, true, "touch_rx_time" },
  { "rx_meta (kfuncs), guard; loop reads f:rx_time(), f:rx_hash()", { rx_meta = true }, true, "rx_time_hash" },
}

netns.private_bpffs()
local env = netns.setup { prefix = "xskbm", enter = true }
local ok, err = pcall(function()
  local tu = xsk.umem { frame_count = 4096 }
  local ts = tu:socket { ifname = env.a, rx = false }
  local t = xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = "ff:ff:ff:ff:ff:ff", src_ip = "198.18.0.1",
    dst_ip = "198.18.0.2", src_port = 9, dst_port = 9, size = 64 }
  local tb = tu:batch(64)
  local stats = prog.stats_on()
  local rows = {}
  for _, cfg in ipairs(CONFIGS) do
    local name, st_cfg, guard, loop_name = cfg[1], cfg[2], cfg[3], cfg[4]
    st_cfg.ifname = env.b
    local st = steer.open(st_cfg)
    local ru = xsk.umem { frame_count = 4096, rx_metadata = guard }
    local rs = ru:socket { ifname = env.b, tx = false, load_program = false }
    st:register(rs)
    local rb = ru:batch(64)
    local loop = loops[loop_name]
    local user, sink = {}, 0
    local ns0, runs0
    for round = 0, ROUNDS do
      local left = BURST
      while left > 0 do
        local n = tu:alloc(tb, math.min(64, left))
        t:fill_batch(tb)
        while tb.n > 0 do ts:send(tb) end
        left = left - n
      end
      local deadline = now() + 200e6
      while rs:ring_state("rx").entries < BURST and now() < deadline do end
      if round == 0 then ns0, runs0 = st:run_stats() end -- round 0 warms up
      local t0, got = now(), 0
      while got < BURST do
        local n = rs:recv(rb, 0)
        if n == 0 then break end
        sink = sink + loop(rb, n)
        got = got + n
        ru:release(rb)
      end
      local t1 = now()
      if round > 0 and got > 0 then user[#user + 1] = (t1 - t0) / got end
      while rs:recv(rb, 0) > 0 do ru:release(rb) end
    end
    local ns1, runs1 = st:run_stats()
    rows[#rows + 1] = { name, runs1 > runs0 and (ns1 - ns0) / (runs1 - runs0) or 0 / 0, median(user) }
    if sink ~= sink then print(sink) end
    rs:close()
    ru:close()
    st:close()
  end
  stats:close()
  print(("\nRX metadata cost per packet (64-byte frames, veth copy mode, bursts of %d, median of %d rounds)")
    :format(BURST, ROUNDS))
  print(("%-64s %7s %8s"):format("configuration", "XDP ns", "user ns"))
  for _, r in ipairs(rows) do print(("%-64s %7.1f %8.1f"):format(r[1], r[2], r[3])) end
  print("XDP ns: the steering program's run time a packet (kernel BPF statistics); user ns: recv and the loop")
  ts:close()
  tu:close()
end)
env.destroy()
if not ok then
  io.stderr:write("bench/meta_cost.lua: ", tostring(err), "\n")
  os.exit(1)
end
