-- xsk.steer and xsk.prog: our own XDP program, its rules and counters, its
-- errors, leftovers of killed processes, and sockets in its XSKMAP.
--
-- Every test builds its own namespaces (prefix xsksteer-) with a veth pair:
-- end a (198.18.0.1, 2001:db8::1) in namespace ns, which this process enters,
-- end b (198.18.0.2, 2001:db8::2) in peer_ns, where ping and senders run.
-- `finally` deletes the namespaces, which also removes any XDP program.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "lua/?.so;" .. package.cpath

local netns = require "xsk.netns"
local steer = require "xsk.steer"
local prog = require "xsk.prog"

netns.private_bpffs()

local OBJ = "bpf/xsk_steer.bpf.o"
local ETH, IP4, IP6, UDP, ICMP = 14, 20, 40, 8, 8

-- busted keeps one `finally` per test, so every test registers exactly one,
-- in pair(), and adds its other cleanups here; they run last-in first-out,
-- the namespaces last.
local cleanups
local function defer(fn) cleanups[#cleanups + 1] = fn end

local function pair(opts)
  opts = opts or {}
  cleanups = {}
  local list = cleanups
  finally(function()
    for i = #list, 1, -1 do pcall(list[i]) end
  end)
  local env = netns.setup {
    prefix = "xsksteer-", peer = true, a = "va", b = "vb", mtu = opts.mtu,
    addr_a = "198.18.0.1/24", addr_b = "198.18.0.2/24",
    addr6_a = "2001:db8::1/64", addr6_b = "2001:db8::2/64",
  }
  defer(function() env.destroy() end)
  netns.enter(env)
  return env
end

-- Runs a shell command: true when it exited 0, and its output.  (With
-- LuaJIT's Lua 5.1 semantics a popen'd file's close does not tell the exit
-- status, so it is echoed.)
local function run(cmd)
  local f = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = f:read("*a")
  f:close()
  local body, rc = out:match("^(.-)rc=(%d+)%s*$")
  return tonumber(rc) == 0, body or out
end

local function sh(cmd)
  local ok, out = run(cmd)
  if not ok then error(("command failed: %s\n%s"):format(cmd, out), 2) end
  return out
end

-- Runs a command in the peer namespace; true when it exited 0.
local function peer(env, cmd)
  return (run(("ip netns exec %s %s"):format(env.peer_ns, cmd)))
end

local function ping(env, count, extra)
  return peer(env, ("ping -q -n -c %d -i 0.05 -W 1 %s 198.18.0.1"):format(count, extra or ""))
end

-- count UDP datagrams of `size` payload bytes to addr:port, from the peer
-- (bash's /dev/udp: one socket per datagram).
local function udp(env, addr, port, count, size)
  local payload = ("x"):rep(size or 16)
  assert(peer(env, ("bash -c 'for i in $(seq %d); do printf %s > /dev/udp/%s/%d; done'")
    :format(count, payload, addr, port)))
end

-- XDP programs attached to dev in the namespace this process is in.
local function xdp_on(dev)
  local ok, out = run("ip -d link show dev " .. dev)
  return ok and out:match("prog/xdp id (%d+)") or nil
end

-- Neighbours resolved first so ARP/ND do not land in the counts.
local function warm(env)
  assert(ping(env, 1))
  peer(env, "ping -q -n -c 1 -W 1 2001:db8::1")
end

describe("xsk.steer", function()
  it("counts the packets a rule matches and lets ping through", function()
    local env = pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    assert.is_truthy(st:attached())
    assert.is_truthy(st:path() == "single" or st:path() == "dispatcher")
    assert.equals(st:id(), tonumber(xdp_on("va")))
    warm(env)

    local id = st:add_rule { proto = "icmp" }
    assert.is_true(ping(env, 5), "ping must still work: no socket at queue 0")
    local packets, bytes = st:counters(id)
    assert.equals(5, packets)
    assert.equals(5 * (ETH + IP4 + ICMP + 56), bytes)

    st:close()
    assert.is_nil(xdp_on("va"))
  end)

  it("with a rule for one UDP port, other traffic still reaches the kernel", function()
    local env = pair()
    local st = steer.open { ifname = "va", mode = "native" }
    defer(function() st:close() end)
    assert.equals("native", st:mode())
    warm(env)
    local id = st:add_rule { proto = "udp", dst = "198.18.0.0/15", dport = 5000 }
    local ranged = st:add_rule { proto = "udp", dport = { 6000, 6010 } }
    local v6 = st:add_rule { proto = "udp", dst = "2001:db8::1", dport = 7000 }
    local other_src = st:add_rule { src = "198.19.0.0/16" }
    st:reset_counters()

    udp(env, "198.18.0.1", 5000, 7, 32)
    udp(env, "198.18.0.1", 5001, 3, 32)
    udp(env, "198.18.0.1", 6005, 2, 10)
    udp(env, "198.18.0.1", 6011, 1, 10)
    udp(env, "2001:db8::1", 7000, 4, 20)
    assert.is_true(ping(env, 3))

    local p, b = st:counters(id)
    assert.equals(7, p)
    assert.equals(7 * (ETH + IP4 + UDP + 32), b)
    assert.equals(2, (st:counters(ranged)))
    p, b = st:counters(v6)
    assert.equals(4, p)
    assert.equals(4 * (ETH + IP6 + UDP + 20), b)
    assert.equals(0, (st:counters(other_src)))
    -- 3 to port 5001, 1 to 6011, 3 pings, maybe ARP/ND refreshes
    assert.is_true(st:unmatched() >= 7)
  end)

  it("lists, removes and rejects rules with clear messages", function()
    pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    local a = st:add_rule { proto = "tcp", src = "198.18.5.7/16", dport = { 80, 443 }, action = "pass" }
    local b = st:add_rule { ethertype = "ipv6", vlan = 42, dst = "2001:db8::/32" }
    local c = st:add_rule { proto = 99 }
    assert.same({ a, b, c }, { 0, 1, 2 })
    local rules = st:rules()
    assert.equals(3, #rules)
    assert.same({ id = a, proto = "tcp", src = "198.18.0.0/16", dport = { 80, 443 }, action = "pass" }, rules[1])
    assert.same({ id = b, ethertype = "ipv6", vlan = 42, dst = "2001:db8::/32", action = "redirect" }, rules[2])
    assert.same({ id = c, proto = 99, action = "redirect" }, st:rule(c))

    st:remove_rule(b)
    assert.is_nil(st:rule(b))
    assert.equals(2, #st:rules())
    assert.equals(3, st:add_rule { proto = "icmp" }) -- appended after the last, ids stay stable
    assert.has_error(function() st:remove_rule(b) end, "xsk: no rule 1 on va (errno 2: No such file or directory)")

    local function rejects(rule, pattern)
      local ok, err = pcall(st.add_rule, st, rule)
      assert.is_false(ok)
      assert.matches(pattern, err, 1, true)
    end
    rejects({ port = 80 }, "unknown rule key port (known: action, dport, dst, ethertype, proto, src, vlan)")
    rejects({ src = "198.18.0.0/33" }, "prefix length 33 is too long for IPv4")
    rejects({ dst = "2001:db8::/129" }, "prefix length 129 is too long for IPv6")
    rejects({ dst = "198.18.0.0/x" }, "bad prefix")
    rejects({ src = "not-an-address" }, "is not an IPv4 or IPv6 address")
    rejects({ src = "198.18.0.1", dst = "2001:db8::1" }, "mixes an IPv4 src")
    rejects({ dport = { 10, 5 } }, "empty range {10, 5}")
    rejects({ dport = 70000 }, "ports must be whole numbers 0-65535")
    rejects({ proto = "quic" }, "rule key proto must be")
    rejects({ vlan = 4096 }, "VLAN id 0-4095")
    rejects({ action = "mirror" }, "rule key action must be")
    rejects("udp", "a rule must be a table")
    assert.has_error(function() st:counters(64) end)
  end)

  it("fills all 64 slots, then refuses with ENOSPC and reuses a freed slot", function()
    pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    for i = 0, steer.MAX_RULES - 1 do assert.equals(i, st:add_rule { dport = 1000 + i }) end
    local ok, err = pcall(st.add_rule, st, { dport = 1 })
    assert.is_false(ok)
    assert.matches("no room for another rule", err, 1, true)
    st:remove_rule(17)
    assert.equals(17, st:add_rule { dport = 1 })
  end)

  it("the frags build attaches on a jumbo-MTU veth and counts whole packets", function()
    local env = pair { mtu = 9000 }
    local st = steer.open { ifname = "va", frags = true, mode = "native" }
    defer(function() st:close() end)
    warm(env)
    local id = st:add_rule { proto = "icmp", src = "198.18.0.2/32" }
    assert.is_true(ping(env, 3, "-s 8000"))
    local p, b = st:counters(id)
    assert.equals(3, p)
    assert.equals(3 * (ETH + IP4 + ICMP + 8000), b)
  end)
end)

describe("xsk.prog errors", function()
  it("name the file, program, map and interface", function()
    local env = pair()
    local function fails(cfg, text)
      local ok, err = pcall(prog.load, cfg)
      assert.is_false(ok)
      assert.matches(text, err, 1, true)
      assert.is_nil(xdp_on("va"))
    end
    fails({ file = "bpf/no_such.bpf.o", ifname = "va" },
      "cannot read BPF object bpf/no_such.bpf.o (errno 2: No such file or directory)")
    fails({ file = OBJ, program = "nope", ifname = "va" }, "no program 'nope' in " .. OBJ .. " (it has: xsk_steer)")
    fails({ file = OBJ, xskmap = "my_xsks", ifname = "va" },
      "no map 'my_xsks' in " .. OBJ .. " (program xsk_steer needs an XSKMAP)")
    fails({ file = OBJ, xskmap = "xsk_steer_rules", ifname = "va" }, "map 'xsk_steer_rules' in " .. OBJ .. " is not an XSKMAP")
    fails({ file = OBJ, ifname = "nosuch0" }, "interface nosuch0 not found (errno 19: No such device)")
    fails({ file = OBJ, ifname = "va", colour = "red" }, "unknown config key \"colour\"")

    -- an interface that goes away: by ifindex, and under a live program
    local idx = tonumber(sh("ip -o link show dev va"):match("(%d+): va[@:]"))
    local p = prog.load { file = OBJ, ifindex = idx }
    sh(("ip netns exec %s ip link del vb"):format(env.peer_ns))
    p:close() -- the program went with the interface: not an error
    fails({ file = OBJ, ifindex = idx }, ("interface index %d not found (interface gone?)"):format(idx))
  end)
end)

describe("leftovers", function()
  it("a leftover steering program is replaced; a foreign one is not, and xsk.prog.detach removes it", function()
    pair()
    -- what a killed process leaves behind: attached by netlink, no owner
    sh("ip link set dev va xdpdrv obj " .. OBJ .. " sec xdp")
    local old = xdp_on("va")
    assert.is_truthy(old)
    local st = steer.open { ifname = "va" }
    assert.is_truthy(xdp_on("va") ~= old)
    st:close()
    assert.is_nil(xdp_on("va"))

    sh("ip link set dev va xdpgeneric obj " .. OBJ .. " sec xdp")
    assert.equals(1, prog.detach("va", true)) -- ours: goes with ours_only

    sh("ip link set dev va xdpdrv obj /usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o sec xdp")
    local ok, err = pcall(steer.open, { ifname = "va" })
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

describe("xsk.steer with sockets", function()
  local xsk = require "xsk"
  -- Counts frames until `want` arrived or about `ms` passed (recv waits up to
  -- 20 ms a call; os.clock() is CPU time, useless as a deadline here).
  local function receive(sock, umem, want, ms)
    local b = umem:batch(64)
    local got = 0
    for _ = 1, (ms or 1000) / 20 do
      if got >= want then break end
      local n = sock:recv(b, 20)
      if n > 0 then got = got + n; umem:release(b) end
    end
    -- anything late
    local n = sock:recv(b, 50)
    if n > 0 then got = got + n; umem:release(b) end
    return got
  end

  it("redirects only what the rules match to a socket with load_program = false", function()
    local env = pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    local umem = xsk.umem { frame_count = 256 }
    defer(function() umem:close() end)
    local sock = umem:socket { ifname = "va", queue = 0, load_program = false }
    warm(env)
    local id = st:add_rule { proto = "udp", dport = 5000 }
    st:register(sock)

    udp(env, "198.18.0.1", 5000, 6, 24)
    udp(env, "198.18.0.1", 5001, 2, 24)
    assert.is_true(ping(env, 3), "ping goes to the kernel, not the socket")
    assert.equals(6, receive(sock, umem, 6))
    assert.equals(6, (st:counters(id)))

    -- unregistered: the rule still matches, packets fall back to the kernel
    st:unregister(0)
    udp(env, "198.18.0.1", 5000, 2, 24)
    assert.equals(0, receive(sock, umem, 1, 200))
    assert.equals(8, (st:counters(id)))
  end)

  it("with no rules, every packet of the queue goes to its socket", function()
    local env = pair()
    local umem = xsk.umem { frame_count = 256 }
    defer(function() umem:close() end)
    local sock = umem:socket { ifname = "va", queue = 0, load_program = false }
    local p = prog.load { file = OBJ, program = "xsk_steer", ifname = "va" }
    defer(function() p:close() end)
    p:register(sock)
    assert.is_false(ping(env, 3), "echo requests go to the socket, so ping gets no reply")
    assert.is_true(receive(sock, umem, 3) >= 3)
  end)
end)
