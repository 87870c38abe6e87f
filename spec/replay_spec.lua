-- xsk-replay (examples/replay.lua): capture files sent out of an interface,
-- judged by the peer's kernel (its UDP counters) and, for timing, by the RX
-- times lua-xsk's XDP program stamps on the peer's end.  The files: a pcapng
-- dumpcap writes, and classic pcap (µs and ns) written with xsk.pcap.  The
-- tool runs as users run it, a process of its own from the checkout.
-- Timing is checked for sanity only; bench/replay_gaps.lua measures the
-- error distribution.
require "support.paths"
local shell = require "support.shell"
local net = require "support.net"
local xsk = require "xsk"
local netns = require "xsk.netns"

local XSK_IP, PEER_IP = "198.18.0.1", "198.18.0.2"

-- A fresh file name ending in ext: os.tmpname makes the file it names, so
-- it goes again before its name is used with the extension.
local function tmpfile(ext)
  local base = os.tmpname()
  os.remove(base)
  return base .. ext
end

local sh = shell.run

local mac_of = shell.mac_of

local function udp_in(ns)
  local out = sh(("ip netns exec %s cat /proc/net/snmp"):format(ns))
  local names, values
  for line in out:gmatch("[^\n]+") do
    if line:match("^Udp: %a") then names = line elseif line:match("^Udp: %d") then values = line end
  end
  local t, keys, i = {}, {}, 0
  for k in names:gmatch("%a+") do keys[#keys + 1] = k end
  for v in values:gmatch("%d+") do i = i + 1; t[keys[i + 1]] = tonumber(v) end
  return t.NoPorts + t.InDatagrams
end

-- Waits until the peer's kernel has counted `want` more datagrams than
-- `before` (or 2 s passed); returns how many it counted.
local function counted(ns, before, want)
  local n
  for _ = 1, 20 do
    n = udp_in(ns) - before
    if n >= want then break end
    os.execute("sleep 0.1")
  end
  return n
end

local function replay(env, args)
  return sh(("ip netns exec %s tools/xsk-luajit examples/replay.lua --dev %s %s"):format(env.ns, env.a, args))
end

local function veth()
  return net.veth { peer = true, enter = false, addr_a = XSK_IP .. "/24", addr_b = PEER_IP .. "/24" }
end

-- A pcap file of `n` UDP frames to the peer's port 9, frame i carrying i,
-- stamped at gaps(i) ns after the one before.
local function write_pcap(env, path, n, gaps, opts)
  local t = xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = mac_of(env.peer_ns, env.b),
    src_ip = XSK_IP, dst_ip = PEER_IP, src_port = 5000, dst_port = 9, size = 100 }
  local w = xsk.pcap.writer(path, opts)
  local unit = opts and opts.nanosecond and 1 or 1000
  local at = 1700000000 * 1e9
  for i = 1, n do
    t:set_u32(0, i)
    local buf, len = t:frame()
    local sec = math.floor(at / 1e9)
    w:write(buf, len, sec, math.floor((at - sec * 1e9) / unit))
    at = at + gaps(i)
  end
  w:close()
end

