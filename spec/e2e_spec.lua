-- End to end: the tools a rock installs as xsk-responder, xsk-udp-echo,
-- xsk-txgen, xsk-capture and xsk-udp-sink run from the checkout
-- (tools/xsk-luajit examples/NAME.lua) as separate processes inside a
-- namespace, and the kernel stack of a peer namespace talks to them over a
-- veth pair: ping, a kernel UDP socket, the UDP counters of /proc/net/snmp
-- and tcpdump are the judges.  Needs root; run from the repo root after `make`:
--   ./spec/run spec/e2e_spec.lua
local shell = require "support.shell"
local net = require "support.net"

local XSK_IP, PEER_IP = "198.18.0.1", "198.18.0.2"

-- Runs a shell command; returns its output (stdout and stderr, or only
-- stderr with stderr_only) and whether it exited 0.
-- A fresh file name ending in ext: os.tmpname makes the file it names, so
-- it goes again before its name is used with the extension.
local function tmpfile(ext)
  local base = os.tmpname()
  os.remove(base)
  return base .. ext
end

local sh = shell.ok

local function slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  return s
end

local function sleep(s) os.execute("sleep " .. s) end

local function example(name, args)
  return ("tools/xsk-luajit examples/%s.lua %s"):format(name, args)
end

-- The command each example is installed as.
local function tool(name)
  return "xsk-" .. name:gsub("_", "-")
end

