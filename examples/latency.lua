#!/usr/bin/env luajit
-- latency (installed as xsk-latency): round-trip times of UDP probes to a
-- reflector (a UDP echo: the peer's kernel with tools/udp_reflect.lua, or
-- xsk-udp-echo), from the time the core handed each probe to the kernel
-- (sock:tx_time()) to the time lua-xsk's XDP program met its reply
-- (f:rx_time()): both CLOCK_MONOTONIC, neither waiting for Lua.
--
--   sudo ip netns exec NS xsk-latency --dev veth0 --src-mac M --dst-mac M \
--     --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --dst-port 7 --count 10000 --rate 1000
--
-- Each probe carries a magic word, a run id, its sequence number and the
-- time it was stamped; a reply is matched only when all four are its
-- probe's, so replies of another run or another sender are never taken for
-- ours.  Replies to a probe already answered are duplicates, replies that
-- come after one to a later probe are reordered, replies later than
-- --timeout are late (and their probe lost): each is counted, none is
-- matched twice.
local ffi = require "ffi"
local cli = require "xsk.cli"

local BURST = 64
local HDR = 14 + 20 + 8 -- Ethernet, IPv4, UDP
local PAYLOAD = 20      -- magic, run id, sequence number, stamp time (2 x 32 bits)
local MAGIC = 0x58534b4c -- "XSKL"
local MAX_COUNT = 10000000 -- 24 bytes of bookkeeping a probe

local p = cli.parser("xsk-latency", [[
Sends N UDP probes from interface IF to a UDP echo at B:P (through an
AF_XDP socket, paced to PPS probes a second) and measures each round trip:
from the moment the probe was handed to the kernel to the moment lua-xsk's
XDP program saw the reply arrive (RX metadata, CLOCK_MONOTONIC).  Only
replies to A's port --src-port go to the socket (xsk.steer); ARP and
everything else stay with the kernel, so A must be IF's address.  Prints a
histogram of the round trips, the duplicate, reordered, late and unmatched
replies, and ends with "latency: sent N received N lost N p50 X us p90 X us
p99 X us max X us".  Needs root.  Ctrl-C, SIGTERM or --duration stop it
early (it still waits for the replies in flight and prints the summary).]], [[
Exit status: 0 when every probe was sent (lost replies are a result, not an
error), 1 on errors or an early stop, 2 on bad arguments.]])
cli.dev_options(p)
cli.option(p, "--src-mac", "source MAC address (IF's)", "mac"):argname("M"):count(1)
cli.option(p, "--dst-mac", "destination MAC: the reflector's, or the next hop's", "mac"):argname("M"):count(1)
cli.option(p, "--src-ip", "source IPv4 address: IF's, where the replies come back", "ip4"):argname("A"):count(1)
cli.option(p, "--dst-ip", "the reflector's IPv4 address", "ip4"):argname("B"):count(1)
cli.option(p, "--src-port", "source UDP port, where the replies come back", "port", 40000):argname("P")
cli.option(p, "--dst-port", "the reflector's UDP port", "port"):argname("P"):count(1)
cli.option(p, "--count", "probes to send", "count"):argname("N"):count(1)
cli.option(p, "--rate", "probes a second", "count", 1000):argname("PPS")
cli.option(p, "--size", ("frame size in bytes, %d and up (fit the MTU)"):format(HDR + PAYLOAD), "count", 64)
  :argname("S")
cli.option(p, "--csv", "write one line per probe: seq,tx_ns,rtt_ns,status", "string"):argname("FILE")
cli.option(p, "--timeout", "a reply later than this is late, its probe lost (ms)", "count", 1000):argname("MS")
cli.option(p, "--wait", "after the last probe, wait this long for replies (ms; default: --timeout)", "count")
  :argname("MS")

local function check(o)
  if o.size < HDR + PAYLOAD then
    cli.usage_error("option --size needs %d bytes or more, got %d", HDR + PAYLOAD, o.size)
  end
  if o.count > MAX_COUNT then cli.usage_error("option --count: at most %d probes", MAX_COUNT) end
end

local state = {}
local cleanup = cli.closer(state, { "sock", "umem", "steer" })