describe("xsk-replay", function()
  it("sends a pcapng dumpcap wrote, and the peer's kernel counts every datagram (--loop too)", function()
    local env = veth()
    local file = tmpfile(".pcapng")
    -- dumpcap on the peer's end records what txgen sends it
    local dump = io.popen(("ip netns exec %s timeout 20 dumpcap -q -i %s -f 'udp port 9' -a packets:40 -w %s 2>&1")
      :format(env.peer_ns, env.b, file))
    os.execute("sleep 1")
    local out, code = sh(("ip netns exec %s tools/xsk-luajit examples/txgen.lua --dev %s --src-mac 02:00:00:00:00:01 "
      .. "--dst-mac %s --src-ip %s --dst-ip %s --dst-port 9 --count 40 --size 90 --rate 400")
      :format(env.ns, env.a, mac_of(env.peer_ns, env.b), XSK_IP, PEER_IP))
    assert.are.equal(0, code, out)
    dump:close()
    local info = sh("capinfos -t -c " .. file)
    assert.truthy(info:find("pcapng", 1, true), info)
    assert.truthy(info:find("Number of packets:%s+40"), info)
    local before = udp_in(env.peer_ns)
    out, code = replay(env, "--read " .. file)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("\nreplayed 40\n$"), out)
    assert.are.equal(40, counted(env.peer_ns, before, 40))
    before = udp_in(env.peer_ns)
    out, code = replay(env, "--read " .. file .. " --loop 3 --speed 50")
    os.remove(file)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("\nreplayed 120\n$"), out)
    assert.are.equal(120, counted(env.peer_ns, before, 120))
  end)

  it("sends classic pcap (µs and ns) as fast as it can, and at a fixed rate", function()
    local env = veth()
    for _, nano in ipairs { false, true } do
      local file = tmpfile(".pcap")
      write_pcap(env, file, 200, function() return 1e9 end, { nanosecond = nano })
      local before = udp_in(env.peer_ns)
      local out, code = replay(env, "--read " .. file .. " --top")
      assert.are.equal(0, code, out)
      assert.truthy(out:find("\nreplayed 200\n$"), out)
      assert.are.equal(200, counted(env.peer_ns, before, 200))
      -- 200 at 2000 a second: a tenth of a second, whatever the 1 s gaps recorded
      before = udp_in(env.peer_ns)
      out, code = replay(env, "--read " .. file .. " --pps 2000")
      os.remove(file)
      assert.are.equal(0, code, out)
      local secs = tonumber(out:match("total  sent 200 packets, %d+ bytes in ([%d.]+) s"))
      assert.truthy(secs, out)
      assert.is_true(secs > 0.08 and secs < 0.5, out)
      assert.are.equal(200, counted(env.peer_ns, before, 200))
    end
  end)

  it("keeps the recorded gaps, scaled by --speed (the peer's RX times)", function()
    -- 201 packets, gaps alternating 0.2 ms and 2 ms: 221 ms in all.
    local env = veth()
    local file = tmpfile(".pcap")
    local function gap(i) return i % 2 == 1 and 200000 or 2000000 end
    write_pcap(env, file, 201, gap, { nanosecond = true })
    -- the peer's end: lua-xsk's program stamps each arrival
    netns.enter(env.peer_ns)
    local st = xsk.steer.open { ifname = env.b, rx_time = true }
    st:add_rule { proto = "udp", dport = 9 }
    local u = xsk.umem { frame_count = 1024, rx_metadata = true }
    local s = u:socket { ifname = env.b, tx = false, load_program = false }
    st:register(s)
    netns.leave()
    local b = u:batch(64)
    local ok, err = pcall(function()
      for _, speed in ipairs { 1, 2 } do
        local log = os.tmpname()
        os.execute(("ip netns exec %s tools/xsk-luajit examples/replay.lua --dev %s --read %s --speed %d > %s 2>&1 &")
          :format(env.ns, env.a, file, speed, log))
        local times = {}
        for _ = 1, 300 do
          local n = s:recv(b, 10)
          for i = 0, n - 1 do times[#times + 1] = b.f[i]:rx_time() end
          if n > 0 then u:release(b) end
          if #times >= 201 then break end
        end
        os.execute("sleep 0.2")
        local f = io.open(log)
        local out = f:read("*a")
        f:close()
        os.remove(log)
        assert.truthy(out:find("\nreplayed 201\n$"), out)
        assert.are.equal(201, #times)
        -- every gap as recorded / speed, the whole run within 10 %
        local errors = {}
        for i = 2, #times do errors[#errors + 1] = math.abs((times[i] - times[i - 1]) - gap(i - 1) / speed) end
        table.sort(errors)
        local span = times[#times] - times[1]
        local want = 221e6 / speed
        assert.is_true(math.abs(span - want) < 0.1 * want, ("speed %d: %.1f ms, want %.1f ms"):format(speed,
          span / 1e6, want / 1e6))
        assert.is_true(errors[100] < 100000, ("speed %d: median gap error %.1f us"):format(speed, errors[100] / 1e3))
      end
    end)
    s:close()
    u:close()
    st:close()
    os.remove(file)
    assert(ok, err)
  end)

  it("skips what cannot go out, and refuses bad arguments", function()
    local env = veth()
    local file = tmpfile(".pcap")
    local w = xsk.pcap.writer(file, { linktype = 101 }) -- raw IP: no Ethernet header
    for _ = 1, 3 do w:write(("\69"):rep(40), 40, 1, 0) end
    w:close()
    local out, code = replay(env, "--read " .. file)
    os.remove(file)
    assert.are.equal(0, code, out)
    assert.truthy(out:find("skipped 3 packets not of Ethernet", 1, true), out)
    assert.truthy(out:find("\nreplayed 0\n$"), out)
    out, code = replay(env, "--read /nonexistent.pcap")
    assert.are.equal(2, code)
    assert.are.equal("xsk-replay: option --read: cannot open /nonexistent.pcap (see --help)\n", out)
    out, code = replay(env, "--read /dev/null --top --pps 10")
    assert.are.equal(2, code)
    assert.are.equal("xsk-replay: --speed, --pps and --top go one at a time (see --help)\n", out)
  end)
end)
