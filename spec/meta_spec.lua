-- RX metadata: what an XDP program writes in front of a packet reaches the
-- frame (copy mode on veth), the accessors read it, and a packet without
-- metadata says so: never an earlier packet's.  Also the TX time a send
-- records, and which RX metadata kfuncs answer on veth.
--
-- Every test builds its own namespaces and veth pair (support/xdp.lua): va
-- (198.18.0.1) here, vb (198.18.0.2) in the peer namespace, whose kernel
-- sends the datagrams.
require "support.paths"
local xdp = require "support.xdp"
local xsk = require "xsk"
local steer = require "xsk.steer"
local prog = require "xsk.prog"
local clock = require "xsk.clock"

local pair, defer, udp, warm = xdp.pair, xdp.defer, xdp.udp, xdp.warm

-- A fresh file name ending in ext: os.tmpname makes the file it names, so
-- it goes again before its name is used with the extension.
local function tmpfile(ext)
  local base = os.tmpname()
  os.remove(base)
  return base .. ext
end

-- A steering program on va sending UDP port 9 to a socket on a UMEM made
-- with rx_metadata; returns the program, the UMEM and the socket.
local function setup(st_cfg, umem_cfg, sock_cfg)
  st_cfg = st_cfg or {}
  st_cfg.ifname = "va"
  local st = steer.open(st_cfg)
  defer(function() st:close() end)
  st:add_rule { proto = "udp", dport = 9 }
  umem_cfg = umem_cfg or {}
  if umem_cfg.rx_metadata == nil then umem_cfg.rx_metadata = true end
  umem_cfg.frame_count = umem_cfg.frame_count or 64
  local u = xsk.umem(umem_cfg)
  defer(function() u:close() end)
  sock_cfg = sock_cfg or {}
  sock_cfg.ifname, sock_cfg.load_program, sock_cfg.tx = "va", false, false
  local s = u:socket(sock_cfg)
  st:register(s)
  return st, u, s
end

-- Receives until `want` frames arrived or about a second passed; returns
-- one record per frame: { addr, len, rx_time, hw_time, hash, vlan }.
local function collect(s, u, want)
  local b = u:batch(64)
  local out = {}
  for _ = 1, 50 do
    if #out >= want then break end
    local n = s:recv(b, 20)
    for i = 0, n - 1 do
      local f = b.f[i]
      out[#out + 1] = { addr = tonumber(f.addr), len = f.len, rx_time = f:rx_time(), hw_time = f:hw_time(),
        hash = f:rx_hash(), vlan = f:rx_vlan() }
    end
    if n > 0 then u:release(b) end
  end
  return out
end

