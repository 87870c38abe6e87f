-- The batch API: one FFI call per burst, refill and recycling done by the core.
local xsk = require "xsk"
local net = require "support.net"
local ffi = require "ffi"

local function setup(frames)
  net.veth()
  local tu = xsk.umem { frame_count = frames or 512, fill_size = 256, comp_size = 256 }
  local ru = xsk.umem { frame_count = frames or 512, fill_size = 256, comp_size = 256 }
  local tx = tu:socket { ifname = "veth0", rx = false }
  local rx = ru:socket { ifname = "veth1", tx = false }
  return tu, tx, ru, rx
end

-- Sends `count` frames numbered from `base` in their payload; returns how
-- many went.
local function send_numbered(u, sock, count, b, base)
  local sent = 0
  local frame = net.frame(("\0"):rep(46))
  while sent < count do
    u:alloc(b, math.min(b.cap - b.n, count - sent))
    for i = 0, b.n - 1 do
      local f = b.f[i]
      if f.len == 0 then
        f:set(frame)
        ffi.cast("uint32_t *", f.data + 14)[0] = base + sent + i
      end
    end
    sent = sent + sock:send(b)
  end
  return sent
end

describe("batch API", function()
  it("sends and receives bursts, recycling every frame", function()
    local tu, tx, ru, rx = setup()
    local tb, rb = tu:batch(64), ru:batch(64)
    local total = 5000
    local seen, got = {}, 0
    local sent = 0
    local quiet = 0
    while got < total and quiet < 5 do
      if sent < total then
        sent = sent + send_numbered(tu, tx, math.min(64, total - sent), tb, sent)
      else
        assert.equal(0, tx:flush(1000))
      end
      local n = rx:recv(rb, sent < total and 0 or 50)
      -- once everything is out, a few empty waits in a row end the test
      quiet = (n == 0 and sent == total) and quiet + 1 or 0
      for i = 0, n - 1 do
        local seq = ffi.cast("uint32_t *", rb.f[i].data + 14)[0]
        assert.is_nil(seen[seq], "duplicate " .. seq)
        seen[seq] = true
      end
      got = got + n
      ru:release(rb)
    end
    assert.equal(total, sent)
    local st = rx:stats()
    assert.equal(total, got + st.rx_dropped)
    assert.is_true(got > total * 0.9)
    -- every frame is back: in the pool or on the fill ring, none lost
    tx:recycle()
    assert.equal(512, tu:free_frames())
    assert.equal(512, ru:free_frames() + rx:ring_state("fill").entries + rx:ring_state("rx").entries)
  end)

  it("puts every frame it accepted on the wire before returning", function()
    -- Copy mode sends at most 32 frames a kick; send keeps kicking, so a
    -- script that sends a burst and then waits for answers has sent it all.
    local tu, tx, ru, rx = setup()
    local b = tu:batch(200)
    assert.equal(200, send_numbered(tu, tx, 200, b, 0))
    assert.equal(0, tx:ring_state("tx").entries)
    local got = #net.receive(rx, ru, 200, 2000)
    assert.equal(200, got + rx:stats().rx_dropped)
    assert.is_true(got > 0)
  end)

  it("keeps frames that did not fit in the batch, still the script's", function()
    net.veth()
    local u = xsk.umem { frame_count = 256 }
    local s = u:socket { ifname = "veth0", rx = false, tx_size = 32 }
    local b = u:batch(128)
    u:alloc(b, 128)
    for i = 0, 127 do b.f[i]:set(net.frame("x")) end
    assert.equal(0, s.tx:produce(u:batch(1))) -- an empty batch produces nothing
    local total = 0
    for _ = 1, 200 do
      total = total + s:send(b)
      if b.n == 0 then break end
      for i = 0, b.n - 1 do assert.equal("user", u:owner(b.f[i].addr)) end
    end
    assert.equal(128, total)
  end)

  it("forwards between two sockets of one UMEM without copying", function()
    net.veth({ queues = 1 })
    local u = xsk.umem { frame_count = 512, fill_size = 128 }
    local a = u:socket { ifname = "veth0" }
    local b = u:socket { ifname = "veth1" }
    local out = u:batch(64)
    -- packets sent by a arrive at b; b forwards those frames back out, a receives them
    u:alloc(out, 16)
    local sent = {}
    for i = 0, 15 do
      sent[i + 1] = net.frame("fwd " .. i)
      out.f[i]:set(sent[i + 1])
    end
    assert.equal(16, a:send(out))
    local rb = u:batch(64)
    for _ = 1, 100 do
      b:recv(rb, 10)
      if rb.n >= 16 then break end
    end
    assert.equal(16, rb.n)
    local received = {}
    for i = 0, 15 do received[i + 1] = tonumber(rb.f[i].addr) end
    assert.equal(16, b:forward(rb))
    assert.equal(0, rb.n)
    -- what b transmitted is what it received: its completion ring hands
    -- back exactly those frames, no copies of them
    local cb = u:batch(64)
    for _ = 1, 100 do
      b.comp:consume(cb)
      if cb.n >= 16 then break end
      b:poll(10)
    end
    local completed = {}
    for i = 0, cb.n - 1 do completed[i + 1] = tonumber(cb.f[i].addr) end
    table.sort(received)
    table.sort(completed)
    assert.same(received, completed)
    u:release(cb)
    local back = net.receive(a, u, 16, 2000)
    table.sort(back)
    table.sort(sent)
    assert.same(sent, back)
  end)

  it("refuses to forward frames of another UMEM", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local other = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0" }
    local b = other:batch(2)
    other:alloc(b, 2)
    b.f[0]:set("x"); b.f[1]:set("y")
    local ok, err = pcall(s.forward, s, b)
    assert.is_false(ok)
    assert.matches("forward: the batch belongs to another UMEM", err)
    assert.equal(2, b.n)
    assert.equal("user", other:owner(b.f[0].addr))
  end)

  it("refuses a send with a frame the kernel owns, and sends none of the batch", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0", rx = false }
    local b = u:batch(4)
    u:alloc(b, 2)
    b.f[0]:set(net.frame("a")); b.f[1]:set(net.frame("b"))
    local keep = u:batch(1)
    keep:push(b.f[1])
    assert.equal(1, s.tx:produce(keep))      -- frame 1 of b is the kernel's now
    local ok, err = pcall(s.send, s, b)
    assert.is_false(ok)
    assert.matches("send on veth0 queue 0: frame 1 .- is not the script's: it belongs to the kernel", err)
    assert.equal(2, b.n)
    assert.equal("user", u:owner(b.f[0].addr))
    assert.equal("tx", u:owner(b.f[1].addr))
  end)

  it("does not allocate in a per-packet loop", function()
    local tu, tx, ru, rx = setup()
    local tb, rb = tu:batch(64), ru:batch(64)
    local function run(rounds)
      local sum = 0
      for _ = 1, rounds do
        tu:alloc(tb, 64 - tb.n)
        for i = 0, tb.n - 1 do
          local f = tb.f[i]
          f.len = 60
          f.data[12] = 0x88; f.data[13] = 0xb5
        end
        tx:send(tb)
        local n = rx:recv(rb, 0)
        for i = 0, n - 1 do
          local d = rb.f[i].data
          sum = sum + d[12] + rb.f[i].len
        end
        ru:release(rb)
      end
      return sum
    end
    local grown = require("spec.support.util").heap_growth(run, 200, 2000)
    assert.is_true(grown < 16, ("the loop allocated %.1f KiB"):format(grown))
  end)
end)
