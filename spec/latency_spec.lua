-- xsk-latency (examples/latency.lua) against a UDP echo on the peer's end of
-- a veth pair: the peer's kernel with tools/udp_reflect.lua (a kernel
-- socket), whose faults to order (drop, duplicate, swap, hold back) the
-- tool must count exactly; and xsk-udp-echo.  The tool runs as users run
-- it, a process of its own from the checkout.  Needs root.
--
-- The reflector runs under SCHED_FIFO (chrt): the round trip then measures
-- the path, not how long a loaded machine takes to wake a user process.
require "support.paths"
local shell = require "support.shell"
local net = require "support.net"

local XSK_IP, PEER_IP = "198.18.0.1", "198.18.0.2"

local sh = shell.run

local mac_of = shell.mac_of

-- Waits up to 5 s for the log file to contain `word`; returns what it holds.
local function log_when(log, word)
  local s = ""
  for _ = 1, 50 do
    local f = io.open(log)
    s = f and f:read("*a") or ""
    if f then f:close() end
    if s:find(word, 1, true) then break end
    os.execute("sleep 0.1")
  end
  return s
end

-- Starts a reflector in the peer namespace; returns a function that stops
-- it and returns its output.
local function reflector(env, port, faults)
  local log = os.tmpname()
  local cmd = ("luajit tools/udp_reflect.lua --port %d --duration 30 %s"):format(port, faults or "")
  os.execute(("ip netns exec %s timeout -s TERM 40 chrt -f 10 %s > %s 2>&1 &"):format(env.peer_ns, cmd, log))
  log_when(log, "echoing")
  return function()
    -- Not anchored at "luajit": make asan's luajit is a wrapper that runs
    -- /usr/bin/luajit -e ... tools/udp_reflect.lua.  "[t]" keeps the pattern
    -- from matching the shell that runs pkill.
    sh(("pkill -TERM -f '[t]ools/udp_reflect.lua --port %d '"):format(port))
    local s = log_when(log, "udp_reflect: received")
    os.remove(log)
    return s
  end
end

local function latency(env, port, args)
  return sh(("ip netns exec %s tools/xsk-luajit examples/latency.lua --dev %s --src-mac %s --dst-mac %s "
    .. "--src-ip %s --dst-ip %s --dst-port %d %s"):format(env.ns, env.a, mac_of(env.ns, env.a),
    mac_of(env.peer_ns, env.b), XSK_IP, PEER_IP, port, args))
end

-- The numbers of the tool's last two lines.
local function summary(out)
  local r = {}
  r.duplicate, r.reordered, r.late, r.unmatched, r.unstamped = out:match(
    "\nreplies: duplicate (%d+) reordered (%d+) late (%d+) unmatched (%d+) without RX time (%d+)\n")
  local p50, p90, p99, max
  r.sent, r.received, r.lost, p50, p90, p99, max = out:match(
    "\nlatency: sent (%d+) received (%d+) lost (%d+) p50 (%S+) us p90 (%S+) us p99 (%S+) us max (%S+) us\n$")
  assert(r.sent and r.duplicate, "no summary in:\n" .. out)
  for k, v in pairs(r) do r[k] = tonumber(v) end
  r.p50, r.p90, r.p99, r.max = tonumber(p50), tonumber(p90), tonumber(p99), tonumber(max)
  return r
end

local function veth()
  return net.veth { peer = true, enter = false, addr_a = XSK_IP .. "/24", addr_b = PEER_IP .. "/24" }
end

