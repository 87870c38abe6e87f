-- xsk.counters: packet, byte and drop counts of many workers, in C memory the
-- main VM reads while the workers run.
--
--   local c = xsk.counters(2)                  -- one slot per worker
--   workers.start(fn, c:slot(1)) ...           -- each worker gets its own slot
--   slot:rx(n, bytes)  slot:tx(n, bytes)  slot:drops(n)   -- in the worker, once per burst
--   c:total().rx_packets, c:read(1).rx_bytes   -- in the main VM, at any time
--
-- A slot has one writer (the worker it was handed to; taking a slot twice is
-- refused), which adds with a relaxed store and no locked instruction; each
-- slot has two cache lines of its own, so workers on different cores never
-- write to the same line.  xsk.stats prints a total line and, on request,
-- one line per slot (stats.new{ counters = c, per_worker = true }).
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"

local setmetatable, error, tonumber = setmetatable, error, tonumber
local bad_int, argerror, core_error = base.bad_int, base.argerror, base.core_error

local M = {}

M.FIELDS = { "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drops" }
local FIELD = {}
for _, f in ipairs(M.FIELDS) do FIELD[f] = true end

local Counters, Slot = {}, {}
Counters.__index, Slot.__index = Counters, Slot

local vals = ffi.new("struct lxsk_counter_values")

local function wrap(c)
  ffi.gc(c, C.lxsk_counters_free)
  return setmetatable({ c = c, n = C.lxsk_counters_size(c) }, Counters)
end

local function wrap_slot(s, index)
  ffi.gc(s, C.lxsk_counter_free)
  return setmetatable({ s = s, index = index }, Slot)
end

-- A block of n slots (n from 1 to 4096).
function M.new(n)
  local want = bad_int(n, 1, 4096)
  if want then error(argerror("xsk.counters", "n", want, n), 2) end
  local c = C.lxsk_counters_new(n)
  if c == nil then error(core_error("xsk.counters"), 2) end
  return wrap(c)
end

local SLOT_KIND = C.LXSK_HAND_SLOT

-- What a worker adopts: the block (shared) or a slot (moved).  A slot's
-- index comes back with it: the C slot knows it, but Lua does not need it
-- on the hot path, so it is kept only for messages.
function M._adopt(kind, p)
  if kind == SLOT_KIND then return wrap_slot(p, nil) end
  return wrap(p)
end

Counters.__handover = {
  kind = C.LXSK_HAND_COUNTERS,
  what = "a counter block",
  check = function() end,
  ptr = function(self) return self.c end,
}

Slot.__handover = {
  kind = C.LXSK_HAND_SLOT,
  what = "a counter slot",
  check = function() end,
  ptr = function(self) return self.s end,
  moved = function(self, whom)
    ffi.gc(self.s, nil)
    require("xsk.handover").neuter(self, "xsk.counters", whom)
  end,
}

function Counters:size() return self.n end

-- Slot i (1 .. size) for one writer; hand it to the worker that counts
-- there.  Raises while another writer holds it.
function Counters:slot(i)
  local want = bad_int(i, 1, self.n)
  if want then error(argerror("xsk.counters: slot", "i", want, i), 2) end
  local s = C.lxsk_counters_take(self.c, i - 1)
  if s == nil then
    error(("xsk.counters: slot %d already has a writer (one slot, one worker)"):format(i), 2)
  end
  return wrap_slot(s, i)
end

local function values()
  return {
    rx_packets = tonumber(vals.rx_packets), rx_bytes = tonumber(vals.rx_bytes),
    tx_packets = tonumber(vals.tx_packets), tx_bytes = tonumber(vals.tx_bytes), drops = tonumber(vals.drops),
  }
end

-- Slot i's counts: { rx_packets, rx_bytes, tx_packets, tx_bytes, drops }.
function Counters:read(i)
  local want = bad_int(i, 1, self.n)
  if want then error(argerror("xsk.counters: read", "i", want, i), 2) end
  C.lxsk_counters_read(self.c, i - 1, vals)
  return values()
end

-- One count of slot i ("rx_packets", "tx_bytes", ...) as a number,
-- allocating nothing: for a worker that watches another's progress.
function Counters:value(i, field)
  local want = bad_int(i, 1, self.n)
  if want then error(argerror("xsk.counters: value", "i", want, i), 2) end
  if not FIELD[field] then
    error(argerror("xsk.counters: value", "field", "one of " .. table.concat(M.FIELDS, ", "), field), 2)
  end
  C.lxsk_counters_read(self.c, i - 1, vals)
  return tonumber(vals[field])
end

-- The sum over every slot, in the same shape.
function Counters:total()
  C.lxsk_counters_total(self.c, vals)
  return values()
end

function Counters:__tostring() return ("xsk.counters(%d slots)"):format(self.n) end

-- ---- a slot, in the worker that writes it (one FFI call each) ----

function Slot:rx(packets, bytes) C.lxsk_count_rx(self.s, packets, bytes or 0) end
function Slot:tx(packets, bytes) C.lxsk_count_tx(self.s, packets, bytes or 0) end
function Slot:drops(n) C.lxsk_count_drops(self.s, n) end

-- Gives the slot back (another writer may take it); the GC does it too.
-- The slot object is dead afterwards.
function Slot:release()
  local s = self.s
  ffi.gc(s, nil)
  C.lxsk_counter_free(s)
  require("xsk.handover").kill(self, "xsk.counters: this slot was released", "xsk.counters slot (released)")
end

function Slot:__tostring() return "xsk.counters slot" .. (self.index and (" " .. self.index) or "") end

M.Counters = Counters
return M
