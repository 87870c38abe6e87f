-- Frame and batch methods that check what a script asks for before they
-- write into a frame or a batch: a length within the frame's room, a push
-- onto a batch with room, an index inside the batch.
local xsk = require "xsk"
local C = require "xsk.cdef"

describe("frame:setlen", function()
  it("sets any length from 0 to the frame's room and returns the frame", function()
    local u = xsk.umem { frame_count = 4, frame_size = 2048 }
    local b = u:batch(1)
    u:alloc(b, 1)
    local f = b.f[0]
    assert.equal(2048 - 256, f.cap)
    assert.equal(f, f:setlen(f.cap))
    assert.equal(f.cap, f.len)
    f:setlen(0)
    assert.equal(0, f.len)
    f:setlen(60)
    assert.equal(60, f.len)
    u:close()
  end)

  it("refuses a length past the frame's room or below 0, and keeps the old one", function()
    local u = xsk.umem { frame_count = 4, frame_size = 2048 }
    local b = u:batch(1)
    u:alloc(b, 1)
    local f = b.f[0]
    f:setlen(60)
    for _, n in ipairs { f.cap + 1, 4096, -1 } do
      local ok, err = pcall(function() f:setlen(n) end)
      assert.is_false(ok, "setlen(" .. n .. ")")
      -- raised at the caller, naming the length wanted and the room
      assert.matches("^spec/frame_spec.lua:%d+: ", err)
      assert.matches(("xsk.frame: setlen: the length must be a whole number from 0 to %d, got %d"):format(f.cap, n),
        err, 1, true)
      assert.equal(60, f.len)
    end
    -- the release and send paths would refuse such a length too, but only later
    assert.equal(1, u:release(b))
    u:close()
  end)
end)

describe("batch:push", function()
  it("appends frame descriptors until the batch is full, then refuses and changes nothing", function()
    local u = xsk.umem { frame_count = 8 }
    local src = u:batch(3)
    u:alloc(src, 3)
    local b = u:batch(2)
    b:push(src.f[0])
    b:push(src.f[1])
    assert.equal(2, b.n)
    assert.equal(src.f[1].addr, b.f[1].addr)
    local ok, err = pcall(b.push, b, src.f[2])
    assert.is_false(ok)
    assert.matches("xsk.batch: push: the batch is full (2 frames)", err, 1, true)
    assert.equal(2, b.n)
    assert.equal(src.f[0].addr, b.f[0].addr)
    assert.equal(src.f[1].addr, b.f[1].addr)
    u:release(src)
    u:close()
  end)

  it("refuses a push onto a batch whose UMEM was closed", function()
    local u = xsk.umem { frame_count = 4 }
    local b = u:batch(4)
    u:alloc(b, 1)
    local keep = b.f[0]
    u:close()
    local ok, err = pcall(b.push, b, keep)
    assert.is_false(ok)
    assert.matches("xsk.batch: push: the UMEM is closed", err, 1, true)
    assert.equal(0, b.n)
  end)
end)

describe("batch:remove", function()
  it("moves the last descriptor into the hole, and refuses an index outside the batch", function()
    local u = xsk.umem { frame_count = 4 }
    local b = u:batch(4)
    u:alloc(b, 3)
    local last = b.f[2].addr
    b:remove(0)
    assert.equal(2, b.n)
    assert.equal(last, b.f[0].addr)
    for _, i in ipairs { 2, -1 } do
      local ok, err = pcall(b.remove, b, i)
      assert.is_false(ok)
      assert.matches(("xsk.batch: remove: the index must be a whole number from 0 to 1, got %d"):format(i), err, 1,
        true)
      assert.equal(2, b.n)
    end
    u:close()
  end)

  it("is refused by the C side too, for a script that calls it through the FFI", function()
    local u = xsk.umem { frame_count = 4 }
    local b = u:batch(2)
    u:alloc(b, 2)
    local addr = b.f[1].addr
    assert.is_true(C.lxsk_batch_remove(b, 2) < 0)
    assert.equal(2, b.n)
    assert.equal(addr, b.f[1].addr)
    u:close()
  end)
end)
