-- Closing and collecting in every order: one teardown path in C, whatever
-- order Lua's GC finalises objects in, and nothing left attached.
local xsk = require "xsk"
local net = require "support.net"

local function maps_count()
  local n = 0
  for _ in io.lines("/proc/self/maps") do n = n + 1 end
  return n
end

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

  for _, order in ipairs { "sockets first", "umem first", "all at once" } do
    it("leaves nothing behind when the GC collects (" .. order .. ")", function()
      net.veth()
      collectgarbage(); collectgarbage()
      local before = maps_count()
      do
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
        u, a, b = nil, nil, nil
      end
      collectgarbage(); collectgarbage()
      assert.is_false(attached("veth0"))
      assert.is_false(attached("veth1"))
      assert.is_true(maps_count() <= before + 2, "mappings leaked: " .. before .. " -> " .. maps_count())
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
    local ok, res = pcall(a.send, a, bb)
    if not ok then assert.matches("send on veth0 queue 0", res, 1, true) end
    a:close(); b:close(); u:close()
  end)
end)
