-- What the batch API promises a packet script: its per-packet loop over the
-- batch's cdata compiles to machine code (no trace aborts, no NYI) and
-- allocates nothing per packet, so the GC stays quiet at full rate.  The
-- loops here are the ones scripts write: receive, touch, release; allocate,
-- stamp, send; receive, swap addresses, forward.
local xsk = require "xsk"
local headers = require "xsk.headers"
local net = require "support.net"
local ffi = require "ffi"
local watch = require "support.jit_watch"

-- Globals as locals: under busted every global lookup goes through its
-- environment's __index function, which no script outside busted pays for
-- (and whose recursion the JIT does not compile).
local min, unpack, jit = math.min, unpack, jit
local measure, real_aborts, growth_report = watch.measure, watch.real_aborts, watch.growth_report
local abort_report = watch.abort_report
local swap_macs = headers.swap_macs

local u32p = ffi.typeof("uint32_t *")

-- The frame every sender here stamps: broadcast, experimental EtherType,
-- then a 32-bit sequence number at offset 14.
local FRAME = net.frame(("\0"):rep(46))
local FRAME_LEN = #FRAME
local template = ffi.new("uint8_t[?]", FRAME_LEN)
ffi.copy(template, FRAME, FRAME_LEN)

-- Sends up to b.cap numbered frames from seq on; returns how many went.
local function send_burst(u, sock, b, seq, want)
  u:alloc(b, want - b.n, FRAME_LEN)
  for i = 0, b.n - 1 do
    local f = b.f[i]
    ffi.copy(f.data, template, FRAME_LEN)
    ffi.cast(u32p, f.data + 14)[0] = seq + i
  end
  return sock:send(b)
end

-- Flow control for the loops below: at most WINDOW frames in flight, as copy
-- mode drops what the RX ring has no fill frames for.  Sends the next burst
-- when there is room; returns the new count sent and how long the receive
-- that follows may wait (only once nothing more can be sent).
local WINDOW = 256
local function send_more(u, sock, b, sent, total, ahead)
  if sent < total and ahead < WINDOW then
    sent = sent + send_burst(u, sock, b, sent, min(64, total - sent))
  end
  return sent, (sent == total or ahead >= WINDOW) and 10 or 0
end

