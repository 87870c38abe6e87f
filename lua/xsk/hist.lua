-- xsk.hist: latency histograms in nanoseconds, HDR-style (log-linear).
--
--   local hist = require "xsk.hist"
--   local h = hist.new()
--   h:record(rx_ns - tx_ns)                 -- per packet: no allocation, compiled
--   print(h:report())                       -- count, min, mean, p50 .. p99.9, max
--   io.write(h:plot())                      -- a bar per range, for a terminal
--   io.open("lat.csv", "w"):write(h:csv())
--
-- The layout, from the error bound.  The promise is a relative error of at
-- most 1 % for every value from 100 ns to 10 s.  Log-linear buckets cut each
-- power of two [2^e, 2^(e+1)) into 2^k buckets of equal width 2^(e-k); a
-- value reported as its bucket's midpoint is off by at most half a width,
-- 2^(e-k-1), against a value of at least 2^e: 2^-(k+1).  k = 5 gives 1.6 %,
-- too much; k = 6 gives 1/128 = 0.78 %, so each power of two has 64 buckets.
-- Below 2^7 = 128 ns the width is 1 ns and the buckets hold whole ns exactly
-- (a fraction of a ns counts as the ns below it: under 1 % from 100 ns).
-- The top is 2^40 ns (18 minutes, past the 10 s promised); a larger value
-- goes to the last bucket (max stays exact).  Buckets: 64 for 0..63 ns and 64
-- for each of the powers 2^6 .. 2^39: 35 * 64 = 2240 counters of 8 bytes,
-- 17.5 KiB.  A percentile is the midpoint of the bucket that holds the value
-- of that rank (nearest rank: the smallest value with at least p % of the
-- values at or below it), clamped to the exact min and max.
--
-- The histogram is the C struct lxsk_hist (csrc/measure.h) with methods, so
-- it can live anywhere: `hist.new()` owns its memory; `hist.at(address)`
-- views one another Lua VM (a worker thread) records into, so that the
-- parent can `merge` the workers' counts.  Recording reads and writes plain
-- memory with no locks: merge a worker's histogram after it stopped.
local ffi = require "ffi"
local bit = require "bit"
local base = require "xsk.base"
local C = require "xsk.cdef"

local floor, ceil, log, max, min, huge = math.floor, math.ceil, math.log, math.max, math.min, math.huge
local rshift, band = bit.rshift, bit.band
local type, error, tonumber, concat, rep, fmt = type, error, tonumber, table.concat, string.rep, string.format
local istype, cast, fill = ffi.istype, ffi.cast, ffi.fill

local K = C.LXSK_HIST_SUB_BITS
local SUB = C.LXSK_HIST_SUB
local BUCKETS = C.LXSK_HIST_BUCKETS
local LAST = BUCKETS - 1
local TOP = 2 ^ C.LXSK_HIST_TOP_BITS
local WHAT = "xsk.hist"

local hist_t = ffi.typeof("struct lxsk_hist")
local hist_ptr_t = ffi.typeof("struct lxsk_hist *")

local M = {
  SUB_BITS = K, BUCKETS = BUCKETS, TOP_NS = TOP,
  SIZE = ffi.sizeof(hist_t),
  MAX_ERROR = 2 ^ -(K + 1),
}

-- The exponent and top mantissa bits of a double: log-linear bucketing by
-- the representation, as HdrHistogram does with leading-zero counts.
local word = ffi.new("union { double d; uint32_t w[2]; }")
local HI = ffi.abi("le") and 1 or 0
local EXP_BIAS = 1023 + K - 1 -- 2^(K) .. 2^(K+1) lands on buckets SUB .. 2*SUB-1

-- The bucket of a value 0 <= v < inf.
local function index(v)
  if v < SUB then return floor(v) end
  word.d = v
  local hi = word.w[HI]
  local i = (rshift(hi, 20) - EXP_BIAS) * SUB + band(rshift(hi, 20 - K), SUB - 1)
  if i > LAST then i = LAST end
  return i
