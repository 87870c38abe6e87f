-- Closing and collecting in every order: one teardown path in C, whatever
-- order Lua's GC finalises objects in, and nothing left attached.
local xsk = require "xsk"
local net = require "support.net"
local proc = require "support.proc"

local function attached(dev)
  return net.netns.sh("ip -d link show dev " .. dev):find("prog/xdp", 1, true) ~= nil
end

local function open_pair()
  local u = xsk.umem { frame_count = 128, fill_size = 32 }
  local a = u:socket { ifname = "veth0" }
  local b = u:socket { ifname = "veth1" }
  return u, a, b
end

describe("lifecycle", function()
  it("closes sockets then UMEM, twice, and detaches the program", function()
    net.veth()
    local u, a, b = open_pair()
    assert.is_true(attached("veth0"))
    a:close(); a:close(); b:close(); u:close(); u:close()
    assert.is_false(attached("veth0"))
    assert.is_false(attached("veth1"))
  end)

  it("closes the UMEM first, which closes its sockets", function()
    net.veth()
    local u, a, b = open_pair()
    local rb = u:batch(1)
    u:close()
    assert.is_false(attached("veth0"))
    assert.is_false(attached("veth1"))
    local ok, err = pcall(a.recv, a, rb)
    assert.is_false(ok)
    assert.matches("socket is closed", err, 1, true)
    ok, err = pcall(b.stats, b)
    assert.is_false(ok)
    assert.matches("stats on veth1 queue 0: the socket is closed", err, 1, true)
    b:close()
  end)

  it("closes the UMEM's first socket while a later one keeps working", function()
    net.veth()
    local u, a, b = open_pair()
    local out = u:batch(1)
    a:close()
    u:alloc(out, 1)
    out.f[0]:set(net.frame("still here"))
    assert.equal(1, b:send(out))
    b:close(); u:close()
  end)

  it("refuses a new socket on a UMEM whose sockets were all closed", function()
    net.veth()
    local u, a, b = open_pair()
    a:close(); b:close()
    local ok, err = pcall(u.socket, u, { ifname = "veth0" })
    assert.is_false(ok)
    assert.matches("create a new UMEM", err, 1, true)
    u:close()
  end)

  -- Opens a UMEM with two sockets and lets them go in the given order;
  -- returns once they are unreachable (a dead local in the frame that made
  -- them would keep them alive through a collection).
  local function open_and_drop(order)
    local u, a, b = open_pair()
    if order == "sockets first" then
      a, b = nil, nil
      collectgarbage(); collectgarbage()
      assert.is_false(attached("veth0"))
    elseif order == "umem first" then
      -- the sockets still reference the UMEM object, so only the C side
      -- decides the order: close the UMEM, collect the sockets later
      u:close()
    end
    return a ~= nil and b ~= nil and u ~= nil
  end

  for _, order in ipairs { "sockets first", "umem first", "all at once" } do
    it("leaves nothing behind when the GC collects (" .. order .. ")", function()
      net.veth()
      -- one round first: libxdp, libbpf and the Lua heap settle
      open_and_drop(order)
      collectgarbage(); collectgarbage()
      local before = proc.snapshot()
      for _ = 1, 3 do
        open_and_drop(order)
        collectgarbage(); collectgarbage()
      end
      local after = proc.snapshot()
      assert.is_false(attached("veth0"))
      assert.is_false(attached("veth1"))
      assert.equal(before.ring_maps, after.ring_maps, "ring mappings")
      -- libxdp 1.3.1 keeps one program and one map descriptor of every
      -- socket that had it load its default program (fixed upstream:
      -- xdp-tools #376, #576); everything else must come back exactly
      local bpf_progs = (after.fd_kinds["anon_inode:bpf-prog"] or 0) - (before.fd_kinds["anon_inode:bpf-prog"] or 0)
      local bpf_maps = (after.fd_kinds["anon_inode:bpf-map"] or 0) - (before.fd_kinds["anon_inode:bpf-map"] or 0)
      assert.is_true(bpf_progs <= 6 and bpf_maps <= 6, "BPF descriptors: " .. proc.fd_growth(before, after))
      after.fd_kinds["anon_inode:bpf-prog"] = before.fd_kinds["anon_inode:bpf-prog"]
      after.fd_kinds["anon_inode:bpf-map"] = before.fd_kinds["anon_inode:bpf-map"]
      assert.equal("", proc.fd_growth(before, after), "file descriptors")
      -- one UMEM here is 128 frames of 4 KiB: 512 KiB
      if not proc.under_valgrind() then
        assert.is_true(after.vm_kib - before.vm_kib < 512,
          ("address space %d -> %d KiB"):format(before.vm_kib, after.vm_kib))
      end
    end)
  end

  it("survives its interface being deleted under it", function()
    local env = net.veth()
    local u, a, b = open_pair()
    net.netns.sh(("ip -n %s link del %s"):format(env.ns, env.a))
    local bb = u:batch(4)
    -- a waiting receive names the lost interface; send reports it or sends nothing
    local rok, rerr = pcall(b.recv, b, bb, 10)
    assert.is_false(rok)
    assert.matches("recv on veth1 queue 0: the interface is gone", rerr, 1, true)
    u:alloc(bb, 1)
    bb.f[0]:set(net.frame("into the void"))
    local addr = bb.f[0].addr
    local ok, res = pcall(a.send, a, bb)
    assert.is_false(ok, "send to a deleted interface returned " .. tostring(res))
    assert.matches("send on veth0 queue 0: the interface is gone", res, 1, true)
    -- nothing went out: the frame sits on the TX ring the kernel no longer
    -- reads, nothing completed, and closing gives it back
    assert.equal("tx", u:owner(addr))
    assert.equal(1, a:ring_state("tx").entries)
    assert.equal(0, a:ring_state("comp").entries)
    a:close(); b:close()
    assert.equal("pool", u:owner(addr))
    assert.equal(128, u:free_frames())
    u:close()
  end)
end)
