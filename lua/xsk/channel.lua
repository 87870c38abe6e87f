-- xsk.channel: frames from one partition of a UMEM to another (from one
-- worker to another), without copying and without a lock.
--
--   local tx, rx = umem:channel(1024)        -- in the main VM, before the workers start
--   -- worker A (tx and its partition handed to it):  tx:send(b)
--   -- worker B (rx and its partition):               local n = rx:recv(b)
--
-- A frame in the channel belongs to neither side (umem:owner says
-- "channel"): tx:send takes only frames its partition's script holds, every
-- one checked before any moves, and rx:recv hands them to its own
-- partition's script.  Each end serves the first partition that uses it.
-- Frames still in the channel when both ends are gone wait in the UMEM's lost
-- and found (umem:reclaim()).
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"
local frame = require "xsk.frame"

local setmetatable, error, istype = setmetatable, error, ffi.istype
local bad_int, argerror, core_error = base.bad_int, base.argerror, base.core_error
local batch_t, not_a_batch = frame.batch_t, frame.not_a_batch

local M = {}

local Sender, Receiver = {}, {}
Sender.__index, Receiver.__index = Sender, Receiver

local info = ffi.new("struct lxsk_chan_info")

local function wrap(c, sending)
  ffi.gc(c, C.lxsk_chan_free)
  return setmetatable({ c = c }, sending and Sender or Receiver)
end

-- The ends of a new channel of size (a power of two, default 1024) frames on
-- umem (an xsk.umem), or nil and a message.
function M._open(umem, size)
  if size == nil then size = 1024 end
  local want = bad_int(size, 1, 65536)
  if want then return nil, argerror("xsk.channel", "size", "a power of two from 1 to 65536", size) end
  local ends = ffi.new("struct lxsk_chan *[2]")
  if C.lxsk_chan_open(umem.u, size, ends) < 0 then return nil, core_error("xsk.channel") end
  return wrap(ends[0], true), wrap(ends[1], false)
end

-- An end handed to a worker.
function M._adopt(_, c)
  C.lxsk_chan_get_info(c, info)
  return wrap(c, info.sending ~= 0)
end

local function state(self)
  C.lxsk_chan_get_info(self.c, info)
  return {
    size = info.size, queued = info.queued, closed = info.closed ~= 0, peer_closed = info.peer_closed ~= 0,
    sending = info.sending ~= 0, part = info.part >= 0 and info.part or nil,
  }
end

-- Ends move to the worker they are handed to (one end, one worker).
local function handover_of(what)
  return {
    kind = C.LXSK_HAND_CHAN,
    what = "a channel end",
    check = function(self)
      C.lxsk_chan_get_info(self.c, info)
      if info.closed ~= 0 then return what .. " is closed" end
    end,
    ptr = function(self) return self.c end,
    moved = function(self, whom)
      ffi.gc(self.c, nil)
      require("xsk.handover").neuter(self, "xsk.channel", whom)
    end,
  }
end
Sender.__handover = handover_of("the sending end")
Receiver.__handover = handover_of("the receiving end")

-- Moves frames from the front of b into the channel, as many as it has room
-- for; they leave b (the rest stay at its front).  Returns how many.  Raises
-- when a frame is not this partition's script's, when the receiving end is
-- closed, or when another partition already uses this end.
function Sender:send(b)
  if not istype(batch_t, b) then error(not_a_batch("xsk.channel: send", b), 2) end
  local n = C.lxsk_chan_send(self.c, b)
  if n < 0 then error(core_error("xsk.channel"), 2) end
  return n
end

-- Moves up to max frames (default: as many as b has room for) from the
-- channel to the end of b; returns how many.
function Receiver:recv(b, max)
  if not istype(batch_t, b) then error(not_a_batch("xsk.channel: recv", b), 2) end
  if max == nil then max = 4294967295 end
  if bad_int(max, 0, 4294967295) then
    error(argerror("xsk.channel: recv", "max", "a whole number from 0 up", max), 2)
  end
  local n = C.lxsk_chan_recv(self.c, b, max)
  if n < 0 then error(core_error("xsk.channel"), 2) end
  return n
end

-- True once the sending end is closed and every frame it sent was taken.
function Receiver:drained()
  C.lxsk_chan_get_info(self.c, info)
  return info.peer_closed ~= 0 and info.queued == 0
end

-- { size, queued, closed, peer_closed, sending, part }
Sender.state, Receiver.state = state, state

-- Closes this end: a closed sending end lets the receiver drain what is left
-- and see drained(); a closed receiving end makes send raise.
function Sender:close() C.lxsk_chan_close(self.c) end
Receiver.close = Sender.close

function Sender:__tostring() return "xsk.channel(sending end)" end
function Receiver:__tostring() return "xsk.channel(receiving end)" end

return M
