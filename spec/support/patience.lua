-- Waits and workloads of the workers' specs for slow runs: under valgrind
-- (make valgrind sets XSK_SLOW=1) every thread runs many times slower, so
-- hang guards grow and the bulk loops shrink.  Nothing here times anything:
-- a wait is how long a spec waits before it calls something stuck.
local slow = os.getenv("XSK_SLOW") == "1"

local M = { slow = slow }

-- Seconds to wait at most.
function M.wait(s) return slow and s * 30 or s end

-- How many of a bulk thing to do (at least `least`).
function M.work(n, least)
  if not slow then return n end
  return math.max(least or 1, math.floor(n / 20))
end

return M
