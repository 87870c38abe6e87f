-- Leftovers: XDP programs a process that is gone left attached, how
-- steer.open and prog.load replace the ones of ours, and how xsk.detach,
-- prog.detach and tools/xsk-detach remove them.
--
-- Every test builds its own namespaces and veth pair (support/xdp.lua).
require "support.paths"
local xdp = require "support.xdp"
local steer = require "xsk.steer"
local prog = require "xsk.prog"

local xsk = require "xsk"

local pair, defer, sh, run, xdp_on, leave_behind = xdp.pair, xdp.defer, xdp.sh, xdp.run, xdp.xdp_on, xdp.leave_behind
local OBJ = xdp.OBJ

-- pcall(fn, ...) must fail with a message that contains text.
local function fails(text, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error containing: " .. text)
  assert.matches(text, err, 1, true)
end

-- A process in namespace env.ns that runs `lua` (with the tree's paths) and
-- is killed with SIGKILL at its end, leaving what it attached behind.
local function killed_process(env, lua)
  local _, out = run(("ip netns exec %s luajit -e 'package.path=\"lua/?.lua;lua/?/init.lua;\"..package.path; "
    .. "package.cpath=(os.getenv(\"LXSK_BUILD\") or \"build\")..\"/lua/?.so;\"..package.cpath; %s; "
    .. "os.execute(\"kill -KILL $PPID\")'"):format(env.ns, lua))
  assert.matches("Killed", out, 1, true)
  return assert(xdp_on("va"), "the killed process left nothing attached")
end

-- The kernel takes a killed process's sockets out of the program's XSKMAP as
-- it reaps the process, which may finish a little after the shell saw it
-- die: until then the program still counts them (and says so).
local function once_reaped(fn, ...)
  local ok, r
  for _ = 1, 40 do
    ok, r = pcall(fn, ...)
    if ok or not tostring(r):find("sockets bound", 1, true) then break end
    os.execute("sleep 0.05")
  end
  assert(ok, r)
  return r
end

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
    local leftover = killed_process(env,
      "local st = require(\"xsk.steer\").open{ ifname = \"va\" }; st:add_rule{ proto = \"udp\" }")
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
    local out = sh(("ip netns exec %s tools/xsk-luajit tools/xsk-detach va"):format(env.ns))
    assert.matches("va: detached 1 XDP program", out, 1, true)
    assert.is_nil(xdp_on("va"))
    local ok = run(("ip netns exec %s tools/xsk-luajit tools/xsk-detach nosuch0"):format(env.ns))
    assert.is_false(ok)
  end)

  it("prog.load{ replace = true } replaces a leftover of ours, replace = false does not", function()
    pair()
    local old = leave_behind(OBJ)
    fails("another XDP program is attached (remove it with xsk-detach va)",
      prog.load, { file = OBJ, ifname = "va", replace = false })
    assert.equals(old, xdp_on("va"))

    local p = prog.load { file = OBJ, ifname = "va", replace = true }
    defer(function() p:close() end)
    assert.is_true(p:attached())
    assert.equals(p:id(), xdp_on("va"))
    assert.are_not.equal(old, p:id())
    -- never a program this process holds open
    fails("xsk.prog: program xsk_steer of " .. OBJ .. " is attached to va by this process and still open: "
      .. "close it first (errno 16: Device or resource busy)", prog.load, { file = OBJ, ifname = "va" })
    assert.equals(p:id(), xdp_on("va"))
    p:close()
    assert.is_nil(xdp_on("va"))

    -- a program not of lua-xsk is ours to replace only when it is the one being loaded
    local foreign = leave_behind(xdp.FOREIGN)
    fails("another XDP program is attached", steer.open, { ifname = "va" })
    assert.equals(foreign, xdp_on("va"))
    local q = prog.load { file = xdp.FOREIGN, xskmap = false, ifname = "va" }
    defer(function() q:close() end)
    assert.are_not.equal(foreign, q:id())
    assert.equals(q:id(), xdp_on("va"))
  end)

  it("xsk.detach(ifname) removes leftovers of ours and keeps the rest; ours = false removes everything", function()
    pair()
    leave_behind(OBJ)
    assert.equals(1, xsk.detach("va"))
    assert.is_nil(xdp_on("va"))
    assert.equals(0, xsk.detach("va"))

    local foreign = leave_behind(xdp.FOREIGN)
    assert.equals(0, xsk.detach("va"))
    assert.equals(0, xsk.detach("va", true))
    assert.equals(foreign, xdp_on("va"), "a program that is not ours stays")
    assert.equals(1, xsk.detach("va", false))
    assert.is_nil(xdp_on("va"))

    -- by index as well as by name
    leave_behind(OBJ)
    local idx = tonumber(sh("ip -o link show dev va"):match("(%d+): va[@:]"))
    assert.equals(1, xsk.detach(idx))
    assert.is_nil(xdp_on("va"))

    -- one this process holds is not a leftover: only "everything" takes it
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    fails("xsk.prog: detach: program xsk_steer of " .. steer.object_path(false) .. " is attached to va by this "
      .. "process and still open: close it first (errno 16: Device or resource busy)", xsk.detach, "va")
    assert.equals(st:id(), xdp_on("va"))
    assert.equals(1, xsk.detach("va", false))
    assert.is_nil(xdp_on("va"))
    st:close() -- detached behind its back: closing is still no error

    fails("xsk.prog: detach: interface nosuch0 not found (errno 19: No such device)", xsk.detach, "nosuch0")
  end)

  it("libxdp's default program is a leftover only when no socket is bound to it", function()
    local env = pair()
    local umem = xsk.umem { frame_count = 64 }
    defer(function() umem:close() end)
    local sock = umem:socket { ifname = "va", queue = 0 } -- libxdp attaches its default program
    local default = assert(xdp_on("va"))
    local busy = "libxdp's default program on va has AF_XDP sockets bound on 1 queue(s): close them first"
    fails("xsk.prog: detach: " .. busy, xsk.detach, "va")
    fails("xsk.steer: " .. busy, steer.open, { ifname = "va" })
    fails("xsk.prog: " .. busy, prog.load, { file = OBJ, ifname = "va" })
    assert.equals(default, xdp_on("va"))
    assert.is_false(xdp.ping(env, 2), "the socket still takes the queue's packets")
    assert.is_true(xdp.receive(sock, umem, 2) >= 2)
    umem:close()

    -- a process killed with its socket open: the program stays, with no socket
    killed_process(env, "local u = require(\"xsk\").umem{ frame_count = 64 }; local s = u:socket{ ifname = \"va\" }")
    assert.equals(1, once_reaped(xsk.detach, "va"))
    assert.is_nil(xdp_on("va"))

    -- and prog.load's replace takes such a leftover away too
    local left = killed_process(env,
      "local u = require(\"xsk\").umem{ frame_count = 64 }; local s = u:socket{ ifname = \"va\" }")
    local p = once_reaped(prog.load, { file = OBJ, ifname = "va" })
    defer(function() p:close() end)
    assert.are_not.equal(left, p:id())
    assert.equals(p:id(), xdp_on("va"))
  end)
end)
