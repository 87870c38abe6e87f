-- The per-packet work of the benchmark modes, shared by bench/xsk_bench.lua
-- (on veth) and bench/core_bench.lua (on simulated rings), so that both
-- measure the same loops.  The MAC swap is byte-wise on purpose: it is the
-- "Lua touches every packet" part of the measurement, the same bytes
-- bench/xdpsock_c.c and bench/bare_loop.c move.
local bit = require "bit"

local band = bit.band

local M = {}

-- Swaps the MAC addresses of frames 0 .. n-1 of b.
function M.swap(b, n)
  for i = 0, n - 1 do
    local p = b.f[i].data
    local a0, a1, a2, a3, a4, a5 = p[0], p[1], p[2], p[3], p[4], p[5]
    p[0], p[1], p[2], p[3], p[4], p[5] = p[6], p[7], p[8], p[9], p[10], p[11]
    p[6], p[7], p[8], p[9], p[10], p[11] = a0, a1, a2, a3, a4, a5
  end
end

-- The same, and reads the UDP destination port of IPv4/UDP frames: returns
-- how many were UDP and the sum of their ports (kept, so the reads stay).
function M.touch(b, n)
  local udp, dsum = 0, 0
  for i = 0, n - 1 do
    local f = b.f[i]
    local p, len = f.data, f.len
    local a0, a1, a2, a3, a4, a5 = p[0], p[1], p[2], p[3], p[4], p[5]
    p[0], p[1], p[2], p[3], p[4], p[5] = p[6], p[7], p[8], p[9], p[10], p[11]
    p[6], p[7], p[8], p[9], p[10], p[11] = a0, a1, a2, a3, a4, a5
    if len >= 42 and p[12] == 0x08 and p[13] == 0x00 and p[23] == 17 then
      local l4 = 14 + band(p[14], 0x0f) * 4
      if len >= l4 + 8 then
        dsum = dsum + p[l4 + 2] * 256 + p[l4 + 3]
        udp = udp + 1
      end
    end
  end
  return udp, dsum
end

return M
