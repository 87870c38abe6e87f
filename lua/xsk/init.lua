-- lua-xsk: AF_XDP sockets for LuaJIT.
--
--   local xsk = require "xsk"
--   local umem = xsk.umem{ frame_count = 4096 }
--   local sock = umem:socket{ ifname = "veth0", queue = 0 }
--   local b = umem:batch(64)
--   local n = sock:recv(b, 100)          -- b.f[0 .. n-1].data / .len
--   umem:release(b)
local core = require "xsk.core"
local C = require "xsk.cdef"
local umem = require "xsk.umem"
local socket = require "xsk.socket"

local M = {
  _VERSION = core.version,
  version = core.version,
  core_path = core.path,
  umem = umem.new,        -- xsk.umem{ ... }
  socket = socket.new,    -- xsk.socket(umem, { ... }), the same as umem:socket{ ... }
  XDP_PACKET_HEADROOM = 256,
  -- Descriptor option: more descriptors of this packet follow (multi-buffer).
  XDP_PKT_CONTD = C.LXSK_PKT_CONTD,
}

-- Detaches lua-xsk's programs (or, with ours = false, every XDP program)
-- left on an interface, e.g. by a process that was killed; returns a count.
function M.detach(ifname, ours)
  return require("xsk.prog").detach(ifname, ours ~= false)
end

-- The batteries load on first use: xsk.headers, xsk.checksum, xsk.template,
-- xsk.flows, xsk.pcap, xsk.filter, xsk.hist, xsk.pace, xsk.clock, xsk.stats,
-- xsk.steer, xsk.prog, xsk.netns, xsk.cli; for many cores xsk.workers,
-- xsk.mailbox, xsk.counters, xsk.channel.
local batteries = {
  headers = true, checksum = true, template = true, flows = true, pcap = true, filter = true, hist = true, pace = true,
  clock = true, stats = true, steer = true, prog = true, netns = true, cli = true,
  workers = true, mailbox = true, counters = true, channel = true,
}
setmetatable(M, {
  __index = function(t, k)
    if not batteries[k] then return nil end
    local mod = require("xsk." .. k)
    rawset(t, k, mod)
    return mod
  end,
})

return M
