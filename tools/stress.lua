-- The frame ownership and packet delivery model (spec/support/model.lua) for
-- a long run:
--
--   sudo luajit tools/stress.lua [OPS [SEED]]      (make stress)
--
-- OPS defaults to 10 million (XSK_STRESS_OPS), SEED to XSK_SEED or a random
-- one.  Builds its own namespace with a veth pair and removes it at the end.
-- Prints progress every million operations; on a failure prints the seed,
-- the failed check and the last operations, and exits 1.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local netns = require "xsk.netns"
local model = require "support.model"

local ops = tonumber(arg[1] or os.getenv("XSK_STRESS_OPS")) or 10000000
local seed = model.seed(arg[2])

netns.private_bpffs()
local env = netns.setup { prefix = "xskstress" }

local function xdp_attached(ifname)
  local _, out = netns.try("ip -o link show dev " .. ifname)
  return out:find(" xdp") ~= nil
end

local t0 = os.time()
local clock0 = os.clock()
io.stdout:write(("stress: %d operations, XSK_SEED=%d\n"):format(ops, seed))
local ok, err = pcall(function()
  netns.enter(env)
  local m = model.new { seed = seed, check_xdp = xdp_attached, session_ops = 20000 }
  m:run(ops, function(st)
    io.stdout:write(("  %s (%ds)\n"):format(model.summary(st), os.time() - t0))
    io.stdout:flush()
  end, 1000000)
  local st = m:finish()
  io.stdout:write("stress: done: ", model.summary(st), "\n")
  local by = {}
  for k, v in pairs(st.by_op) do by[#by + 1] = ("%s=%d"):format(k, v) end
  table.sort(by)
  io.stdout:write("stress: by operation: ", table.concat(by, " "), "\n")
end)
env.destroy()
io.stdout:write(("stress: %ds wall, %.0fs CPU\n"):format(os.time() - t0, os.clock() - clock0))
if not ok then
  io.stderr:write(tostring(err), "\n")
  io.stderr:write(("stress: FAILED; reproduce with XSK_SEED=%d luajit tools/stress.lua %d\n"):format(seed, ops))
  os.exit(1)
end
