-- xsk.pace: how many packets a send loop may send now, at an exact rate.
--
--   local pace = require "xsk.pace"
--   local p = pace.new{ pps = 10000 }            -- or burst = 32, poisson = true
--   while running do
--     local n = p:wait(b.cap)                    -- sleeps, then says how many may go
--     u:alloc(b, n) ... local sent = s:send(b)
--     if sent < n then p:refund(n - sent) end    -- they are due again at once
--   end
--
-- The schedule is absolute.  The first call starts it at that instant, t0;
-- with fixed gaps packet i departs at t0 + floor(i / burst) * burst * 1e9 / pps,
-- so the count granted by any time t is a function of t alone and neither
-- rounding nor late wake-ups add up to drift: a loop that fell behind is
-- granted everything due at once (up to the `max` it asks for per call).
-- With `poisson`, bursts depart with exponential gaps of mean burst * 1e9 / pps
-- drawn from a seeded generator (splitmix64, so a run can be repeated), each
-- departure time the previous one plus its gap.
--
-- Waiting: when the next departure is more than spin_ns away the pacer
-- sleeps (clock_nanosleep to an absolute time on CLOCK_MONOTONIC) until
-- spin_ns before it, then reads the clock in a loop for the last stretch, so a
-- low rate costs little CPU and a high one is still on time.  Measured on the
-- development VM, a sleep ends a median 68 us late with the default 50 us
-- timer slack and 7 us late with 1 us (p99 56 us), so the pacer sets its
-- thread's timer slack (timer_slack_ns, default 1 us; 0 leaves it alone) and
-- spins the last 50 us by default.  A wake-up later than that makes those
-- departures late, not lost: they are granted together at the next call.
--
-- `clock` and `sleep` can be replaced (a function returning ns, and one
-- sleeping until a time in ns), which is how the specs check the schedule
-- with a clock they drive themselves.  Nothing allocates per call.
local ffi = require "ffi"
local bit = require "bit"
local base = require "xsk.base"
local clock = require "xsk.clock"
local C = require "xsk.cdef"

local floor, log, type, error, tonumber = math.floor, math.log, type, error, tonumber
local bxor, rshift = bit.bxor, bit.rshift

local WHAT = "xsk.pace"

local M = {}

local schema = {
  pps = { "int", nil, 1, 1e10 },
  burst = { "int", 1, 1, 1e6 },
  poisson = { "bool", false },
  seed = { "int", 1, 0, 2 ^ 53 },
  spin_ns = { "int", 50000, 0, 1e9 },
  timer_slack_ns = { "int", 1000, 0, 1e9 },
  clock = { "any" },
  sleep = { "any" },
}

local function wait_until(t, spin_ns)
  return tonumber(C.lxsk_wait_until_ns(t, spin_ns))
end

local function sleep_until(t)
  local r = C.lxsk_sleep_until_ns(t)
  if r < 0 then error(("xsk.pace: clock_nanosleep failed (errno %d)"):format(-r)) end
end

local Pacer = {}
Pacer.__index = Pacer

function M.new(cfg)
  local o, err = base.options(WHAT, schema, cfg)
  if not o then error(err, 2) end
  err = base.missing(WHAT, o, { "pps" })
  if err then error(err, 2) end
  for _, k in ipairs { "clock", "sleep" } do
    if o[k] ~= nil and type(o[k]) ~= "function" then
      error(base.argerror(WHAT, k, "a function", o[k]), 2)
    end
  end
  if o.timer_slack_ns > 0 and o.sleep == nil then
    local r = C.lxsk_set_timer_slack_ns(o.timer_slack_ns)
    if r < 0 then error(("xsk.pace: cannot set the timer slack (errno %d)"):format(-r), 2) end
  end
  local rng = ffi.new("uint64_t[1]")
  rng[0] = o.seed
  return setmetatable({
    pps = o.pps, burst = o.burst, poisson = o.poisson, spin_ns = o.spin_ns,
    clock = o.clock or clock.now, sleep = o.sleep or sleep_until,
    real = o.clock == nil and o.sleep == nil, -- the real clock: wait in C
    -- the gap between bursts, mean gap with poisson
    bgap = o.burst * 1e9 / o.pps,
    started = false, t0 = 0,
    g = 0,               -- fixed gaps: packets of the schedule handed out
    next_t = 0, left = 0, -- poisson: departure of the next burst, packets left in it
    backlog = 0,         -- refunded: due at once
    granted = 0,         -- handed out, less refunds
    rng = rng,
  }, Pacer)
