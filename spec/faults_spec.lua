-- Faults from outside: the interface goes down or away, the namespace is
-- deleted, rings run empty or full, the process is killed.  Each must end in
-- a Lua error with a clear message or in a clean recovery, never a crash or a
-- hang, with every frame accounted for and nothing of ours left attached.
local xsk = require "xsk"
local net = require "support.net"
local now = require("xsk.stats").now

local netns = net.netns

-- Frames the script holds plus the pool plus what the kernel holds must be
-- the whole UMEM, and owner() must agree with free_frames().
local function accounted(u, held)
  local counts = { pool = 0, fill = 0, user = 0, tx = 0 }
  for i = 0, u.frame_count - 1 do
    local o = u:owner(i * u.frame_size)
    counts[o] = counts[o] + 1
  end
  assert.equal(u:free_frames(), counts.pool)
  assert.equal(held or 0, counts.user)
  return counts
end

local function xdp_on(ns, ifname)
  local ok, out = netns.try(("ip -n %s -o link show dev %s"):format(ns, ifname))
  return ok and out:find(" xdp") ~= nil
end

local function umem()
  -- fill_size 64 keeps the pool from going all to the fill rings
  return xsk.umem { frame_count = 1024, fill_size = 64, comp_size = 64 }
end

-- Sends one burst of n frames from socket a; returns ok, err, sent.
local function burst(u, a, tb, n)
  u:alloc(tb, (n or tb.cap) - tb.n)
  for i = 0, tb.n - 1 do tb.f[i]:set(net.frame("fault " .. i)) end
  local ok, r = pcall(a.send, a, tb)
  return ok, r
end

local function drain(u, s, rb, ms)
  -- on the monotonic clock: os.clock() is CPU time, which waiting hardly uses
  local got, deadline = 0, now() + (ms or 200) / 1000
  repeat
    local n = s:recv(rb, 10)
    got = got + n
    u:release(rb)
  until now() > deadline
  return got
end

