-- bench/core_bench.lua: one run of `make bench-core` (bench/README.md, "The
-- core's own cost"): the checked Lua API and the bare C loop, each on the
-- rings of its own kernel simulated in the process (bench/simkernel.h).
--
--   luajit bench/core_bench.lua MODE --impl lua|c|both [-n PACKETS] [-d SECS]
--          [--warmup PACKETS] [-b BATCH] [-s SIZE] [--callgrind]
--
-- Runs each implementation's loop for --warmup packets (the JIT compiles it),
-- then measures: with -d, the implementations take turns of 2^20 packets
-- until the time is up, so that both see the same machine; with -n alone,
-- one turn of n packets each.  Prints a RESULT line for each implementation;
-- its rates are medians over windows of 256 loop iterations (simkernel.h).
-- With --callgrind, valgrind's callgrind counts instructions only while the
-- measured turns run (run it under valgrind --tool=callgrind
-- --instr-atstart=no).
--
-- The Lua side is the public API, exactly as bench/xsk_bench.lua uses it on a
-- real socket (umem:alloc, sock:send, sock:recv, sock:forward, umem:release,
-- b.f[i]), through the production core; the simulated kernel's step is one
-- FFI call per loop iteration in both implementations.

-- Find lua/ and the bench-core library from the script's own place.
local root = (arg and arg[0] or ""):match("^(.*)/bench/[^/]*$") or "."
local build = os.getenv("LXSK_BUILD") or "build"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/bench/?.lua;" .. package.path
package.cpath = build .. "/bench-core/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local bit = require "bit"
local xsk = require "xsk"
local loops = require "loops"
local C = require "xsk.cdef"
local umem_mod = require "xsk.umem"
local socket_mod = require "xsk.socket"

local band, tonumber = bit.band, tonumber

ffi.cdef [[
struct corebench_timespec { long tv_sec; long tv_nsec; };
int corebench_clock_gettime(int clk, struct corebench_timespec *ts) __asm__("clock_gettime");
]]
local CLOCK_MONOTONIC = 1
local MARK_EVERY = 256 -- iterations between simk_marks, as in bare_loop.c

local MODES = { rxdrop = C.SIMK_RXDROP, touch = C.SIMK_TOUCH, l2fwd = C.SIMK_L2FWD, txonly = C.SIMK_TXONLY }

local function die(fmt, ...)
  io.stderr:write("core_bench.lua: ", fmt:format(...), "\n")
  os.exit(2)
end

-- The same geometry as bench/run's: 4096 frames of 4096 bytes, rings of 2048,
-- fill and completion rings as large as the UMEM.
local o = { impl = nil, count = 0, secs = 0, warmup = 200000, batch = 64, size = 64,
            frames = 4096, frame_size = 4096, ring = 2048, callgrind = false }

local function whole(s, what, min, max)
  local v = tonumber(s)
  if not v or v % 1 ~= 0 or v < min or v > max then die("bad %s '%s'", what, tostring(s)) end
  return v
end

local function parse_args(argv)
  local i = 1
  local function val(opt)
    i = i + 1
    if argv[i] == nil then die("option %s needs a value", opt) end
    return argv[i]
  end
  while i <= #argv do
    local a = argv[i]
    if a == "--impl" then o.impl = val(a)
    elseif a == "-n" then o.count = whole(val(a), "packet count", 1, 2 ^ 53)
    elseif a == "-d" then
      o.secs = tonumber(val(a))
      if not o.secs or o.secs <= 0 then die("bad duration") end
    elseif a == "--warmup" then o.warmup = whole(val(a), "warm-up packets", 0, 2 ^ 53)
    elseif a == "-b" then o.batch = whole(val(a), "batch", 1, 2048)
    elseif a == "-s" then o.size = whole(val(a), "packet size", 42, 3840)
    elseif a == "--callgrind" then o.callgrind = true
    elseif a:sub(1, 1) == "-" then die("unknown option '%s'", a)
    elseif not o.mode then o.mode = a
    else die("unexpected argument '%s'", a) end
    i = i + 1
  end
  if not MODES[o.mode] then die("mode must be rxdrop, touch, l2fwd or txonly, got '%s'", tostring(o.mode)) end
  if o.impl ~= "lua" and o.impl ~= "c" and o.impl ~= "both" then die("--impl must be lua, c or both") end
  if o.count == 0 and o.secs == 0 then die("give -n PACKETS or -d SECS") end
  if o.count == 0 then o.count = 2 ^ 53 end
end

local ts = ffi.new("struct corebench_timespec")
local function now_ns()
  C.corebench_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local function core_fail(what)
  die("%s: %s", what, ffi.string(C.lxsk_errmsg()))
end

-- ---- the simulated kernel ----

local function new_kernel(rx, tx)
  local cfg = ffi.new("struct simk_config", {
    frame_count = o.frames, frame_size = o.frame_size, data_offset = xsk.XDP_PACKET_HEADROOM,
    fill_size = o.frames, comp_size = o.frames, rx_size = rx and o.ring or 0, tx_size = tx and o.ring or 0,
    pkt_len = o.size, budget = o.batch,
  })
  local k = C.simk_new(cfg)
  if k == nil then core_fail("simk_new") end
  return k
end

-- ---- the checked Lua API on the simulated rings ----

-- The counters of one loop.
local function new_result() return { pkts = 0, tx = 0, dropped = 0, udp = 0, dport_sum = 0, iters = 0 } end

local function lua_rx_loop(k, umem, sock, b, touch, l2fwd, count, r)
  local pkts, tx, dropped, udp, dsum, iters = 0, 0, 0, 0, 0, 0
  while pkts < count do
    iters = iters + 1
    if band(iters, MARK_EVERY - 1) == 0 then C.simk_mark(k, pkts) end
    local n = sock:recv(b)
    if n > 0 then
      if touch then
        local u, d = loops.touch(b, n)
        udp, dsum = udp + u, dsum + d
        umem:release(b)
      elseif l2fwd then
        loops.swap(b, n)
        local sent = sock:forward(b)
        tx = tx + sent
        dropped = dropped + (n - sent)
      else
        umem:release(b)
      end
      pkts = pkts + n
    end
    C.simk_step(k)
  end
  r.pkts, r.tx, r.dropped, r.udp, r.dport_sum, r.iters = pkts, tx, dropped, udp, dsum, iters
end

local function lua_tx_loop(k, umem, sock, b, size, batch, count, r)
  local sent, iters = 0, 0
  while sent < count do
    iters = iters + 1
    if band(iters, MARK_EVERY - 1) == 0 then C.simk_mark(k, sent) end
    local want = batch - b.n
    if count - sent < want + b.n then want = count - sent - b.n end
    -- every frame already holds the packet (simk_load wrote it): the core
    -- hands frames out with their length set
    if want > 0 then umem:alloc(b, want, size) end
    sent = sent + sock:send(b)
    C.simk_step(k)
  end
  r.pkts, r.tx, r.iters = sent, sent, iters
end

local function lua_setup(k, rx, tx)
  local u = C.simk_umem_new(ffi.new("struct lxsk_umem_opts", {
    frame_count = o.frames, frame_size = o.frame_size, fill_size = o.frames, comp_size = o.frames,
  }))
  if u == nil then core_fail("simk_umem_new") end
  local umem = umem_mod.wrap(u)
  local so, opts = socket_mod.c_options {
    ifname = "simk0", queue = 0, rx = rx, tx = tx, rx_size = o.ring, tx_size = o.ring,
    load_program = false, batch_size = o.batch,
  }
  if not so then die("%s", opts) end
  local s = C.simk_sock_new(k, umem.u, opts)
  if s == nil then core_fail("simk_sock_new") end
  local sock = socket_mod.wrap(umem, s, so)
  C.simk_load(k, umem.area)
  return umem, sock
end

-- ---- one run ----

-- An implementation on its own simulated kernel: run(count, out) runs its
-- loop for count packets and fills in the counters out.
local function bare_runner(mode, rx, tx)
  local k = new_kernel(rx, tx)
  local bare = C.bare_new(k)
  if bare == nil then die("bare_new: out of memory") end
  local res = ffi.new("struct bare_result")
  local function run(count, out)
    ffi.fill(res, ffi.sizeof(res))
    C.bare_run(bare, MODES[mode], o.batch, o.size, count, res)
    out.pkts, out.tx, out.dropped, out.udp, out.dport_sum, out.iters = tonumber(res.pkts), tonumber(res.tx),
      tonumber(res.dropped), tonumber(res.udp), tonumber(res.dport_sum), tonumber(res.iters)
    if res.wakeups ~= 0 then die("the simulated rings asked for a wakeup") end
  end
  return { impl = "c", k = k, run = run, close = function() C.bare_free(bare) end }
end

local function lua_runner(mode, rx, tx)
  local k = new_kernel(rx, tx)
  local umem, sock = lua_setup(k, rx, tx)
  local b = umem:batch(o.batch)
  local touch, l2fwd = mode == "touch", mode == "l2fwd"
  local run
  if mode == "txonly" then
    run = function(count, out) lua_tx_loop(k, umem, sock, b, o.size, o.batch, count, out) end
  else
    run = function(count, out) lua_rx_loop(k, umem, sock, b, touch, l2fwd, count, out) end
  end
  -- The socket's rings are k's memory: the UMEM (and its socket) closes first.
  return { impl = "lua", k = k, run = run, close = function() umem:close() end }
end

-- Packets per turn when C and Lua take turns: a few milliseconds of either.
local SLICE = 2 ^ 20

local function add(total, r)
  for key, v in pairs(r) do
    total[key] = total[key] + v
    r[key] = 0
  end
end

local function main()
  parse_args(arg)
  local mode = o.mode
  local rx, tx = mode ~= "txonly", mode == "txonly" or mode == "l2fwd"
  local runners = {}
  if o.impl ~= "lua" then runners[#runners + 1] = bare_runner(mode, rx, tx) end
  if o.impl ~= "c" then runners[#runners + 1] = lua_runner(mode, rx, tx) end
  -- Every table the turns use is made now: the heap's growth below is the
  -- loops' own (nothing, once they are compiled).
  for _, x in ipairs(runners) do
    x.run(o.warmup, new_result())
    x.total, x.turn = new_result(), new_result()
    C.simk_measure_clear(x.k)
  end
  collectgarbage("collect")
  collectgarbage("collect")
  local heap0 = collectgarbage("count")
  collectgarbage("stop")
  -- Counted runs (callgrind) are one turn of one implementation; timed runs
  -- take turns until the time is up.
  local slice = o.secs > 0 and SLICE or o.count
  local t_end = now_ns() + o.secs * 1e9
  if o.callgrind then C.simk_callgrind(1) end
  repeat
    for _, x in ipairs(runners) do
      C.simk_slice_begin(x.k, 0)
      x.run(math.min(slice, o.count - x.total.pkts), x.turn)
      C.simk_slice_end(x.k, x.turn.pkts)
      add(x.total, x.turn)
    end
  until runners[1].total.pkts >= o.count or (o.secs > 0 and now_ns() >= t_end)
  if o.callgrind then C.simk_callgrind(0) end
  local gc_kib = collectgarbage("count") - heap0
  collectgarbage("restart")
  for _, x in ipairs(runners) do
    local rates, st = ffi.new("struct simk_rates"), ffi.new("struct simk_stats")
    local r = x.total
    C.simk_get_rates(x.k, rates)
    C.simk_get_stats(x.k, st)
    x.close()
    C.simk_free(x.k)
    if st.tx_invalid ~= 0 then die("%s sent %d invalid TX descriptors", x.impl, tonumber(st.tx_invalid)) end
    io.stdout:write(("RESULT impl=%s mode=%s pkts=%d pps=%.0f raw_pps=%.0f windows=%d tx=%d fwd_dropped=%d udp=%d "
      .. "dport_sum=%d iters=%d batch=%d size=%d gc_kib=%.1f sim_rx=%d sim_tx=%d sim_steps=%d\n"):format(
      x.impl, mode, r.pkts, rates.pps, rates.raw_pps, rates.windows, r.tx, r.dropped, r.udp, r.dport_sum, r.iters,
      o.batch, o.size, gc_kib, tonumber(st.rx), tonumber(st.tx), tonumber(st.steps)))
  end
  io.stdout:flush()
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  io.stderr:write("core_bench.lua: ", tostring(err), "\n")
  os.exit(1)
end