end

-- splitmix64: a uniform double in [0, 1).
local GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15ULL, 0xBF58476D1CE4E5B9ULL, 0x94D049BB133111EBULL
local function uniform(rng)
  local s = rng[0] + GOLDEN
  rng[0] = s
  local z = bxor(s, rshift(s, 30)) * MIX1
  z = bxor(z, rshift(z, 27)) * MIX2
  z = bxor(z, rshift(z, 31))
  return tonumber(rshift(z, 11)) * 2 ^ -53
end

local function exp_gap(self)
  return -log(1 - uniform(self.rng)) * self.bgap
end

local function start(self, now)
  self.started, self.t0 = true, now
  self.g, self.next_t, self.left = 0, now, self.burst
end

-- Hands out up to max departures that are due at `now`.
local function take(self, now, max)
  if not self.started then start(self, now) end
  local n = 0
  local back = self.backlog
  if back > 0 then
    n = back < max and back or max
    self.backlog = back - n
  end
  if self.poisson then
    local t, left = self.next_t, self.left
    while n < max and t <= now do
      local k = max - n
      if k > left then k = left end
      n, left = n + k, left - k
      if left == 0 then
        t, left = t + exp_gap(self), self.burst
      end
    end
    self.next_t, self.left = t, left
  else
    local due = (floor((now - self.t0) / self.bgap) + 1) * self.burst - self.g
    if due > 0 then
      local k = max - n
      if k > due then k = due end
      n, self.g = n + k, self.g + k
    end
  end
  self.granted = self.granted + n
  return n
end

local function next_departure(self)
  if self.backlog > 0 then return -1 / 0 end
  if self.poisson then return self.next_t end
  return self.t0 + floor(self.g / self.burst) * self.bgap
end

local function bad_max(max)
  -- NaN is not equal to its floor
  return type(max) ~= "number" or max ~= floor(max) or max < 1
end

-- Waits until at least one packet is due; returns how many are (1 .. max),
-- and counts them as gone.
function Pacer:wait(max)
  if bad_max(max) then error(base.argerror(WHAT, "wait: max", "a whole number from 1 up", max), 2) end
  local clock_fn = self.clock
  local now = clock_fn()
  local n = take(self, now, max)
  if self.real then
    -- Sleep and spin in C: a Lua loop spinning a different number of times
    -- per call would make the JIT trace it anew for each count (a chain of
    -- side traces that never ends, each one garbage).  Rounding may leave
    -- the departure a hair past the time waited for: then wait again.
    while n == 0 do
      now = wait_until(next_departure(self), self.spin_ns)
      if now < 0 then error(("xsk.pace: clock_nanosleep failed (errno %d)"):format(-now), 2) end
      n = take(self, now, max)
    end
    return n
  end
  while n == 0 do
    local far = next_departure(self) - self.spin_ns
    if far > now then self.sleep(far) end
    now = clock_fn()
    n = take(self, now, max)
  end
  return n
end

-- How many packets are due now (0 .. max), without waiting; counts them as gone.
function Pacer:poll(max)
  if bad_max(max) then error(base.argerror(WHAT, "poll: max", "a whole number from 1 up", max), 2) end
  return take(self, self.clock(), max)
end

-- k packets of the last grants did not go: they are due again at once.
function Pacer:refund(k)
  if type(k) ~= "number" or not (k >= 0 and k <= self.granted) or k ~= floor(k) then
    error(base.argerror(WHAT, "refund: k", ("a whole number from 0 to %d (granted so far)")
      :format(self.granted), k), 2)
  end
  self.backlog = self.backlog + k
  self.granted = self.granted - k
end

-- The clock's time of the next departure (-inf when refunded packets are
-- due; nil before the first call): a loop that receives while it sends can
-- wait for packets until then.
function Pacer:next_ns()
  if not self.started then return nil end
  return next_departure(self)
end

-- Packets handed out so far, less the refunds.
function Pacer:count() return self.granted end

-- Starts the schedule again at the next call (after a pause the loop does
-- not want to catch up on); refunded packets stay due.
function Pacer:restart()
  self.started = false
end

return M
