-- The safety promise, tried as an attacker would: every misuse through the
-- API is a clean Lua error that says what was wrong, or correct behaviour;
-- nothing crashes, hangs, corrupts memory or strands a frame.  One describe
-- per class of issue 10.  Cases that crashed or hung the process before the
-- fix run in a child luajit (support/child), so a regression shows up as a
-- failed spec with its output, not as a dead test run.
local xsk = require "xsk"
local net = require "support.net"
local child = require "support.child"

-- Runs code in a child; it must end normally.  Returns its output.
local function survives(code, opts)
  local status, out = child.run(code, opts)
  assert.equal(0, status, ("the child crashed or hung (status %d):\n%s"):format(status, out))
  return out
end

-- Each expect() in the child printed a line; every one must be a refusal
-- whose message holds the pattern given for it (plain text).
local function refusals(out, patterns)
  local got = {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^REFUSED ") or line:match("^ACCEPTED") then got[#got + 1] = line end
  end
  assert.equal(#patterns, #got, "expected " .. #patterns .. " verdicts, got:\n" .. out)
  for i, pat in ipairs(patterns) do
    assert.is_truthy(got[i]:match("^REFUSED "), ("case %d was accepted (wanted %q):\n%s"):format(i, pat, out))
    assert.is_truthy(got[i]:find(pat, 1, true), ("case %d: %q not in %q"):format(i, pat, got[i]))
  end
end

-- The mappings this process has (lines of /proc/self/maps).
local function maps_count()
  local n = 0
  for _ in io.lines("/proc/self/maps") do n = n + 1 end
  return n
end

describe("safety: nil and wrong types at every entry point", function()
  it("refuses nil, tables, numbers and home-made structs where a batch goes, naming the call", function()
    local env = net.veth { enter = false }
    local calls = {
      "s:send(X)", "s:recv(X)", "s:forward(X)", "u:release(X)", "u:alloc(X)", "u:alloc(X, 1)",
      "s.fill:produce(X)", "s.tx:produce(X)", "s.tx:produce_and_wakeup(X)", "s.comp:consume(X)",
      "s.rx:consume(X)", "s.rx:poll_and_consume(X, 0)", "t:fill_batch(X)",
    }
    local bad = { "nil", "{}", "42", "'batch'", "ffi.new('struct lxsk_batch', 4)", "b.f[0]" }
    local code = { [[
local u = xsk.umem { frame_count = 64 }
local s = u:socket { ifname = "veth0" }
local b = u:batch(4)
u:alloc(b, 1)
local t = xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
  src_ip = "198.18.0.1", dst_ip = "198.18.0.2", src_port = 1, dst_port = 2 }
]] }
    local patterns = {}
    for _, call in ipairs(calls) do
      for _, x in ipairs(bad) do
        code[#code + 1] = ("expect(function() return %s end)"):format(call:gsub("X", x))
        patterns[#patterns + 1] = "expected a batch from umem:batch(), got"
      end
    end
    local out = survives(table.concat(code, "\n"), { ns = env.ns })
    refusals(out, patterns)
    assert.matches("got nil", out, 1, true)
    assert.matches("got table", out, 1, true)
    assert.matches("got ctype<struct lxsk_batch", out, 1, true)
  end)

  it("refuses what is not a frame where a frame goes", function()
    local out = survives [[
local u = xsk.umem { frame_count = 8 }
local b = u:batch(2)
expect(function() return b:push(nil) end)
expect(function() return b:push({}) end)
expect(function() return b:push(b) end)
expect(function() return u:headroom(nil) end)
]]
    refusals(out, { "push: the frame must be a frame", "push: the frame must be a frame",
      "push: the frame must be a frame", "headroom: f must be a frame" })
  end)
end)

describe("safety: fields Lua can write are not trusted", function()
  it("keeps a batch's capacity and a frame's bounds where Lua cannot change them", function()
    local out = survives [[
local u = xsk.umem { frame_count = 64 }
local b = u:batch(1)
expect(function() b.cap = 4096 end)
expect(function() b.umem_id = 99 end)
u:alloc(b, 1)
local f = b.f[0]
expect(function() f.cap = 1000000 end)
expect(function() f.data = f.data + 4096 end)
expect(function() f.addr = 0 end)
-- a cast can still write cap, as raw memory access can write anything: the
-- core goes by the capacity it keeps
ffi.cast("uint32_t *", b)[1] = 4096
b.n = 0
print("alloc", u:alloc(b))
-- a length past the frame: bytes() and set() refuse instead of reading on
f.len = 1000000
expect(function() return f:bytes() end)
expect(function() return f:set("x", 4000) end)
expect(function() return f:setlen(4000) end)
f.len = 10
print("bytes", #f:bytes())
]]
    refusals(out, { "attempt to write to constant location", "attempt to write to constant location",
      "attempt to write to constant location", "attempt to write to constant location",
      "attempt to write to constant location",
      "bytes: length 1000000 runs past the end of the frame (3840 bytes of room)",
      "set: writing 1 bytes at offset 4000 runs past the end",
      "setlen: the length must be a whole number from 0 to 3840" })
    assert.matches("alloc\t1\n", out, 1, true)
    assert.matches("bytes\t10\n", out, 1, true)
  end)

  it("lets no helper touch a frame the kernel owns, or one the script gave back", function()
    local env = net.veth { enter = false }
    local out = survives([[
local u = xsk.umem { frame_count = 64 }
local s = u:socket { ifname = "veth0", rx = false }
local b = u:batch(2)
u:alloc(b, 2, 60)
local copy = u:batch(2)
copy:push(b.f[0])
copy:push(b.f[1])
assert(s.tx:produce(b) == 2)          -- the kernel's now; copy still names them
expect(function() return copy.f[0]:set("overwrite") end)
expect(function() return copy.f[0]:bytes() end)
expect(function() return copy.f[0]:setlen(10) end)
expect(function() return copy.f[0]:room() end)
expect(function() return u:headroom(copy.f[0]) end)
expect(function() return copy:packet_string(0) end)
local path = os.tmpname()
local w = xsk.pcap.writer(path)
w:write(("x"):rep(60))
w:close()
local r = xsk.pcap.reader(path)
expect(function() return r:next_batch(copy) end)
r:close(); os.remove(path)
s:flush(); s:recycle()                 -- back in the pool
expect(function() return copy.f[1]:set("overwrite") end)
]], { ns = env.ns })
    local kernel = "is not the script's: it belongs to the kernel (on a TX or completion ring)"
    refusals(out, { kernel, kernel, kernel, kernel, kernel, kernel, kernel, "it belongs to the free pool" })
  end)

  it("respects b.n in template:fill_batch", function()
    local out = survives [[
local u = xsk.umem { frame_count = 64 }
local t = xsk.template.new { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
  src_ip = "198.18.0.1", dst_ip = "198.18.0.2", src_port = 1, dst_port = 2 }
local b = u:batch(4)
u:alloc(b, 4)
local keep = u:batch(4)
for i = 0, 3 do keep:push(b.f[i]) end
b.n = 0
expect(function() return t:fill_batch(b, 4) end)
b.n = 4
u:release(keep)                  -- b's entries name pool frames now
expect(function() return t:fill_batch(b) end)
]]
    refusals(out, { "frames 0 to 3 are not within the batch's 0 frames",
      "frame 0 (addr 0x100) is not the script's: it belongs to the free pool" })
  end)
end)

describe("safety: nothing outlives the memory it points into", function()
  it("a batch keeps its UMEM alive through garbage collection", function()
    local out = survives [[
local b
do
  local u = xsk.umem { frame_count = 64 }
  b = u:batch(2)
  u:alloc(b, 1)
end
for _ = 1, 4 do collectgarbage() end
b.f[0].data[0] = 0x42
b.f[0]:set("still mine")
print("read", b.f[0]:bytes())
]]
    assert.matches("read\tstill mine", out, 1, true)
  end)

  it("after close, saved pointers write into inert memory, never another UMEM's", function()
    local out = survives [[
local u = xsk.umem { frame_count = 64 }
local b = u:batch(64)
u:alloc(b, 64)
local p, first = b.f[0].data, b.f[0].addr
u:close()
print("n after close", b.n)
for i = 0, 64 * 4096 - 257, 509 do p[i] = 0xaa end   -- all over the old UMEM
print("read", p[0])
expect(function() return b.f[0]:set("x") end)
b.n = 1
expect(function() return b.f[0]:bytes() end)
expect(function() return u:alloc(b, 1) end)
-- a new UMEM does not get the old addresses while anything may point there
local u2 = xsk.umem { frame_count = 64 }
local b2 = u2:batch(64)
u2:alloc(b2, 64)
local clean = true
for j = 0, 63 do if b2.f[j].data[0] ~= 0 then clean = false end end
for i = 0, 64 * 4096 - 257, 509 do p[i] = 0xbb end
for j = 0, 63 do if b2.f[j].data[0] ~= 0 then clean = false end end
print("other UMEM untouched", clean)
]]
    assert.matches("n after close\t0", out, 1, true)
    assert.matches("read\t170", out, 1, true)
    assert.matches("other UMEM untouched\ttrue", out, 1, true)
    refusals(out, { "the UMEM is closed", "the UMEM is closed", "the UMEM is closed" })
  end)

  it("gives every mapping back once the UMEM and its batches are garbage, in any order", function()
    local before = maps_count()
    for round = 1, 20 do
      local u = xsk.umem { frame_count = 256 }
      local b = u:batch(8)
      u:alloc(b, 8)
      if round % 2 == 0 then u:close() end
      u, b = nil, nil -- luacheck: ignore
    end
    for _ = 1, 6 do collectgarbage() end
    assert.is_true(maps_count() <= before, ("mappings %d -> %d"):format(before, maps_count()))
  end)
end)

describe("safety: descriptor options", function()
  it("refuses every option bit but XDP_PKT_CONTD before the ring, and strands nothing", function()
    local env = net.veth { enter = false }
    local out = survives([[
local u = xsk.umem { frame_count = 64 }
local s = u:socket { ifname = "veth0", rx = false }
local b = u:batch(8)
u:alloc(b, 8, 60)
for _, bits in ipairs { 2, 4, 0x80000000, 1 } do
  b.f[3].options = bits
  expect(function() return s:send(b) end)
  expect(function() return s.tx:produce(b) end)
  expect(function() return s:forward(b) end)
end
b.f[3].options = 0
print("owners", u:owner(b.f[0].addr), u:owner(b.f[3].addr), b.n)
print("sent", s:send(b), s:flush(1000))
print("stats", s:stats().tx_invalid_descs)
print("free", u:free_frames())
]], { ns = env.ns })
    local p = {}
    for _, bits in ipairs { "0x2", "0x4", "0x80000000" } do
      for _ = 1, 3 do p[#p + 1] = "frame 3 (addr 0x3100) has options " .. bits .. ": only XDP_PKT_CONTD" end
    end
    for _ = 1, 3 do p[#p + 1] = "has XDP_PKT_CONTD set but the socket was made without multi_buffer" end
    refusals(out, p)
    assert.matches("owners\tuser\tuser\t8", out, 1, true)
    assert.matches("sent\t8\t0", out, 1, true)
    assert.matches("stats\t0", out, 1, true)
    assert.matches("free\t64", out, 1, true)
  end)
end)

describe("safety: the interface or its namespace goes away", function()
  -- A socket made inside a namespace that the thread then leaves: a name
  -- lookup from the home namespace never sees the interface go.
  -- The socket's own namespace cannot be the one deleted: the socket holds
  -- it (and so its interfaces) alive.  Deleting the peer's namespace takes
  -- the whole veth pair with it.
  local function gone_case(loop, how)
    local env = net.veth { enter = false, peer = true }
    return survives(([[
local netns = require "xsk.netns"
netns.enter(%q)
local u = xsk.umem { frame_count = 64 }
local s = u:socket { ifname = "veth0" }
local b = u:batch(8)
netns.leave()
os.execute(%q)
local start = ffi.new("struct lxsk_timespec")
ffi.C.lxsk_libc_clock_gettime(1, start)
local ok, err = pcall(function()
  for _ = 1, 1e9 do %s end
end)
local now = ffi.new("struct lxsk_timespec")
ffi.C.lxsk_libc_clock_gettime(1, now)
local waited = tonumber(now.tv_sec - start.tv_sec) + tonumber(now.tv_nsec - start.tv_nsec) / 1e9
print("raised", not ok, err)
print(("waited %%.2f"):format(waited))
u:close()
]]):format(env.ns, how:format(env.ns), loop), { timeout = 10 })
  end

  local loops = {
    ["recv(b, -1)"] = "s:recv(b, -1)",
    ["recv(b, 0) in a busy loop"] = "s:recv(b, 0)",
    ["rx:poll_and_consume in a busy loop"] = "s.rx:poll_and_consume(b, 0)",
    ["rx:consume in a busy loop"] = "s.rx:consume(b)",
    ["poll in a loop"] = "s:poll(10)",
  }
  for name, loop in pairs(loops) do
    it(name .. " raises within a second of the interface being deleted", function()
      local out = gone_case(loop, "ip -n %s link del veth0")
      assert.matches("raised\ttrue\t[^\n]*xsk.socket: [%a:_ ]+ on veth0 queue 0: the interface is gone", out)
      local waited = tonumber(out:match("waited ([%d.]+)"))
      assert.is_true(waited < 1, out)
    end)
  end

  it("recv(b, -1) raises within a second of the peer's namespace being deleted", function()
    local out = gone_case("s:recv(b, -1)", "ip netns del %sp")
    assert.matches("raised\ttrue\t[^\n]*xsk.socket: recv on veth0 queue 0: the interface is gone", out)
    assert.is_true(tonumber(out:match("waited ([%d.]+)")) < 1, out)
  end)
end)

describe("safety: a closing socket gives back what its rings held", function()
  it("returns the frames on its TX ring while another socket keeps the ring pair", function()
    net.veth()
    local u = xsk.umem { frame_count = 256 }
    local a = u:socket { ifname = "veth0", rx = false, load_program = false, tx_size = 64 }
    local b = u:socket { ifname = "veth0", rx = false, load_program = false }
    local tb = u:batch(32)
    u:alloc(tb, 32, 60)
    assert.equal(32, a.tx:produce(tb)) -- no kick: all 32 wait on a's TX ring
    assert.equal(32, a:ring_state("tx").entries)
    local free = u:free_frames()
    a:close()
    assert.equal(free + 32, u:free_frames())
    b:close()
    assert.equal(256, u:free_frames())
    u:close()
  end)

  it("returns the frames on its RX ring while another socket keeps the ring pair", function()
    local env = net.veth { peer = true, addr_b = "198.18.0.2/24" }
    local st = xsk.steer.open { ifname = "veth0" }
    local u = xsk.umem { frame_count = 256, fill_size = 64 }
    local rx = u:socket { ifname = "veth0", load_program = false, rx_size = 64 }
    local keep = u:socket { ifname = "veth0", rx = false, load_program = false }
    st:register(rx)
    net.netns.sh(("ip netns exec %s ping -c 5 -i 0.05 -W 1 198.18.0.9 >/dev/null 2>&1 || true")
      :format(env.peer_ns))
    local waiting = rx:ring_state("rx").entries
    assert.is_true(waiting > 0, "no packet reached the RX ring")
    local before = u:free_frames()
    st:unregister(rx)
    rx:close()
    assert.is_true(u:free_frames() >= before + waiting,
      ("free %d -> %d, %d were on the RX ring"):format(before, u:free_frames(), waiting))
    -- rx was the UMEM's first socket, which libxdp leaves bound (on the UMEM's
    -- own fd) and the core cannot tell out of the user's XSKMAP: the frames on
    -- its queue's fill ring stay with the kernel until the UMEM closes
    local on_fill = keep:ring_entries("fill")
    keep:close()
    assert.equal(256 - #on_fill, u:free_frames())
    for _, chunk in ipairs(on_fill) do assert.equal("fill", u:owner(chunk)) end
    u:close()
    st:close()
  end)
end)

describe("safety: fork", function()
  it("a child that exits normally leaves the parent's socket and XDP program alone", function()
    local env = net.veth { enter = false, peer = true, addr_b = "198.18.0.2/24" }
    local out = survives(([[
ffi.cdef "int fork(void); int waitpid(int pid, int *status, int options);"
local u = xsk.umem { frame_count = 256 }
local s = u:socket { ifname = "veth0" }
local b = u:batch(64)
local pid = ffi.C.fork()
if pid == 0 then
  collectgarbage()
  os.exit(0, true)     -- lua_close: every finalizer runs in the child
end
local st = ffi.new("int[1]")
ffi.C.waitpid(pid, st, 0)
print("child status", st[0])
local attached = io.popen("ip link show dev veth0"):read("*a"):match("xdp") ~= nil
print("still attached", attached)
os.execute("ip netns exec %s ping -c 3 -i 0.1 -W 1 198.18.0.9 >/dev/null 2>&1")
local got = 0
for _ = 1, 20 do got = got + s:recv(b, 100); u:release(b) end
print("received", got > 0)
u:close()
]]):format(env.peer_ns), { ns = env.ns })
    assert.matches("child status\t0", out, 1, true)
    assert.matches("still attached\ttrue", out, 1, true)
    assert.matches("received\ttrue", out, 1, true)
  end)
end)

describe("safety: a failed socket leaves its UMEM as it was", function()
  it("refuses out-of-range options before binding, then binds", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local cases = {
      { { busy_poll_us = 2 ^ 31 }, "busy_poll_us must be a whole number from 0 to 2147483647, got 2147483648" },
      { { busy_poll_budget = 70000 }, "busy_poll_budget must be a whole number from 0 to 65535" },
      { { tx_budget = 31 }, "tx_budget 31 must be from 32 to tx_size (2048), or 0" },
      { { tx_budget = 4096 }, "tx_budget 4096 must be from 32 to tx_size (2048), or 0" },
      { { tx_budget = 64, tx = false }, "tx_budget needs a TX ring" },
      { { batch_size = 2 ^ 32 - 1 }, "batch_size must be a whole number from 1 to 65536" },
      { { rx_size = 3 }, "rx_size 3 must be a power of two" },
    }
    for _, c in ipairs(cases) do
      c[1].ifname = "veth0"
      local ok, err = pcall(u.socket, u, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end
    local s = u:socket { ifname = "veth0", busy_poll_us = 50, busy_poll_budget = 64, tx_budget = 64 }
    assert.equal(64, s:fd() and require("xsk.cdef").lxsk_sock_tx_budget(s.s))
    u:close()
  end)
end)

describe("safety: numbers", function()
  it("refuses negative, fractional, NaN and huge values, naming the argument", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0" }
    local b = u:batch(4)
    local free = u:free_frames()
    local cases = {
      { function() return u:alloc(b, -1) end, "alloc: n must be a whole number from 0 up, got -1" },
      { function() return u:alloc(b, 2.5) end, "alloc: n must be a whole number from 0 up, got 2.5" },
      { function() return u:alloc(b, 0 / 0) end, "alloc: n must be a whole number from 0 up, got nan" },
      { function() return u:alloc(b, 1, -1) end, "alloc: len must be a whole number from 0 to 3840, got -1" },
      { function() return u:alloc(b, 1, 1e9) end, "alloc: len must be a whole number from 0 to 3840" },
      { function() return s:recv(b, 2.5) end, "recv: timeout_ms must be -1 or more (ms), got 2.5" },
      { function() return s:recv(b, -2) end, "recv: timeout_ms must be -1 or more (ms), got -2" },
      { function() return s:flush(0 / 0) end, "flush: timeout_ms must be -1 or more (ms), got nan" },
      { function() return s:poll(1e12) end, "poll: timeout_ms must be -1 or more (ms)" },
      { function() return s.rx:consume(b, -1) end, "max must be a whole number from 0 up, got -1" },
      { function() return u:batch(0) end, "batch: size must be a whole number from 1 to 65536, got 0" },
      { function() return u:batch(2.5) end, "batch: size must be a whole number from 1 to 65536, got 2.5" },
      { function() return u:batch(2 ^ 32) end, "batch: size must be a whole number from 1 to 65536" },
      { function() return u:owner(-4096) end, "owner: addr must be a whole number from 0" },
      { function() return u:share(-1) end, "share: n must be a whole number from 0" },
      { function() return b:remove(-1) end, "remove: the index must be a whole number" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok, "case " .. i .. " was accepted")
      assert.matches(c[2], err, 1, true)
    end
    assert.equal(free, u:free_frames())
    u:alloc(b, 1)
    local f = b.f[0]
    for _, v in ipairs { -1, 2.5, 0 / 0, 1e9 } do
      assert.is_false((pcall(f.setlen, f, v)))
      assert.is_false((pcall(f.set, f, "x", v)))
    end
    u:close()
  end)
end)

describe("safety: configuration limits are the kernel's", function()
  it("refuses frames larger than a page up front, naming the key, and explains huge pages", function()
    for _, size in ipairs { 8192, 16384, 65536 } do
      local ok, err = pcall(xsk.umem, { frame_count = 64, frame_size = size })
      assert.is_false(ok)
      assert.matches(("xsk.umem: frame_size %d is larger than a page (4096 bytes)"):format(size), err, 1, true)
      assert.matches("hugepages = true", err, 1, true)
    end
  end)

  it("takes the largest headroom the kernel takes, and refuses one byte more up front", function()
    for _, size in ipairs { 2048, 4096 } do
      local u = xsk.umem { frame_count = 64, frame_size = size, frame_headroom = size - 704 }
      assert.equal(size - 704, u.frame_headroom)
      assert.equal(size - 256 - (size - 704), u.max_packet)
      u:close()
      local ok, err = pcall(xsk.umem, { frame_count = 64, frame_size = size, frame_headroom = size - 703 })
      assert.is_false(ok)
      assert.matches(("so at most %d"):format(size - 704), err, 1, true)
    end
  end)
end)

describe("safety: errors say why", function()
  it("names a frame listed twice as such", function()
    local u = xsk.umem { frame_count = 8 }
    local b = u:batch(4)
    u:alloc(b, 2)
    b:push(b.f[1])
    local ok, err = pcall(u.release, u, b)
    assert.is_false(ok)
    assert.matches("release: frame 2 (addr 0x1100) is listed twice in the batch (also as frame 1)", err, 1, true)
    u:close()
  end)
end)
