-- xsk.mailbox: Lua values between VMs (the main script and its workers):
-- control messages, results.  Any number of senders and receivers; each
-- message is copied (numbers, strings, booleans, plain tables; see
-- xsk.handover).  Slower than a frame channel: a lock and a copy a message.
--
--   local mb = xsk.mailbox(64)                 -- hand it to workers as an argument
--   mb:send({ queue = 1, received = n })        -- in a worker
--   local msg, why = mb:recv(1)                 -- in the main VM: a value, or nil and why
--
-- A worker told to stop gives up a wait (recv or send returns nil,
-- "stopped"); the main VM's waits end only by message, close or timeout, so
-- it can collect what workers send as they stop.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"
local handover = require "xsk.handover"

local setmetatable, error, type, floor = setmetatable, error, type, math.floor
local fstring = ffi.string
local bad_int, argerror, core_error = base.bad_int, base.argerror, base.core_error

local M = {}

local Mailbox = {}
Mailbox.__index = Mailbox

local MAX_MS = 2147483647
local DONE, WAITED, CLOSED, STOPPED = C.LXSK_MAIL_DONE, C.LXSK_MAIL_WAITED, C.LXSK_MAIL_CLOSED, C.LXSK_MAIL_STOPPED

local msg_out = ffi.new("struct lxsk_message *[1]")

local function wrap(m)
  ffi.gc(m, C.lxsk_mailbox_free)
  return setmetatable({ m = m }, Mailbox)
end

-- A mailbox holding at most capacity messages (default 1024).
function M.new(capacity)
  if capacity == nil then capacity = 1024 end
  local want = bad_int(capacity, 1, 1048576)
  if want then error(argerror("xsk.mailbox", "capacity", want, capacity), 2) end
  local m = C.lxsk_mailbox_new(capacity)
  if m == nil then error(core_error("xsk.mailbox"), 2) end
  return wrap(m)
end

function M._adopt(_, m) return wrap(m) end

-- Shared: the worker gets a reference of its own, this VM keeps its own.
Mailbox.__handover = {
  kind = C.LXSK_HAND_MAILBOX,
  what = "a mailbox",
  check = function() end,
  ptr = function(self) return self.m end,
}

local function timeout_ms(t, what)
  if t == nil then return 0 end
  if type(t) ~= "number" or t ~= t or (t < 0 and t ~= -1) then
    error(argerror("xsk.mailbox: " .. what, "timeout", "seconds (a number from 0 up, or -1)", t), 3)
  end
  if t == -1 or t * 1000 >= MAX_MS then return -1 end
  return floor(t * 1000 + 0.5)
end

-- Sends v (not nil), waiting up to timeout seconds (default 0, -1: no
-- limit) while the mailbox is full.  Returns true, or nil and "full",
-- "closed" or "stopped".
function Mailbox:send(v, timeout)
  local ms = timeout_ms(timeout, "send")
  if v == nil then error("xsk.mailbox: send: nil cannot be sent", 2) end
  local bytes, err = handover.encode({ v }, 1, "message", false)
  if not bytes then error("xsk.mailbox: send: " .. err, 2) end
  local r = C.lxsk_mailbox_send(self.m, bytes, #bytes, ms)
  if r == DONE then return true end
  if r == WAITED then return nil, "full" end
  if r == CLOSED then return nil, "closed" end
  if r == STOPPED then return nil, "stopped" end
  error(core_error("xsk.mailbox"), 2)
end

-- The oldest message, waiting up to timeout seconds (default 0, -1: no
-- limit) for one; or nil and "timeout", "closed" (and empty) or "stopped".
function Mailbox:recv(timeout)
  local ms = timeout_ms(timeout, "recv")
  local r = C.lxsk_mailbox_recv(self.m, ms, msg_out)
  if r == WAITED then return nil, "timeout" end
  if r == CLOSED then return nil, "closed" end
  if r == STOPPED then return nil, "stopped" end
  if r ~= DONE then error(core_error("xsk.mailbox"), 2) end
  local msg = msg_out[0]
  local bytes = fstring(msg.data, msg.len)
  C.lxsk_message_free(msg)
  local vals = handover.decode(bytes)
  return vals[1]
end

-- Messages waiting now.
function Mailbox:count() return C.lxsk_mailbox_count(self.m) end

-- No more sends (they return nil, "closed"); receivers take what is left.
function Mailbox:close() C.lxsk_mailbox_close(self.m) end

function Mailbox:__tostring() return ("xsk.mailbox(%d waiting)"):format(self:count()) end

M.Mailbox = Mailbox
return M
