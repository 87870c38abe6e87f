-- Runs a piece of Lua in a child luajit, so that a crash or a hang shows up
-- as a failed spec with its output instead of killing (or stalling) the run.
-- The child finds the same modules and core as the specs, and can run inside
-- a namespace the spec made (then it mounts its own bpffs, as libxdp wants).
local paths = require "support.paths"

local M = {}

local function root()
  local p = io.popen("pwd")
  local r = p:read("*l")
  p:close()
  return r
end

local PRELUDE = [[
local ROOT, BUILD = %q, %q
if BUILD:sub(1, 1) ~= "/" then BUILD = ROOT .. "/" .. BUILD end
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. ROOT .. "/spec/?.lua;" .. package.path
package.cpath = BUILD .. "/lua/?.so;" .. package.cpath
local xsk = require "xsk"
local ffi = require "ffi"
require("xsk.netns").private_bpffs() -- libxdp wants a bpffs; this child gets its own
-- expect(fn, ...): the call must fail; prints its message for the spec.
local function expect(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then print("ACCEPTED") else print("REFUSED " .. tostring(err)) end
  return ok, err
end
]]

-- Runs code; opts.ns: inside `ip netns exec NS`; opts.timeout: seconds
-- before the child is killed (default 20).  Returns the exit status (0 when
-- the code ran to its end) and everything it printed.
function M.run(code, opts)
  opts = opts or {}
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(PRELUDE:format(root(), paths.build), code, "\nos.exit(0)\n")
  f:close()
  -- (under make asan and tsan the luajit first on PATH preloads the sanitizer)
  local cmd = ("%stimeout -s KILL %d luajit %s 2>&1; echo \"__status=$?\""):format(
    opts.ns and ("ip netns exec " .. opts.ns .. " ") or "", opts.timeout or 20, path)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return tonumber(status) or -1, body or out
end

-- The status a child killed by signal sig ends with, as the shell reports it.
function M.signal_status(sig) return 128 + sig end

return M
