-- Leftovers: XDP programs a process that is gone left attached, how
-- steer.open and prog.load replace the ones of ours, and how xsk.detach,
-- prog.detach and tools/xsk-detach remove them.
--
-- Every test builds its own namespaces and veth pair (support/xdp.lua).
require "support.paths"
local xdp = require "support.xdp"
local steer = require "xsk.steer"
local prog = require "xsk.prog"

local pair, sh, run, xdp_on = xdp.pair, xdp.sh, xdp.run, xdp.xdp_on
local OBJ = xdp.OBJ

describe("leftovers", function()
  it("a leftover steering program is replaced; a foreign one is not, and xsk.prog.detach removes it", function()
    local env = pair()
    -- what a killed process leaves behind: attached by netlink, no owner
    sh("ip link set dev va xdpdrv obj " .. OBJ .. " sec xdp")
    local old = xdp_on("va")
    assert.is_truthy(old)
    local st = steer.open { ifname = "va" }
    assert.is_truthy(xdp_on("va") ~= old)
    -- but never one this process still has open
    local ok, err = pcall(steer.open, { ifname = "va" })
    assert.is_false(ok)
    assert.matches("is attached to va by this process and still open: close it first", err, 1, true)
    st:close()
    assert.is_nil(xdp_on("va"))

    sh("ip link set dev va xdpgeneric obj " .. OBJ .. " sec xdp")
    assert.equals(1, prog.detach("va", true)) -- ours: goes with ours_only

    -- a process killed while its program is attached
    local child = ("ip netns exec %s luajit -e 'package.path=\"lua/?.lua;\"..package.path; "
      .. "package.cpath=(os.getenv(\"LXSK_BUILD\") or \"build\")..\"/lua/?.so;\"..package.cpath; "
      .. "local st = require(\"xsk.steer\").open{ ifname = \"va\" }; st:add_rule{ proto = \"udp\" }; "
      .. "os.execute(\"kill -KILL $PPID\")'"):format(env.ns)
    local _, out = run(child)
    assert.matches("Killed", out, 1, true)
    local leftover = xdp_on("va")
    assert.is_truthy(leftover, "the killed process left its program attached")
    st = steer.open { ifname = "va" }
    assert.is_truthy(xdp_on("va") ~= leftover)
    assert.same({}, st:rules(), "a fresh program, not the leftover's rules")
    st:close()
    assert.is_nil(xdp_on("va"))

    sh("ip link set dev va xdpdrv obj " .. xdp.FOREIGN .. " sec xdp")
    ok, err = pcall(steer.open, { ifname = "va" })
    assert.is_false(ok)
    assert.matches("another XDP program is attached (remove it with xsk-detach va)", err, 1, true)
    assert.equals(0, prog.detach("va", true))
    assert.equals(1, prog.detach("va"))
    assert.is_nil(xdp_on("va"))
    assert.equals(0, prog.detach("va"))
  end)

  it("tools/xsk-detach removes what is attached", function()
    local env = pair()
    sh("ip link set dev va xdpdrv obj " .. OBJ .. " sec xdp")
    local out = sh(("ip netns exec %s luajit tools/xsk-detach va"):format(env.ns))
    assert.matches("va: detached 1 XDP program", out, 1, true)
    assert.is_nil(xdp_on("va"))
    local ok = run(("ip netns exec %s luajit tools/xsk-detach nosuch0"):format(env.ns))
    assert.is_false(ok)
  end)
end)
