dofile "spec/support/paths.lua"
local ffi = require "ffi"
local hist = require "xsk.hist"
local util = require "spec.support.util"
local jit_watch = require "support.jit_watch"

ffi.cdef [[
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int munmap(void *addr, size_t len);
int fork(void);
int waitpid(int pid, int *status, int options);
void _exit(int status);
]]

-- A reproducible stream of values spread evenly on a log scale from lo to hi.
local function log_uniform(n, lo, hi, seed)
  local out = {}
  local x = seed or 12345
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = math.floor(lo * (hi / lo) ^ (x / 2147483648))
  end
  return out
end

-- The exact nearest-rank percentile of sorted values, p given as num/den
-- so the rank is computed in whole numbers.
local function exact(sorted, num, den)
  local rank = math.max(1, math.ceil(num * #sorted / den))
  return sorted[rank]
end

local function relerr(got, want)
  if want == 0 then return math.abs(got) end
  return math.abs(got - want) / want
end

local PERCENTILES = { { 1, 100 }, { 10, 100 }, { 25, 100 }, { 50, 100 }, { 75, 100 }, { 90, 100 },
  { 99, 100 }, { 999, 1000 }, { 9999, 10000 } }

describe("xsk.hist layout", function()
  it("has buckets that tile 0 .. 2^40 ns, one per whole ns below 128", function()
    local prev_end = 0
    for i = 0, hist.BUCKETS - 1 do
      local lo, w = hist.bounds(i)
      assert.equal(prev_end, lo, "bucket " .. i .. " does not start where the last ended")
      assert.equal(i, hist.index(lo))
      assert.equal(i, hist.index(lo + w - 0.5))
      if lo < 128 then assert.equal(1, w) end
      prev_end = lo + w
    end
    assert.equal(hist.TOP_NS, prev_end)
  end)

  it("keeps every bucket's half width within 1 % of its lowest value from 100 ns up", function()
    local worst = 0
    for i = 0, hist.BUCKETS - 1 do
      local lo, w = hist.bounds(i)
      if lo >= 100 and w > 1 then worst = math.max(worst, w / 2 / lo) end
    end
    assert.is_true(worst <= hist.MAX_ERROR, ("half width %.4f of the value"):format(worst))
    assert.is_true(hist.MAX_ERROR <= 0.01)
    -- and the bound is tight: a coarser layout would not keep it
    assert.is_true(worst > 0.005, ("worst %.4f: more buckets than the bound needs"):format(worst))
  end)
end)

describe("xsk.hist values", function()
  it("gives percentiles within 1 % of the exact ones from 100 ns to 10 s", function()
    local values = log_uniform(200000, 100, 1e10)
    local h = hist.new()
    for _, v in ipairs(values) do h:record(v) end
    table.sort(values)
    for _, p in ipairs(PERCENTILES) do
      local want = exact(values, p[1], p[2])
      local got = h:percentile(100 * p[1] / p[2])
      assert.is_true(relerr(got, want) <= 0.01,
        ("p%g: %.1f against %.1f (%.3f %%)"):format(100 * p[1] / p[2], got, want, 100 * relerr(got, want)))
    end
    assert.equal(values[1], h:percentile(0))
    assert.equal(values[1], h:min())
    assert.equal(values[#values], h:percentile(100))
    assert.equal(values[#values], h:max())
    assert.equal(#values, h:count())
  end)

  it("is exact for whole ns below 128 and puts each value in its own bucket's range", function()
    for v = 0, 127 do
      local h = hist.new()
      h:record(v)
      h:record(v)
      h:record(1e6)
      assert.equal(v, h:percentile(50))
    end
    -- a value in the middle of a wide bucket: reported within the bound
    for _, v in ipairs(log_uniform(2000, 128, 1e10, 7)) do
      local h = hist.new()
      h:record(0)
      h:record(v)
      h:record(v)
      h:record(2e12)
      local got = h:percentile(50)
      assert.is_true(relerr(got, v) <= hist.MAX_ERROR, ("%d reported as %.1f"):format(v, got))
    end
  end)

  it("reports p50/p90/p99/p99.9 of 1 .. 1000 ns within the bound", function()
    local h = hist.new()
    for v = 1000, 1, -1 do h:record(v) end
    for p, want in pairs { [50] = 500, [90] = 900, [99] = 990, [99.9] = 999 } do
      local got = h:percentile(p)
      assert.is_true(relerr(got, want) <= hist.MAX_ERROR, ("p%g: %g, want %g"):format(p, got, want))
    end
    assert.equal(1, h:percentile(0))
    assert.equal(1000, h:percentile(100))
    assert.equal(500.5, h:mean())
  end)

  it("counts values past 2^40 ns in the top bucket and keeps max exact", function()
    local h = hist.new()
    h:record(5e12)
    h:record(2 ^ 40)
    assert.equal(2, h:count())
    assert.equal(5e12, h:max())
    assert.equal(5e12, h:percentile(100))
    assert.equal(2, tonumber(h.bucket[hist.BUCKETS - 1]))
  end)

  it("says nothing about an empty histogram", function()
    local h = hist.new()
    assert.is_nil(h:percentile(50))
    assert.is_nil(h:min())
    assert.is_nil(h:max())
    assert.is_nil(h:mean())
    assert.equal(0, h:count())
    assert.equal("count 0", h:report())
    assert.equal("(no values)\n", h:plot())
    assert.equal("lower_ns,upper_ns,count,cumulative\n", h:csv())
  end)

  it("resets", function()
    local h = hist.new()
    h:record(10)
    h:reset()
    assert.equal(0, h:count())
    assert.is_nil(h:min())
    h:record(20)
    assert.equal(20, h:min())
  end)

  it("refuses values that are not ns", function()
    local h = hist.new()
    for _, bad in ipairs { -1, -0.5, 0 / 0, 1 / 0, "5", false } do
      assert.error_matches(function() h:record(bad) end, "xsk.hist: record: value must be a number of ns", nil, true)
    end
    assert.error_matches(function() h:record() end, "got nil", nil, true)
    assert.equal(0, h:count())
    for _, bad in ipairs { -1, 100.5, 0 / 0, "50" } do
      assert.error_matches(function() h:percentile(bad) end, "xsk.hist: percentile: p must be a number from 0 to 100",
        nil, true)
    end
  end)
end)

describe("xsk.hist merge", function()
  it("adds histograms bucket by bucket", function()
    local values = log_uniform(40000, 50, 1e9, 99)
    local all = hist.new()
    local parts = { hist.new(), hist.new(), hist.new(), hist.new() }
    for i, v in ipairs(values) do
      all:record(v)
      parts[i % 4 + 1]:record(v)
    end
    local merged = hist.new()
    for _, p in ipairs(parts) do merged:merge(p) end
    assert.equal(all:count(), merged:count())
    assert.equal(all:min(), merged:min())
    assert.equal(all:max(), merged:max())
    assert.equal(all:mean(), merged:mean())
    for i = 0, hist.BUCKETS - 1 do
      if all.bucket[i] ~= merged.bucket[i] then
        error(("bucket %d: %d merged, %d recorded"):format(i, tonumber(merged.bucket[i]), tonumber(all.bucket[i])))
      end
    end
    assert.equal(all:percentile(99), merged:percentile(99))
    -- an empty one changes nothing
    merged:merge(hist.new())
    assert.equal(all:min(), merged:min())
  end)

  it("merges what another process recorded into shared memory", function()
    local PROT_RW, MAP_SHARED_ANON = 3, 0x01 + 0x20
    local mem = ffi.C.mmap(nil, hist.SIZE, PROT_RW, MAP_SHARED_ANON, -1, 0)
    assert.is_true(ffi.cast("intptr_t", mem) ~= -1)
    finally(function() ffi.C.munmap(mem, hist.SIZE) end)
    local shared = hist.at(ffi.cast("uintptr_t", mem))
    shared:reset()
    local viewed = hist.at(shared:address())
    assert.equal(shared:address(), viewed:address())
    local pid = ffi.C.fork()
    if pid == 0 then
      -- the child: another address space, the same pages
      for v = 1, 1000 do viewed:record(v * 1000) end
      ffi.C._exit(0)
    end
    assert.is_true(pid > 0)
    local status = ffi.new("int[1]")
    assert.equal(pid, ffi.C.waitpid(pid, status, 0))
    assert.equal(0, status[0])
    local h = hist.new()
    h:record(5)
    h:merge(shared)
    assert.equal(1001, h:count())
    assert.equal(5, h:min())
    assert.equal(1e6, h:max())
    assert.is_true(relerr(h:percentile(50), 500000) <= hist.MAX_ERROR)
  end)

  it("refuses what is not a histogram", function()
    local h = hist.new()
    for _, bad in ipairs { {}, 5, "x", ffi.new("int[4]") } do
      assert.error_matches(function() h:merge(bad) end, "xsk.hist: merge: other must be a histogram", nil, true)
    end
    for _, bad in ipairs { -1, 0, 1.5, "0x10", {} } do
      assert.error_matches(function() hist.at(bad) end, "xsk.hist: address must be", nil, true)
    end
  end)
end)

describe("xsk.hist output", function()
  local h = hist.new()
  local values = log_uniform(5000, 1000, 1e8, 3)
  for _, v in ipairs(values) do h:record(v) end

  it("writes every non-empty bucket to CSV", function()
    local csv = h:csv()
    local lines = {}
    for line in csv:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal("lower_ns,upper_ns,count,cumulative", lines[1])
    local total, prev_hi = 0, -1
    for i = 2, #lines do
      local lo, hi, c, cum = lines[i]:match("^(%d+),(%d+),(%d+),([%d.]+)$")
      assert.truthy(lo, lines[i])
      lo, hi, c = tonumber(lo), tonumber(hi), tonumber(c)
      assert.is_true(lo >= prev_hi and hi > lo and c > 0, lines[i])
      total = total + c
      assert.is_true(math.abs(tonumber(cum) - total / #values) < 1e-6, lines[i])
      prev_hi = hi
    end
    assert.equal(#values, total)
    assert.equal("1.000000", lines[#lines]:match("([%d.]+)$"))
  end)

  it("plots a bar per range that adds up to the count", function()
    local plot = h:plot { rows = 10, width = 40 }
    local rows, total, widest = 0, 0, 0
    for line in plot:gmatch("[^\n]+") do
      local label, bar, c = line:match("^%s*(%S+ %a+) |(#*)%s* (%d+) %(")
      assert.truthy(label, line)
      rows, total, widest = rows + 1, total + tonumber(c), math.max(widest, #bar)
    end
    assert.equal(10, rows)
    assert.equal(#values, total)
    assert.equal(40, widest)
    assert.matches("100.0%%%)\n$", plot)
    assert.error_matches(function() h:plot { rows = 0 } end, "xsk.hist: plot: rows must be a whole number", nil, true)
    assert.error_matches(function() h:plot { height = 5 } end, 'unknown option "height"', nil, true)
  end)

  it("reports in one line", function()
    local line = h:report()
    assert.matches("^count 5000 min 1%.%d+ us mean [%d.]+ %a+ p50 [%d.]+ %a+ p90 [%d.]+ %a+ p99 [%d.]+ %a+ " ..
      "p99%.9 [%d.]+ %a+ max [%d.]+ ms$", line)
    assert.equal("812 ns", hist.human(812))
    assert.equal("12.3 us", hist.human(12345))
    assert.equal("1.50 ms", hist.human(1.5e6))
    assert.equal("2.00 s", hist.human(2e9))
  end)
end)

describe("xsk.hist in a per-packet loop", function()
  it("records without allocating or leaving the trace", function()
    local h = hist.new()
    local function loop(n)
      for i = 1, n do h:record((i * 7919) % 1000000 + 0.5) end
    end
    local r = jit_watch.measure(function(warm) return loop(warm and 20000 or 200000) end)
    assert.same({}, jit_watch.real_aborts(r), jit_watch.abort_report(r))
    assert.is_true(r.growth_kib < 1, jit_watch.growth_report(r, 200000))
    assert.is_true(h:count() > 0)
    assert.is_true(util.heap_growth(loop, 20000, 200000) < 1)
  end)
end)