describe("RX metadata", function()
  it("reaches the frame in copy mode: RX times monotonic and inside the send/receive window", function()
    local env = pair()
    local _, u, s = setup { rx_time = true }
    warm(env)
    local before = clock.now()
    udp(env, "198.18.0.1", 9, 20, 30)
    local got = collect(s, u, 20)
    local after = clock.now()
    assert.are.equal(20, #got)
    local last = before
    for i, r in ipairs(got) do
      assert.are.equal(14 + 20 + 8 + 30, r.len)
      assert.is_number(r.rx_time, "frame " .. i .. " has no RX time")
      assert.is_true(r.rx_time >= last, ("frame %d: RX time %d before the one before it (%d)"):format(i, r.rx_time,
        last))
      assert.is_true(r.rx_time <= after, ("frame %d: RX time %d after the receive ended (%d)"):format(i, r.rx_time,
        after))
      last = r.rx_time
      -- the plain build stamps the time only
      assert.is_nil(r.hw_time)
      assert.is_nil(r.hash)
      assert.is_nil(r.vlan)
    end
  end)

  it("a packet without metadata reports none, in a frame that held one with metadata", function()
    -- Same lengths in both rounds, so that only the core's guard can tell
    -- the packets apart.  16 frames, at most 8 on the fill ring: the second
    -- round's second burst lands in frames of the first round.
    local env = pair()
    local st, u, s = setup({ rx_time = true }, { frame_count = 16, fill_size = 8 })
    warm(env)
    udp(env, "198.18.0.1", 9, 6, 30)
    local first = collect(s, u, 6)
    assert.are.equal(6, #first)
    local used = {}
    for _, r in ipairs(first) do
      assert.is_number(r.rx_time)
      used[r.addr] = true
    end
    assert.is_true(st:set_metadata(false))
    assert.is_false(st:metadata())
    local second = {}
    for _ = 1, 2 do
      udp(env, "198.18.0.1", 9, 7, 30)
      for _, r in ipairs(collect(s, u, 7)) do second[#second + 1] = r end
    end
    assert.are.equal(14, #second)
    local reused = 0
    for i, r in ipairs(second) do
      if used[r.addr] then reused = reused + 1 end
      assert.are.equal(first[1].len, r.len)
      assert.is_nil(r.rx_time, ("frame %d (addr 0x%x) reports an RX time without metadata"):format(i, r.addr))
    end
    local a1, a2 = {}, {}
    for i, r in ipairs(first) do a1[i] = ("0x%x"):format(r.addr) end
    for i, r in ipairs(second) do a2[i] = ("0x%x"):format(r.addr) end
    assert.is_true(reused > 0, "the second round used none of the first round's frames: "
      .. table.concat(a1, " ") .. " / " .. table.concat(a2, " "))
    -- and stamping comes back
    assert.is_false(st:set_metadata(true))
    udp(env, "198.18.0.1", 9, 2, 30)
    for _, r in ipairs(collect(s, u, 2)) do assert.is_number(r.rx_time) end
  end)

  it("a stamped packet the kernel could not deliver lends nothing to the next packet in its frame", function()
    -- An RX ring of 4: the kernel copies packets 5 and on (metadata
    -- included) into a frame, finds the ring full, and reuses that frame for
    -- its next packet.  That one comes without metadata and with another
    -- length: the length in the metadata ties it to the dropped packet.
    local env = pair()
    local st, u, s = setup({ rx_time = true }, { frame_count = 64, fill_size = 32 }, { rx_size = 4 })
    warm(env)
    udp(env, "198.18.0.1", 9, 10, 30)
    st:set_metadata(false)
    local first = collect(s, u, 4)
    assert.are.equal(4, #first)
    for _, r in ipairs(first) do assert.is_number(r.rx_time) end
    assert.is_true(s:stats().rx_ring_full > 0, "the RX ring never overflowed")
    udp(env, "198.18.0.1", 9, 2, 31)
    local second = collect(s, u, 2)
    assert.are.equal(2, #second)
    for _, r in ipairs(second) do
      assert.are.equal(14 + 20 + 8 + 31, r.len)
      assert.is_nil(r.rx_time)
    end
  end)

  it("frames a closing socket's RX ring still held lend nothing to later packets", function()
    -- Two queues: the peer's kernel spreads its datagrams over both.  a (on
    -- queue 0) gets stamped packets and closes unread; b (queue 1, same
    -- UMEM) then receives unstamped ones of the same length, in the frames a
    -- left on its ring (4 frames on each fill ring: b's second refill takes
    -- the frames a gave back).
    local env = pair { queues = 2 }
    local st = steer.open { ifname = "va", rx_time = true }
    defer(function() st:close() end)
    st:add_rule { proto = "udp", dport = 9 }
    local u = xsk.umem { frame_count = 16, fill_size = 4, rx_metadata = true }
    defer(function() u:close() end)
    local a = u:socket { ifname = "va", queue = 0, load_program = false, tx = false }
    local b = u:socket { ifname = "va", queue = 1, load_program = false, tx = false }
    st:register(a)
    warm(env)
    udp(env, "198.18.0.1", 9, 12, 30)
    local held = a:ring_state("rx").entries
    assert.is_true(held > 0, "no datagram went to queue 0")
    a:close()
    st:set_metadata(false)
    st:register(b)
    local got = {}
    for _ = 1, 4 do
      udp(env, "198.18.0.1", 9, 12, 30)
      for _, r in ipairs(collect(b, u, 1)) do got[#got + 1] = r end
    end
    assert.is_true(#got > 0, "no datagram went to queue 1")
    local reused = 0
    for _, r in ipairs(got) do
      -- a's fill ring had the UMEM's first 4 frames
      if r.addr < 4 * 4096 then reused = reused + 1 end
      assert.is_nil(r.rx_time, ("frame 0x%x reports an RX time without metadata"):format(r.addr))
    end
    assert.is_true(reused > 0, "b used none of the frames a held")
  end)

  it("frames from alloc and from the completion ring carry none", function()
    local env = pair()
    local _, u, s = setup({ rx_time = true }, { frame_count = 16, fill_size = 8 })
    warm(env)
    udp(env, "198.18.0.1", 9, 6, 30)
    -- the six stamped frames stay with the script until the socket is gone
    local held = u:batch(16)
    for _ = 1, 50 do
      if held.n >= 6 then break end
      s:recv(held, 20)
    end
    assert.are.equal(6, held.n)
    local stamped = {}
    for i = 0, 5 do
      assert.is_number(held.f[i]:rx_time())
      stamped[tonumber(held.f[i].addr)] = true
    end
    -- s is the UMEM's first socket, still bound (libxdp keeps it on the
    -- UMEM's fd) and still in the program's map: the frames on its fill ring
    -- stay with the kernel; the six go back to the pool, and alloc hands
    -- them out again, unstamped
    s:close()
    u:release(held)
    local b = u:batch(16)
    local n = u:alloc(b)
    local again = 0
    for i = 0, n - 1 do
      assert.is_nil(b.f[i]:rx_time())
      if stamped[tonumber(b.f[i].addr)] then again = again + 1 end
    end
    assert.are.equal(6, again)
    u:release(b)
  end)

  it("reads only frames the script holds, of a UMEM made with rx_metadata", function()
    local env = pair()
    local _, u, s = setup { rx_time = true }
    warm(env)
    udp(env, "198.18.0.1", 9, 1, 30)
    local b = u:batch(4)
    assert.are.equal(1, s:recv(b, 1000))
    local f = b.f[0]
    assert.is_number(f:rx_time())
    local keep = u:batch(4)
    keep:push(f)
    u:release(b)
    -- (released frames go back onto the fill ring first, else to the pool)
    assert.error_matches(function() keep.f[0]:rx_time() end,
      "xsk.frame: rx_time: frame %(addr 0x%x+%) is not the script's: it belongs to the ")
    keep:clear()
    local plain = xsk.umem { frame_count = 16 }
    defer(function() plain:close() end)
    local pb = plain:batch(1)
    plain:alloc(pb, 1)
    assert.error_matches(function() pb.f[0]:hw_time() end,
      "xsk.frame: hw_time: frame %(addr 0x%x+%): its UMEM was made without rx_metadata = true")
    plain:release(pb)
    plain:close()
  end)

  it("rx_meta: which RX metadata kfuncs answer on veth (device-bound, native)", function()
    -- veth implements all three for packets that come as socket buffers
    -- (what its peer's kernel sends): the timestamp is the skb's hardware
    -- stamp, 0 on veth (so none); the hash is the kernel's flow hash; a VLAN
    -- tag only when the skb carries one outside the packet (802.1Q offload),
    -- which the peer's UDP does not.
    local env = pair()
    local st, u, s = setup { rx_meta = true }
    assert.are.equal("xsk_steer_meta", st.program)
    assert.are.equal("native", st:mode())
    warm(env)
    local before = clock.now()
    udp(env, "198.18.0.1", 9, 5, 30)
    local got = collect(s, u, 5)
    assert.are.equal(5, #got)
    local b = u:batch(1)
    for _, r in ipairs(got) do
      assert.is_true(r.rx_time >= before)
      assert.is_nil(r.hw_time)
      assert.is_number(r.hash)
      assert.is_nil(r.vlan)
    end
    -- the hash type says L4 (XDP_RSS_L4 = 8) for UDP
    udp(env, "198.18.0.1", 9, 1, 30)
    assert.are.equal(1, s:recv(b, 1000))
    local hash, htype = b.f[0]:rx_hash()
    assert.is_number(hash)
    assert.are.equal(8, require("bit").band(htype, 8))
    assert.are.same({ rx_time = b.f[0]:rx_time(), hash = hash, hash_type = htype }, b.f[0]:rx_meta())
    u:release(b)
  end)

  it("rx_meta needs native mode and a single-buffer build", function()
    pair()
    assert.error_matches(function() steer.open { ifname = "va", rx_meta = true, mode = "skb" } end,
      "xsk.steer: rx_meta needs native mode", nil, true)
    assert.error_matches(function() steer.open { ifname = "va", rx_meta = true, frags = true } end,
      "xsk.steer: rx_meta and frags do not go together", nil, true)
    assert.error_matches(function()
      prog.load { file = steer.object_path(false, true), ifname = "va", dev_bound = true, mode = "skb" }
    end, "attaches in native mode only, not skb", nil, true)
    -- the kfunc build refuses to load unbound: the verifier wants a device
    assert.error_matches(function() prog.load { file = steer.object_path(false, true), ifname = "va" } end,
      "xsk.prog: ", nil, true)
  end)

  it("a program of one's own stamps with bpf/xsk_meta.h", function()
    local env = pair()
    local src = tmpfile(".c")
    local obj = src .. ".o"
    local f = assert(io.open(src, "w"))
    f:write([[
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xsk_meta.h"
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__uint(value_size, 4);
} xsks_map SEC(".maps");
SEC("xdp")
int stamp_all(struct xdp_md *ctx)
{
	lxsk_meta_stamp(ctx, LXSK_META_RX_TIME, 0);
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}
char _license[] SEC("license") = "Dual MIT/GPL";
]])
    f:close()
    defer(function() os.remove(src); os.remove(obj) end)
    local multiarch = io.popen("cc -print-multiarch"):read("*l")
    xdp.sh(("clang -O2 -g -target bpf -I/usr/include/%s -I%s -c -o %s %s"):format(multiarch, prog.include_dir(),
      obj, src))
    local p = prog.load { file = obj, ifname = "va" }
    defer(function() p:close() end)
    local u = xsk.umem { frame_count = 64, rx_metadata = true }
    defer(function() u:close() end)
    local s = u:socket { ifname = "va", load_program = false, tx = false }
    p:register(s)
    -- It takes everything, ARP too: the peer gets a static neighbour.
    local mac = xsk.cli.mac_string(xsk.cli.if_mac("va"))
    xdp.sh(("ip -n %s neigh replace 198.18.0.1 lladdr %s dev vb"):format(env.peer_ns, mac))
    udp(env, "198.18.0.1", 9, 3, 30)
    local got = collect(s, u, 3)
    assert.is_true(#got >= 3)
    for _, r in ipairs(got) do assert.is_number(r.rx_time) end
  end)
end)

describe("TX time", function()
  it("send records when it handed the frames to the kernel; the peer's RX time comes after", function()
    local env = pair()
    -- a socket on vb (the peer's end) that sends, the steered one on va that stamps
    local _, ru, rs = setup { rx_time = true }
    xsk.netns.enter(env.peer_ns)
    local tu = xsk.umem { frame_count = 64 }
    defer(function() tu:close() end)
    local ts = tu:socket { ifname = "vb", rx = false, tx_time = true }
    xsk.netns.enter(env.ns)
    assert.is_nil(ts:tx_time())
    local t = xsk.template.new { src_mac = "02:00:00:00:00:02", dst_mac = "ff:ff:ff:ff:ff:ff",
      src_ip = "198.18.0.2", dst_ip = "198.18.0.1", src_port = 1, dst_port = 9, size = 72 }
    local b = tu:batch(4)
    for round = 1, 3 do
      tu:alloc(b, 1)
      t:fill_batch(b)
      local before = clock.now()
      assert.are.equal(1, ts:send(b))
      local sent = ts:tx_time()
      assert.is_true(sent >= before and sent <= clock.now(), "tx_time outside the send call, round " .. round)
      local got = collect(rs, ru, 1)
      assert.are.equal(1, #got)
      assert.is_true(got[1].rx_time > sent, ("round %d: received at %d, before it was sent at %d"):format(round,
        got[1].rx_time, sent))
      -- a send that moves nothing keeps the time
      assert.are.equal(0, ts:send(b))
      assert.are.equal(sent, ts:tx_time())
    end
    local plain = ru:socket { ifname = "va", rx = false, load_program = false }
    assert.error_matches(function() plain:tx_time() end,
      "xsk.socket: tx_time on va queue 0: the socket was made without tx_time = true", nil, true)
  end)
end)
