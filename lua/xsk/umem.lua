-- UMEM objects: packet memory shared with the kernel, and its frame pool.
local ffi = require "ffi"
local C = require "xsk.cdef"
local config = require "xsk.config"
local errors = require "xsk.errors"
local frame = require "xsk.frame"

local setmetatable, tonumber, error = setmetatable, tonumber, error
local raise = errors.raise

local M = {}

-- Defaults follow libxdp's (xsk.h); frame_count has none there.
M.schema = {
  frame_count = { "uint", 4096, 1 },
  frame_size = { "uint", 4096, 1 },
  frame_headroom = { "uint", 0 },
  fill_size = { "uint", 2048, 1 },
  comp_size = { "uint", 2048, 1 },
  hugepages = { "bool", false },
}

local OWNERS = { [0] = "pool", "fill", "user", "tx" }

local Umem = {}
Umem.__index = Umem
M.Umem = Umem

function M.new(cfg, level)
  level = (level or 1) + 1
  local o = config.apply("xsk.umem", M.schema, cfg, level)
  local opts = ffi.new("struct lxsk_umem_opts", {
    o.frame_count, o.frame_size, o.frame_headroom, o.fill_size, o.comp_size, o.hugepages and 1 or 0,
  })
  local u = C.lxsk_umem_new(opts)
  if u == nil then raise(level) end
  ffi.gc(u, C.lxsk_umem_free)
  local info = ffi.new("struct lxsk_umem_info")
  C.lxsk_umem_get_info(u, info)
  return setmetatable({
    u = u,
    id = info.id,
    area = info.area,
    size = tonumber(info.size),
    frame_count = info.frame_count,
    frame_size = info.frame_size,
    frame_headroom = info.frame_headroom,
    data_offset = info.data_offset,
    max_packet = info.frame_size - info.data_offset,
    batches = setmetatable({}, { __mode = "k" }),
    sockets = setmetatable({}, { __mode = "v" }), -- closed with the UMEM, collected freely
  }, Umem)
end

function Umem:socket(cfg)
  return require("xsk.socket").new(self, cfg, 2)
end

-- A batch of up to n frames (default 64).  Closing the UMEM empties it, so a
-- loop over a batch never touches unmapped memory.
function Umem:batch(n)
  local b = frame.batch(n or 64)
  self.batches[b] = true
  return b
end

-- Takes up to n free frames (default: as many as fit) into the batch;
-- returns how many.  Each frame has room for max_packet bytes and length len
-- (default 0), ready to be written in place.
function Umem:alloc(b, n, len)
  local got = C.lxsk_alloc(self.u, b, n or b.cap, len or 0)
  if got < 0 then raise(2) end
  return got
end

-- Gives every frame of the batch back; the batch is empty afterwards.
function Umem:release(b)
  local n = C.lxsk_release(self.u, b)
  if n < 0 then raise(2) end
  return n
end

-- Who holds the frame at a UMEM address: "pool", "fill", "user" or "tx".
function Umem:owner(addr)
  local o = C.lxsk_umem_owner(self.u, addr)
  if o < 0 then raise(2) end
  return OWNERS[o]
end

function Umem:free_frames()
  local info = ffi.new("struct lxsk_umem_info")
  C.lxsk_umem_get_info(self.u, info)
  return info.pool_count
end

-- The user headroom of a frame: a pointer to the start of its chunk, and the
-- headroom's size.  Computed from the chunk base, not from addr - headroom.
function Umem:headroom(f)
  if f.umem_id ~= self.id then
    error(("xsk: frame (addr 0x%x) belongs to another UMEM"):format(tonumber(f.addr)), 2)
  end
  if self.closed then error("xsk: umem is closed", 2) end
  local chunk = f.addr - f.addr % self.frame_size
  return self.area + chunk, self.frame_headroom
end

-- Closes the UMEM and every socket on it.  Safe to call twice; the GC does it
-- for UMEMs never closed.
function Umem:close()
  if self.closed then return end
  self.closed = true
  for _, s in pairs(self.sockets) do s:close() end
  for b in pairs(self.batches) do b.n = 0; b.cap = 0 end
  C.lxsk_umem_close(self.u)
end

function Umem:__tostring()
  return ("xsk.umem(%d frames of %d bytes%s)"):format(self.frame_count, self.frame_size,
    self.closed and ", closed" or "")
end

return M
