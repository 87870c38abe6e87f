-- lua-xsk: AF_XDP sockets for LuaJIT.
--
--   local xsk = require "xsk"
--   local umem = xsk.umem{ frame_count = 4096 }
--   local sock = umem:socket{ ifname = "veth0", queue = 0 }
--   local b = umem:batch(64)
--   local n = sock:recv(b, 100)          -- b.f[0 .. n-1].data / .len
--   umem:release(b)
local core = require "xsk.core"
local umem = require "xsk.umem"
local socket = require "xsk.socket"
local frame = require "xsk.frame"

local M = {
  version = core.version,
  core_path = core.path,
}

function M.umem(cfg) return umem.new(cfg, 2) end

-- xsk.socket(umem, cfg), the same as umem:socket(cfg).
function M.socket(u, cfg) return socket.new(u, cfg, 2) end

function M.batch(n) return frame.batch(n) end

M.XDP_PACKET_HEADROOM = 256

return M
