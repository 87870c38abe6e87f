-- Frame ownership and packet delivery under random operations
-- (spec/support/model.lua), and the bugs the model found, pinned down as
-- plain specs.
--
-- XSK_SEED=n reproduces a run's sequence of operations; XSK_MODEL_OPS sets
-- how many (default 20000); XSK_MODEL_SETTLE_ALL=1 checks for lost packets
-- after every operation.  `make stress` runs millions.
local xsk = require "xsk"
local net = require "support.net"
local model = require "support.model"
local steer = require "xsk.steer"
local ffi = require "ffi"

local function xdp_attached(ifname)
  local _, out = net.netns.try("ip -o link show dev " .. ifname)
  return out:find(" xdp") ~= nil
end

describe("frame ownership model", function()
  it("random operations on one UMEM and its sockets keep every frame and every packet accounted for", function()
    net.veth()
    local seed = model.seed()
    local ops = tonumber(os.getenv("XSK_MODEL_OPS")) or 20000
    local ok, err = pcall(function()
      local m = model.new { seed = seed, check_xdp = xdp_attached }
      m:run(ops)
      local st = m:finish()
      io.stderr:write("model: seed ", seed, ": ", model.summary(st), "\n")
      assert.equal(ops, st.ops)
      assert.is_true(st.misuse > 0)
      assert.is_true(st.taken > 0)
      assert.is_true(st.received > 0)
      assert.is_true(st.settles > st.sessions)
    end)
    if not ok then
      io.stderr:write("model: FAILED with XSK_SEED=", seed, "\n")
      error(err, 0)
    end
  end)

  it("the same seed gives the same operations", function()
    local a, b = model.rng(1234), model.rng(1234)
    for _ = 1, 1000 do assert.equal(a(1000), b(1000)) end
  end)
end)

-- Found by the model: forward gave the frames that did not fit on the TX
-- ring back to the pool without checking them, so a bad frame there was
-- silently "freed" (a kernel frame, a duplicate, or another UMEM's address,
-- which wrote outside the owner table).
describe("forward with more frames than the TX ring holds", function()
  local function setup()
    net.veth()
    local u = xsk.umem { frame_count = 64, fill_size = 16, comp_size = 16 }
    local s = u:socket { ifname = "veth0", tx_size = 16, rx_size = 16, auto_fill = false }
    local b = u:batch(24)
    assert.equal(20, u:alloc(b, 20))
    for i = 0, 19 do b.f[i]:set(net.frame("x" .. i)) end
    return u, s, b
  end

  local function owners(u)
    local t = {}
    for i = 0, u.frame_count - 1 do t[i] = u:owner(i * u.frame_size) end
    return t
  end

  local function refused(u, s, b, pattern)
    local before, n = owners(u), b.n
    local free = u:free_frames()
    local ok, err = pcall(s.forward, s, b)
    assert.is_false(ok, "forward accepted a bad frame it would have dropped")
    assert.matches(pattern, err, 1, true)
    assert.equal(n, b.n)
    assert.same(before, owners(u))
    assert.equal(free, u:free_frames())
  end

  it("refuses a frame listed twice past the ring's room", function()
    local u, s, b = setup()
    b:push(b.f[2])
    refused(u, s, b, "is listed twice in the batch (also as frame 2)")
    u:close()
  end)

  it("refuses a zero-length frame past the ring's room", function()
    local u, s, b = setup()
    b.f[18].len = 0
    refused(u, s, b, "has length 0")
    u:close()
  end)

  it("refuses a frame of another UMEM at push, before it can reach a socket", function()
    local u, _, b = setup()
    local other = xsk.umem { frame_count = 256 }
    local ob = other:batch(1)
    other:alloc(ob, 1)
    local n = b.n
    local ok, err = pcall(b.push, b, ob.f[0])
    assert.is_false(ok)
    assert.matches("is not of this batch's UMEM", err, 1, true)
    assert.equal(n, b.n)
    other:close()
    u:close()
  end)

  it("refuses a frame the kernel holds past the ring's room", function()
    local u, s, b = setup()
    local k = u:batch(1)
    k:push(b.f[b.n - 1])
    assert.equal(1, s.tx:produce(k)) -- the batch's last frame is the kernel's now
    local ok, err = pcall(s.forward, s, b)
    assert.is_false(ok)
    assert.matches("is not the script's: it belongs to", err, 1, true)
    u:close()
  end)

  it("still drops what does not fit, and says how many went", function()
    local u, s, b = setup()
    local free = u:free_frames()
    local k = s:forward(b)
    assert.equal(16, k)
    assert.equal(0, b.n)
    assert.equal(free + 4, u:free_frames())
    u:close()
  end)
end)

