dofile "spec/support/paths.lua"
local ffi = require "ffi"
local pace = require "xsk.pace"
local clock = require "xsk.clock"
local jit_watch = require "support.jit_watch"

ffi.cdef [[
struct lxsk_spec_rusage { long utime_s, utime_us, stime_s, stime_us; long rest[14]; };
int getrusage(int who, struct lxsk_spec_rusage *r);
]]
local RUSAGE_THREAD = 1

local function cpu_ns()
  local r = ffi.new("struct lxsk_spec_rusage")
  assert(ffi.C.getrusage(RUSAGE_THREAD, r) == 0)
  return (tonumber(r.utime_s) + tonumber(r.stime_s)) * 1e9 + (tonumber(r.utime_us) + tonumber(r.stime_us)) * 1e3
end

-- A clock the spec drives: each read moves it `step` ns (a loop that spins
-- sees time pass), a sleep jumps to its deadline plus `late(deadline)`.
local function fake_clock(step, late)
  local c = { t = 5e9, sleeps = {}, reads = 0 }
  function c.clock()
    c.reads = c.reads + 1
    c.t = c.t + step
    return c.t
  end
  function c.sleep(deadline)
    c.sleeps[#c.sleeps + 1] = deadline
    local wake = deadline + (late and late(deadline) or 0)
    if wake > c.t then c.t = wake end
  end
  return c
end

-- A reproducible generator for the sender's own delays.
local function lcg(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n
  end
end

-- Runs a sender against the pacer for `secs` of fake time: each call asks
-- for up to `max`, then the sender works 0 .. work ns.  Returns the grants
-- as { time, n } and the pacer.
local function run(cfg, c, secs, max, work)
  cfg.clock, cfg.sleep = c.clock, c.sleep
  local p = pace.new(cfg)
  local rnd = lcg(7)
  local grants = {}
  local stop = c.t + secs * 1e9
  while c.t < stop do
    local n = p:wait(max)
    grants[#grants + 1] = { c.t, n }
    if work and work > 0 then c.t = c.t + rnd(work) end
  end
  return grants, p
end

-- Packets granted in each interval of `len` ns from the first grant on
-- (the last, partial interval is left out).
local function per_interval(grants, len)
  local t0 = grants[1][1]
  local counts = {}
  for _, g in ipairs(grants) do
    local k = math.floor((g[1] - t0) / len) + 1
    counts[k] = (counts[k] or 0) + g[2]
  end
  counts[#counts] = nil
  return counts
end

describe("xsk.pace with fixed gaps", function()
  for _, pps in ipairs { 1000, 10000, 100000, 1000000 } do
    it(("grants %d pps within 1 %% in every 100 ms"):format(pps), function()
      local c = fake_clock(20)
      local grants = run({ pps = pps }, c, 2, 64, 3000)
      local counts = per_interval(grants, 1e8)
      assert.is_true(#counts >= 19)
      for k, n in ipairs(counts) do
        assert.is_true(math.abs(n - pps / 10) <= pps / 1000,
          ("interval %d: %d packets, want %d"):format(k, n, pps / 10))
      end
    end)
  end

  it("never lets a packet go before its departure time", function()
    local c = fake_clock(100)
    local grants = run({ pps = 50000 }, c, 0.2, 8, 30000)
    local t0, i = grants[1][1], 0
    for _, g in ipairs(grants) do
      -- the last packet of this grant is packet i + n - 1
      i = i + g[2]
      local departs = t0 + (i - 1) * 20000
      assert.is_true(g[1] >= departs, ("packet %d granted %d ns early"):format(i, departs - g[1]))
    end
  end)

  it("keeps the rate when sleeps end late: times are absolute", function()
    local rnd = lcg(3)
    -- every sleep ends up to 400 us late, far past the 50 us spin
    local c = fake_clock(50, function() return rnd(400000) end)
    local grants = run({ pps = 1000 }, c, 10, 64)
    local total = 0
    for _, g in ipairs(grants) do total = total + g[2] end
    assert.is_true(math.abs(total - 10000) <= 1, ("%d packets in 10 s at 1000 pps"):format(total))
    for k, n in ipairs(per_interval(grants, 1e9)) do
      assert.is_true(math.abs(n - 1000) <= 10, ("second %d: %d packets"):format(k, n))
    end
  end)

  it("sends --burst N together, every N gaps", function()
    local c = fake_clock(10)
    local grants = run({ pps = 10000, burst = 32 }, c, 0.5, 64)
    assert.is_true(#grants > 100)
    for k = 2, #grants do
      assert.equal(32, grants[k][2])
      local gap = grants[k][1] - grants[k - 1][1]
      assert.is_true(math.abs(gap - 3.2e6) <= 200, ("gap %d: %d ns"):format(k, gap))
    end
  end)

  it("hands a late loop everything due, max at a time", function()
    local c = fake_clock(1)
    local p = pace.new { pps = 1e6, clock = c.clock, sleep = c.sleep }
    assert.equal(1, p:wait(64))
    c.t = c.t + 1e6 -- 1 ms stalled: 1000 packets due
    local got = 0
    while got < 1000 do
      local n = p:poll(64)
      assert.is_true(n == 64 or got + n == 1000, "grant of " .. n)
      got = got + n
    end
    assert.equal(0, p:poll(64))
  end)

  it("sleeps to spin_ns before a far departure, then spins", function()
    local c = fake_clock(100)
    local grants = run({ pps = 1000, spin_ns = 50000 }, c, 0.1, 64)
    local t0 = grants[1][1]
    assert.equal(#grants - 1, #c.sleeps)
    for k, deadline in ipairs(c.sleeps) do
      assert.equal(t0 + k * 1e6 - 50000, deadline)
    end
    -- about 50 us of spinning at 100 ns a read per packet
    assert.is_true(c.reads < #grants * 520, c.reads .. " clock reads")
  end)

  it("does not sleep when departures are closer than spin_ns", function()
    local c = fake_clock(100)
    run({ pps = 100000, spin_ns = 50000 }, c, 0.1, 64)
    assert.equal(0, #c.sleeps)
  end)
end)

describe("xsk.pace with Poisson gaps", function()
  -- Departure times of n bursts with a clock that sleeps exactly.
  local function departures(cfg, n)
    local c = fake_clock(1)
    cfg.clock, cfg.sleep, cfg.spin_ns, cfg.poisson = c.clock, c.sleep, 0, true
    local p = pace.new(cfg)
    local times = {}
    for i = 1, n do
      p:wait(cfg.burst or 1)
      times[i] = c.t
    end
    return times
  end

  it("draws exponential gaps of the right mean", function()
    local N, mean = 100000, 1e5 -- 10 kpps
    local t = departures({ pps = 10000, seed = 42 }, N + 1)
    local sum, sq, over = 0, 0, 0
    for i = 1, N do
      local g = t[i + 1] - t[i]
      sum, sq = sum + g, sq + g * g
      if g > mean then over = over + 1 end
    end
    local m = sum / N
    local sd = math.sqrt(sq / N - m * m)
    -- the mean of N exponential gaps has a standard error of mean / sqrt(N)
    assert.is_true(math.abs(m - mean) <= 4 * mean / math.sqrt(N), ("mean gap %.0f ns, want %.0f"):format(m, mean))
    -- exponential: the standard deviation is the mean, P(gap > mean) = 1/e
    assert.is_true(math.abs(sd / m - 1) <= 0.02, ("coefficient of variation %.3f"):format(sd / m))
    local p = math.exp(-1)
    assert.is_true(math.abs(over / N - p) <= 4 * math.sqrt(p * (1 - p) / N),
      ("%.4f of gaps above the mean"):format(over / N))
  end)

  it("repeats a run with the same seed and not with another", function()
    local a = departures({ pps = 1000, seed = 9 }, 50)
    local b = departures({ pps = 1000, seed = 9 }, 50)
    local c = departures({ pps = 1000, seed = 10 }, 50)
    local same, differ = true, false
    for i = 2, 50 do
      same = same and (a[i] - a[1]) == (b[i] - b[1])
      differ = differ or (a[i] - a[1]) ~= (c[i] - c[1])
    end
    assert.is_true(same)
    assert.is_true(differ)
  end)

  it("sends bursts of N with gaps of mean N / pps", function()
    local c = fake_clock(1)
    local p = pace.new { pps = 32000, burst = 32, poisson = true, spin_ns = 0, clock = c.clock, sleep = c.sleep }
    local first = c.t
    local total = 0
    for _ = 1, 2000 do
      assert.equal(32, p:wait(64))
      total = total + 32
    end
    local rate = total / (c.t - first) * 1e9
    -- 2000 gaps: a standard error of 2.2 %
    assert.is_true(math.abs(rate - 32000) <= 32000 * 0.09, ("%.0f pps"):format(rate))
  end)
end)

describe("xsk.pace calls", function()
  it("gives refunded packets back at once", function()
    local c = fake_clock(1)
    local p = pace.new { pps = 1e6, clock = c.clock, sleep = c.sleep }
    p:wait(1)
    c.t = c.t + 1e5 -- 100 due
    assert.equal(64, p:poll(64))
    p:refund(10)
    assert.equal(55, p:count())
    assert.equal(-1 / 0, p:next_ns())
    local t = c.t
    assert.equal(10, p:wait(10))
    assert.is_true(c.t - t <= 1) -- no waiting
    assert.equal(36, p:poll(64)) -- the rest of the 101 due by now
    assert.error_matches(function() p:refund(1000) end, "xsk.pace: refund: k must be a whole number from 0 to 101",
      nil, true)
  end)

  it("polls without waiting and tells the next departure", function()
    local c = fake_clock(1)
    local p = pace.new { pps = 1000, clock = c.clock, sleep = c.sleep }
    assert.is_nil(p:next_ns())
    assert.equal(1, p:poll(8))
    local start = c.t -- the schedule starts at the first call's clock read
    assert.equal(0, p:poll(8))
    assert.equal(start + 1e6, p:next_ns())
    assert.equal(0, #c.sleeps)
    c.t = start + 1e6
    assert.equal(1, p:poll(8))
    -- after a restart the schedule begins again at the next call
    c.t = c.t + 5e9
    p:restart()
    assert.equal(1, p:poll(8))
    assert.equal(0, p:poll(8))
  end)

  it("checks its options and arguments", function()
    assert.error_matches(function() pace.new {} end, "xsk.pace: pps is required", nil, true)
    local function refused(cfg, msg)
      assert.error_matches(function() pace.new(cfg) end, msg, nil, true)
    end
    refused({ pps = 0 }, "xsk.pace: pps must be a whole number from 1")
    refused({ pps = 1000, burst = 0 }, "burst must be")
    refused({ pps = 1000, rate = 5 }, 'xsk.pace: unknown option "rate"')
    refused({ pps = 1000, clock = 5 }, "xsk.pace: clock must be a function")
    refused({ pps = 1000, poisson = 1 }, "poisson must be true or false")
    local p = pace.new { pps = 1000 }
    for _, bad in ipairs { 0, -1, 1.5, 0 / 0, "8" } do
      assert.error_matches(function() p:wait(bad) end, "xsk.pace: wait: max must be a whole number from 1 up",
        nil, true)
      assert.error_matches(function() p:poll(bad) end, "xsk.pace: poll: max must be a whole number from 1 up",
        nil, true)
    end
    assert.error_matches(function() p:refund(-1) end, "xsk.pace: refund: k must be", nil, true)
  end)
end)

describe("xsk.pace on the real clock", function()
  it("sleeps at a low rate instead of spinning the whole time", function()
    local p = pace.new { pps = 1000 }
    local c0, t0 = cpu_ns(), clock.now()
    local n = 0
    while n < 300 do n = n + p:wait(64) end
    local cpu, wall = cpu_ns() - c0, clock.now() - t0
    -- spinning the last 50 us of each 1 ms gap is 5 %; a core spinning throughout is 100 %
    assert.is_true(cpu < wall / 2, ("CPU %.0f ms over %.0f ms"):format(cpu / 1e6, wall / 1e6))
  end)

  it("allocates nothing per call", function()
    for _, poisson in ipairs { false, true } do
      local p = pace.new { pps = 1e9, poisson = poisson }
      local function loop(n)
        local got = 0
        for _ = 1, n do got = got + p:wait(64) + p:poll(8) end
        return got
      end
      local r = jit_watch.measure(function(warm) return loop(warm and 20000 or 100000) end)
      assert.same({}, jit_watch.real_aborts(r), jit_watch.abort_report(r))
      assert.is_true(r.growth_kib < 1, jit_watch.growth_report(r, 100000))
    end
  end)
end)

describe("xsk.clock", function()
  it("reads CLOCK_MONOTONIC in ns and sleeps to an absolute time", function()
    local t0 = clock.now()
    assert.is_true(t0 > 0 and t0 == math.floor(t0))
    clock.sleep_until(t0 + 2e6)
    assert.is_true(clock.now() >= t0 + 2e6)
    local t1 = clock.now()
    clock.sleep(1e6)
    assert.is_true(clock.now() >= t1 + 1e6)
    clock.sleep_until(0) -- long past: returns at once
    assert.error_matches(function() clock.sleep_until(-1) end, "xsk.clock: sleep_until: t must be", nil, true)
    assert.error_matches(function() clock.sleep(0 / 0) end, "xsk.clock: sleep: ns must be", nil, true)
  end)

  it("waits until a time by sleeping, then spinning the last stretch", function()
    -- 20 waits of 5 ms, each spinning its last 0.1 ms: about 2 % of the time
    -- on CPU; the kernel charges CPU time a tick at a time, hence the long run
    local c0, w0 = cpu_ns(), clock.now()
    local t = w0
    for _ = 1, 20 do
      t = t + 5e6
      local at = clock.wait_until(t, 100000)
      assert.is_true(at >= t and clock.now() >= t)
    end
    local cpu, wall = cpu_ns() - c0, clock.now() - w0
    assert.is_true(cpu < wall / 2, ("CPU %.1f ms over %.1f ms"):format(cpu / 1e6, wall / 1e6))
    assert.is_true(clock.wait_until(0) >= 0) -- past: at once
    assert.error_matches(function() clock.wait_until(-5) end, "xsk.clock: wait_until: t must be", nil, true)
    assert.error_matches(function() clock.wait_until(t, -1) end, "wait_until: spin_ns must be", nil, true)
    local function slack()
      local f = assert(io.open("/proc/self/timerslack_ns")) -- busted runs in one thread
      local v = f:read("*l")
      f:close()
      return v
    end
    clock.set_timer_slack(2345)
    assert.equal("2345", slack())
    clock.set_timer_slack(0) -- back to the thread's default
    assert.not_equal("2345", slack())
    assert.error_matches(function() clock.set_timer_slack(-1) end, "xsk.clock: set_timer_slack: ns must be", nil, true)
  end)
end)