local function main(o)
  local xsk = require "xsk"
  local clock, pace, hist, headers = xsk.clock, xsk.pace, xsk.hist, xsk.headers
  local ntohl, parse = headers.ntohl, headers.parse
  local u32p = ffi.typeof("const uint32_t *")
  local floor, min = math.floor, math.min

  xsk.netns.private_bpffs()
  state.steer = xsk.steer.open { ifname = o.dev, rx_time = true }
  state.steer:add_rule { proto = "udp", dst = o.src_ip, dport = o.src_port }
  state.umem = xsk.umem { frame_count = 4096, rx_metadata = true }
  local umem = state.umem
  if o.size > umem.max_packet then cli.usage_error("option --size: at most %d bytes", umem.max_packet) end
  state.sock = umem:socket { ifname = o.dev, queue = o.queue, load_program = false, tx_time = true }
  local sock = state.sock
  state.steer:register(sock)

  local t = xsk.template.new {
    src_mac = o.src_mac, dst_mac = o.dst_mac, src_ip = o.src_ip, dst_ip = o.dst_ip,
    src_port = o.src_port, dst_port = o.dst_port, size = o.size,
  }
  local run_id = floor(clock.now() % 4294967296)
  t:set_u32(0, MAGIC)
  t:set_u32(4, run_id)

  local count, timeout_ns = o.count, o.timeout * 1e6
  local tx_ns = ffi.new("double[?]", count)    -- when the core handed probe i to the kernel
  local stamp = ffi.new("double[?]", count)    -- the time written into probe i
  local rtt_ns = ffi.new("double[?]", count)
  local status = ffi.new("uint8_t[?]", count)  -- 0 no reply yet, 1 answered, 2 answered late
  local h = hist.new()
  local counts = { received = 0, duplicate = 0, reordered = 0, late = 0, unmatched = 0, unstamped = 0 }
  local highest = -1

  print(("xsk-latency: %d probes of %d bytes to %s:%d at %d a second from %s (%s mode)"):format(
    count, o.size, o.dst_ip, o.dst_port, o.rate, o.dev, state.steer:mode()))
  io.stdout:flush()

  local res = headers.result()
  -- One reply: matched to its probe by magic, run id, sequence number and
  -- stamp, or counted as unmatched.
  local function reply(f, sent)
    if not parse(f.data, f.len, res) or res.udp == nil or res.payload_len < PAYLOAD then
      counts.unmatched = counts.unmatched + 1
      return
    end
    local w = ffi.cast(u32p, f.data + res.payload_off)
    local seq = ntohl(w[2])
    if ntohl(w[0]) ~= MAGIC or ntohl(w[1]) ~= run_id or seq >= sent
        or stamp[seq] ~= ntohl(w[3]) * 4294967296 + ntohl(w[4]) then
      counts.unmatched = counts.unmatched + 1
      return
    end
    local rx = f:rx_time()
    if not rx then
      -- no RX metadata (another program on the way?): the time we see it
      counts.unstamped = counts.unstamped + 1
      rx = clock.now()
    end
    if status[seq] ~= 0 then
      counts.duplicate = counts.duplicate + 1
      return
    end
    local rtt = rx - tx_ns[seq]
    rtt_ns[seq] = rtt
    if rtt > timeout_ns then
      status[seq] = 2
      counts.late = counts.late + 1
      return
    end
    status[seq] = 1
    counts.received = counts.received + 1
    h:record(rtt)
    if seq < highest then counts.reordered = counts.reordered + 1 else highest = seq end
  end

  local b, rb = umem:batch(BURST), umem:batch(64)
  local st = cli.stats { rx = true, tx = true, total = count, sockets = { sock } }
  local pc = pace.new { pps = o.rate }
  local now, stop_requested = cli.now, cli.stop_requested
  local deadline = o.duration and now() + o.duration or math.huge
  local sent, stopped = 0, false

  local function drain(wait_ms)
    local n = sock:recv(rb, wait_ms)
    local bytes = 0
    for i = 0, n - 1 do
      local f = rb.f[i]
      bytes = bytes + f.len
      reply(f, sent)
    end
    if n > 0 then umem:release(rb) end
    st:add_rx(n, bytes)
    return n
  end

  while sent < count do
    local t_now = now()
    if t_now >= deadline or stop_requested() then stopped = true break end
    local want = pc:wait(min(BURST, count - sent))
    local got = umem:alloc(b, want)
    if got < want then pc:refund(want - got) end
    for k = 0, got - 1 do
      local seq = sent + k
      local s = clock.now()
      stamp[seq] = s
      t:set_u32(8, seq)
      t:set_u32(12, floor(s / 4294967296))
      t:set_u32(16, s % 4294967296)
      t:fill_batch(b, 1, k)
    end
    -- Probes go in order; each send's frames share its tx_time.
    while b.n > 0 do
      local m = sock:send(b)
      if m > 0 then
        local kick = sock:tx_time()
        for seq = sent, sent + m - 1 do tx_ns[seq] = kick end
        sent = sent + m
        st:add_tx(m, m * o.size)
      else
        sock:poll(1, "out")
      end
    end
    drain(0)
    st:tick(t_now)
  end

  -- The replies still in flight: until every probe is answered, or the wait is over.
  local wait_until = now() + (o.wait or o.timeout) / 1e3
  while counts.received + counts.late < sent and now() < wait_until do
    drain(10)
    st:tick(now())
    if stop_requested() then break end
  end
  drain(0)
  sock:flush(1000)
  st:end_line()

  if o.csv then
    local f = assert(io.open(o.csv, "w"))
    f:write("seq,tx_ns,rtt_ns,status\n")
    local names = { [0] = "lost", "ok", "late" }
    for seq = 0, sent - 1 do
      local s = status[seq]
      f:write(("%d,%.0f,%s,%s\n"):format(seq, tx_ns[seq], s == 0 and "" or ("%.0f"):format(rtt_ns[seq]), names[s]))
    end
    assert(f:close())
  end

  local received = counts.received
  if received > 0 then
    io.write(h:plot { rows = 12, width = 40 })
  end
  print(("replies: duplicate %d reordered %d late %d unmatched %d without RX time %d"):format(counts.duplicate,
    counts.reordered, counts.late, counts.unmatched, counts.unstamped))
  local function us(v) return v and ("%.1f"):format(v / 1e3) or "-" end
  print(("latency: sent %d received %d lost %d p50 %s us p90 %s us p99 %s us max %s us"):format(sent, received,
    sent - received, us(h:percentile(50)), us(h:percentile(90)), us(h:percentile(99)), us(h:max())))
  if stopped and sent < count then return false, ("stopped early: %d of %d probes sent"):format(sent, count) end
end

cli.run(p, main, cleanup, check)