-- Found by the model: libxdp binds a UMEM's first socket on the UMEM's own fd
-- and leaves that fd bound when the socket is deleted, so its queue stays
-- taken until the UMEM closes.
describe("closing a UMEM's first socket", function()
  it("keeps its queue taken until the UMEM closes, and says so", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s1 = u:socket { ifname = "veth0" }
    local s2 = u:socket { ifname = "veth1" }
    s1:close()
    local ok, err = pcall(u.socket, u, { ifname = "veth0" })
    assert.is_false(ok)
    assert.matches("this UMEM's first socket was bound here", err, 1, true)
    local u2 = xsk.umem { frame_count = 64 }
    local ok2, err2 = pcall(u2.socket, u2, { ifname = "veth0" })
    assert.is_false(ok2)
    assert.matches("veth0 queue 0: the queue is busy", err2, 1, true)
    s2:close()
    u:close()
    -- with the UMEM gone the queue is free again
    local s3 = u2:socket { ifname = "veth0" }
    s3:close()
    u2:close()
  end)
end)

-- Found by the model: closing a UMEM's first socket returned the frames on
-- its fill ring to the pool, but libxdp keeps that socket bound (on the
-- UMEM's own fd), and a steering program it was registered in went on
-- sending it packets: the kernel wrote them into frames the script had been
-- given.
describe("closing a UMEM's first socket while a program still sends it packets", function()
  it("leaves the frames on its fill ring with the kernel: nothing the script holds is written", function()
    net.veth()
    local st = steer.open { ifname = "veth0", mode = "native" }
    net.defer(function() st:close() end)
    local u = xsk.umem { frame_count = 64, fill_size = 16, comp_size = 16 }
    local first = u:socket { ifname = "veth0", rx_size = 16, tx_size = 16, load_program = false }
    st:register(first)
    local other = u:socket { ifname = "veth1", rx_size = 16, tx_size = 16 }
    local on_fill = first:ring_entries("fill")
    assert.equal(16, #on_fill)
    local free = u:free_frames()
    first:close()
    assert.equal(free, u:free_frames(), "the first socket's fill ring frames went back to the pool")
    for _, addr in ipairs(on_fill) do assert.equal("fill", u:owner(addr)) end
    -- the script takes every free frame and marks it
    local mine = u:batch(64)
    local n = u:alloc(mine, 64)
    for i = 0, n - 1 do ffi.fill(mine.f[i].data, mine.f[i].cap, 0xaa) end
    local tx = u:batch(8)
    assert.equal(0, u:alloc(tx, 8)) -- all taken: send some of the script's own
    for i = 1, 5 do tx:push(mine.f[n - i]); mine:remove(n - i) end
    for i = 0, 4 do tx.f[i]:set(net.frame(("to the closed socket %d "):format(i) .. ("z"):rep(60))) end
    assert.equal(5, other:send(tx))
    assert.equal(0, other:flush())
    assert.equal(5, (st:unmatched()))
    for i = 0, mine.n - 1 do
      local f = mine.f[i]
      for k = 0, f.cap - 1 do
        if f.data[k] ~= 0xaa then error(("frame 0x%x was written at byte %d while the script held it"):format(
          tonumber(f.addr), k)) end
      end
    end
    u:close()
  end)
end)

-- Found while modelling reopen: every socket takes a ring-pair slot of its
-- UMEM, and a slot whose sockets have all closed is never used again, so
-- after 63 opens the UMEM refuses sockets though only one is open.
describe("a long-lived UMEM", function()
  it("can open and close sockets more than 63 times", function()
    net.veth()
    local u = xsk.umem { frame_count = 256, fill_size = 16, comp_size = 16 }
    local first = u:socket { ifname = "veth0" }
    local opened, err = 0, nil
    for _ = 1, 80 do
      local ok, s = pcall(u.socket, u, { ifname = "veth1" })
      if not ok then err = s; break end
      opened = opened + 1
      s:close()
    end
    first:close()
    u:close()
    assert.equal(80, opened, "open number " .. (opened + 1) .. " failed: " .. tostring(err))
  end)
end)
