-- Multi-buffer (XDP_USE_SG): packets larger than a frame, on a 9000-MTU veth,
-- travel as runs of descriptors, all but the last with XDP_PKT_CONTD.
--
-- Each test builds its own namespace (net.veth, both ends in it) and attaches
-- the frags build of the steering program on both ends: a receiving end needs
-- it to see packets larger than a page, and with no rules it redirects every
-- packet of the queue to the socket registered there.
local xsk = require "xsk"
local net = require "support.net"
local steer = require "xsk.steer"
local ffi = require "ffi"

local LEN = 9000
local CONTD = xsk.XDP_PKT_CONTD

-- A LEN-byte Ethernet frame whose bytes depend on seed.
local function packet(seed, len)
  local t = {}
  for i = 1, (len or LEN) - 14 do t[i] = string.char((i * 7 + seed * 13) % 256) end
  return net.frame(table.concat(t))
end

-- Both ends, each with a frags program and a multi-buffer socket registered
-- in it.  Returns side[1] (veth0) and side[2] (veth1): { u, sock, st }.
local function setup(sock_opts)
  net.veth { mtu = 9000 }
  local sides = {}
  for i, dev in ipairs { "veth0", "veth1" } do
    local st = steer.open { ifname = dev, frags = true, mode = "native" }
    local u = xsk.umem { frame_count = 256, fill_size = 64, comp_size = 64 }
    local cfg = { ifname = dev, multi_buffer = true, load_program = false }
    for k, v in pairs(sock_opts or {}) do cfg[k] = v end
    local sock = u:socket(cfg)
    st:register(sock)
    sides[i] = { u = u, sock = sock, st = st, dev = dev }
  end
  return sides[1], sides[2]
end

local function teardown(...)
  for _, side in ipairs { ... } do
    side.u:close()
    side.st:close()
  end
end

-- Sends one packet from side a; returns its frame count.
local function send(a, str)
  local b = a.u:batch(16)
  local first, count = b:put_packet(a.u, str)
  assert.equals(0, first)
  for _ = 1, 50 do
    a.sock:send(b)
    if b.n == 0 then break end
  end
  assert.equals(0, b.n)
  assert.equals(0, a.sock:flush())
  return count
end

