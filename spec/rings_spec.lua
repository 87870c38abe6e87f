-- The four rings at the xsk-rs level, over a veth pair: what xsk-rs's own
-- tests cover, with the ownership checks xsk-rs leaves to `unsafe`.
local xsk = require "xsk"
local net = require "support.net"

-- A sender on veth0 and a receiver on veth1, each with its own UMEM, with
-- nothing automatic: the test moves every frame itself.
local function pair(opts)
  opts = opts or {}
  net.veth()
  local tu = xsk.umem { frame_count = 64, fill_size = 16, comp_size = 16 }
  local ru = xsk.umem { frame_count = 64, fill_size = 16, comp_size = 16 }
  local tx = tu:socket { ifname = "veth0", rx = false, tx_size = 16, auto_fill = false }
  local rx = ru:socket { ifname = "veth1", tx = false, rx_size = 16, auto_fill = opts.auto_fill or false }
  return tu, tx, ru, rx
end

-- Packets the kernel counted received on dev (this network namespace's).
local function rx_packets(dev)
  local f = assert(io.open("/proc/net/dev"))
  local text = f:read("*a")
  f:close()
  return assert(tonumber(text:match("\n%s*" .. dev .. ":%s*%d+%s+(%d+)")), "no " .. dev .. " in /proc/net/dev")
end

local function send_strings(u, sock, strings)
  local b = u:batch(#strings)
  assert.equal(#strings, u:alloc(b, #strings))
  net.fill_batch(b, strings)
  local addrs = {}
  for i = 0, b.n - 1 do addrs[#addrs + 1] = tonumber(b.f[i].addr) end
  assert.equal(#strings, sock.tx:produce_and_wakeup(b))
  return addrs
end

describe("rings", function()
  it("fill ring: producing exactly its size works, one more does not", function()
    local _, _, ru, rx = pair()
    local b = ru:batch(17)
    ru:alloc(b, 16)
    assert.equal(16, rx.fill:produce(b))
    assert.equal(0, b.n)
    assert.equal(16, rx.fill:state().entries)
    ru:alloc(b, 1)
    assert.equal(0, rx.fill:produce(b))
    assert.equal(1, b.n)
    assert.equal("user", ru:owner(b.f[0].addr))
  end)

  it("fill ring: all or nothing when a batch does not fit", function()
    local _, _, ru, rx = pair()
    local b = ru:batch(32)
    ru:alloc(b, 10)
    assert.equal(10, rx.fill:produce(b))
    ru:alloc(b, 7)
    assert.equal(0, rx.fill:produce(b))
    assert.equal(7, b.n)
    assert.equal(10, rx.fill:state().entries)
  end)

  it("fill and TX rings: produce one at a time until full", function()
    local tu, tx, ru, rx = pair()
    local b = ru:batch(1)
    local n = 0
    while true do
      ru:alloc(b, 1)
      local got = rx.fill:produce(b)
      if got == 0 then break end
      n = n + got
    end
    assert.equal(16, n)
    local tb = tu:batch(1)
    n = 0
    while true do
      tu:alloc(tb, 1)
      tb.f[0]:set(net.frame("x"))
      local got = tx.tx:produce(tb)
      if got == 0 then break end
      n = n + got
    end
    assert.equal(16, n)
  end)

  it("receives nothing with an empty fill ring, and rx_dropped counts it", function()
    local tu, tx, ru, rx = pair()
    send_strings(tu, tx, { net.frame("dropped") })
    local b = ru:batch(4)
    assert.equal(0, rx.rx:poll_and_consume(b, 200))
    local st = rx:stats()
    assert.is_true(st.rx_dropped >= 1)
    assert.is_true(st.rx_fill_ring_empty_descs >= 1)
  end)

  it("receives exactly the data that was sent", function()
    local tu, tx, ru, rx = pair()
    local fb = ru:batch(16)
    ru:alloc(fb, 16)
    assert.equal(16, rx.fill:produce(fb))
    local sent = {}
    for i = 1, 8 do sent[i] = net.frame(("packet %d "):format(i) .. ("z"):rep(i * 37)) end
    send_strings(tu, tx, sent)
    local b = ru:batch(16)
    for _ = 1, 20 do
      rx.rx:poll_and_consume(b, 100)
      if b.n >= 8 then break end
    end
    local got = net.strings_of(b)
    assert.same(sent, got)
    for i = 0, b.n - 1 do assert.equal("user", ru:owner(b.f[i].addr)) end
  end)

  it("completes exactly the addresses that were sent", function()
    local tu, tx = pair()
    local addrs = send_strings(tu, tx, { net.frame("a"), net.frame("b"), net.frame("c") })
    for _, a in ipairs(addrs) do assert.equal("tx", tu:owner(a)) end
    local cb = tu:batch(16)
    for _ = 1, 50 do
      tx.comp:consume(cb)
      if cb.n >= 3 then break end
      tx.tx:wakeup()
    end
    local done = {}
    for i = 0, cb.n - 1 do done[#done + 1] = tonumber(cb.f[i].addr) end
    table.sort(addrs); table.sort(done)
    assert.same(addrs, done)
    for _, a in ipairs(done) do assert.equal("user", tu:owner(a)) end
  end)

  it("ring_entries lists what each ring holds, oldest first, across the rings' wrap, and takes nothing", function()
    local tu, tx, ru, rx = pair()
    local fb, off = ru:batch(16), ru.data_offset
    local function chunks(b, first, last)
      local t = {}
      for i = first, last do t[#t + 1] = tonumber(b.f[i].addr) - off end
      return t
    end
    local function owners(u)
      local t = {}
      for i = 0, u.frame_count - 1 do t[i] = u:owner(i * u.frame_size) end
      return t
    end
    assert.same({}, rx:ring_entries("fill"))
    -- three rounds of 6 packets through rings of 16: the indexes wrap
    for round = 1, 3 do
      assert.equal(6, ru:alloc(fb, 6))
      local filled = chunks(fb, 0, 5)
      assert.equal(6, rx.fill:produce(fb))
      assert.same(filled, rx:ring_entries("fill"))
      assert.same(filled, (rx.fill:entries()))

      local sb = tu:batch(6)
      assert.equal(6, tu:alloc(sb, 6))
      local addrs, lens = {}, {}
      for i = 0, 5 do
        sb.f[i]:set(net.frame(("round %d packet %d "):format(round, i) .. ("x"):rep(i * 50)))
        addrs[i + 1], lens[i + 1] = tonumber(sb.f[i].addr), sb.f[i].len
      end
      assert.equal(6, tx.tx:produce(sb)) -- no kick yet: the kernel has taken nothing
      local before = owners(tu)
      local a, l, o = tx:ring_entries("tx")
      assert.same(addrs, a)
      assert.same(lens, l)
      assert.same({ 0, 0, 0, 0, 0, 0 }, o)
      assert.same(before, owners(tu))
      assert.same({}, tx:ring_entries("comp"))

      for _ = 1, 50 do
        if #tx:ring_entries("comp") == 6 then break end
        tx.tx:wakeup()
      end
      assert.same({}, tx:ring_entries("tx"))
      local done = tx:ring_entries("comp")
      assert.same(addrs, done)
      assert.same(done, (tx.comp:entries()))

      local rb = ru:batch(16)
      for _ = 1, 100 do
        if #rx:ring_entries("rx") == 6 then break end
        rx:poll(10)
      end
      local ra, rl, ro = rx:ring_entries("rx")
      local want = {}
      for i, c in ipairs(filled) do want[i] = c + off end
      assert.same(want, ra)
      assert.same(lens, rl)
      assert.same({ 0, 0, 0, 0, 0, 0 }, ro)
      assert.same({}, rx:ring_entries("fill"))
      before = owners(ru)
      assert.same(ra, (rx.rx:entries()))
      assert.same(before, owners(ru))
      assert.equal(6, rx.rx:consume(rb))
      assert.same({}, rx:ring_entries("rx"))
      ru:release(rb)
      local cb = tu:batch(16)
      assert.equal(6, tx.comp:consume(cb))
      assert.same({}, tx:ring_entries("comp"))
      tu:release(cb)
    end
  end)

  it("ring_entries: nil for a ring the socket does not have, errors for a bad name or a closed socket", function()
    local _, tx, _, rx = pair()
    assert.is_nil(tx:ring_entries("rx"))
    assert.is_nil(rx:ring_entries("tx"))
    assert.is_nil(tx.rx)
    assert.has_error(function() tx:ring_entries("completion") end,
      'xsk.socket: ring_entries: the ring must be "fill", "comp", "rx" or "tx", got "completion"')
    rx:close()
    assert.has_error(function() rx:ring_entries("fill") end,
      "xsk.socket: ring entries on veth1 queue 0: the socket is closed (errno 9: Bad file descriptor)")
    assert.has_error(function() rx.fill:entries() end,
      "xsk.socket: ring entries on veth1 queue 0: the socket is closed (errno 9: Bad file descriptor)")
  end)

  -- Found by the model: Linux 6.18's copy mode writes a TX frame's address to
  -- the completion ring with its lowest bit cleared, so with an odd frame
  -- headroom comp:consume handed the frame back one byte before its packet.
  it("completes frames at the address they were sent from, with an odd frame headroom too", function()
    net.veth()
    for _, headroom in ipairs { 0, 1, 2, 255 } do
      local u = xsk.umem { frame_count = 64, fill_size = 16, comp_size = 16, frame_headroom = headroom }
      local s = u:socket { ifname = "veth0", rx = false, tx_size = 16 }
      local sent = send_strings(u, s, { net.frame("odd"), net.frame("even") })
      local cb = u:batch(16)
      for _ = 1, 50 do
        s.comp:consume(cb)
        if cb.n >= 2 then break end
        s.tx:wakeup()
      end
      assert.equal(2, cb.n)
      for i = 0, 1 do
        local f = cb.f[i]
        assert.equal(sent[i + 1], tonumber(f.addr), "headroom " .. headroom)
        assert.equal(256 + headroom, tonumber(f.addr) % u.frame_size)
        assert.equal(u.area + f.addr, f.data)
        assert.equal(u.frame_size - 256 - headroom, f.cap)
      end
      u:close()
    end
  end)

  it("never takes a frame the kernel owns, twice, or of another UMEM", function()
    local tu, tx, ru, rx = pair()
    local b = ru:batch(4)
    ru:alloc(b, 2)
    local copy = ru:batch(4)
    copy:push(b.f[0])
    assert.equal(2, rx.fill:produce(b))
    -- the same frame again, now that the kernel owns it
    local ok, err = pcall(rx.fill.produce, rx.fill, copy)
    assert.is_false(ok)
    assert.matches("fill on veth1 queue 0: frame 0 %(addr 0x%x+%) is not the script's: it belongs to the kernel "
      .. "%(on a fill or RX ring%)", err)
    ok, err = pcall(ru.release, ru, copy)
    assert.is_false(ok)
    assert.matches("belongs to the kernel", err, 1, true)
    -- a frame of the receiver's UMEM offered to the sender's socket
    local other = ru:batch(1)
    ru:alloc(other, 1)
    other.f[0]:set(net.frame("wrong umem"))
    ok, err = pcall(tx.tx.produce, tx.tx, other)
    assert.is_false(ok)
    assert.matches("belongs to another UMEM", err, 1, true)
    assert.equal("user", ru:owner(other.f[0].addr))
    -- a frame sent twice in one batch
    local tb = tu:batch(2)
    tu:alloc(tb, 1)
    tb.f[0]:set(net.frame("twice"))
    tb:push(tb.f[0])
    ok, err = pcall(tx.tx.produce, tx.tx, tb)
    assert.is_false(ok)
    assert.matches("tx on veth0 queue 0: frame 1 .- is listed twice in the batch %(also as frame 0%)", err)
    assert.equal("user", tu:owner(tb.f[0].addr))
    assert.equal(0, tx.tx:state().entries)
  end)

  it("refuses empty frames and lengths past the frame", function()
    local tu, tx = pair()
    local b = tu:batch(1)
    tu:alloc(b, 1)
    local ok, err = pcall(tx.tx.produce, tx.tx, b)
    assert.is_false(ok)
    assert.matches("tx on veth0 queue 0: frame 0 %(addr 0x%x+%) has length 0", err)
    b.f[0].len = 5000
    ok, err = pcall(tx.tx.produce, tx.tx, b)
    assert.is_false(ok)
    assert.matches("length 5000 runs past the end of its 4096-byte frame", err, 1, true)
  end)

  it("keeps frames off the fill ring of a TX-only socket", function()
    local tu, tx = pair()
    local b = tu:batch(1)
    tu:alloc(b, 1)
    local ok, err = pcall(tx.fill.produce, tx.fill, b)
    assert.is_false(ok)
    assert.matches("fill on veth0 queue 0: no socket here has an RX ring", err, 1, true)
    assert.is_nil(tx.rx)
  end)

  it("shares a UMEM across interfaces, each socket with its own fill and completion rings", function()
    net.veth()
    local u = xsk.umem { frame_count = 128 }
    local a = u:socket { ifname = "veth0" }
    local b = u:socket { ifname = "veth1" }
    -- auto-fill keeps at most half of the UMEM on each fill ring
    assert.equal(64, a:ring_state("fill").entries)
    assert.equal(64, b:ring_state("fill").entries)
    assert.equal(0, u:free_frames())
    a:close()
    -- a's frames on its fill ring came back when its rings went away
    assert.equal(64, u:free_frames())
    assert.equal(64, b:ring_state("fill").entries)
    -- b still sends: the frame reaches veth0 (the kernel's stack, now that
    -- a is gone) and comes back to the pool through b's completion ring
    local out = u:batch(1)
    u:alloc(out, 1)
    out.f[0]:set(net.frame("shared"))
    local addr = out.f[0].addr
    local before = rx_packets("veth0")
    assert.equal(1, b:send(out))
    assert.equal(0, b:flush())
    assert.equal("pool", u:owner(addr))
    assert.equal(64, u:free_frames())
    assert.equal(before + 1, rx_packets("veth0"))
  end)

  it("moves frames between two interfaces on one UMEM without copying", function()
    net.veth()
    local u = xsk.umem { frame_count = 256, fill_size = 64 }
    local a = u:socket { ifname = "veth0" }
    local b = u:socket { ifname = "veth1" }
    local out = u:batch(8)
    u:alloc(out, 8)
    local sent = {}
    for i = 0, 7 do sent[i + 1] = net.frame("over shared umem " .. i); out.f[i]:set(sent[i + 1]) end
    assert.equal(8, a:send(out))
    local got = net.receive(b, u, 8, 2000)
    assert.same(sent, got)
  end)

  it("shares the fill and completion rings of sockets on the same interface and queue", function()
    net.veth()
    local u = xsk.umem { frame_count = 128 }
    local first = u:socket { ifname = "veth1", load_program = false }
    local second = u:socket { ifname = "veth1", load_program = false }
    assert.equal(first:ring_state("fill").entries, second:ring_state("fill").entries)
    local before = first:ring_state("fill").entries
    local fb = u:batch(4)
    u:alloc(fb, 4)
    assert.equal(4, second.fill:produce(fb))
    assert.equal(before + 4, first:ring_state("fill").entries)
    second:close()
    -- the rings stay with the first socket, and so do the frames on them
    assert.equal(before + 4, first:ring_state("fill").entries)
    assert.equal("fill", u:owner(fb.f[0].addr))
  end)

  it("refuses a shared queue while libxdp manages the program (it would free it twice)", function()
    net.veth()
    local u = xsk.umem { frame_count = 128 }
    u:socket { ifname = "veth1" }
    local ok, err = pcall(u.socket, u, { ifname = "veth1", load_program = false })
    assert.is_false(ok)
    assert.matches("two sockets on one queue need load_program = false on both", err, 1, true)
  end)

  it("explains why a later socket cannot share another socket's queue", function()
    net.veth()
    local u = xsk.umem { frame_count = 128 }
    u:socket { ifname = "veth0" }
    u:socket { ifname = "veth1" }
    local ok, err = pcall(u.socket, u, { ifname = "veth1" })
    assert.is_false(ok)
    assert.matches("sockets share an interface and queue only with the UMEM's first socket", err, 1, true)
  end)
end)
