-- Frames and objects between workers: frame channels keep every ownership
-- check on both ends, objects cross by hand-over (moved ones die where they
-- were), mailboxes carry Lua values, and the frames of a closed partition or
-- channel come back through the UMEM's lost and found.
local patience = require "support.patience"
local xsk = require "xsk"

local workers = xsk.workers

local clean = require("support.worker_guard").guard

local function refused(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "accepted: " .. pattern)
  assert.matches(pattern, err, 1, true)
  return err
end

describe("frame channels", function()
  -- Two partitions of one UMEM in this VM: a, and b shared from it.
  local function two()
    local a = xsk.umem { frame_count = 64 }
    local b = a:share(16)
    local tx, rx = a:channel(8)
    return a, b, tx, rx
  end

  it("move frames from one partition's script to another's", function()
    local a, b, tx, rx = two()
    local out, into = a:batch(16), b:batch(16)
    a:alloc(out, 3)
    out.f[0]:set("hello")
    local addrs = {}
    for i = 0, 2 do addrs[i + 1] = out.f[i].addr end
    assert.equal(3, tx:send(out))
    assert.equal(0, out.n)
    for _, addr in ipairs(addrs) do assert.equal("channel", a:owner(addr)) end
    assert.same({ size = 8, queued = 3, closed = false, peer_closed = false, sending = true, part = 0 }, tx:state())
    assert.equal(3, rx:recv(into))
    assert.equal(3, into.n)
    assert.equal("hello", into.f[0]:bytes())
    for i = 0, 2 do
      assert.equal(addrs[i + 1], into.f[i].addr)
      assert.equal("user", b:owner(into.f[i].addr))
    end
    assert.equal(3, b:release(into))
    assert.equal(19, b:free_frames())
  end)

  it("send as many as fit, receive as many as there is room for", function()
    local a, b, tx, rx = two()
    local out, small = a:batch(16), b:batch(2)
    a:alloc(out, 12)
    assert.equal(8, tx:send(out))
    assert.equal(4, out.n) -- the rest stays at the front of the batch
    assert.equal(0, tx:send(out))
    assert.equal(2, rx:recv(small))
    assert.equal(0, rx:recv(small))
    b:release(small)
    assert.equal(1, rx:recv(small, 1))
    assert.equal(3, tx:send(out))
    assert.equal(1, out.n)
  end)

  it("refuse frames the sending partition's script does not hold, and move none of the batch", function()
    local a, b, tx = two()
    local out = a:batch(8)
    a:alloc(out, 3)
    local one = a:batch(1)
    one:push(out.f[1])
    a:release(one) -- frame 1 of out is the pool's now
    refused("xsk.channel: send: frame 1 (addr 0x", tx.send, tx, out)
    refused("is not the script's: it belongs to the free pool", tx.send, tx, out)
    assert.equal(3, out.n)
    assert.equal(0, tx:state().queued)
    assert.equal("user", a:owner(out.f[0].addr))
    assert.equal("user", a:owner(out.f[2].addr))
    -- A frame listed twice.
    out:remove(1)
    out:push(out.f[0])
    refused("is listed twice in the batch (also as frame 0)", tx.send, tx, out)
    assert.equal(0, tx:state().queued)
    -- The end serves partition 0 from its first use on, not partition 1.
    out.n = 1
    assert.equal(1, tx:send(out))
    local theirs = b:batch(4)
    b:alloc(theirs, 1)
    refused("xsk.channel: send: this end of the channel serves partition 0 of the UMEM, not 1", tx.send, tx, theirs)
    assert.equal("user", b:owner(theirs.f[0].addr))
  end)

  it("keep the checks after a frame went through", function()
    local a, b, tx, rx = two()
    local out, into = a:batch(4), b:batch(4)
    a:alloc(out, 1)
    local copy = a:batch(1)
    copy:push(out.f[0])
    assert.equal(1, tx:send(out))
    -- In the channel: neither side may touch it.
    refused("it belongs to a channel between workers", a.release, a, copy)
    assert.equal(1, rx:recv(into))
    -- The receiving partition's now: the sender's old descriptor is refused.
    refused("it belongs to another partition (a worker's script)", a.release, a, copy)
    -- A receiving end serves one partition.
    local third = a:share(4)
    refused("this end of the channel serves partition 1 of the UMEM, not 2", rx.recv, rx, third:batch(4))
    -- And a batch of another UMEM is refused at both ends.
    local foreign = xsk.umem { frame_count = 8 }
    local fb = foreign:batch(4)
    foreign:alloc(fb, 1)
    refused("xsk.channel: send: the batch belongs to another UMEM", tx.send, tx, fb)
    refused("xsk.channel: recv: the batch belongs to another UMEM", rx.recv, rx, fb)
    refused("xsk.channel: send: expected a batch from umem:batch(), got number", tx.send, tx, 5)
    b:release(into)
  end)

  it("refuse to send once the receiving end is closed, and tell the receiver when the sender is", function()
    local a, b, tx, rx = two()
    local out, into = a:batch(4), b:batch(4)
    a:alloc(out, 2)
    assert.equal(1, tx:send(a:batch(1)) + 1) -- an empty batch sends nothing
    out.n = 1
    assert.equal(1, tx:send(out))
    tx:close()
    refused("this end of the channel is closed", tx.send, tx, out)
    assert.is_false(rx:drained())
    assert.equal(1, rx:recv(into))
    assert.is_true(rx:drained())
    local tx2, rx2 = a:channel(4)
    rx2:close()
    out.n = 1
    refused("xsk.channel: send: the receiving end of the channel is closed", tx2.send, tx2, out)
    refused("xsk.channel: size must be a power of two from 1 to 65536, got 0", a.channel, a, 0)
    refused("size 3 must be a power of two", a.channel, a, 3)
  end)

  it("leave what was in them to the lost and found when both ends are gone", function()
    local a, _, tx, rx = two()
    local out = a:batch(8)
    a:alloc(out, 5)
    local addr = out.f[0].addr
    assert.equal(5, tx:send(out))
    tx:close(); rx:close()
    tx, rx = nil, nil -- luacheck: ignore
    collectgarbage("collect")
    collectgarbage("collect")
    assert.equal("lost", a:owner(addr))
    assert.equal(43, a:free_frames())
    assert.equal(5, a:reclaim())
    assert.equal("pool", a:owner(addr))
    assert.equal(48, a:free_frames())
  end)

  it("carry frames between two workers on two cores and back, every one checked", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 1024 }
    local fwd_tx, fwd_rx = umem:channel(64)
    local back_tx, back_rx = umem:channel(512)
    local count = patience.work(20000, 500)
    -- Frames move to the receiving partition: the consumer sends them back
    -- through a second channel, or the producer's pool would run dry.
    local producer = start({ function(part, out, back, n)
      local ffi = require "ffi"
      local b, home = part:batch(32), part:batch(512)
      local seq = 0
      local stopping = require("xsk.workers").stopping
      while seq < n and not stopping() do
        part:alloc(b, math.min(32, n - seq) - b.n)
        for i = 0, b.n - 1 do
          ffi.cast("uint32_t *", b.f[i].data)[0] = seq + i
          b.f[i].len = 4
        end
        seq = seq + out:send(b)
        if back:recv(home) > 0 then part:release(home) end
      end
      out:close()
      while not back:drained() and not stopping() do
        if back:recv(home) > 0 then part:release(home) end
      end
      return seq, part:free_frames()
    end, cpu = 0 }, umem:share(256), fwd_tx, back_rx, count)
    local consumer = start({ function(part, inp, back)
      local ffi = require "ffi"
      local b = part:batch(32)
      local want, bad = 0, 0
      local stopping = require("xsk.workers").stopping
      while not stopping() do
        local n = inp:recv(b)
        for i = 0, n - 1 do
          if ffi.cast("uint32_t *", b.f[i].data)[0] ~= want then bad = bad + 1 end
          if part:owner(b.f[i].addr) ~= "user" then bad = bad + 1 end
          want = want + 1
        end
        while b.n > 0 and not stopping() do back:send(b) end
        if n == 0 and inp:drained() then break end
      end
      back:close()
      return want, bad, part:free_frames()
    end, cpu = 1 }, umem:share(16), fwd_rx, back_tx)
    local results = workers.wait({ producer, consumer }, patience.wait(30))
    assert.same({ count, 256 }, results[1])
    assert.same({ count, 0, 16 }, results[2])
    assert.equal(272, umem:reclaim())
    assert.equal(1024, umem:free_frames())
  end)
