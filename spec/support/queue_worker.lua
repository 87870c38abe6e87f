-- What the multi-queue specs run inside workers (as "support.queue_worker:
-- receive"): it requires only lua-xsk, so it loads cleanly in a worker's VM.
--
-- receive(cfg) binds a socket on cfg.ifname queue cfg.queue, on cfg.umem (a
-- partition handed over) or on a UMEM of its own, tells cfg.ready it is
-- listening, and receives until the stop flag: frames of the specs' own
-- EtherType carry (queue, sequence number) after the Ethernet header; UDP
-- datagrams to port 9 carry "seq<n>".  Returns what it saw.
local M = {}

local ETH_TEST = 0x88b5

function M.receive(cfg)
  local ffi = require "ffi"
  local xsk = require "xsk"
  local workers = xsk.workers
  local umem = cfg.umem or xsk.umem { frame_count = cfg.frames or 1024, fill_size = 512, comp_size = 512 }
  local sock = umem:socket { ifname = cfg.ifname, queue = cfg.queue, tx = false, rx_size = 512 }
  local b = umem:batch(64)
  local seqs, wrong_queue, other, bytes = {}, 0, 0, 0
  cfg.ready:send(cfg.queue)
  while not workers.stopping() do
    local n = sock:recv(b, 20)
    for i = 0, n - 1 do
      local f = b.f[i]
      local p = f.data
      bytes = bytes + f.len
      if f.len >= 22 and p[12] * 256 + p[13] == ETH_TEST then
        local v = ffi.cast("const uint32_t *", p + 14)
        if v[0] ~= cfg.queue then wrong_queue = wrong_queue + 1 end
        seqs[#seqs + 1] = v[1]
      elseif f.len > 42 and p[12] == 0x08 and p[13] == 0 and p[23] == 17 and p[36] * 256 + p[37] == 9 then
        local s = ffi.string(p + 42, f.len - 42):match("^seq(%d+)")
        seqs[#seqs + 1] = tonumber(s) or -1
      else
        other = other + 1
      end
    end
    if n > 0 then
      if cfg.slot then cfg.slot:rx(n, bytes) end
      bytes = 0
      umem:release(b)
    end
  end
  sock:close()
  return { seqs = seqs, wrong_queue = wrong_queue, other = other, free = umem:free_frames(),
    frames = umem.frame_count, part = umem.part }
end

return M
