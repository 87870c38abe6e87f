-- Sockets: configuration errors, bind modes, capabilities, statistics.
local xsk = require "xsk"
local net = require "support.net"
local ffi = require "ffi"

local function socket_error(env_opts, umem_cfg, sock_cfg)
  net.veth(env_opts)
  local u = xsk.umem(umem_cfg or { frame_count = 64 })
  local ok, err = pcall(u.socket, u, sock_cfg)
  u:close()
  assert.is_false(ok)
  return err
end

local SOL_SOCKET, SO_BUSY_POLL, SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET = 1, 46, 69, 70
local AF_XDP, SOCK_RAW, SOL_XDP, XDP_MAX_TX_SKB_BUDGET = 44, 3, 283, 9
local ENOPROTOOPT = 92

ffi.cdef [[
int lxsk_spec_socket(int domain, int type, int protocol) __asm__("socket");
int lxsk_spec_sock_close(int fd) __asm__("close");
int lxsk_spec_getsockopt(int fd, int level, int name, void *val, unsigned *len) __asm__("getsockopt");
int lxsk_spec_setsockopt(int fd, int level, int name, const void *val, unsigned len) __asm__("setsockopt");
]]

-- An interposer for setsockopt: logs every int-sized option set, and the
-- result, to $LXSK_SPEC_SOCKOPT_LOG.
local SETSOCKOPT_SHIM = [[
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int (*real)(int, int, int, const void *, socklen_t) =
		(int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
	const char *path = getenv("LXSK_SPEC_SOCKOPT_LOG");
	int r = real(fd, level, name, val, len);

	if (path && val && len == sizeof(int)) {
		FILE *f = fopen(path, "a");
		if (f) {
			fprintf(f, "%d %d %d %d\n", level, name, *(const int *)val, r);
			fclose(f);
		}
	}
	return r;
}
]]

-- The value of an int SOL_SOCKET option of fd; nil and errno when the
-- kernel cannot say.
local function getsockopt_int(fd, name)
  local v, len = ffi.new("int[1]"), ffi.new("unsigned[1]", 4)
  if ffi.C.lxsk_spec_getsockopt(fd, SOL_SOCKET, name, v, len) ~= 0 then return nil, ffi.errno() end
  return v[0]
end