end)

describe("hand-over of objects", function()
  it("moves a UMEM handle: dead here, alive in the worker", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 64 }
    local part = umem:share(16)
    local w = start({ function(u) return u.part, u:free_frames(), u.frame_count end, name = "taker" }, part)
    refused("xsk.umem: this object was handed to taker and cannot be used here any more", function()
      return part:free_frames()
    end)
    assert.equal("xsk.umem (handed to taker)", tostring(part))
    local ok, p, free, count = w:join(patience.wait(5))
    assert.is_true(ok)
    assert.equal(1, p)
    assert.equal(16, free)
    assert.equal(64, count)
    assert.equal(16, umem:reclaim())
  end)

  it("refuses to move a handle that has a batch, and says so", function()
    clean()
    local umem = xsk.umem { frame_count = 64 }
    local part = umem:share(16)
    local keep = part:batch(4) -- luacheck: ignore
    refused("argument 1: the UMEM handle has 0 sockets and 1 batch", workers.start, function() end, part)
    assert.equal(16, part:free_frames()) -- still ours
    keep = nil -- luacheck: ignore
    -- A batch the collector has not taken yet does not count.
    local w = workers.start(function(u) return u:free_frames() end, part)
    assert.same({ true, 16 }, { w:join(patience.wait(5)) })
  end)

  it("moves channel ends and counter slots, shares mailboxes and counter blocks", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 64 }
    local tx, rx = umem:channel(8)
    local ctr, up, down = workers.counters(2), workers.mailbox(8), workers.mailbox(8)
    local slot = ctr:slot(1)
    refused("xsk.counters: slot 1 already has a writer (one slot, one worker)", ctr.slot, ctr, 1)
    local w = start({ function(end_, s, c, to_main, from_main, wait)
      s:rx(3, 300)
      to_main:send({ got = tostring(end_), total = c:total().rx_packets })
      return from_main:recv(wait)
    end, name = "sharer" }, rx, slot, ctr, up, down, patience.wait(5))
    refused("xsk.channel: this object was handed to sharer", function() return rx:state() end)
    refused("xsk.counters: this object was handed to sharer", function() slot:rx(1, 1) end)
    assert.same({ got = "xsk.channel(receiving end)", total = 3 }, up:recv(patience.wait(5)))
    assert.is_true(down:send("reply"))
    assert.same({ true, "reply" }, { w:join(patience.wait(5)) })
    assert.equal(300, ctr:read(1).rx_bytes)
    -- The slot came back when the worker's VM closed: it can be taken again.
    assert.equal("xsk.counters slot 1", tostring(ctr:slot(1)))
    assert.is_table(tx:state())
  end)

  it("refuses objects in a mailbox or a result, and a closed channel end", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 64 }
    local mb = workers.mailbox(2)
    refused("xsk.mailbox: send: message 1: a UMEM handle cannot cross here", mb.send, mb, umem)
    refused("xsk.mailbox: send: nil cannot be sent", mb.send, mb, nil)
    local _, rx = umem:channel(4)
    rx:close()
    refused("argument 1: the receiving end is closed", workers.start, function() end, rx)
    local ok, err = start(function(box) return box end, mb):join(patience.wait(5))
    assert.is_false(ok)
    assert.matches("return value 1: a mailbox cannot cross here", err, 1, true)
  end)

  it("takes back through the lost and found what a worker held when it ended", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 256 }
    local w = start(function(u)
      local b = u:batch(64)
      u:alloc(b, 40) -- held by the script when it ends, never released
      return u:free_frames()
    end, umem:share(100))
    assert.same({ true, 60 }, { w:join(patience.wait(5)) })
    assert.equal(156, umem:free_frames())
    assert.equal(100, umem:reclaim())
    assert.equal(256, umem:free_frames())
  end)

  it("reuses the partition of a worker that ended, far past 63 of them", function()
    local start = clean()
    local umem = xsk.umem { frame_count = 128 }
    for i = 1, patience.work(100, 64) do
      local ok, part = start(function(u) return u.part end, umem:share(8)):join(patience.wait(5))
      assert.is_true(ok, "round " .. i)
      assert.is_true(part >= 1 and part <= 62)
      assert.equal(8, umem:reclaim())
    end
    assert.equal(128, umem:free_frames())
  end)