describe("xsk-latency", function()
  it("against the peer kernel's UDP echo: nothing lost, round trips above 0 and below 10 ms", function()
    local env = veth()
    local stop = reflector(env, 7001)
    local csv = os.tmpname()
    local out, code = latency(env, 7001, "--count 500 --rate 1000 --csv " .. csv)
    local log = stop()
    assert.are.equal(0, code, out)
    local r = summary(out)
    assert.are.same({ 500, 500, 0 }, { r.sent, r.received, r.lost }, out)
    assert.are.same({ 0, 0, 0, 0, 0 }, { r.duplicate, r.reordered, r.late, r.unmatched, r.unstamped }, out)
    assert.is_true(r.p50 > 0 and r.p50 <= r.p90 and r.p90 <= r.p99 and r.p99 <= r.max, out)
    assert.is_true(r.max < 10000, "max round trip " .. r.max .. " us\n" .. out)
    assert.truthy(log:find("udp_reflect: received 500 echoed 500 ", 1, true), log)
    -- the histogram: rows of "value |bars count (cumulative %)", the last at 100 %
    assert.truthy(out:find(" |#+ +%d+ %(100%.0%%%)\n"), out)
    -- one CSV line a probe, each answered, its round trip the one counted
    local f = assert(io.open(csv))
    local header = f:read("*l")
    local n, seen_max = 0, 0
    for line in f:lines() do
      local seq, tx, rtt, status = line:match("^(%d+),(%d+),(%d+),(%a+)$")
      assert.truthy(seq, line)
      assert.are.equal(n, tonumber(seq))
      assert.are.equal("ok", status)
      assert.is_true(tonumber(tx) > 0)
      seen_max = math.max(seen_max, tonumber(rtt))
      n = n + 1
    end
    f:close()
    os.remove(csv)
    assert.are.equal("seq,tx_ns,rtt_ns,status", header)
    assert.are.equal(500, n)
    assert.is_true(math.abs(seen_max / 1e3 - r.max) < 0.1, ("CSV max %d ns, summary max %s us"):format(seen_max, r.max))
  end)

  it("counts induced loss, duplicates, reordering and late replies exactly, matching none wrongly", function()
    -- Datagram i (from 1) at the reflector: dropped when i % 10 == 3, sent
    -- twice when i % 10 == 5, sent after the next one when i % 10 == 7,
    -- held 300 ms (past the 100 ms timeout) when i % 50 == 20.  Of 300:
    -- 30 dropped, 30 duplicated, 30 reordered, 6 late.
    local env = veth()
    local stop = reflector(env, 7002, "--drop 10:3 --dup 10:5 --swap 10:7 --late 50:20 --late-ms 300")
    local csv = os.tmpname()
    local out, code = latency(env, 7002, "--count 300 --rate 500 --timeout 100 --wait 1000 --csv " .. csv)
    local log = stop()
    assert.are.equal(0, code, out)
    assert.truthy(log:find("dropped 30 duplicated 30 swapped 30 late 6", 1, true), log)
    local r = summary(out)
    assert.are.same({ sent = 300, received = 264, lost = 36, duplicate = 30, reordered = 30, late = 6,
      unmatched = 0, unstamped = 0 }, { sent = r.sent, received = r.received, lost = r.lost,
      duplicate = r.duplicate, reordered = r.reordered, late = r.late, unmatched = r.unmatched,
      unstamped = r.unstamped }, out)
    -- which probes: dropped ones lost, held ones late, the rest answered
    local f = assert(io.open(csv))
    f:read("*l")
    for line in f:lines() do
      local seq, status = line:match("^(%d+),%d+,%d*,(%a+)$")
      local i = tonumber(seq) + 1
      local want = i % 10 == 3 and "lost" or i % 50 == 20 and "late" or "ok"
      assert.are.equal(want, status, line)
    end
    f:close()
    os.remove(csv)
  end)

  it("against xsk-udp-echo on the peer's end", function()
    local env = veth()
    local log = os.tmpname()
    os.execute(("ip netns exec %s timeout -s TERM 30 tools/xsk-luajit examples/udp_echo.lua --dev %s --ip %s "
      .. "--port 7003 --duration 8 > %s 2>&1 &"):format(env.peer_ns, env.b, PEER_IP, log))
    log_when(log, "echoing")
    local out, code = latency(env, 7003, "--count 200 --rate 1000")
    assert.are.equal(0, code, out)
    local r = summary(out)
    assert.are.same({ 200, 200, 0 }, { r.sent, r.received, r.lost }, out)
    sh(("pkill -TERM -f '[e]xamples/udp_echo.lua --dev %s --ip %s --port 7003'"):format(env.b, PEER_IP))
    log_when(log, "datagrams echoed")
    os.remove(log)
  end)

  it("refuses bad arguments", function()
    local out, code = sh("tools/xsk-luajit examples/latency.lua --dev x --src-mac 02:00:00:00:00:01 "
      .. "--dst-mac 02:00:00:00:00:02 --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 7 --count 1 --size 50")
    assert.are.equal(2, code)
    assert.are.equal("xsk-latency: option --size needs 62 bytes or more, got 50 (see --help)\n", out)
    out, code = sh("tools/xsk-luajit examples/latency.lua --dev x --count 1")
    assert.are.equal(2, code)
    assert.truthy(out:find("missing option", 1, true), out)
  end)
end)
