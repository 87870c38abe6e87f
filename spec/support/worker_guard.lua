-- Every workers test ends with no worker running and the stop flag clear,
-- whatever happened in it.  guard() is called at the top of a test (it
-- registers busted's finally in that test's environment) and returns the
-- test's workers.start, which remembers every worker it starts.
local workers = require "xsk.workers"

local M = {}

function M.guard()
  local list = {}
  getfenv(2).finally(function()
    workers.stop()
    for _, w in ipairs(list) do pcall(w.join, w, 5) end
    pcall(workers.reset)
    pcall(workers.catch_signals, false)
  end)
  return function(...)
    local w = workers.start(...)
    list[#list + 1] = w
    return w
  end
end

return M
