-- xsk.clock: the monotonic clock in nanoseconds, and sleeps to a time on it.
--
-- CLOCK_MONOTONIC is the clock XDP programs read with bpf_ktime_get_ns(), so
-- a time taken here and one stamped in the kernel can be subtracted.  Times
-- are Lua numbers (doubles): exact to the ns for the first 104 days after
-- boot, and off by a few ns at most after that, far below any latency a
-- socket can see.
--
--   local t0 = clock.now()
--   clock.sleep_until(t0 + 1e6)           -- absolute: no drift over many sleeps
--   clock.wait_until(t0 + 2e6)            -- sleep, then spin the last 50 us
local base = require "xsk.base"
local C = require "xsk.cdef"

local tonumber, type, error = tonumber, type, error

local M = {}

-- Nanoseconds on CLOCK_MONOTONIC.
local function now() return tonumber(C.lxsk_clock_ns()) end
M.now = now

-- Sleeps until now() reads at least t (returns at once when t has passed).
function M.sleep_until(t)
  if type(t) ~= "number" or not (t >= 0 and t < 2 ^ 63) then
    error(base.argerror("xsk.clock", "sleep_until: t", "a time in ns from clock.now()", t), 2)
  end
  local r = C.lxsk_sleep_until_ns(t)
  if r < 0 then error(("xsk.clock: sleep_until: clock_nanosleep failed (errno %d)"):format(-r), 2) end
end

-- Waits until now() reads at least t the way the pacer does: sleeps until
-- spin_ns (default 50 us) before t, then reads the clock in a loop, so the
-- wake-up is on time without spinning the whole wait.  Returns now() at the
-- end.  For schedules of one's own, e.g. replaying a capture's gaps.
function M.wait_until(t, spin_ns)
  if spin_ns == nil then spin_ns = 50000 end
  if type(t) ~= "number" or not (t >= 0 and t < 2 ^ 63) then
    error(base.argerror("xsk.clock", "wait_until: t", "a time in ns from clock.now()", t), 2)
  end
  if type(spin_ns) ~= "number" or not (spin_ns >= 0 and spin_ns <= 1e9) then
    error(base.argerror("xsk.clock", "wait_until: spin_ns", "a number of ns from 0 to 1e9", spin_ns), 2)
  end
  -- In C: a Lua loop spinning a different number of times per call would be
  -- traced anew for each count.
  local n = tonumber(C.lxsk_wait_until_ns(t, spin_ns))
  if n < 0 then error(("xsk.clock: wait_until: clock_nanosleep failed (errno %d)"):format(-n), 2) end
  return n
end

-- Sets the calling thread's timer slack: how late the kernel may end its
-- sleeps (50 us by default; 1 us makes sleeps end within a few us here).  0
-- puts the default back.
function M.set_timer_slack(ns)
  if type(ns) ~= "number" or ns ~= math.floor(ns) or ns < 0 or ns > 1e9 then
    error(base.argerror("xsk.clock", "set_timer_slack: ns", "a whole number of ns from 0 to 1e9", ns), 2)
  end
  local r = C.lxsk_set_timer_slack_ns(ns)
  if r < 0 then error(("xsk.clock: set_timer_slack: prctl failed (errno %d)"):format(-r), 2) end
end

-- Sleeps for ns nanoseconds.
function M.sleep(ns)
  if type(ns) ~= "number" or not (ns >= 0 and ns < 2 ^ 62) then
    error(base.argerror("xsk.clock", "sleep: ns", "a number of ns from 0 up", ns), 2)
  end
  local r = C.lxsk_sleep_until_ns(now() + ns)
  if r < 0 then error(("xsk.clock: sleep: clock_nanosleep failed (errno %d)"):format(-r), 2) end
end

return M
