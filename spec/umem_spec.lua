-- UMEM configuration, the frame pool and frame ownership without sockets.
local xsk = require "xsk"
local net = require "support.net"
local proc = require "support.proc"

describe("xsk.umem", function()
  it("uses libxdp's defaults", function()
    local u = xsk.umem()
    assert.equal(4096, u.frame_size)
    assert.equal(4096, u.frame_count)
    assert.equal(0, u.frame_headroom)
    assert.equal(4096 - 256, u.max_packet)
    assert.equal(4096, u:free_frames())
    u:close()
  end)

  local bad = {
    { { frame_size = 3000 }, "frame_size 3000 must be a power of two" },
    { { frame_size = 1024 }, "frame_size must be a whole number from 2048 to 65536, got 1024" },
    { { frame_size = 8192 }, "frame_size 8192 is larger than a page (4096 bytes)" },
    { { frame_headroom = 3800 }, "frame_headroom 3800 is too large for a 4096-byte frame" },
    { { frame_headroom = 3393 }, "so at most 3392" },
    { { fill_size = 1000 }, "fill_size 1000 must be a power of two" },
    { { comp_size = 3 }, "comp_size 3 must be a power of two" },
    { { frame_count = 0 }, "frame_count must be a whole number from 1" },
    { { frame_count = -5 }, "frame_count must be a whole number from 1" },
    { { frame_count = 1.5 }, "frame_count must be a whole number" },
    { { frame_count = 2 ^ 40 }, "frame_count must be a whole number from 1 to 16777216" },
    { { frame_count = 0 / 0 }, "frame_count must be a whole number from 1 to 16777216, got nan" },
    { { frame_count = 2 ^ 30 }, "frame_count must be a whole number from 1 to 16777216, got 1073741824" },
    { { frame_count = "64" }, 'frame_count must be a whole number from 1 to 16777216, got "64"' },
    { { hugepages = "yes" }, "hugepages must be true or false" },
    { { frame_szie = 2048 }, 'xsk.umem: unknown option "frame_szie"' },
    { { [1] = 2048 }, "unknown option 1" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. case[2], function()
      local ok, err = pcall(xsk.umem, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
    end)
  end

  it("rejects a config that is not a table", function()
    local ok, err = pcall(xsk.umem, 12)
    assert.is_false(ok)
    assert.matches("xsk.umem: expected a table of options, got number", err, 1, true)
  end)

  -- vm.nr_hugepages belongs to the host: each huge-page spec sets what it
  -- needs under a lock that other runs of this spec on the host share, and
  -- puts the old values back even when it fails (net.defer).
  local NR, OVERCOMMIT = "/proc/sys/vm/nr_hugepages", "/proc/sys/vm/nr_overcommit_hugepages"
  local function set_hugepages(reserve)
    local unlock = proc.lock("/run/lock/lua-xsk-hugepages.lock")
    local old_nr, old_over = proc.read_number(NR), proc.read_number(OVERCOMMIT)
    net.defer(function()
      proc.write_number(NR, old_nr)
      proc.write_number(OVERCOMMIT, old_over)
      unlock()
    end)
    -- no surplus pages either: only what is reserved here may be used
    proc.write_number(OVERCOMMIT, 0)
    proc.write_number(NR, reserve == 0 and 0 or old_nr + reserve)
  end

  it("explains huge pages when none are reserved", function()
    set_hugepages(0)
    assert.equal(0, proc.hugepages_free())
    local ok, err = pcall(xsk.umem, { frame_count = 1024, hugepages = true })
    assert.is_false(ok)
    assert.matches("cannot map 4194304 bytes of huge pages; reserve some first", err, 1, true)
    assert.matches("nr_hugepages", err, 1, true)
  end)

  it("maps its frames on huge pages when some are reserved, and gives them back", function()
    set_hugepages(4)
    local free = proc.hugepages_free()
    assert.is_true(free >= 2, "the kernel reserved " .. free .. " huge pages of the 4 asked for")
    -- 1024 frames of 4 KiB: 4 MiB, two 2 MiB pages
    local u = xsk.umem { frame_count = 1024, hugepages = true }
    assert.equal(free - 2, proc.hugepages_free())
    local b = u:batch(1)
    u:alloc(b, 1)
    b.f[0]:set("on a huge page")
    assert.equal("on a huge page", b.f[0]:bytes())
    u:close()
    -- the kernel unpins a UMEM's pages in deferred work after its socket closes
    local deadline = os.time() + 5
    while proc.hugepages_free() < free and os.time() < deadline do os.execute("sleep 0.05") end
    assert.equal(free, proc.hugepages_free())
  end)

  it("allocates every frame once and takes them back", function()
    local u = xsk.umem { frame_count = 16 }
    local b = u:batch(32)
    assert.equal(16, u:alloc(b))
    assert.equal(0, u:free_frames())
    local seen = {}
    for i = 0, b.n - 1 do
      local f = b.f[i]
      local chunk = tonumber(f.addr) - tonumber(f.addr) % u.frame_size
      assert.is_nil(seen[chunk])
      seen[chunk] = true
      assert.equal(256, tonumber(f.addr) - chunk)
      assert.equal(u.max_packet, f.cap)
      assert.equal("user", u:owner(f.addr))
    end
    assert.equal(0, u:alloc(b, 1))
    assert.equal(16, u:release(b))
    assert.equal(0, b.n)
    assert.equal(16, u:free_frames())
    assert.equal("pool", u:owner(0))
    u:close()
  end)

  it("refuses to release a frame twice, and releases none of that batch", function()
    local u = xsk.umem { frame_count = 8 }
    local b, again = u:batch(4), u:batch(4)
    u:alloc(b, 2)
    again:push(b.f[1])
    u:release(b)
    local ok, err = pcall(u.release, u, again)
    assert.is_false(ok)
    assert.matches("release: frame 0 %(addr 0x%x+%) is not the script's: it belongs to the free pool", err)
    assert.equal(8, u:free_frames())
    u:close()
  end)

  it("catches a frame listed twice in one batch", function()
    local u = xsk.umem { frame_count = 8 }
    local b = u:batch(4)
    u:alloc(b, 1)
    b:push(b.f[0])
    local ok, err = pcall(u.release, u, b)
    assert.is_false(ok)
    assert.matches("frame 1 %(addr 0x100%) is listed twice in the batch %(also as frame 0%)", err)
    assert.equal("user", u:owner(b.f[0].addr))
    assert.equal(7, u:free_frames())
    u:close()
  end)

  it("refuses frames of another UMEM", function()
    local u1, u2 = xsk.umem { frame_count = 8 }, xsk.umem { frame_count = 8 }
    local b = u1:batch(2)
    u1:alloc(b, 1)
    local ok, err = pcall(u2.release, u2, b)
    assert.is_false(ok)
    assert.matches("belongs to another UMEM", err, 1, true)
    assert.equal("user", u1:owner(b.f[0].addr))
    u1:close(); u2:close()
  end)

  it("refuses a frame length past the end of the frame", function()
    local u = xsk.umem { frame_count = 8, frame_size = 2048 }
    local b = u:batch(2)
    u:alloc(b, 1)
    b.f[0].len = 2048
    local ok, err = pcall(u.release, u, b)
    assert.is_false(ok)
    assert.matches("length 2048 runs past the end of its 2048%-byte frame %(at most 1792 here%)", err)
    local ok2, err2 = pcall(b.f[0].set, b.f[0], ("x"):rep(1793))
    assert.is_false(ok2)
    assert.matches("runs past the end of the frame", err2, 1, true)
    u:close()
  end)

  it("refuses a batch whose count exceeds its capacity", function()
    local u = xsk.umem { frame_count = 8 }
    local b = u:batch(2)
    b.n = 5
    local ok, err = pcall(u.release, u, b)
    assert.is_false(ok)
    assert.matches("batch count 5 is past its capacity 2", err, 1, true)
    u:close()
  end)

  it("places the headroom at the chunk start, not at addr - headroom", function()
    local u = xsk.umem { frame_count = 4, frame_size = 2048, frame_headroom = 128 }
    local b = u:batch(4)
    u:alloc(b)
    for i = 0, b.n - 1 do
      local f = b.f[i]
      local p, len = u:headroom(f)
      local chunk = tonumber(f.addr) - tonumber(f.addr) % 2048
      assert.equal(128, len)
      assert.equal(tonumber(net.ffi.cast("uintptr_t", u.area)) + chunk, tonumber(net.ffi.cast("uintptr_t", p)))
      assert.equal(chunk + 256 + 128, tonumber(f.addr))
    end
    u:close()
  end)

  it("empties batches and refuses calls once closed", function()
    local u = xsk.umem { frame_count = 4 }
    local b = u:batch(4)
    u:alloc(b)
    u:close()
    u:close()
    assert.equal(0, b.n)
    local ok, err = pcall(u.alloc, u, b)
    assert.is_false(ok)
    assert.matches("closed", err, 1, true)
  end)

  it("is freed by the GC when never closed: mappings, descriptors and memory come back", function()
    local function leave(n)
      for _ = 1, n do
        local u = xsk.umem { frame_count = 256 }
        u:batch(8)
      end
    end
    -- Collected only once leave has returned: a dead local still in its
    -- stack frame would keep the last UMEM alive.
    local function collect() collectgarbage(); collectgarbage() end
    leave(50) -- the first round settles the allocators and the Lua heap
    collect()
    local before = proc.snapshot()
    leave(50)
    collect()
    local after = proc.snapshot()
    assert.equal(before.ring_maps, after.ring_maps, "ring mappings")
    assert.equal("", proc.fd_growth(before, after), "file descriptors")
    -- each UMEM is 1 MiB: one left unfreed would show
    if not proc.under_valgrind() then
      assert.is_true(after.vm_kib - before.vm_kib < 1024,
        ("address space %d -> %d KiB"):format(before.vm_kib, after.vm_kib))
    end
  end)
end)
