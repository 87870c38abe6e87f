-- xsk.workers: a Lua function on another core, in a LuaJIT VM of its own.
--
--   local workers = require "xsk.workers"
--   local w = workers.start({ fn, cpu = 1, name = "rx 1" }, umem:share(2048), 1)
--   ...                                   -- the worker loops until workers.stopping()
--   workers.stop()
--   local ok, result = w:join(5)          -- true and its return values, false and its error
--
-- The function is dumped (string.dump) and loaded in a fresh VM made by the C
-- core on a thread of its own, so it must not use upvalues: it requires what it
-- needs itself, and gets the rest as arguments (copied: numbers, strings,
-- booleans, plain tables; lua-xsk objects handed over, see xsk.handover).
-- Or name it as "module:function", which the worker requires.  Each VM
-- compiles its own traces: a worker's loop warms up on its own.
--
-- The stop flag is shared by every VM of the process: workers.stop() (or a
-- Ctrl-C, SIGTERM or SIGHUP once a worker has started) sets it, and each
-- worker's loop checks workers.stopping() once per turn.
local ffi = require "ffi"
local C = require "xsk.cdef"
local base = require "xsk.base"
local handover = require "xsk.handover"

local type, tonumber, error, select, tostring, unpack = type, tonumber, error, select, tostring, unpack
local setmetatable, getmetatable = setmetatable, getmetatable
local pairs, ipairs, pcall, xpcall, loadstring, require = pairs, ipairs, pcall, xpcall, loadstring, require
local fstring, floor, max = ffi.string, math.floor, math.max
local bad_int, core_error = base.bad_int, base.core_error

local M = {}

local RUNNING, RETURNED, RAISED = C.LXSK_WORKER_RUNNING, C.LXSK_WORKER_RETURNED, C.LXSK_WORKER_RAISED
local MAX_MS = 2147483647

-- ---- the stop flag ----

-- Sets the stop flag every worker checks.
function M.stop() C.lxsk_stop() end

-- True once the flag is set (or, in a worker, once it was cancelled).  One
-- FFI call the JIT compiles: meant for every turn of a worker's loop.
function M.stopping() return C.lxsk_stopping() ~= 0 end

-- Clears the flag, for a script that starts workers again; refused while
-- workers run.
function M.reset()
  if C.lxsk_stop_reset() < 0 then error(core_error("xsk.workers"), 2) end
end

local in_worker = C.lxsk_worker_my_name() ~= nil
local catch = true -- install the stop-signal handlers at the first start

-- on = true: SIGINT, SIGTERM and SIGHUP set the stop flag (a second one ends
-- the process as before); false: the previous handlers come back, and start
-- no longer installs ours.  start() calls it with true unless told not to.
function M.catch_signals(on)
  if type(on) ~= "boolean" then error(base.argerror("xsk.workers: catch_signals", "on", "true or false", on), 2) end
  if in_worker then error("xsk.workers: catch_signals: only the main VM handles signals", 2) end
  catch = on
  if C.lxsk_catch_signals(on and 1 or 0) < 0 then error(core_error("xsk.workers"), 2) end
end

-- ---- starting ----

local Worker = {}
Worker.__index = Worker

local count = 0