end
M.index = index

-- The lowest value of bucket i and its width.
local function bounds(i)
  if i < SUB then return i, 1 end
  local e = floor(i / SUB) + K - 1
  local w = 2 ^ (e - K)
  return 2 ^ e + (i % SUB) * w, w
end
M.bounds = bounds

-- The value that stands for bucket i: exact for width 1, else the midpoint.
local function middle(i)
  local lo, w = bounds(i)
  if w == 1 then return lo end
  return lo + w / 2
end

local Hist = {}
Hist.__index = Hist

local function clear(h)
  fill(h.bucket, BUCKETS * 8)
  h.n_values, h.sum_ns, h.min_ns, h.max_ns = 0, 0, huge, 0
end

function M.new()
  local h = hist_t()
  clear(h)
  return h
end

-- A histogram at a raw address (a number or pointer from h:address() of a
-- histogram in this process that stays alive while this view is used).
function M.at(addr)
  if type(addr) == "number" then
    if addr ~= floor(addr) or addr <= 0 or addr >= 2 ^ 53 then
      error(base.argerror(WHAT, "address", "an address from h:address()", addr), 2)
    end
  elseif type(addr) ~= "cdata" then
    error(base.argerror(WHAT, "address", "an address from h:address()", addr), 2)
  end
  return cast(hist_ptr_t, addr)
end

function Hist:address()
  return tonumber(cast("uintptr_t", cast(hist_ptr_t, self)))
end

-- Records one value in ns (0 <= v < inf; NaN and negatives raise).
function Hist:record(v)
  if type(v) ~= "number" or not (v >= 0 and v < huge) then
    error(base.argerror(WHAT, "record: value", "a number of ns from 0 up", v), 2)
  end
  local i = index(v)
  self.bucket[i] = self.bucket[i] + 1
  self.n_values = self.n_values + 1
  self.sum_ns = self.sum_ns + v
  if v < self.min_ns then self.min_ns = v end
  if v > self.max_ns then self.max_ns = v end
end

function Hist:reset() clear(self) end

local function is_hist(o) return istype(hist_t, o) or istype(hist_ptr_t, o) end

-- Adds another histogram's values (a histogram or a pointer to one).
function Hist:merge(other)
  if not is_hist(other) then
    error(base.argerror(WHAT, "merge: other", "a histogram (xsk.hist)", other), 2)
  end
  if other.n_values == 0 then return self end
  local a, b = self.bucket, other.bucket
  for i = 0, LAST do a[i] = a[i] + b[i] end
  self.n_values = self.n_values + other.n_values
  self.sum_ns = self.sum_ns + other.sum_ns
  if other.min_ns < self.min_ns then self.min_ns = other.min_ns end
  if other.max_ns > self.max_ns then self.max_ns = other.max_ns end
  return self
end

local function n_of(h) return tonumber(h.n_values) end

-- Count, min, max and mean (nil while empty), in ns.
function Hist:count() return n_of(self) end
function Hist:min() if self.n_values > 0 then return self.min_ns end end
function Hist:max() if self.n_values > 0 then return self.max_ns end end
function Hist:mean() if self.n_values > 0 then return self.sum_ns / n_of(self) end end

-- The 1-based rank of percentile p of n values (nearest rank); the small
-- slack keeps 99.9 % of 1000 values at rank 999 despite binary fractions.
local function rank(p, n)
  local x = p / 100 * n
  return max(1, ceil(x - x * 1e-12))
end

-- The value at percentile p (0 .. 100): within MAX_ERROR of the exact one
-- (the lowest and highest ranks are min and max, exact); nil when the
-- histogram is empty.
function Hist:percentile(p)
  if type(p) ~= "number" or not (p >= 0 and p <= 100) then
    error(base.argerror(WHAT, "percentile: p", "a number from 0 to 100", p), 2)
  end
  local n = n_of(self)
  if n == 0 then return nil end
  local want, seen = rank(p, n), 0
  if want == 1 then return self.min_ns end
  if want >= n then return self.max_ns end
  local b = self.bucket
  for i = 0, LAST do
    seen = seen + tonumber(b[i])
    if seen >= want then return min(self.max_ns, max(self.min_ns, middle(i))) end
  end
  return self.max_ns