-- Receives up to `want` packets on side r: { str, count, len } each.
local function receive(r, want, bsize)
  local b = r.u:batch(bsize or 16)
  local got = {}
  for _ = 1, 100 do
    local n = r.sock:recv(b, 20)
    if n > 0 then
      for i, count, len in b:packets() do
        got[#got + 1] = { str = b:packet_string(i), count = count, len = len }
      end
      r.u:release(b)
    end
    if #got >= want then break end
  end
  return got
end

describe("multi-buffer (jumbo frames)", function()
  it("carries 9000-byte packets intact both ways, each as one packet of ceil(len / max_packet) frames", function()
    local a, b = setup()
    local descs = math.ceil(LEN / a.u.max_packet)
    assert.is_true(descs > 1)
    for _, dir in ipairs { { a, b, 1 }, { b, a, 2 } } do
      local from, to, seed = dir[1], dir[2], dir[3]
      local sent = {}
      for k = 1, 3 do
        sent[k] = packet(seed * 10 + k)
        assert.equals(descs, send(from, sent[k]))
      end
      local got = receive(to, 3)
      assert.equals(3, #got, ("%s -> %s"):format(from.dev, to.dev))
      for k = 1, 3 do
        assert.equals(descs, got[k].count)
        assert.equals(LEN, got[k].len)
        assert.is_true(got[k].str == sent[k], ("packet %d %s -> %s differs"):format(k, from.dev, to.dev))
      end
    end
    -- copy_packet gathers the segments; the frames of a received packet
    -- are the script's until released
    send(a, packet(7))
    local rb = b.u:batch(8)
    for _ = 1, 50 do
      if b.sock:recv(rb, 20) > 0 then break end
    end
    assert.equals(descs, rb.n)
    local i, count, len = rb:packet(0)
    assert.same({ 0, descs, LEN }, { i, count, len })
    for k = 0, descs - 1 do
      assert.equals("user", b.u:owner(rb.f[k].addr))
      assert.equals(k < descs - 1 and CONTD or 0, rb.f[k].options)
    end
    local buf = ffi.new("uint8_t[?]", LEN)
    assert.equals(LEN, (rb:copy_packet(0, buf, LEN)))
    assert.is_true(ffi.string(buf, LEN) == packet(7))
    assert.has_error(function() rb:copy_packet(0, buf, LEN - 1) end,
      "xsk.batch: copy_packet: the packet at frame 0 is 9000 bytes, more than the 8999 bytes of room")
    b.u:release(rb)
    for _, side in ipairs { a, b } do
      side.sock:recycle()
      local seen = { pool = 0, fill = 0, user = 0, tx = 0 }
      for k = 0, side.u.frame_count - 1 do
        local o = side.u:owner(k * side.u.frame_size)
        seen[o] = seen[o] + 1
      end
      assert.equals(0, seen.user)
      assert.equals(0, seen.tx)
      assert.equals(side.u.frame_count, seen.pool + seen.fill)
      assert.equals(seen.pool, side.u:free_frames())
    end
    teardown(a, b)
  end)

  it("a batch with less room than a packet's frames errors, and the packet is not lost or split", function()
    local a, b = setup()
    local descs = math.ceil(LEN / a.u.max_packet)
    send(a, packet(3))
    local small = b.u:batch(descs - 1)
    local ok, err
    for _ = 1, 50 do
      ok, err = pcall(b.sock.recv, b.sock, small, 20)
      if not ok then break end
      assert.equals(0, small.n)
    end
    assert.is_false(ok)
    assert.matches(("recv on veth1 queue 0: the next packet has %d descriptors %%(multi%%-buffer%%) but the batch " ..
      "has room for only %d"):format(descs, descs - 1), err)
    assert.matches("errno 90", err)
    assert.equals(0, small.n)
    -- the ring level says the same for a max below the packet's frames
    local big = b.u:batch(16)
    assert.has_error(function() b.sock.rx:consume(big, descs - 1) end)
    assert.equals(0, big.n)
    -- a batch with room gets the whole packet
    local got = receive(b, 1)
    assert.equals(1, #got)
    assert.equals(descs, got[1].count)
    assert.is_true(got[1].str == packet(3))
    -- two packets into room for one and a half: whole packets only
    send(a, packet(4))
    send(a, packet(5))
    local mid = b.u:batch(descs + 1)
    local n = 0
    for _ = 1, 50 do
      n = b.sock:recv(mid, 20)
      if n > 0 then break end
    end
    assert.equals(descs, n)
    assert.is_true(mid:packet_string(0) == packet(4))
    b.u:release(mid)
    got = receive(b, 1)
    assert.equals(1, #got)
    assert.is_true(got[1].str == packet(5))
    teardown(a, b)
  end)

  it("a batch that ends in the middle of a packet errors and sends nothing", function()
    local a, b = setup()
    local tb = a.u:batch(8)
    local first, count = tb:put_packet(a.u, packet(1))
    tb.f[first + count - 1].options = CONTD
    assert.has_error(function() a.sock:send(tb) end,
      ("xsk.socket: send on veth0 queue 0: the batch ends in the middle of a packet: its last frame %d (addr 0x%x) " ..
        "has XDP_PKT_CONTD set; clear it on a packet's last frame (errno 22: Invalid argument)")
        :format(count - 1, tonumber(tb.f[count - 1].addr)))
    assert.has_error(function() a.sock.tx:produce(tb) end)
    assert.equals(count, tb.n)
    for k = 0, count - 1 do assert.equals("user", a.u:owner(tb.f[k].addr)) end
    assert.has_error(function() tb:packet(0) end,
      ("xsk.batch: the packet at frame 0 runs past the batch's end: its last frame %d has XDP_PKT_CONTD set")
        :format(count - 1))
    -- fixed, it goes (ring level, all or nothing)
    tb.f[count - 1].options = 0
    assert.equals(count, a.sock.tx:produce_and_wakeup(tb))
    assert.equals(0, tb.n)
    assert.equals(0, a.sock:flush())
    local got = receive(b, 1)
    assert.equals(1, #got)
    assert.is_true(got[1].str == packet(1))
    teardown(a, b)
  end)

  it("send keeps a packet's frames together when the TX ring has room for only part of the batch", function()
    local a, b = setup { tx_size = 4 }
    local descs = math.ceil(LEN / a.u.max_packet)
    assert.equals(3, descs) -- the ring of 4 holds one packet, not two
    local tb = a.u:batch(8)
    tb:put_packet(a.u, packet(1))
    tb:put_packet(a.u, packet(2))
    local sent = a.sock:send(tb)
    assert.equals(descs, sent)
    assert.equals(descs, tb.n)
    assert.same({ 0, descs, LEN }, { tb:packet(0) })
    for _ = 1, 50 do
      a.sock:send(tb)
      if tb.n == 0 then break end
    end
    assert.equals(0, tb.n)
    a.sock:flush()
    local got = receive(b, 2)
    assert.equals(2, #got)
    assert.is_true(got[1].str == packet(1))
    assert.is_true(got[2].str == packet(2))
    -- a packet longer than the whole ring can never go
    local huge = a.u:batch(8)
    local _, count = huge:put_packet(a.u, packet(9, 5 * a.u.max_packet))
    assert.equals(5, count)
    assert.has_error(function() a.sock:send(huge) end,
      "xsk.socket: send on veth0 queue 0: the first packet of the batch has 5 descriptors, more than the "
      .. "TX ring's 4 " ..
      "entries (errno 90: Message too long)")
    a.u:release(huge)
    teardown(a, b)
  end)

  -- Copy mode builds one skb per packet: its first frame in the linear part,
  -- every further frame in a page fragment, so MAX_SKB_FRAGS + 1 frames at
  -- most.  The kernel drops a longer packet whole (xsk_build_skb: EOVERFLOW).
  local function max_skb_frags()
    for _, cmd in ipairs { "zcat /proc/config.gz 2>/dev/null", "cat /boot/config-$(uname -r) 2>/dev/null" } do
      local p = io.popen(cmd)
      local n = p:read("*a"):match("\nCONFIG_MAX_SKB_FRAGS=(%d+)")
      p:close()
      if n then return tonumber(n) end
    end
    return 17 -- the kernel's default when the configuration cannot be read
  end

  -- Appends one packet of `count` small frames to tb (allocated from side
  -- a's UMEM); returns its bytes.
  local function put_frames(a, tb, count, tag)
    local first = tb.n
    assert.equal(count, a.u:alloc(tb, count))
    local parts = {}
    for k = 0, count - 1 do
      local f = tb.f[first + k]
      parts[k + 1] = k == 0 and net.frame(tag) or ("%-10s"):format(tag .. " " .. k):sub(1, 10)
      f:set(parts[k + 1])
      f.options = k < count - 1 and CONTD or 0
    end
    return table.concat(parts)
  end

  it("copy mode sends a packet of MAX_SKB_FRAGS + 1 frames and drops a longer one whole: counted, every frame back",
    function()
      local a, b = setup()
      local limit = max_skb_frags() + 1
      local tb = a.u:batch(64)
      local whole = put_frames(a, tb, limit, "whole")
      assert.equal(limit, a.sock:send(tb))
      assert.equal(0, a.sock:flush())
      local got = receive(b, 1)
      assert.equal(1, #got)
      assert.is_true(got[1].str == whole, "the longest packet copy mode takes arrived changed")
      assert.equal(0, a.sock:stats().tx_invalid_descs)

      -- one frame more: the kernel counts all its descriptors invalid and
      -- completes them, so every frame comes back; nothing of it goes out
      local free = a.u:free_frames()
      put_frames(a, tb, limit + 1, "too long")
      assert.equal(limit + 1, a.sock:send(tb))
      assert.equal(0, a.sock:flush())
      a.sock:recycle()
      assert.equal(limit + 1, a.sock:stats().tx_invalid_descs)
      assert.equal(free, a.u:free_frames())
      for k = 0, a.u.frame_count - 1 do assert.not_equal("tx", a.u:owner(k * a.u.frame_size)) end
      -- and the socket goes on: the next packet is the only one to arrive
      local after = put_frames(a, tb, 2, "after")
      assert.equal(2, a.sock:send(tb))
      got = receive(b, 2)
      assert.equal(1, #got)
      assert.is_true(got[1].str == after, "the packet after the dropped one arrived changed")
      teardown(a, b)
    end)

  it("refuses multi_buffer with libxdp's program, and XDP_PKT_CONTD on a socket without multi_buffer", function()
    local u = xsk.umem { frame_count = 64 }
    assert.has_error(function() u:socket { ifname = "lo", multi_buffer = true } end,
      "xsk.socket: lo queue 0: multi_buffer needs an XDP program built for frags, and libxdp's default program " ..
      "is not; use load_program = false and attach one with xsk.steer.open{ ifname = \"lo\", frags = true }, then " ..
      "st:register(sock) (errno 22: Invalid argument)")
    u:close()

    net.veth()
    u = xsk.umem { frame_count = 64 }
    local sock = u:socket { ifname = "veth0", rx = false, load_program = false }
    local tb = u:batch(4)
    tb:put_packet(u, packet(1, 2 * u.max_packet))
    assert.matches("frame 0 %(addr 0x%x+%) has XDP_PKT_CONTD set but the socket was made without multi_buffer = true",
      select(2, pcall(sock.send, sock, tb)))
    assert.matches("frame 0 %(addr 0x%x+%) has XDP_PKT_CONTD set but the socket was made without multi_buffer = true",
      select(2, pcall(sock.tx.produce, sock.tx, tb)))
    for k = 0, tb.n - 1 do assert.equals("user", u:owner(tb.f[k].addr)) end
    u:release(tb)
    assert.equals(64, u:free_frames())
    u:close()
  end)

  it("put_packet and the packet helpers check their arguments", function()
    local u = xsk.umem { frame_count = 4 }
    local b = u:batch(2)
    assert.has_error(function() b:put_packet(u, packet(1)) end,
      ("xsk.batch: put_packet: a 9000-byte packet needs 3 frames of %d bytes, the batch has room for 2")
        :format(u.max_packet))
    local b8 = u:batch(8)
    b8:put_packet(u, packet(1, 100))
    assert.has_error(function() b8:put_packet(u, packet(1, 4 * u.max_packet)) end,
      ("xsk.batch: put_packet: a %d-byte packet needs 4 frames, the UMEM has 3 free"):format(4 * u.max_packet))
    -- pointer and length: nothing built on the Lua heap
    local src = ffi.new("uint8_t[?]", 5000)
    for k = 0, 4999 do src[k] = k % 251 end
    local first, count = b8:put_packet(u, src, 5000)
    assert.same({ 1, 2 }, { first, count })
    local seen = {}
    for i, c, len in b8:packets() do seen[#seen + 1] = { i, c, len } end
    assert.same({ { 0, 1, 100 }, { 1, 2, 5000 } }, seen)
    assert.is_true(b8:packet_string(1) == ffi.string(src, 5000))
    assert.has_error(function() b8:packet(3) end, "xsk.batch: index 3 is out of range 0..2")
    u:release(b8)
    assert.equals(4, u:free_frames())
    u:close()
  end)
end)
