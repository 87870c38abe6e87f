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

-- Sleeps for ns nanoseconds.
function M.sleep(ns)
  if type(ns) ~= "number" or not (ns >= 0 and ns < 2 ^ 62) then
    error(base.argerror("xsk.clock", "sleep: ns", "a number of ns from 0 up", ns), 2)
  end
  local r = C.lxsk_sleep_until_ns(now() + ns)
  if r < 0 then error(("xsk.clock: sleep: clock_nanosleep failed (errno %d)"):format(-r), 2) end
end

return M
