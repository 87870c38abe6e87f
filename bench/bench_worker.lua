-- The worker side of bench/run's worker rows (xsk_bench.lua txonly
-- --workers N): each worker sends on its own queue from its own UMEM (or a
-- partition of a shared one) with the txonly loop of xsk_bench.lua, warms
-- its VM's traces up first, then measures its own window: packets, and its
-- own thread's CPU time (RUSAGE_THREAD).  Runs as "bench_worker:txonly",
-- loaded by the worker's VM from bench/.
local M = {}

function M.txonly(cfg)
  local ffi = require "ffi"
  local xsk = require "xsk"
  local workers = xsk.workers
  ffi.cdef [[
  struct xskbw_timespec { long tv_sec; long tv_nsec; };
  struct xskbw_rusage { long ut_sec, ut_usec, st_sec, st_usec; long rest[14]; };
  int xskbw_clock_gettime(int clk, struct xskbw_timespec *ts) __asm__("clock_gettime");
  int xskbw_getrusage(int who, struct xskbw_rusage *ru) __asm__("getrusage");
  long xskbw_syscall(long nr) __asm__("syscall");
  ]]
  local C = ffi.C
  local CLOCK_MONOTONIC, RUSAGE_THREAD, SYS_gettid = 1, 1, 186
  local ts, ru = ffi.new("struct xskbw_timespec"), ffi.new("struct xskbw_rusage")
  local function now_ns()
    C.xskbw_clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
  end
  local function cpu_ns()
    C.xskbw_getrusage(RUSAGE_THREAD, ru)
    return tonumber(ru.ut_sec) * 1e9 + tonumber(ru.ut_usec) * 1e3,
      tonumber(ru.st_sec) * 1e9 + tonumber(ru.st_usec) * 1e3
  end

  local umem = cfg.umem or xsk.umem { frame_count = cfg.frames, fill_size = cfg.frames, comp_size = cfg.frames }
  local sock = umem:socket { ifname = cfg.ifname, queue = cfg.queue, rx = false, load_program = false,
    tx_size = cfg.ring, batch_size = cfg.batch }
  -- Every frame gets the packet once; alloc hands frames out with it.
  local size, batch = #cfg.packet, cfg.batch
  local all = umem:batch(umem:free_frames())
  umem:alloc(all)
  for i = 0, all.n - 1 do ffi.copy(all.f[i].data, cfg.packet, size) end
  umem:release(all)
  local b = umem:batch(batch)
  cfg.ready:send(cfg.queue)

  local sent, t0, u0, s0 = 0, 0, 0, 0
  local start = now_ns()
  local warm_until, stop_at = start + cfg.warm * 1e9, start + (cfg.warm + cfg.duration) * 1e9
  local measuring, iter = false, 0
  while true do
    local want = batch - b.n
    if want > 0 then umem:alloc(b, want, size) end
    local k = sock:send(b)
    if measuring then sent = sent + k end
    iter = iter + 1
    if iter % 256 == 0 then
      local t = now_ns()
      if not measuring and t >= warm_until then
        measuring, t0 = true, t
        u0, s0 = cpu_ns()
      elseif measuring and t >= stop_at then
        break
      end
      if workers.stopping() then break end
    end
  end
  local t1 = now_ns()
  local u1, s1 = cpu_ns()
  local left = sock:flush(1000)
  if b.n > 0 then umem:release(b) end
  sock:close()
  local pkts = sent - left
  return {
    queue = cfg.queue, tid = tonumber(C.xskbw_syscall(SYS_gettid)), pkts = pkts,
    t0_ns = t0, t1_ns = t1, user_ns = u1 - u0, sys_ns = s1 - s0, measured = measuring,
  }
end

return M
