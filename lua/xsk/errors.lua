-- Turns the core's last error into a Lua error at the caller's level.
local ffi = require "ffi"
local C = require "xsk.cdef"

local M = {}

function M.message()
  return "xsk: " .. ffi.string(C.lxsk_errmsg())
end

-- level 2 is the function that called raise's caller.
function M.raise(level)
  error(M.message(), (level or 1) + 1)
end

return M
