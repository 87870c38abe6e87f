-- bench/xsk_bench.lua: the Lua side of lua-xsk's benchmark, on the batch API.
--
--   luajit bench/xsk_bench.lua MODE -i IFNAME [options]
--
-- Modes, options and the RESULT line are those of bench/xdpsock_c.c (run it
-- with -h); the RESULT line adds gc_kib, the growth of the Lua heap during the
-- run (the collector is stopped while measuring, so it counts every byte the
-- loop allocated).  Prints READY on stderr once the socket is up.

-- Find lua/ from the script's own place, so it runs from any directory.
-- bench/ too: the per-packet loops (loops.lua) and the workers' bench_worker.
local root = (arg and arg[0] or ""):match("^(.*)/bench/[^/]*$") or "."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/bench/?.lua;" .. package.path
-- LXSK_BUILD: the build folder, absolute or from the checkout's root.
local build = os.getenv("LXSK_BUILD") or "build"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
package.cpath = build .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local bit = require "bit"
local xsk = require "xsk"
local loops = require "loops"

local band, tonumber = bit.band, tonumber

-- libc under names of our own (asm labels), so that no other module's
-- declaration of the same function clashes with ours.
ffi.cdef [[
struct xskbench_timespec { long tv_sec; long tv_nsec; };
struct xskbench_rusage { long ut_sec, ut_usec, st_sec, st_usec; long rest[14]; };
struct xskbench_sigset { unsigned long val[16]; };
int xskbench_clock_gettime(int clk, struct xskbench_timespec *ts) __asm__("clock_gettime");
int xskbench_getrusage(int who, struct xskbench_rusage *ru) __asm__("getrusage");
int xskbench_sched_setaffinity(int pid, size_t size, const uint8_t *mask) __asm__("sched_setaffinity");
int xskbench_sigemptyset(struct xskbench_sigset *set) __asm__("sigemptyset");
int xskbench_sigaddset(struct xskbench_sigset *set, int sig) __asm__("sigaddset");
int xskbench_sigprocmask(int how, const struct xskbench_sigset *set, struct xskbench_sigset *old)
  __asm__("sigprocmask");
int xskbench_sigpending(struct xskbench_sigset *set) __asm__("sigpending");
int xskbench_sigismember(const struct xskbench_sigset *set, int sig) __asm__("sigismember");
char *xskbench_strerror(int errnum) __asm__("strerror");
void *xskbench_signal(int sig, void *handler) __asm__("signal");
]]
local C = ffi.C
local CLOCK_MONOTONIC, RUSAGE_SELF, SIG_BLOCK, SIGINT, SIGTERM = 1, 0, 0, 2, 15

local MODES = { rxdrop = true, touch = true, l2fwd = true, txonly = true }

local function die(fmt, ...)
  io.stderr:write("xsk_bench.lua: ", fmt:format(...), "\n")
  os.exit(2)
end