describe("faults", function()
  it("interface set down while sending: a clear error, and traffic resumes once it is up", function()
    local env = net.veth()
    local u = umem()
    local a, b = u:socket { ifname = "veth0" }, u:socket { ifname = "veth1" }
    local tb, rb = u:batch(32), u:batch(64)
    assert.is_true((burst(u, a, tb)))
    assert.is_true(drain(u, b, rb) > 0)
    netns.sh("ip link set dev veth0 down")
    local ok, err = burst(u, a, tb)
    assert.is_false(ok)
    assert.matches("send on veth0 queue 0: the interface is down", err, 1, true)
    -- receiving on the other end just finds nothing
    assert.equal(0, drain(u, b, rb, 50))
    accounted(u, tb.n)
    netns.sh("ip link set dev veth0 up")
    local got = 0
    for _ = 1, 50 do
      local ok2 = burst(u, a, tb)
      if ok2 then got = got + drain(u, b, rb, 20) end
      if got > 0 then break end
    end
    assert.is_true(got > 0, "no traffic after the interface came back up")
    u:release(tb)
    a:close(); b:close()
    assert.equal(1024, u:free_frames())
    u:close()
    assert.is_false(xdp_on(env.ns, "veth0"))
  end)

  it("interface set down while receiving: recv returns nothing, then receives again", function()
    local env = net.veth()
    local u = umem()
    local a, b = u:socket { ifname = "veth0" }, u:socket { ifname = "veth1" }
    local tb, rb = u:batch(32), u:batch(64)
    netns.sh("ip link set dev veth1 down")
    assert.equal(0, drain(u, b, rb, 50))
    netns.sh("ip link set dev veth1 up")
    local got = 0
    for _ = 1, 50 do
      if burst(u, a, tb) then got = got + drain(u, b, rb, 20) end
      if got > 0 then break end
    end
    assert.is_true(got > 0)
    u:release(tb)
    accounted(u, 0)
    u:close()
    assert.is_false(xdp_on(env.ns, "veth0"))
    assert.is_false(xdp_on(env.ns, "veth1"))
  end)

  it("interface deleted while sending and receiving: errors name it, closing returns every frame", function()
    net.veth()
    local u = umem()
    local a, b = u:socket { ifname = "veth0" }, u:socket { ifname = "veth1" }
    local tb, rb = u:batch(32), u:batch(64)
    assert.is_true((burst(u, a, tb)))
    drain(u, b, rb, 20)
    netns.sh("ip link del dev veth0")
    local ok, err = burst(u, a, tb)
    assert.is_false(ok)
    assert.matches("send on veth0 queue 0: the interface is gone", err, 1, true)
    -- recv with a timeout comes back within it, naming the lost interface
    local t = os.time()
    local rok, rerr = pcall(b.recv, b, rb, 100)
    assert.is_false(rok)
    assert.matches("recv on veth1 queue 0: the interface is gone", rerr, 1, true)
    assert.is_true(os.time() - t <= 1)
    -- the frames of the failed burst wait on a TX ring the kernel no
    -- longer reads: flushing them names the lost interface
    assert.is_true(a:ring_state("tx").entries > 0)
    local ok2, err2 = pcall(a.flush, a, 100)
    assert.is_false(ok2, "flush returned " .. tostring(err2))
    assert.matches("flush on veth0 queue 0: the interface is gone", err2, 1, true)
    accounted(u, tb.n)
    u:release(tb)
    a:close(); b:close()
    assert.equal(1024, u:free_frames())
    u:close()
  end)

  -- A blocking recv on a socket whose interface is deleted must not wait
  -- forever.  Run in a child under `timeout`, so a hang fails this spec
  -- instead of hanging the suite.
  it("interface deleted under a blocking recv: recv(-1) returns with an error", function()
    local env = net.veth()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath
local netns = require "xsk.netns"
local xsk = require "xsk"
netns.enter(arg[1])
local u = xsk.umem { frame_count = 256, fill_size = 64 }
local s = u:socket { ifname = "veth1" }
local b = u:batch(8)
os.execute("(sleep 0.3; ip link del dev veth0) &")
local ok, err = pcall(s.recv, s, b, -1)
io.stdout:write(tostring(ok), " ", tostring(err), "\n")
u:close()
]])
    f:close()
    local p = io.popen(("timeout 5 luajit %s %s 2>&1; echo exit=$?"):format(script, env.ns))
    local out = p:read("*a")
    p:close()
    os.remove(script)
    assert.matches("exit=0", out, 1, true)
    assert.matches("false xsk.socket: recv on veth1 queue 0", out, 1, true)
  end)

  it("namespace deleted under a socket: the socket still works until closed, then nothing is left", function()
    local env = net.veth { peer = true, enter = false }
    netns.enter(env.peer_ns)
    local u = umem()
    local b = u:socket { ifname = "veth1" }
    local rb = u:batch(64)
    netns.leave()
    netns.sh("ip netns delete " .. env.peer_ns)
    -- still a socket: calls work or fail cleanly
    assert.equal(0, b:recv(rb, 20))
    assert.is_number(b:stats().rx_dropped)
    u:release(rb)
    b:close()
    assert.equal(1024, u:free_frames())
    u:close()
    collectgarbage()
    -- the namespace dies once its last reference (our socket) is gone, and
    -- takes veth1 and so the whole pair with it
    local gone = false
    for _ = 1, 100 do
      local _, out = netns.try(("ip -n %s -o link show"):format(env.ns))
      if not out:find("veth0", 1, true) then gone = true; break end
      os.execute("sleep 0.05")
    end
    assert.is_true(gone, "veth0 still exists: the deleted namespace was kept alive")
    local _, list = netns.try("ip netns list")
    assert.is_nil(list:find(env.peer_ns .. " ", 1, true))
  end)

  it("fill ring runs empty: packets are dropped and counted, then received once frames are given", function()
    net.veth()
    local u = umem()
    local a = u:socket { ifname = "veth0", rx = false }
    local b = u:socket { ifname = "veth1", auto_fill = false }
    local tb, rb = u:batch(32), u:batch(64)
    assert.equal(0, b:ring_state("fill").entries)
    for _ = 1, 4 do assert.is_true((burst(u, a, tb))) end
    assert.equal(0, drain(u, b, rb, 50))
    local st = b:stats()
    assert.is_true(st.rx_dropped + st.rx_fill_ring_empty_descs > 0, "drops were not counted")
    accounted(u, tb.n)
    -- give the fill ring frames: traffic flows again
    local fb = u:batch(16)
    u:alloc(fb, 16)
    assert.equal(16, b.fill:produce(fb))
    local got = 0
    for _ = 1, 50 do
      if burst(u, a, tb, 8) then
        local n = b:recv(rb, 20)
        got = got + n
        -- hand the frames straight back to the fill ring
        if n > 0 then assert.equal(n, b.fill:produce(rb)) end
      end
      if got >= 16 then break end
    end
    assert.is_true(got >= 16, "received only " .. got)
    u:release(tb)
    accounted(u, 0)
    u:close()
  end)

  it("TX ring full: produce takes nothing and says so, and the ring drains on a kick", function()
    net.veth()
    local u = umem()
    local a = u:socket { ifname = "veth0", rx = false, tx_size = 64 }
    local tb = u:batch(16)
    local queued = 0
    for _ = 1, 10 do
      u:alloc(tb, 16 - tb.n)
      for i = 0, tb.n - 1 do tb.f[i]:set(net.frame("tx")) end
      local n = a.tx:produce(tb)
      queued = queued + n
      if n == 0 then break end
    end
    assert.equal(64, queued)
    assert.equal(16, tb.n) -- the refused batch stays with the script
    assert.equal(64, a:ring_state("tx").entries)
    assert.equal(64, accounted(u, 16).tx)
    -- send with a full ring: kicks, and what fits goes
    local ok, err = pcall(a.send, a, tb)
    assert.is_true(ok, err)
    assert.equal(0, a:flush(1000))
    a:recycle()
    u:release(tb)
    local c = accounted(u, 0)
    assert.equal(0, c.tx)
    u:close()
  end)

  it("TX ring full on a down interface: send fails clearly, close gives the frames back", function()
    net.veth()
    local u = umem()
    local a = u:socket { ifname = "veth0", rx = false, tx_size = 32 }
    local tb = u:batch(32)
    netns.sh("ip link set dev veth0 down")
    u:alloc(tb, 32)
    for i = 0, 31 do tb.f[i]:set(net.frame("down")) end
    local ok, err = pcall(a.send, a, tb)
    assert.is_false(ok)
    assert.matches("send on veth0 queue 0: the interface is down", err, 1, true)
    assert.equal(0, tb.n) -- all 32 went onto the ring before the kick failed
    u:alloc(tb, 8)
    for i = 0, 7 do tb.f[i]:set(net.frame("down")) end
    assert.equal(0, a.tx:produce(tb))
    local okf, errf = pcall(a.flush, a, 50)
    assert.is_false(okf) -- every kick reports a down interface, flush's too
    assert.matches("flush on veth0 queue 0: the interface is down", errf, 1, true)
    accounted(u, 8)
    a:close()
    u:release(tb)
    assert.equal(1024, u:free_frames())
    u:close()
  end)

  it("a process killed with SIGKILL mid-run: a new process binds the same queues and leaves nothing", function()
    local env = net.veth { enter = false }
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath
local netns = require "xsk.netns"
local xsk = require "xsk"
local mode = arg[2]
netns.enter(arg[1])
local u = xsk.umem { frame_count = 1024, fill_size = 64, comp_size = 64 }
local a = u:socket { ifname = "veth0" }
local b = u:socket { ifname = "veth1" }
local tb, rb = u:batch(32), u:batch(64)
local pkt = ("\255\255\255\255\255\255\2\0\0\0\0\1\136\181") .. ("k"):rep(50)
local got, said = 0, false
-- "loop" runs until killed, but never past a deadline of its own
local deadline = os.time() + 30
for _ = 1, mode == "loop" and math.huge or 2000 do
  if os.time() > deadline then break end
  u:alloc(tb, 32 - tb.n)
  for i = 0, tb.n - 1 do tb.f[i]:set(pkt) end
  a:send(tb)
  got = got + b:recv(rb, 1)
  u:release(rb)
  if got >= 1000 and not said then
    io.stdout:write("ready ", got, "\n"); io.stdout:flush(); said = true
  end
end
u:release(tb)
a:close(); b:close()
io.stdout:write("clean ", got, " ", u:free_frames(), "\n")
u:close()
]])
    f:close()
    -- $$ is the shell, which exec makes the luajit process we kill
    local p = io.popen(("sh -c 'echo $$; exec luajit %s %s loop' 2>&1"):format(script, env.ns))
    local pid = tonumber(p:read("*l"))
    local ready = p:read("*l")
    assert.is_number(pid)
    assert.matches("^ready", tostring(ready))
    os.execute("kill -9 " .. pid)
    p:read("*a")
    p:close()
    -- the killed process left libxdp's program attached; a new process takes over
    local q = io.popen(("luajit %s %s once 2>&1; echo exit=$?"):format(script, env.ns))
    local out = q:read("*a")
    q:close()
    os.remove(script)
    assert.matches("ready", out, 1, true)
    assert.matches("clean %d+ 1024", out)
    assert.matches("exit=0", out, 1, true)
    -- libxdp 1.3 counts users of its default program inside the program and
    -- the killed process never gave its count back: the core sees that no
    -- AF_XDP socket is bound there any more and replaces the leftover.
    assert.is_false(xdp_on(env.ns, "veth0"), "an XDP program is still attached to veth0")
    assert.is_false(xdp_on(env.ns, "veth1"), "an XDP program is still attached to veth1")
  end)
end)