describe("per-packet Lua loops over batches", function()
  if not jit or not jit.status() then
    pending("needs LuaJIT with the JIT on")
    return
  end

  it("receive, touch every packet, release: compiled, no allocation", function()
    net.veth()
    local tu = xsk.umem { frame_count = 1024 }
    local ru = xsk.umem { frame_count = 1024 }
    local tx = tu:socket { ifname = "veth0", rx = false }
    local rx = ru:socket { ifname = "veth1", tx = false }
    local tb, rb = tu:batch(64), ru:batch(64)

    local function run(warm)
      local total = warm and 3000 or 30000
      local sent, got, lost, sum, idle = 0, 0, 0, 0, 0
      while got + lost < total and idle < 3 do
        -- a wait that brings nothing writes off what is in flight
        local wait
        sent, wait = send_more(tu, tx, tb, sent, total, sent - got - lost)
        local n = rx:recv(rb, wait)
        if n == 0 and wait > 0 then
          lost, idle = sent - got, idle + 1
        elseif n > 0 then
          idle = 0
        end
        for i = 0, n - 1 do
          local f = rb.f[i]
          local p = f.data
          swap_macs(p)
          sum = sum + ffi.cast(u32p, p + 14)[0] + f.len
        end
        got = got + n
        ru:release(rb)
      end
      return got, sum
    end

    local r = measure(run)
    local got, sum = unpack(r.result)
    assert.same({}, real_aborts(r), abort_report(r))
    assert.is_true(got > 30000 * 0.9, ("received %d of 30000"):format(got))
    assert.is_true(sum > 0)
    assert.is_true(r.growth_kib < 64, growth_report(r, got))
  end)

  it("receive, swap addresses, forward back: compiled, no allocation", function()
    net.veth()
    local au = xsk.umem { frame_count = 1024 }
    local bu = xsk.umem { frame_count = 1024 }
    local a = au:socket { ifname = "veth0" }
    local b = bu:socket { ifname = "veth1" }
    local ab, bb, back = au:batch(64), bu:batch(64), au:batch(64)

    local function run(warm)
      local total = warm and 3000 or 20000
      local sent, fwd, returned, lost, idle = 0, 0, 0, 0, 0
      while returned + lost < total and idle < 3 do
        local wait
        sent, wait = send_more(au, a, ab, sent, total, sent - returned - lost)
        local n = b:recv(bb, 0)
        for i = 0, n - 1 do swap_macs(bb.f[i].data) end
        if n > 0 then fwd = fwd + b:forward(bb) end
        local m = a:recv(back, wait)
        if m == 0 and n == 0 and wait > 0 then
          lost, idle = sent - returned, idle + 1
        elseif m > 0 then
          idle = 0
        end
        returned = returned + m
        au:release(back)
      end
      return returned, fwd
    end

    local r = measure(run)
    local returned, fwd = unpack(r.result)
    assert.same({}, real_aborts(r), abort_report(r))
    assert.is_true(returned >= 20000 * 0.9, ("%d of 20000 came back (%d forwarded)"):format(returned, fwd))
    assert.is_true(r.growth_kib < 64, growth_report(r, fwd))
  end)

  it("receive and read each packet's RX metadata: compiled, no allocation", function()
    net.veth()
    local tu = xsk.umem { frame_count = 1024 }
    local ru = xsk.umem { frame_count = 1024, rx_metadata = true }
    local st = xsk.steer.open { ifname = "veth1", rx_time = true }
    local tx = tu:socket { ifname = "veth0", rx = false }
    local rx = ru:socket { ifname = "veth1", tx = false, load_program = false }
    st:register(rx)
    local tb, rb = tu:batch(64), ru:batch(64)

    local function run(warm)
      local total = warm and 3000 or 30000
      local sent, got, lost, idle, stamped, last, backwards = 0, 0, 0, 0, 0, 0, 0
      while got + lost < total and idle < 3 do
        local wait
        sent, wait = send_more(tu, tx, tb, sent, total, sent - got - lost)
        local n = rx:recv(rb, wait)
        if n == 0 and wait > 0 then
          lost, idle = sent - got, idle + 1
        elseif n > 0 then
          idle = 0
        end
        for i = 0, n - 1 do
          local t = rb.f[i]:rx_time()
          if t then
            stamped = stamped + 1
            if t < last then backwards = backwards + 1 end
            last = t
          end
        end
        got = got + n
        ru:release(rb)
      end
      return got, stamped, backwards
    end

    local r = measure(run)
    st:close()
    local got, stamped, backwards = unpack(r.result)
    assert.same({}, real_aborts(r), abort_report(r))
    assert.is_true(got > 30000 * 0.9, ("received %d of 30000"):format(got))
    assert.are.equal(got, stamped)
    assert.are.equal(0, backwards)
    assert.is_true(r.growth_kib < 64, growth_report(r, got))
  end)

  -- A paced loop waits a different time before each burst: spun in Lua,
  -- each number of spins was a new side trace (3 MB of traces for 300 000
  -- packets at 2 Mpps); the wait is in C now.
  it("the pacer's wait in a loop: compiled, no allocation", function()
    local pace = require "xsk.pace"
    local pc = pace.new { pps = 2000000, burst = 8 }
    local function run(warm)
      local count, sent = warm and 30000 or 300000, 0
      while sent < count do sent = sent + pc:wait(min(64, count - sent)) end
      return sent
    end
    local r = measure(run)
    assert.same({}, real_aborts(r), abort_report(r))
    assert.is_true(r.growth_kib < 64, growth_report(r, r.result[1]))
  end)

  -- xsk-txgen's loop: the pacer grants, frames are allocated, stamped with
  -- the next flows and sizes (xsk.flows over xsk.template's setters) and sent.
  it("txgen's loop (pace, alloc, flows, send): compiled, no allocation", function()
    net.veth()
    local flows, restore = watch.fresh("xsk.flows", "xsk.template")
    net.defer(restore)
    local pace = require "xsk.pace"
    local u = xsk.umem { frame_count = 1024 }
    local tx = u:socket { ifname = "veth0", rx = false }
    local g = flows.new { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
      src_ip = "198.18.0.1-198.18.0.100", dst_ip = "198.18.1.1-198.18.1.7", src_port = "1000-1999",
      dst_port = "9-12", size = "imix" }
    local pc = pace.new { pps = 2000000, burst = 8 }
    local b = u:batch(64)

    local function run(warm)
      local count = warm and 3000 or 30000
      local sent, bytes = 0, 0
      while sent < count do
        if b.n == 0 then
          local want = pc:wait(min(64, count - sent))
          local got = u:alloc(b, want)
          if got < want then
            pc:refund(want - got)
            if got == 0 then tx:poll(10, "out"); tx:recycle() end
          end
          if got > 0 then g:fill(b) end
        end
        for i = 0, b.n - 1 do bytes = bytes + b.f[i].len end
        if b.n > 0 then sent = sent + tx:send(b) end
      end
      return sent, bytes
    end

    local r = measure(run)
    local sent = r.result[1]
    assert.same({}, real_aborts(r), abort_report(r))
    assert.are.equal(30000, sent)
    assert.is_true(r.growth_kib < 64, growth_report(r, sent))
  end)

  -- The checks above are only worth something if they can fail.
  it("sees an abort: a closure made in the loop is NYI", function()
    local r = measure(function()
      local x = 0
      for i = 1, 500 do
        local get = function() return i end
        x = x + get()
      end
      return x
    end)
    local aborts = real_aborts(r)
    assert.is_true(#aborts > 0, "no abort seen for a loop that makes closures")
    assert.matches("NYI", table.concat(aborts, "\n"))
  end)

  it("sees allocation: a table made in the loop that outlives it", function()
    local last
    local r = measure(function(warm)
      for k = 1, warm and 200 or 2000 do last = { k } end
      return last[1]
    end)
    assert.is_true(r.growth_kib > 16, ("only %.1f KiB for 2000 tables"):format(r.growth_kib))
  end)
end)