end)

describe("mailboxes", function()
  it("keep order, copy values and tell full, timeout and closed apart", function()
    clean()
    local mb = workers.mailbox(2)
    assert.is_true(mb:send({ a = 1, b = { "x" } }))
    assert.is_true(mb:send(2))
    assert.same({ nil, "full" }, { mb:send(3, 0.01) })
    assert.equal(2, mb:count())
    assert.same({ a = 1, b = { "x" } }, mb:recv())
    assert.equal(2, mb:recv())
    assert.same({ nil, "timeout" }, { mb:recv(0.01) })
    assert.is_true(mb:send(false))
    mb:close()
    assert.same({ nil, "closed" }, { mb:send(4) })
    assert.is_false(mb:recv())
    assert.same({ nil, "closed" }, { mb:recv(1) })
    refused("xsk.mailbox: capacity must be a whole number from 1 to 1048576, got 0", workers.mailbox, 0)
    refused("xsk.mailbox: recv: timeout must be seconds", mb.recv, mb, "soon")
    refused("xsk.mailbox: send: message 1.f: a function cannot cross", mb.send, mb, { f = print })
  end)

  it("carry messages between many workers and the main VM", function()
    local start = clean()
    local inbox, outbox = workers.mailbox(16), workers.mailbox(16)
    local ws = {}
    for i = 1, 4 do
      ws[i] = start(function(id, inb, outb, wait)
        local sum = 0
        while true do
          local v = inb:recv(wait)
          if v == nil or v == "done" then break end
          sum = sum + v
        end
        outb:send({ id = id, sum = sum }, wait)
        return sum
      end, i, inbox, outbox, patience.wait(5))
    end
    local n = patience.work(1000, 100)
    for v = 1, n do assert.is_true(inbox:send(v, patience.wait(5))) end
    for _ = 1, 4 do assert.is_true(inbox:send("done", patience.wait(5))) end
    local total = 0
    for _ = 1, 4 do total = total + outbox:recv(patience.wait(5)).sum end
    assert.equal(n * (n + 1) / 2, total)
    workers.wait(ws, patience.wait(5))
  end)
end)
