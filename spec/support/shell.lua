-- Shell commands for the specs: what a command printed (stdout and stderr,
-- or stderr alone) and its exit status.  LuaJIT's close() of a popen'd file
-- does not report the status, so the shell prints it after the output.
local M = {}

-- Returns the output and the exit code (a number).
function M.run(cmd, stderr_only)
  local p = io.popen("(" .. cmd .. ")" .. (stderr_only and " 2>&1 >/dev/null" or " 2>&1") .. "; echo \"exit:$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit:(%d+)\n$"))
  return (out:gsub("exit:%d+\n$", "")), code
end

-- Returns the output and whether the command exited 0.
function M.ok(cmd, stderr_only)
  local out, code = M.run(cmd, stderr_only)
  return out, code == 0
end

-- The MAC address of device dev in namespace ns.
function M.mac_of(ns, dev)
  return (M.run(("ip -n %s -br link show %s"):format(ns, dev)):match("%x%x:%x%x:%x%x:%x%x:%x%x:%x%x"))
end

return M