-- ---- options (the same as xdpsock_c's) ----

local o = {
  queue = 0, batch = 64, size = 64, duration = 0, count = 0, frames = 4096, frame_size = 4096,
  ring = 2048, dst_mac = "ff:ff:ff:ff:ff:ff", wait = 10, idle = 2, poll = false,
}

local function num(s, what, min, max)
  local v = tonumber(s)
  if not v or v ~= v or v < min or v > max then
    die("bad %s '%s' (want %s..%s)", what, tostring(s), tostring(min), tostring(max))
  end
  return v
end

local function whole(s, what, min, max)
  local v = num(s, what, min, max)
  if v % 1 ~= 0 then die("bad %s '%s' (want a whole number)", what, s) end
  return v
end

local function parse_mac(s)
  local b = { s:match("^(%x%x?):(%x%x?):(%x%x?):(%x%x?):(%x%x?):(%x%x?)$") }
  if #b ~= 6 then die("bad MAC address '%s' (want xx:xx:xx:xx:xx:xx)", s) end
  for i = 1, 6 do b[i] = tonumber(b[i], 16) end
  return b
end

local function is_pow2(v) return v >= 1 and band(v, v - 1) == 0 end

local function parse_args(argv)
  local i = 1
  local function val(opt)
    i = i + 1
    if argv[i] == nil then die("option %s needs a value", opt) end
    return argv[i]
  end
  while i <= #argv do
    local a = argv[i]
    if a == "-i" then o.ifname = val(a)
    elseif a == "-q" then o.queue = whole(val(a), "queue", 0, 2^32 - 1)
    elseif a == "-m" then o.mode = val(a)
    elseif a == "-b" then o.batch = whole(val(a), "batch", 1, 65536)
    elseif a == "-s" then o.size = whole(val(a), "packet size", 42, 65535)
    elseif a == "-d" then o.duration = num(val(a), "duration", 0, 1e7)
    elseif a == "-n" then o.count = whole(val(a), "count", 0, 2^53)
    elseif a == "-f" then o.frames = whole(val(a), "frame count", 2, 2^24)
    elseif a == "--frame-size" then o.frame_size = whole(val(a), "frame size", 2048, 65536)
    elseif a == "--ring" then o.ring = whole(val(a), "ring size", 2, 2^20)
    elseif a == "--cpu" then o.cpu = whole(val(a), "cpu", 0, 1023)
    elseif a == "--dst-mac" then o.dst_mac = val(a)
    elseif a == "--src-mac" then o.src_mac = val(a)
    elseif a == "--copy" then o.bind_mode = "copy"
    elseif a == "--zerocopy" then o.bind_mode = "zerocopy"
    elseif a == "--skb" then o.attach_mode = "skb"
    elseif a == "--native" then o.attach_mode = "native"
    elseif a == "--wait" then o.wait = num(val(a), "wait", 0, 1e7)
    elseif a == "--idle" then o.idle = num(val(a), "idle", 0, 1e7)
    elseif a == "-p" or a == "--poll" then o.poll = true
    elseif a == "--workers" then o.workers = whole(val(a), "workers", 1, 64)
    elseif a == "--shared" then o.shared = true
    elseif a == "--warm" then o.warm = num(val(a), "warm-up", 0, 60)
    elseif a == "-v" then o.verbose = true
    elseif a == "-h" or a == "--help" then
      print("usage: luajit bench/xsk_bench.lua MODE -i IFNAME [options]: as bench/xdpsock_c (build/xdpsock_c -h)")
      os.exit(0)
    elseif a:sub(1, 1) == "-" then die("unknown option '%s'", a)
    elseif not o.mode then o.mode = a
    else die("unexpected argument '%s'", a) end
    i = i + 1
  end
  if not o.mode then die("no mode given") end
  if o.workers and o.mode ~= "txonly" then die("--workers runs txonly only") end
  if o.shared and not o.workers then die("--shared needs --workers") end
  if not MODES[o.mode] then die("unknown mode '%s' (rxdrop, touch, l2fwd, txonly)", o.mode) end
  if not o.ifname then die("no interface given (-i)") end
  if not (is_pow2(o.frames) and is_pow2(o.frame_size) and is_pow2(o.ring)) then
    die("frame count, frame size and ring size must be powers of two")
  end
  if o.batch > o.ring or o.batch > o.frames then
    die("batch %d larger than the ring (%d) or the frame count (%d)", o.batch, o.ring, o.frames)
  end
end

-- ---- clocks, CPU time, signals: allocation-free once compiled ----

local ts = ffi.new("struct xskbench_timespec")
local function now_ns()
  C.xskbench_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

local ru = ffi.new("struct xskbench_rusage")
local function cpu_time()
  C.xskbench_getrusage(RUSAGE_SELF, ru)
  return tonumber(ru.ut_sec) * 1e9 + tonumber(ru.ut_usec) * 1e3,
         tonumber(ru.st_sec) * 1e9 + tonumber(ru.st_usec) * 1e3
end

-- SIGINT and SIGTERM are blocked and polled, so that a stop request still
-- prints the RESULT line.  A shell starts background jobs with SIGINT ignored,
-- and an ignored signal never becomes pending: restore the default first.
local sigs, pending = ffi.new("struct xskbench_sigset"), ffi.new("struct xskbench_sigset")
C.xskbench_sigemptyset(sigs)
C.xskbench_sigaddset(sigs, SIGINT)
C.xskbench_sigaddset(sigs, SIGTERM)
local function stop_requested()
  C.xskbench_sigpending(pending)
  return C.xskbench_sigismember(pending, SIGINT) == 1 or C.xskbench_sigismember(pending, SIGTERM) == 1
end

-- ---- the GC probe ----

local GC_LIMIT_KIB = 256 * 1024 -- restart the collector past this much garbage
local gc_base, gc_restarted
local function gc_begin()
  collectgarbage("collect")
  collectgarbage("collect")
  gc_base = collectgarbage("count")
  collectgarbage("stop")
end
local function gc_check()
  if not gc_restarted and collectgarbage("count") - gc_base > GC_LIMIT_KIB then
    gc_restarted = collectgarbage("count") - gc_base
    collectgarbage("restart")
  end
end
local function gc_end()
  local grew = gc_restarted or (collectgarbage("count") - gc_base)
  collectgarbage("restart")
  return grew
end

-- ---- the txonly template ----

local function put16(p, off, v)
  p[off] = band(bit.rshift(v, 8), 0xff)
  p[off + 1] = band(v, 0xff)
end

local function ip_checksum(p, off, len)
  local sum = 0
  for i = off, off + len - 1, 2 do sum = sum + p[i] * 256 + p[i + 1] end
  while sum > 0xffff do sum = band(sum, 0xffff) + bit.rshift(sum, 16) end
  return band(bit.bnot(sum), 0xffff)
end

local function iface_mac(ifname)
  local f = io.open("/sys/class/net/" .. ifname .. "/address")
  if not f then die("cannot read the MAC address of %s", ifname) end
  local s = f:read("*l")
  f:close()
  return s
end

-- Ethernet + IPv4 198.18.0.1 -> 198.18.0.2 + UDP 4096 -> 9, UDP checksum 0:
-- the same bytes as xdpsock_c sends.
local function build_template(size)
  local p = ffi.new("uint8_t[?]", size)
  local dst, src = parse_mac(o.dst_mac), parse_mac(o.src_mac or iface_mac(o.ifname))
  for i = 1, 6 do p[i - 1] = dst[i]; p[i + 5] = src[i] end
  put16(p, 12, 0x0800)
  p[14] = 0x45
  put16(p, 16, size - 14)
  put16(p, 20, 0x4000)
  p[22] = 64
  p[23] = 17
  p[26], p[27], p[28], p[29] = 198, 18, 0, 1
  p[30], p[31], p[32], p[33] = 198, 18, 0, 2
  put16(p, 24, ip_checksum(p, 14, 20))
  put16(p, 34, 4096)
  put16(p, 36, 9)
  put16(p, 38, size - 34)
  for i = 42, size - 1 do p[i] = band(i, 0xff) end
  return p
end

-- ---- the loops ----

-- r: the counters a loop fills in.
local function new_result()
  return { pkts = 0, tx = 0, fwd_dropped = 0, udp = 0, dport_sum = 0, t0 = 0, t1 = 0,
           work_ns = 0, batches = 0, u0 = 0, s0 = 0, u1 = 0, s1 = 0, stop = "signal" }
end

local function rx_loop(umem, sock, r)
  local mode = o.mode
  local touch, l2fwd = mode == "touch", mode == "l2fwd"
  local b = umem:batch(o.batch)
  local timeout = o.poll and 100 or 0
  local dur, wait, idle = o.duration * 1e9, o.wait * 1e9, o.idle * 1e9
  local count = o.count
  local pkts, batches, work, tx, dropped, udp, dsum = 0, 0, 0, 0, 0, 0, 0
  local t0, t1 = 0, 0
  local t_start = now_ns()
  local iter = 0

  io.stderr:write(("READY mode=%s if=%s queue=%d\n"):format(mode, o.ifname, o.queue))
  gc_begin()
  while true do
    local t = now_ns()
    local n = sock:recv(b, timeout)
    iter = iter + 1
    if n == 0 then
      if o.poll then t = now_ns() end
      if pkts == 0 and wait > 0 and t - t_start >= wait then r.stop = "no-traffic"; break end
      if pkts > 0 and idle > 0 and t - t1 >= idle then r.stop = "idle"; break end
      if band(iter, 1023) == 0 and stop_requested() then break end
    else
      if pkts == 0 then
        t0 = t
        r.u0, r.s0 = cpu_time()
      end
      if touch then
        local u, d = loops.touch(b, n)
        udp, dsum = udp + u, dsum + d
        umem:release(b)
      elseif l2fwd then
        loops.swap(b, n)
        local k = sock:forward(b)
        tx = tx + k
        dropped = dropped + (n - k)
      else
        umem:release(b)
      end
      pkts = pkts + n
      batches = batches + 1
      t1 = now_ns()
      work = work + (t1 - t)
      if count > 0 and pkts >= count then r.stop = "count"; break end
      if dur > 0 and t1 - t0 >= dur then r.stop = "duration"; break end
      if band(iter, 4095) == 0 then
        gc_check()
        if stop_requested() then break end
      end
    end
  end
  r.gc_kib = gc_end()
  r.u1, r.s1 = cpu_time()
  if pkts == 0 then r.u0, r.s0 = r.u1, r.s1 end
  r.pkts, r.batches, r.work_ns, r.tx, r.fwd_dropped, r.udp, r.dport_sum = pkts, batches, work, tx, dropped, udp, dsum
  r.t0, r.t1 = t0, t1
end

local function tx_loop(umem, sock, r)
  local size, batch, count = o.size, o.batch, o.count
  local dur = o.duration * 1e9

  -- Every frame gets the template once; alloc hands out frames as they are.
  local tmpl = build_template(size)
  local all = umem:batch(o.frames)
  umem:alloc(all, o.frames)
  for i = 0, all.n - 1 do ffi.copy(all.f[i].data, tmpl, size) end
  umem:release(all)

  local b = umem:batch(batch)
  local produced, batches, iter = 0, 0, 0
  io.stderr:write(("READY mode=txonly if=%s queue=%d\n"):format(o.ifname, o.queue))
  gc_begin()
  r.u0, r.s0 = cpu_time()
  local t0 = now_ns()
  local t
  while true do
    local want = batch - b.n
    if count > 0 and count - produced < want + b.n then want = count - produced - b.n end
    -- every frame already holds the packet (written once at start): the
    -- core hands them out with their length set
    if want > 0 then umem:alloc(b, want, size) end
    local k = sock:send(b)
    if k > 0 then
      produced = produced + k
      batches = batches + 1
    end
    iter = iter + 1
    t = now_ns()
    if count > 0 and produced >= count then r.stop = "count"; break end
    if dur > 0 and t - t0 >= dur then r.stop = "duration"; break end
    if band(iter, 4095) == 0 then
      gc_check()
      if stop_requested() then r.stop = "signal"; break end
    end
  end
  -- What is still queued has up to 1 s to go; frames never sent go back.
  local left = sock:flush(1000)
  r.t1 = now_ns()
  r.gc_kib = gc_end()
  r.u1, r.s1 = cpu_time()
  if b.n > 0 then umem:release(b) end
  r.pkts = produced - left
  r.tx, r.batches, r.t0 = produced, batches, t0
  r.work_ns = r.t1 - t0
end

-- txonly --workers N: a worker per queue (queues -q .. -q+N-1), pinned
-- round-robin to the CPUs this process may use, each with a UMEM of its own
-- (--shared: a partition of one); each warms up (--warm, 1 s) and measures
-- its own window and thread CPU time.  One WORKER line per worker and a
-- RESULT line with their sum on stdout.
local function run_workers()
  local workers = xsk.workers
  local ncpu = tonumber(io.popen("nproc"):read("*l")) or 1
  local shared = o.shared and xsk.umem { frame_count = o.frames * o.workers, fill_size = o.frames,
    comp_size = o.frames }
  local ready = workers.mailbox(o.workers)
  local tmpl = build_template(o.size)
  local ws = {}
  for i = 1, o.workers do
    local q = o.queue + i - 1
    ws[i] = workers.start({ "bench_worker:txonly", cpu = (i - 1) % ncpu, name = "tx " .. q }, {
      ifname = o.ifname, queue = q, frames = o.frames, ring = o.ring, batch = o.batch,
      packet = ffi.string(tmpl, o.size), warm = o.warm or 1, duration = o.duration, ready = ready,
      umem = shared and shared:share(o.frames) or nil,
    })
  end
  for _ = 1, o.workers do
    if not ready:recv(30) then die("a worker did not start") end
  end
  io.stderr:write(("READY mode=txonly if=%s queues=%d-%d workers=%d\n"):format(o.ifname, o.queue,
    o.queue + o.workers - 1, o.workers))
  -- SIGINT/SIGTERM are blocked and polled here; the workers see them through workers.stopping().
  local results = workers.wait(ws, o.duration + (o.warm or 1) + 60)
  local sum, t0, t1, user, sys = 0, math.huge, 0, 0, 0
  for i, r in ipairs(results) do
    r = r[1]
    local secs = (r.t1_ns - r.t0_ns) / 1e9
    local per = function(x) return r.pkts > 0 and x / r.pkts or 0 end
    io.stdout:write(("WORKER impl=lua mode=txonly worker=%d queue=%d tid=%d pkts=%d secs=%.6f pps=%.0f "
      .. "user_ns_per_pkt=%.1f sys_ns_per_pkt=%.1f t0_ns=%.0f t1_ns=%.0f\n"):format(i, r.queue, r.tid, r.pkts,
      secs, secs > 0 and r.pkts / secs or 0, per(r.user_ns), per(r.sys_ns), r.t0_ns, r.t1_ns))
    sum = sum + (secs > 0 and r.pkts / secs or 0)
    t0, t1 = math.min(t0, r.t0_ns), math.max(t1, r.t1_ns)
    user, sys = user + per(r.user_ns), sys + per(r.sys_ns)
  end
  local n = #results
  local total = 0
  for _, r in ipairs(results) do total = total + r[1].pkts end
  io.stdout:write(("RESULT impl=lua mode=txonly workers=%d shared=%d pkts=%d pps=%.0f user_ns_per_pkt=%.1f "
    .. "sys_ns_per_pkt=%.1f t0_ns=%.0f t1_ns=%.0f stop=duration\n"):format(n, o.shared and 1 or 0, total, sum,
    user / n, sys / n, t0, t1))
  io.stdout:flush()
  if shared then shared:close() end
  if total == 0 then
    io.stderr:write("xsk_bench.lua: txonly --workers: no packets sent\n")
    os.exit(3)
  end
end

local function main()
  parse_args(arg)
  if o.workers then
    -- Stop signals are left pending for workers.stopping() to notice.
    C.xskbench_signal(SIGINT, nil)
    C.xskbench_signal(SIGTERM, nil)
    C.xskbench_sigprocmask(SIG_BLOCK, sigs, nil)
    return run_workers()
  end
  if o.cpu then
    local mask = ffi.new("uint8_t[128]")
    mask[bit.rshift(o.cpu, 3)] = bit.lshift(1, band(o.cpu, 7))
    if C.xskbench_sched_setaffinity(0, 128, mask) ~= 0 then
      die("%s queue %d: sched_setaffinity(cpu %d): %s (errno %d)", o.ifname, o.queue, o.cpu,
          ffi.string(C.xskbench_strerror(ffi.errno())), ffi.errno())
    end
  end
  C.xskbench_signal(SIGINT, nil)
  C.xskbench_signal(SIGTERM, nil)
  C.xskbench_sigprocmask(SIG_BLOCK, sigs, nil)

  local rx, tx = o.mode ~= "txonly", o.mode == "txonly" or o.mode == "l2fwd"
  local umem = xsk.umem { frame_count = o.frames, frame_size = o.frame_size,
                          fill_size = o.frames, comp_size = o.frames }
  local sock = umem:socket {
    ifname = o.ifname, queue = o.queue, batch_size = o.batch,
    rx = rx, tx = tx, rx_size = o.ring, tx_size = o.ring,
    load_program = rx, -- a TX-only socket needs no XDP program, as in xdpsock_c
    bind_mode = o.bind_mode, attach_mode = o.attach_mode, need_wakeup = true,
  }
  local r = new_result()
  if o.mode == "txonly" then tx_loop(umem, sock, r) else rx_loop(umem, sock, r) end
  local st = sock:stats()
  umem:close()

  local secs = (r.t1 - r.t0) / 1e9
  local pkts = r.pkts
  local function per(x) return pkts > 0 and x / pkts or 0 end
  io.stdout:write(("RESULT impl=lua mode=%s pkts=%d secs=%.6f pps=%.0f user_ns_per_pkt=%.1f "
    .. "sys_ns_per_pkt=%.1f work_ns_per_pkt=%.1f rx_dropped=%d rx_invalid=%d rx_ring_full=%d "
    .. "fill_empty=%d tx_invalid=%d tx_empty=%d tx=%d fwd_dropped=%d udp=%d dport_sum=%d "
    .. "avg_batch=%.1f batch=%d size=%d stop=%s t0_ns=%.0f t1_ns=%.0f gc_kib=%.1f%s\n"):format(
    o.mode, pkts, secs, secs > 0 and pkts / secs or 0, per(r.u1 - r.u0), per(r.s1 - r.s0), per(r.work_ns),
    st.rx_dropped, st.rx_invalid_descs, st.rx_ring_full, st.rx_fill_ring_empty_descs,
    st.tx_invalid_descs, st.tx_ring_empty_descs, r.tx, r.fwd_dropped, r.udp, r.dport_sum,
    r.batches > 0 and (o.mode == "txonly" and r.tx or pkts) / r.batches or 0, o.batch,
    o.mode == "txonly" and o.size or 0, r.stop, r.t0, r.t1, r.gc_kib, gc_restarted and " gc_restarted=1" or ""))
  io.stdout:flush()
  if pkts == 0 then
    io.stderr:write(("xsk_bench.lua: %s: no packets %s on %s queue %d\n"):format(o.mode,
      o.mode == "txonly" and "sent" or "received", o.ifname, o.queue))
    os.exit(3)
  end
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  io.stderr:write("xsk_bench.lua: ", tostring(err), "\n")
  os.exit(1)
end
