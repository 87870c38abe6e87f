-- Sockets: configuration errors, bind modes, capabilities, statistics.
local xsk = require "xsk"
local net = require "support.net"

local function socket_error(env_opts, umem_cfg, sock_cfg)
  net.veth(env_opts)
  local u = xsk.umem(umem_cfg or { frame_count = 64 })
  local ok, err = pcall(u.socket, u, sock_cfg)
  u:close()
  assert.is_false(ok)
  return err
end

describe("xsk socket", function()
  it("binds in copy mode on veth and reports no zero-copy", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0" }
    assert.is_false(s:zerocopy())
    assert.is_true(s:fd() > 0)
    local st = s:stats()
    for _, k in ipairs { "rx_dropped", "rx_invalid_descs", "tx_invalid_descs", "rx_ring_full",
      "rx_fill_ring_empty_descs", "tx_ring_empty_descs" } do
      assert.is_number(st[k], k)
    end
    assert.equal(2048, s:ring_state("rx").size)
    assert.equal(2048, s:ring_state("fill").size)
    s:close()
    u:close()
  end)

  it("fails clearly when zero-copy is asked for on veth", function()
    local err = socket_error(nil, nil, { ifname = "veth0", bind_mode = "zerocopy" })
    assert.matches("veth0 queue 0: zero%-copy requested but the driver of veth0 does not support it", err)
    assert.matches("errno", err, 1, true)
  end)

  it("names an unknown interface", function()
    local err = socket_error(nil, nil, { ifname = "nosuch0" })
    assert.matches("nosuch0 queue 0: no such interface (errno 19", err, 1, true)
  end)

  it("names a queue out of range", function()
    local err = socket_error({ queues = 2 }, nil, { ifname = "veth0", queue = 2 })
    assert.matches("veth0 queue 2: queue out of range (veth0 has 2 queues)", err, 1, true)
  end)

  it("rejects ring sizes that are not powers of two", function()
    local err = socket_error(nil, nil, { ifname = "veth0", rx_size = 1000 })
    assert.matches("rx_size 1000 must be a power of two", err, 1, true)
    err = socket_error(nil, nil, { ifname = "veth0", tx_size = 3 })
    assert.matches("tx_size 3 must be a power of two", err, 1, true)
  end)

  it("rejects wrong types, unknown keys and a missing ifname", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local cases = {
      { { ifname = 5 }, 'ifname must be a non-empty string, got 5' },
      { { ifname = "veth0", queue = -1 }, "queue must be a whole number from 0" },
      { { ifname = "veth0", queue = "0" }, 'queue must be a whole number from 0 to 65535, got "0"' },
      { { ifname = "veth0", bind_mode = "fast" }, 'bind_mode must be one of "auto", "copy", "zerocopy"' },
      { { ifname = "veth0", attach_mode = 1 }, 'attach_mode must be one of "auto", "native", "skb"' },
      { { ifname = "veth0", need_wakeup = 1 }, "need_wakeup must be true or false" },
      { { ifname = "veth0", colour = "red" }, 'xsk.socket: unknown option "colour"' },
      { {}, "xsk.socket: ifname is required" },
      { { ifname = "veth0", rx = false, tx = false }, "needs an RX ring, a TX ring or both" },
      { { ifname = ("x"):rep(20) }, "must have 1 to 15 characters" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(u.socket, u, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end
    local ok, err = pcall(xsk.socket, {}, { ifname = "veth0" })
    assert.is_false(ok)
    assert.matches("first argument must be an xsk.umem", err, 1, true)
    u:close()
  end)

  it("says when the queue is already taken", function()
    net.veth()
    local u1, u2 = xsk.umem { frame_count = 64 }, xsk.umem { frame_count = 64 }
    local s1 = u1:socket { ifname = "veth0" }
    local ok, err = pcall(u2.socket, u2, { ifname = "veth0" })
    assert.is_false(ok)
    assert.matches("veth0 queue 0: the queue is busy", err, 1, true)
    s1:close(); u1:close(); u2:close()
  end)

  it("binds in native and skb attach modes, and with the program left to the user", function()
    net.veth()
    for _, mode in ipairs { "native", "skb" } do
      local u = xsk.umem { frame_count = 64 }
      local s = u:socket { ifname = "veth0", attach_mode = mode, bind_mode = "copy" }
      local link = net.netns.sh("ip -d link show dev veth0")
      assert.matches(mode == "skb" and "xdpgeneric" or "xdp ", link, 1, true)
      s:close(); u:close()
      assert.not_matches("prog/xdp", net.netns.sh("ip -d link show dev veth0"), 1, true)
    end
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0", load_program = false }
    assert.not_matches("prog/xdp", net.netns.sh("ip -d link show dev veth0"), 1, true)
    s:close(); u:close()
  end)

  it("needs root, and says so", function()
    local env = net.veth({ enter = false })
    -- nobody cannot read a clone in a private folder (Debian's 0700 homes,
    -- mktemp -d): run from a world-readable copy of the modules and core.
    local dir = io.popen("mktemp -d"):read("*l")
    finally(function() os.execute("rm -rf " .. dir) end)
    local build = os.getenv("LXSK_BUILD") or "build"
    net.netns.sh(("mkdir -p %s/lib/xsk && cp -r lua/xsk %s/ && cp %s/lua/xsk/core.so %s/lib/xsk/ && chmod -R a+rX %s")
      :format(dir, dir, build, dir, dir))
    local script = ([[
      package.path = "%s/?.lua;%s/?/init.lua;" .. package.path
      package.cpath = "%s/lib/?.so;" .. package.cpath
      local xsk = require "xsk"
      local ok, err = pcall(function()
        local u = xsk.umem { frame_count = 64 }
        return u:socket { ifname = "veth0" }
      end)
      io.write(tostring(ok), " ", tostring(err))
    ]]):format(dir, dir, dir)
    local path = dir .. "/needs_root.lua"
    local f = assert(io.open(path, "w")); f:write(script); f:close()
    os.execute("chmod 644 " .. path)
    local out = net.netns.sh(("cd / && ip netns exec %s setpriv --reuid=65534 --regid=65534 --clear-groups "
      .. "--inh-caps=-all --bounding-set=-all luajit %s"):format(env.ns, path))
    assert.matches("^false ", out)
    assert.matches("needs root", out, 1, true)
  end)

  it("applies busy-poll options and explains a missing tx_budget", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0", busy_poll_us = 20, busy_poll_budget = 64, prefer_busy_poll = true }
    s:close()
    u:close()
    u = xsk.umem { frame_count = 64 }
    local ok, err = pcall(u.socket, u, { ifname = "veth0", tx_budget = 256 })
    if ok then
      assert.equal(256, require("xsk.cdef").lxsk_sock_tx_budget(err.s))
    else
      assert.matches("tx_budget", err, 1, true)
    end
    u:close()
  end)
end)