-- What runs: a tag and the bytes the worker loads (f: a dumped function;
-- m: "module:function").
local function code_of(fn)
  if type(fn) == "string" then
    if not fn:match("^[%w_.%-]+:[%a_][%w_]*$") then
      return nil, ('fn must be a function or "module:function", got %q'):format(fn)
    end
    return "m" .. fn
  end
  if type(fn) ~= "function" then return nil, "fn must be a function or \"module:function\", got " .. type(fn) end
  if debug.getinfo(fn, "S").what == "C" then return nil, "the function cannot be dumped: it is a C function" end
  local names, i = {}, 1
  while true do
    local name = debug.getupvalue(fn, i)
    if not name then break end
    names[#names + 1] = name
    i = i + 1
  end
  if #names > 0 then
    return nil, ("the function uses upvalue%s %s: a worker's function runs in a fresh VM that has nothing of "
      .. "this one, so it must require what it needs itself (local xsk = require \"xsk\") and get values "
      .. "as arguments"):format(#names > 1 and "s" or "", "'" .. table.concat(names, "', '") .. "'")
  end
  local ok, bytes = pcall(string.dump, fn)
  if not ok then return nil, "the function cannot be dumped (a C function?): " .. tostring(bytes) end
  return "f" .. bytes
end

-- spec: the function, or { fn, cpu = n, name = "..." }.
local function parse_spec(spec)
  if type(spec) ~= "table" then return spec, nil, nil end
  for k in pairs(spec) do
    if k ~= 1 and k ~= "fn" and k ~= "cpu" and k ~= "name" then
      return nil, nil, nil, ("unknown option %s (known: fn or [1], cpu, name)"):format(base.describe(k))
    end
  end
  local fn = spec.fn or spec[1]
  if spec.cpu ~= nil and bad_int(spec.cpu, 0, 4095) then
    return nil, nil, nil, "cpu must be a whole number from 0 to 4095, got " .. base.describe(spec.cpu)
  end
  if spec.name ~= nil and (type(spec.name) ~= "string" or #spec.name == 0 or #spec.name > 47) then
    return nil, nil, nil, "name must be a string of 1 to 47 characters, got " .. base.describe(spec.name)
  end
  return fn, spec.cpu, spec.name
end

-- The arguments as bytes and the objects to hand over.  A UMEM handle moves
-- only without batches or sockets, and one the script dropped may still wait
-- for the collector: collect once before refusing.
local function encode_args(n, ...)
  local args, hands = handover.encode({ ... }, n, "argument", true)
  if not args then
    collectgarbage("collect")
    collectgarbage("collect")
    args, hands = handover.encode({ ... }, n, "argument", true)
  end
  return args, hands
end

-- workers.start(spec, ...): starts spec's function in a worker with the
-- arguments ...; returns the worker.
function M.start(spec, ...)
  local fn, cpu, name, err = parse_spec(spec)
  if err then error("xsk.workers: start: " .. err, 2) end
  local code
  code, err = code_of(fn)
  if not code then error("xsk.workers: start: " .. err, 2) end
  local args, hands = encode_args(select("#", ...), ...)
  if not args then error("xsk.workers: start: " .. hands, 2) end
  count = count + 1
  name = name or ("worker " .. count)
  local w = C.lxsk_worker_new(name, cpu or -1, #hands)
  if w == nil then error(core_error("xsk.workers: start"), 2) end
  ffi.gc(w, C.lxsk_worker_free)
  local ok
  ok, err = handover.give(w, hands, name)
  if not ok then error("xsk.workers: start: " .. err, 2) end
  if catch and not in_worker then
    if C.lxsk_catch_signals(1) < 0 then error(core_error("xsk.workers: start"), 2) end
  end
  if C.lxsk_worker_start(w, code, #code, args, #args, package.path, package.cpath) < 0 then
    error(core_error("xsk.workers: start"), 2)
  end
  return setmetatable({ w = w, name = name, cpu = cpu }, Worker)
end

-- ---- joining ----

local len = ffi.new("size_t[1]")
local ts = ffi.new("struct lxsk_timespec")

local function now()
  C.lxsk_libc_clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function bad_timeout(t)
  return t ~= nil and (type(t) ~= "number" or t ~= t or (t < 0 and t ~= -1))
end

local function ms_of(t)
  if t == nil or t == -1 or t * 1000 >= MAX_MS then return -1 end
  return floor(t * 1000 + 0.5)
end

-- The worker's end, read once: true and its values, or false and its error.
local function outcome(self, state)
  if not self.result then
    local p = C.lxsk_worker_result(self.w, len)
    local bytes = fstring(p, len[0])
    if state == RETURNED then
      local vals, n = handover.decode(bytes)
      self.result = { true, n = n + 1 }
      for i = 1, n do self.result[i + 1] = vals[i] end
    else
      self.result = { false, ("xsk.workers: %s raised: %s"):format(self.name, bytes), n = 2 }
    end
  end
  return unpack(self.result, 1, self.result.n)
end

-- Waits up to timeout seconds (nil or -1: no limit) for the worker to end,
-- its VM closed (its sockets closed, its objects let go) and its thread
-- joined.  Returns true and the function's return values; false and its
-- error with the worker's traceback; or nil and "... still running" on
-- timeout.
function Worker:join(timeout)
  if bad_timeout(timeout) then
    error(base.argerror("xsk.workers: join", "timeout", "seconds (a number from 0 up, or -1)", timeout), 2)
  end
  local state = C.lxsk_worker_join(self.w, ms_of(timeout))
  if state < 0 then error(core_error("xsk.workers"), 2) end
  if state == RUNNING then
    return nil, ("xsk.workers: %s is still running after %g s"):format(self.name, timeout)
  end
  return outcome(self, state)
end

-- Whether the worker's function is still running.
function Worker:running()
  return C.lxsk_worker_join(self.w, 0) == RUNNING
end

-- Tells this worker alone to stop: its workers.stopping() turns true.
function Worker:cancel()
  C.lxsk_worker_cancel(self.w)
end

function Worker:__tostring()
  return ("xsk.worker(%s%s)"):format(self.name, self:running() and "" or ", ended")
end

-- Joins every worker of the list within timeout seconds in all (nil: no
-- limit) and returns a list of their results (each a table of return
-- values).  Raises, after all have been waited for, the first failure: a
-- worker that raised (its message and traceback) or one still running.
function M.wait(list, timeout)
  if type(list) ~= "table" then error(base.argerror("xsk.workers: wait", "list", "a list of workers", list), 2) end
  if bad_timeout(timeout) then
    error(base.argerror("xsk.workers: wait", "timeout", "seconds (a number from 0 up, or -1)", timeout), 2)
  end
  local deadline = (timeout and timeout >= 0) and now() + timeout
  for i, w in ipairs(list) do
    if getmetatable(w) ~= Worker then error(("xsk.workers: wait: list[%d] is not a worker"):format(i), 2) end
  end
  local results, failure = {}, nil
  for i, w in ipairs(list) do
    local left = deadline and max(0, deadline - now()) or nil
    local r = handover.pack(w:join(left))
    if r[1] then
      results[i] = { unpack(r, 2, r.n) }
    else
      results[i] = false
      failure = failure or r[2]
    end
  end
  if failure then error(failure, 2) end
  return results
end

-- ---- inside a worker ----

-- The traceback of a worker's error, down to its own function.
local function traceback(e)
  local tb = debug.traceback(tostring(e), 2)
  local cut = tb:find("\n%s*%[C%]: in function 'xpcall'")
  return cut and tb:sub(1, cut - 1) or tb
end

local function load_code(code)
  local kind, body = code:sub(1, 1), code:sub(2)
  if kind == "f" then
    local fn, err = loadstring(body)
    if not fn then error("xsk.workers: cannot load the function: " .. tostring(err), 0) end
    return fn
  end
  local mod, fname = body:match("^(.-):([^:]+)$")
  local fn = require(mod)[fname]
  if type(fn) ~= "function" then
    error(("xsk.workers: module %q has no function %q"):format(mod, fname), 0)
  end
  return fn
end

-- Runs in the worker's VM (csrc/worker.c calls it): the function, its
-- arguments adopted, and its end reported.
function M._main()
  local name = fstring(C.lxsk_worker_my_name())
  local code = fstring(C.lxsk_worker_my_code(len), len[0])
  local args = fstring(C.lxsk_worker_my_args(len), len[0])
  local res = handover.pack(xpcall(function()
    local fn = load_code(code)
    local vals, n = handover.decode(args)
    return fn(unpack(vals, 1, n))
  end, traceback))
  local state, bytes = RAISED, res[2]
  if res[1] then
    local vals = { unpack(res, 2, res.n) }
    local err
    bytes, err = handover.encode(vals, res.n - 1, "return value", false)
    if bytes then
      state = RETURNED
    else
      bytes = ("xsk.workers: %s: %s"):format(name, err)
    end
  end
  bytes = tostring(bytes)
  C.lxsk_worker_finish(state, bytes, #bytes)
end

-- The objects workers share, made here as well as in their modules.
M.mailbox = require("xsk.mailbox").new
M.counters = require("xsk.counters").new

M.Worker = Worker
return M