-- Asks the kernel itself, on a bare AF_XDP socket: a kernel without the
-- option says ENOPROTOOPT, one with it refuses a socket that has no TX ring.
local function kernel_has_tx_budget()
  local fd = ffi.C.lxsk_spec_socket(AF_XDP, SOCK_RAW, 0)
  assert(fd >= 0, "no AF_XDP socket")
  local budget = ffi.new("unsigned[1]", 64)
  local r = ffi.C.lxsk_spec_setsockopt(fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, budget, 4)
  local errno = ffi.errno()
  ffi.C.lxsk_spec_sock_close(fd)
  return r == 0 or errno ~= ENOPROTOOPT
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

  it("sets the busy-poll options on the socket: the kernel reads them back", function()
    net.veth()
    local u = xsk.umem { frame_count = 64 }
    local s = u:socket { ifname = "veth0", busy_poll_us = 20, busy_poll_budget = 64, prefer_busy_poll = true }
    assert.equal(20, getsockopt_int(s:fd(), SO_BUSY_POLL))
    assert.equal(1, getsockopt_int(s:fd(), SO_PREFER_BUSY_POLL))
    -- Linux has no getsockopt for SO_BUSY_POLL_BUDGET (ENOPROTOOPT); where
    -- it has one, it must say 64.  The next spec watches it being set.
    local budget, errno = getsockopt_int(s:fd(), SO_BUSY_POLL_BUDGET)
    if budget then assert.equal(64, budget) else assert.equal(ENOPROTOOPT, errno) end
    local plain = u:socket { ifname = "veth1" }
    assert.equal(0, getsockopt_int(plain:fd(), SO_BUSY_POLL))
    assert.equal(0, getsockopt_int(plain:fd(), SO_PREFER_BUSY_POLL))
    u:close()
  end)

  -- What the kernel cannot read back, a child process shows: its setsockopt
  -- calls pass through a small interposer (LD_PRELOAD) that logs them.
  it("passes busy_poll_budget to the kernel (SO_BUSY_POLL_BUDGET), as the socket's setsockopt calls show", function()
    net.veth()
    local dir = os.tmpname()
    os.remove(dir)
    assert.equal(0, os.execute("mkdir -m 700 " .. dir))
    net.defer(function() os.execute("rm -rf " .. dir) end)
    local f = assert(io.open(dir .. "/shim.c", "w"))
    f:write(SETSOCKOPT_SHIM)
    f:close()
    net.netns.sh(("cc -shared -fPIC -o %s/shim.so %s/shim.c -ldl"):format(dir, dir))
    f = assert(io.open(dir .. "/child.lua", "w"))
    f:write([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath
      local xsk = require "xsk"
      local u = xsk.umem { frame_count = 64 }
      u:socket { ifname = "veth0", busy_poll_us = 20, busy_poll_budget = 64, prefer_busy_poll = true }
      u:close()
    ]])
    f:close()
    -- (under make asan the luajit first on PATH puts ASan's runtime before it)
    net.netns.sh(("LXSK_SPEC_SOCKOPT_LOG=%s/log LD_PRELOAD=%s/shim.so luajit %s/child.lua"):format(dir, dir, dir))
    local calls = {}
    for line in io.lines(dir .. "/log") do calls[line] = true end
    -- "level option value result"
    assert.is_true(calls[("%d %d 64 0"):format(SOL_SOCKET, SO_BUSY_POLL_BUDGET)], "SO_BUSY_POLL_BUDGET 64 not set")
    assert.is_true(calls[("%d %d 20 0"):format(SOL_SOCKET, SO_BUSY_POLL)], "SO_BUSY_POLL 20 not set")
    assert.is_true(calls[("%d %d 1 0"):format(SOL_SOCKET, SO_PREFER_BUSY_POLL)], "SO_PREFER_BUSY_POLL not set")
  end)

  it("poll: readable while a packet waits, not before and not once it is taken", function()
    net.veth()
    local tu, ru = xsk.umem { frame_count = 64 }, xsk.umem { frame_count = 64 }
    local tx = tu:socket { ifname = "veth0", rx = false }
    local rx = ru:socket { ifname = "veth1", tx = false }
    -- an RX-only socket is never writable, a TX-only one never readable
    assert.same({ false, false }, { rx:poll(0, "inout") })
    assert.same({ false, true }, { tx:poll(0, "inout") })
    local b = tu:batch(1)
    tu:alloc(b, 1)
    b.f[0]:set(net.frame("poll me"))
    assert.equal(1, tx:send(b))
    assert.same({ true, false }, { rx:poll(2000) })
    -- polling takes nothing: it stays readable until recv takes the packet
    assert.same({ true, false }, { rx:poll(0, "inout") })
    local rb = ru:batch(4)
    assert.equal(1, rx:recv(rb))
    assert.equal(net.frame("poll me"), rb.f[0]:bytes())
    ru:release(rb)
    assert.same({ false, false }, { rx:poll(0) })
    tu:close(); ru:close()
  end)

  it("poll: writable while the TX ring is at most half full; in copy mode each poll also sends", function()
    net.veth()
    local u = xsk.umem { frame_count = 128 }
    local tx = u:socket { ifname = "veth0", rx = false, tx_size = 128 }
    local b = u:batch(100)
    u:alloc(b, 100)
    for i = 0, 99 do b.f[i]:set(net.frame("poll " .. i)) end
    assert.equal(100, tx.tx:produce(b)) -- no kick: all 100 wait
    local full_seen = false
    for _ = 1, 20 do
      local before = tx:ring_state("tx").entries
      if before == 0 then break end
      local readable, writable = tx:poll(0, "out")
      local after = tx:ring_state("tx").entries
      assert.is_false(readable)
      assert.is_true(after < before, "poll sent nothing of " .. before)
      assert.equal(after <= 64, writable, after .. " frames of 128 left")
      full_seen = full_seen or not writable
    end
    assert.is_true(full_seen, "the ring was never more than half full")
    assert.equal(0, tx:ring_state("tx").entries)
    assert.same({ false, true }, { tx:poll(0, "out") })
    -- an interface that is down reports neither
    net.netns.sh("ip link set dev veth0 down")
    assert.same({ false, false }, { tx:poll(0, "inout") })
    u:close()
  end)

  -- Copy mode sends at most the socket's TX budget per kick (32 unless
  -- XDP_MAX_TX_SKB_BUDGET raised it): one kick over 64 waiting frames shows it.
  local function left_after_one_kick(cfg)
    local u = xsk.umem { frame_count = 128 }
    cfg.ifname, cfg.rx, cfg.tx_size = "veth0", false, 64
    local s = u:socket(cfg)
    local b = u:batch(64)
    u:alloc(b, 64)
    for i = 0, 63 do b.f[i]:set(net.frame("budget " .. i)) end
    assert.equal(64, s.tx:produce(b))
    s.tx:wakeup()
    local left = s:ring_state("tx").entries
    u:close()
    return left
  end

  it("applies tx_budget where the kernel has XDP_MAX_TX_SKB_BUDGET, and says so where it has not", function()
    net.veth()
    if kernel_has_tx_budget() then
      assert.equal(32, left_after_one_kick {})
      assert.equal(0, left_after_one_kick { tx_budget = 64 })
      -- the kernel takes 32 up to the TX ring's size
      local u = xsk.umem { frame_count = 64 }
      local ok, err = pcall(u.socket, u, { ifname = "veth0", tx_size = 64, tx_budget = 128 })
      assert.is_false(ok)
      assert.matches("veth0 queue 0: tx_budget 128 must be from 32 to tx_size (64)", err, 1, true)
      u:close()
    else
      local u = xsk.umem { frame_count = 64 }
      local ok, err = pcall(u.socket, u, { ifname = "veth0", tx_budget = 64 })
      assert.is_false(ok)
      assert.matches("this kernel has no XDP_MAX_TX_SKB_BUDGET", err, 1, true)
      u:close()
    end
  end)
end)