-- Every live statistics line of a tool's output: "   1.0s  ...".
local function live_lines(out)
  local t = {}
  for l in out:gmatch("[^\n]+") do
    if l:match("^ +%d+%.%ds  ") then t[#t + 1] = l end
  end
  return t
end

-- Starts an example in the background inside ns.  `timeout` bounds it even
-- if its own --duration handling broke, so no process outlives the spec;
-- the exit status lands in a file, since the shell that started it is gone.
local function start(ns, name, args)
  local job = { log = os.tmpname(), rc = os.tmpname() }
  os.remove(job.rc)
  os.execute(("(timeout -k 3 -s TERM 20 ip netns exec %s %s > %s 2>&1; echo $? > %s) &"):format(
    ns, example(name, args), job.log, job.rc))
  return job
end

-- Waits until the example's log holds `pattern` (it is ready) or it ended.
local function wait_ready(job, pattern)
  for _ = 1, 100 do
    if slurp(job.log):find(pattern) then return true end
    if io.open(job.rc) then return false end
    sleep(0.1)
  end
  return false
end

-- Waits for the example to exit; returns its exit status and log.
local function wait_exit(job)
  for _ = 1, 300 do
    local f = io.open(job.rc)
    if f then
      local code = tonumber(f:read("*a"))
      f:close()
      local log = slurp(job.log)
      os.remove(job.rc); os.remove(job.log)
      return code, log
    end
    sleep(0.1)
  end
  error("example did not exit within 30 s")
end

-- Runs fn while the example runs, then always waits for the example to end
-- before the namespaces go (busted's one `finally` belongs to net.veth).
local function with_example(job, fn)
  local ok, err = pcall(fn)
  local code, log = wait_exit(job)
  if not ok then error(tostring(err) .. "\nexample log:\n" .. log, 0) end
  return code, log
end

-- A kernel UDP client in LuaJIT (python or nc need not be installed): sends
-- one datagram and prints the reply, or exits 1 after a 2 s timeout.
local UDP_CLIENT = [[
local ffi = require "ffi"
ffi.cdef[=[
struct e2e_sin { uint16_t family, port; uint8_t addr[4]; uint8_t zero[8]; };
struct e2e_tv { long sec, usec; };
int socket(int, int, int);
int setsockopt(int, int, int, const void *, unsigned);
long sendto(int, const void *, size_t, int, const void *, unsigned);
long recv(int, void *, size_t, int);
int inet_pton(int, const char *, void *);
]=]
local C = ffi.C
local ip, port, msg = arg[1], tonumber(arg[2]), arg[3]
local fd = C.socket(2, 2, 0)                                  -- AF_INET, SOCK_DGRAM
local tv = ffi.new("struct e2e_tv", 2, 0)
C.setsockopt(fd, 1, 20, tv, ffi.sizeof(tv))                   -- SOL_SOCKET, SO_RCVTIMEO
local sa = ffi.new("struct e2e_sin")
sa.family, sa.port = 2, bit.rshift(bit.bswap(port), 16)
C.inet_pton(2, ip, sa.addr)
if C.sendto(fd, msg, #msg, 0, sa, ffi.sizeof(sa)) ~= #msg then io.stderr:write("sendto failed\n") os.exit(1) end
local buf = ffi.new("uint8_t[2048]")
local n = C.recv(fd, buf, 2048, 0)
if n < 0 then io.stderr:write("no reply\n") os.exit(1) end
io.write("reply: ", ffi.string(buf, n), "\n")
]]

-- A kernel UDP sender: `count` datagrams to ip:port, one sendto each, no
-- waiting for replies.
local UDP_SENDER = [[
local ffi = require "ffi"
ffi.cdef[=[
struct e2e_sin { uint16_t family, port; uint8_t addr[4]; uint8_t zero[8]; };
int socket(int, int, int);
long sendto(int, const void *, size_t, int, const void *, unsigned);
int inet_pton(int, const char *, void *);
]=]
local C = ffi.C
local ip, port, count = arg[1], tonumber(arg[2]), tonumber(arg[3])
local fd = C.socket(2, 2, 0)                                  -- AF_INET, SOCK_DGRAM
local sa = ffi.new("struct e2e_sin")
sa.family, sa.port = 2, bit.rshift(bit.bswap(port), 16)
C.inet_pton(2, ip, sa.addr)
for i = 1, count do
  local msg = "datagram " .. i
  if C.sendto(fd, msg, #msg, 0, sa, ffi.sizeof(sa)) ~= #msg then io.stderr:write("sendto failed\n") os.exit(1) end
end
io.write("sent ", count, "\n")
]]

-- The Udp counters of a namespace's /proc/net/snmp, by name.
local function udp_counters(ns)
  local out = sh(("ip netns exec %s cat /proc/net/snmp"):format(ns))
  local names, values
  for line in out:gmatch("[^\n]+") do
    if line:match("^Udp: %a") then names = line
    elseif line:match("^Udp: %d") then values = line end
  end
  assert(names and values, "no Udp counters in /proc/net/snmp:\n" .. out)
  local t, keys = {}, {}
  for k in names:gmatch("%a+") do keys[#keys + 1] = k end
  local i = 0
  for v in values:gmatch("%d+") do i = i + 1; t[keys[i + 1]] = tonumber(v) end
  return t
end

local mac_of = shell.mac_of

local function veth()
  return net.veth { peer = true, enter = false, addr_b = PEER_IP .. "/24" }
end

describe("examples end to end", function()
  describe("arguments", function()
    for _, name in ipairs { "responder", "udp_echo", "txgen", "capture", "udp_sink" } do
      it(name .. " --help prints usage and exits 0", function()
        local out, ok = sh(example(name, "--help"))
        assert.is_true(ok)
        assert.are.equal("Usage: " .. tool(name) .. " ", out:sub(1, #tool(name) + 8))
        assert.truthy(out:find("\n   --dev IF ", 1, true), out)
      end)
      it(name .. " rejects a bad option on stderr with a non-zero exit", function()
        local out, ok = sh(example(name, "--bogus 1"), true)
        assert.is_false(ok)
        assert.are.equal(tool(name) .. ": unknown option '--bogus' (see --help)\n", out)
      end)
    end
    it("rejects bad values", function()
      local out, ok = sh(example("responder", "--dev veth0 --ip 1.2.3"), true)
      assert.is_false(ok)
      assert.truthy(out:find("needs an IPv4 address", 1, true))
      out, ok = sh(example("txgen", "--dev veth0 --src-mac 02:00"), true)
      assert.is_false(ok)
      assert.truthy(out:find("needs a MAC address", 1, true))
      out, ok = sh(example("capture", "--dev veth0"), true)
      assert.is_false(ok)
      assert.truthy(out:find("missing option '--write'", 1, true))
      out, ok = sh(example("udp_sink", "--dev veth0 --port 0"), true)
      assert.is_false(ok)
      assert.are.equal('xsk-udp-sink: option --port needs a port number from 1 to 65535, got "0" (see --help)\n',
        out)
    end)
  end)

  it("responder answers ARP and ping from the peer's kernel", function()
    local env = veth()
    local job = start(env.ns, "responder", ("--dev %s --ip %s --duration 4"):format(env.a, XSK_IP))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "answering"), "responder did not start:\n" .. slurp(job.log))
      local out, ok = sh(("ip netns exec %s ping -c 3 -W 1 %s"):format(env.peer_ns, XSK_IP))
      assert.is_true(ok, out)
      assert.truthy(out:find("3 packets transmitted, 3 received", 1, true), out)
    end)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("3 echo replies", 1, true), log)
    -- A live line a second: what came in, what went out, real drops.
    local lines = live_lines(log)
    assert.is_true(#lines >= 2, log)
    for _, l in ipairs(lines) do
      assert.matches("^ +%d+%.%ds  rx %d+ +[%d.]+ [kM]?pps  tx %d+ +[%d.]+ [kM]?pps  drops 0$", l)
    end
    -- ARP came from the responder, not from the kernel on veth0.
    assert.truthy(log:match("[1-9]%d* ARP replies"), log)
  end)

  it("udp_echo sends a kernel socket's datagrams back unchanged", function()
    local env = veth()
    local client = os.tmpname()
    local f = assert(io.open(client, "w"))
    f:write(UDP_CLIENT)
    f:close()
    local job = start(env.ns, "udp_echo", ("--dev %s --ip %s --port 7777 --duration 4"):format(env.a, XSK_IP))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "echoing"), "udp_echo did not start:\n" .. slurp(job.log))
      for _, msg in ipairs { "hello-xsk", ("x"):rep(1000) } do
        local out, ok = sh(("ip netns exec %s luajit %s %s 7777 %s"):format(env.peer_ns, client, XSK_IP, msg))
        assert.is_true(ok, out)
        assert.are.equal("reply: " .. msg .. "\n", out)
      end
      -- Another port is not echoed.
      local out, ok = sh(("ip netns exec %s luajit %s %s 7778 other"):format(env.peer_ns, client, XSK_IP))
      assert.is_false(ok, out)
    end)
    os.remove(client)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("2 datagrams echoed", 1, true), log)
  end)

  it("txgen's datagrams are all accepted by the peer's kernel", function()
    local env = veth()
    local dst_mac = mac_of(env.peer_ns, env.b)
    assert.truthy(dst_mac)
    local function run(count, size, extra)
      local before = udp_counters(env.peer_ns)
      local out, ok = sh(("ip netns exec %s %s"):format(env.ns, example("txgen",
        ("--dev %s --src-mac 02:00:00:00:00:01 --dst-mac %s --src-ip %s --dst-ip %s --dst-port 9 "
          .. "--count %d --size %d %s"):format(env.a, dst_mac, XSK_IP, PEER_IP, count, size, extra or ""))))
      assert.is_true(ok, out)
      assert.truthy(out:find("sent " .. count .. "\n", 1, true), out)
      -- Counters update in softirq right after the frames arrive.
      local after
      for _ = 1, 20 do
        after = udp_counters(env.peer_ns)
        if after.NoPorts + after.InDatagrams - before.NoPorts - before.InDatagrams >= count then break end
        sleep(0.1)
      end
      -- Port 9 is closed, so every valid datagram counts as NoPorts.
      assert.are.equal(count, after.NoPorts - before.NoPorts)
      assert.are.equal(0, after.InCsumErrors - before.InCsumErrors)
      assert.are.equal(0, after.InErrors - before.InErrors)
      return out
    end
    run(1000, 60)
    run(500, 1514)
    -- Paced: 1500 frames at 1000 pps take about 1.5 s and print a live
    -- line: sent, rate, Mbit/s, progress and ETA, nothing about RX.
    local t0 = os.time()
    local out = run(1500, 128, "--rate 1000")
    local lines = live_lines(out)
    assert.is_true(#lines >= 1, out)
    for _, l in ipairs(lines) do
      assert.matches("^ +%d+%.%ds  sent %d+ +[%d.]+ [kM]?pps  [%d.]+ Mbit/s +%d+%%  ETA %S+$", l)
      assert.is_true(#l <= 100, l)
    end
    assert.truthy(out:find("\ntotal  sent 1500 packets, 192000 bytes in ", 1, true), out)
    assert.is_true(os.time() - t0 >= 1)
  end)

  it("txgen's ranges and size mix reach the peer's kernel frame by frame, checksums valid", function()
    local env = veth()
    local dst_mac = mac_of(env.peer_ns, env.b)
    local file = tmpfile(".pcap")
    -- tcpdump on the peer sees every frame as it arrives, before its stack.
    local tcpdump = ("tcpdump -i %s -nn -U --immediate-mode -w %s"):format(env.b, file)
    local dump = io.popen(("ip netns exec %s timeout 20 %s udp 2>&1"):format(env.peer_ns, tcpdump))
    sleep(1)
    local before = udp_counters(env.peer_ns)
    local count = 300
    local out, ok = sh(("ip netns exec %s %s"):format(env.ns, example("txgen",
      ("--dev %s --src-mac 02:00:00:00:00:01 --dst-mac %s --src-ip 198.18.0.10-198.18.0.19 --dst-ip %s "
        .. "--src-port 5000-5002 --dst-port 1000-1004 --count %d --size 64,576,1500 --rate 3000 --burst 4")
        :format(env.a, dst_mac, PEER_IP, count))))
    assert.is_true(ok, out)
    assert.truthy(out:find("sent " .. count .. "\n", 1, true), out)
    local after
    for _ = 1, 20 do
      after = udp_counters(env.peer_ns)
      if after.NoPorts - before.NoPorts >= count then break end
      sleep(0.1)
    end
    sh(("pkill -INT -f '^%s'"):format(tcpdump))
    dump:close()
    assert.are.equal(count, after.NoPorts - before.NoPorts)
    assert.are.equal(0, after.InCsumErrors - before.InCsumErrors)
    assert.are.equal(0, after.InErrors - before.InErrors)
    -- Frame k: source 198.18.0.(10 + k % 10), source port 5000 + k % 3,
    -- destination port 1000 + k % 5, size (64, 576, 1500)[k % 3 + 1].
    local text, read_ok = sh("tcpdump -r " .. file .. " -nn -e")
    os.remove(file)
    assert.is_true(read_ok, text)
    local k, sizes = 0, { 64, 576, 1500 }
    for line in text:gmatch("[^\n]+") do
      if line:find("^reading from file") then goto next end
      local len, src, sport, dport = line:match("length (%d+): ([%d.]+)%.(%d+) > [%d.]+%.(%d+):")
      assert.truthy(len, line)
      assert.are.equal(("%d 198.18.0.%d %d %d"):format(sizes[k % 3 + 1], 10 + k % 10, 5000 + k % 3, 1000 + k % 5),
        ("%s %s %s %s"):format(len, src, sport, dport))
      k = k + 1
      ::next::
    end
    assert.are.equal(count, k)
  end)

  it("capture --filter writes only the frames the filter matches", function()
    local env = veth()
    local mac = mac_of(env.ns, env.a)
    sh(("ip -n %s neigh replace %s lladdr %s dev %s"):format(env.peer_ns, XSK_IP, mac, env.b))
    local sender = os.tmpname()
    local f = assert(io.open(sender, "w"))
    f:write(UDP_SENDER)
    f:close()
    local file = tmpfile(".pcap")
    local job = start(env.ns, "capture", ("--dev %s --write %s --duration 4 --filter 'udp port 53'"):format(env.a,
      file))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "capturing"), "capture did not start:\n" .. slurp(job.log))
      for _, port in ipairs { 53, 54, 5353 } do
        local out, ok = sh(("ip netns exec %s luajit %s %s %d 4"):format(env.peer_ns, sender, XSK_IP, port))
        assert.is_true(ok, out)
      end
      sh(("ip netns exec %s ping -c 3 -i 0.2 -W 1 %s"):format(env.peer_ns, XSK_IP))
    end)
    os.remove(sender)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("\ncaptured 4\n", 1, true), log)
    assert.truthy(log:find("4 of 15 frames matched the filter", 1, true), log)
    local all, ok = sh("tcpdump -r " .. file .. " -nn 2>/dev/null")
    assert.is_true(ok, all)
    local other = sh("tcpdump -r " .. file .. " -nn 'not udp port 53' 2>/dev/null")
    os.remove(file)
    local n = 0
    for line in all:gmatch("[^\n]+") do
      n = n + 1
      assert.truthy(line:find(PEER_IP .. "%.%d+ > " .. XSK_IP .. "%.53: "), line)
    end
    assert.are.equal(4, n, all)
    assert.are.equal("", other)
  end)

  it("capture refuses a filter libpcap cannot compile", function()
    local out, ok = sh(example("capture", "--dev veth0 --write /dev/null --filter 'udp port'"), true)
    assert.is_false(ok)
    assert.are.equal('xsk-capture: option --filter: xsk.filter: cannot compile "udp port": '
      .. "can't parse filter expression: syntax error (see --help)\n", out)
  end)

  it("udp_sink counts one port's datagrams while the kernel keeps answering ping", function()
    local env = veth()
    -- With an address on veth0 its kernel answers ARP and ping: everything
    -- but UDP to the sink's port must still reach it.
    sh(("ip -n %s addr add %s/24 dev %s"):format(env.ns, XSK_IP, env.a))
    local sender = os.tmpname()
    local f = assert(io.open(sender, "w"))
    f:write(UDP_SENDER)
    f:close()
    local K, OTHER = 25, 5
    local before = udp_counters(env.ns)
    local job = start(env.ns, "udp_sink", ("--dev %s --port 9000 --duration 4"):format(env.a))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "counting"), "udp_sink did not start:\n" .. slurp(job.log))
      local out, ok = sh(("ip netns exec %s ping -c 3 -i 0.3 -W 1 %s"):format(env.peer_ns, XSK_IP))
      assert.is_true(ok, out)
      assert.truthy(out:find("3 packets transmitted, 3 received", 1, true), out)
      out, ok = sh(("ip netns exec %s luajit %s %s 9000 %d"):format(env.peer_ns, sender, XSK_IP, K))
      assert.is_true(ok, out)
      -- Another port is the kernel's: it is not counted.
      out, ok = sh(("ip netns exec %s luajit %s %s 9001 %d"):format(env.peer_ns, sender, XSK_IP, OTHER))
      assert.is_true(ok, out)
    end)
    os.remove(sender)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("\nreceived " .. K .. "\n", 1, true), log)
    for _, l in ipairs(live_lines(log)) do
      assert.matches("^ +%d+%.%ds  received %d+ +[%d.]+ [kM]?pps  [%d.]+ Mbit/s  drops 0$", l)
    end
    assert.truthy(log:find("\ntotal  received " .. K .. " packets, ", 1, true), log)
    -- Port 9001 is closed on veth0's side, so exactly the other datagrams
    -- reached its kernel (NoPorts), and none of the sink's.
    local after = udp_counters(env.ns)
    assert.are.equal(OTHER, after.NoPorts - before.NoPorts)
  end)

  it("capture writes the pinged packets to a pcap file tcpdump reads", function()
    local env = veth()
    -- Nothing answers ARP while capture holds the queue, so the peer gets a
    -- static neighbour entry and sends its echo requests straight away.
    local mac = mac_of(env.ns, env.a)
    sh(("ip -n %s neigh replace %s lladdr %s dev %s"):format(env.peer_ns, XSK_IP, mac, env.b))
    local file = tmpfile(".pcap")
    local job = start(env.ns, "capture", ("--dev %s --write %s --duration 4"):format(env.a, file))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "capturing"), "capture did not start:\n" .. slurp(job.log))
      -- No replies: the requests go to the capture, not to a stack.
      sh(("ip netns exec %s ping -c 3 -i 0.3 -W 1 %s"):format(env.peer_ns, XSK_IP))
    end)
    assert.are.equal(0, code, log)
    local n = tonumber(log:match("captured (%d+)"))
    assert.truthy(n and n >= 3, log)
    local out, ok = sh("tcpdump -r " .. file .. " -nn")
    os.remove(file)
    assert.is_true(ok, out)
    local requests = 0
    for line in out:gmatch("[^\n]+") do
      if line:find(PEER_IP .. " > " .. XSK_IP .. ": ICMP echo request", 1, true) then requests = requests + 1 end
    end
    assert.are.equal(3, requests, out)
  end)

  -- --queues: a worker per queue.  veth takes the peer's RX queue from the
  -- sender's TX queue, so what txgen's worker q sends, udp_sink's worker q
  -- receives.
  it("txgen --queues 2 sends, udp_sink --queues 2 receives, per queue and in total", function()
    local env = net.veth { peer = true, enter = false, queues = 2, addr_a = XSK_IP .. "/24",
      addr_b = PEER_IP .. "/24" }
    local dst_mac = mac_of(env.peer_ns, env.b)
    local job = start(env.peer_ns, "udp_sink", ("--dev %s --port 9000 --queues 2 --duration 5"):format(env.b))
    local sent
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "counting"), "udp_sink did not start:\n" .. slurp(job.log))
      local out, ok = sh(("ip netns exec %s %s"):format(env.ns, example("txgen",
        ("--dev %s --src-mac 02:00:00:00:00:01 --dst-mac %s --src-ip %s --dst-ip %s --dst-port 9000 "
          .. "--count 1001 --size 64 --rate 2000 --queues 2"):format(env.a, dst_mac, XSK_IP, PEER_IP))))
      assert.is_true(ok, out)
      assert.truthy(out:find("\nqueue 0: sent 501\n", 1, true), out)
      assert.truthy(out:find("\nqueue 1: sent 500\n", 1, true), out)
      assert.truthy(out:find("\nsent 1001\n", 1, true), out)
      sent = 1001
    end)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("queues 0-1", 1, true), log)
    assert.truthy(log:find("\nqueue 0: received 501, dropped 0\n", 1, true), log)
    assert.truthy(log:find("\nqueue 1: received 500, dropped 0\n", 1, true), log)
    assert.truthy(log:find("\nreceived " .. sent .. "\n", 1, true), log)
  end)

  it("udp_echo --queues 2 answers every flow, whichever queue it lands on", function()
    local env = net.veth { peer = true, enter = false, queues = 2, addr_b = PEER_IP .. "/24" }
    local client = os.tmpname()
    local f = assert(io.open(client, "w"))
    f:write(UDP_CLIENT)
    f:close()
    local job = start(env.ns, "udp_echo", ("--dev %s --ip %s --port 7777 --queues 2 --duration 6"):format(env.a,
      XSK_IP))
    local code, log = with_example(job, function()
      assert.is_true(wait_ready(job, "echoing"), "udp_echo did not start:\n" .. slurp(job.log))
      -- A socket per datagram: each is a flow of its own, hashed onto a queue.
      for i = 1, 8 do
        local out, ok = sh(("ip netns exec %s luajit %s %s 7777 flow%d"):format(env.peer_ns, client, XSK_IP, i))
        assert.is_true(ok, out)
        assert.truthy(out:find("reply: flow" .. i, 1, true), out)
      end
    end)
    os.remove(client)
    assert.are.equal(0, code, log)
    assert.truthy(log:find("\nqueue 0: %d+ ARP replies, %d+ datagrams echoed\n"), log)
    assert.truthy(log:find("\nqueue 1: %d+ ARP replies, %d+ datagrams echoed\n"), log)
    assert.truthy(log:find("8 datagrams echoed\n", 1, true), log)
  end)
end)