end

M.PERCENTILES = { 50, 90, 99, 99.9 }

-- A value in ns as a short human string: "812 ns", "12.3 us", "1.50 ms", "2.00 s".
local function human(ns)
  if ns < 1e3 then return fmt("%.0f ns", ns) end
  local v, unit = ns / 1e3, "us"
  if ns >= 1e9 then v, unit = ns / 1e9, "s" elseif ns >= 1e6 then v, unit = ns / 1e6, "ms" end
  if v >= 100 then return fmt("%.0f %s", v, unit) end
  if v >= 10 then return fmt("%.1f %s", v, unit) end
  return fmt("%.2f %s", v, unit)
end
M.human = human

-- One line: "count N min X mean X p50 X p90 X p99 X p99.9 X max X".
function Hist:report()
  local n = n_of(self)
  if n == 0 then return "count 0" end
  local out = { ("count %d min %s mean %s"):format(n, human(self.min_ns), human(self:mean())) }
  for _, p in ipairs(M.PERCENTILES) do
    out[#out + 1] = ("p%s %s"):format(p, human(self:percentile(p)))
  end
  out[#out + 1] = "max " .. human(self.max_ns)
  return concat(out, " ")
end

-- Every non-empty bucket, one line each: its range in ns (lower bound
-- inclusive, upper exclusive), its count and the share of values up to it.
function Hist:csv()
  local out = { "lower_ns,upper_ns,count,cumulative" }
  local n, seen, b = n_of(self), 0, self.bucket
  for i = 0, LAST do
    local c = tonumber(b[i])
    if c > 0 then
      seen = seen + c
      local lo, w = bounds(i)
      out[#out + 1] = ("%.0f,%.0f,%d,%.6f"):format(lo, lo + w, c, seen / n)
    end
  end
  return concat(out, "\n") .. "\n"
end

local plot_schema = { width = { "int", 50, 10, 200 }, rows = { "int", 16, 1, 100 } }

-- A bar chart for a terminal: `rows` ranges of equal ratio from min to max,
-- each with its lower bound, a bar `width` characters at the fullest row, the
-- count and the share of values up to the end of the range.
function Hist:plot(opts)
  local o, err = base.options(WHAT .. ": plot", plot_schema, opts)
  if not o then error(err, 2) end
  local n = n_of(self)
  if n == 0 then return "(no values)\n" end
  local lo, hi = max(self.min_ns, 1), max(self.max_ns, 1)
  local rows = lo == hi and 1 or o.rows
  local span = log(hi / lo)
  local counts = {}
  for r = 1, rows do counts[r] = 0 end
  local b = self.bucket
  for i = 0, LAST do
    local c = tonumber(b[i])
    if c > 0 then
      local v = min(hi, max(lo, middle(i)))
      local r = rows == 1 and 1 or min(rows, floor(log(v / lo) / span * rows) + 1)
      counts[r] = counts[r] + c
    end
  end
  local top = 0
  for r = 1, rows do top = max(top, counts[r]) end
  local out, seen = {}, 0
  for r = 1, rows do
    seen = seen + counts[r]
    local edge = lo * (hi / lo) ^ ((r - 1) / rows)
    local bar = floor(counts[r] / top * o.width + 0.5)
    if bar == 0 and counts[r] > 0 then bar = 1 end
    out[#out + 1] = ("%10s |%s%s %d (%.1f%%)\n"):format(human(edge), rep("#", bar), rep(" ", o.width - bar),
      counts[r], 100 * seen / n)
  end
  return concat(out)
end

ffi.metatype(hist_t, Hist)

return M
