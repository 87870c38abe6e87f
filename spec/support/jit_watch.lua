-- Watches a loop the way the JIT sees it: which traces abort and why, and
-- how much the Lua heap grows once the loop is compiled.  Shared by the specs
-- that promise a per-packet loop compiles and allocates nothing.
local jutil = require "jit.util"
local vmdef = require "jit.vmdef"

local type, tostring, pcall, assert, ipairs = type, tostring, pcall, assert, ipairs
local collectgarbage, jit = collectgarbage, jit

local M = {}

-- "file:line: reason" for an abort event of jit.attach.
local function describe_abort(func, pc, code, info)
  local fi = jutil.funcinfo(func, pc)
  local where = fi.loc or (fi.ffid and vmdef.ffnames[fi.ffid]) or tostring(func)
  local why = code
  if type(code) == "number" then
    if type(info) == "function" then
      local ii = jutil.funcinfo(info)
      info = ii.loc or (ii.ffid and vmdef.ffnames[ii.ffid]) or "?"
    end
    why = vmdef.traceerr[code]:format(info)
  end
  return where .. ": " .. tostring(why)
end

-- Runs fn(true) to warm up (traces get compiled, which allocates) until a
-- round compiles no new trace, then fn(false) with the collector stopped.
-- A measured round in which the JIT still compiled something (a side trace
-- for a path the warm-up did not take: timing decides which paths run) is
-- not a measurement of the loop and is repeated.  Returns the trace aborts
-- of the measured round (r), those of the warm-up (r.warm), the heap growth
-- of the measured round, how many rounds each phase took, and what fn
-- returned.  fn must not call busted's assertions: they are Lua code too,
-- with aborts of their own.
local MAX_ROUNDS = 6
function M.measure(fn)
  local r = { warm = {} }
  local seen, compiled = r.warm, 0
  local function on_trace(what, _, func, pc, code, info)
    if what == "abort" then seen[#seen + 1] = describe_abort(func, pc, code, info) end
    if what == "stop" then compiled = compiled + 1 end
  end
  jit.flush()
  jit.attach(on_trace, "trace")
  local ok, err = pcall(function()
    r.warm_rounds = 0
    repeat
      compiled = 0
      fn(true)
      r.warm_rounds = r.warm_rounds + 1
    until compiled == 0 or r.warm_rounds == MAX_ROUNDS
    seen = r
    r.rounds = 0
    repeat
      compiled = 0
      collectgarbage("collect")
      collectgarbage("stop")
      local before = collectgarbage("count")
      r.result = { fn(false) }
      r.growth_kib = collectgarbage("count") - before
      collectgarbage("restart")
      r.rounds = r.rounds + 1
    until compiled == 0 or r.rounds == MAX_ROUNDS
    r.compiled = compiled
  end)
  collectgarbage("restart")
  jit.attach(on_trace)
  assert(ok, err)
  return r
end

-- A fresh copy of module `name` (and of the modules named after it, which
-- it requires), for a loop to be measured as a new process would run it.
-- LuaJIT keeps what it learnt about a loop in the loop's bytecode for the
-- life of the process: a loop it gave up on stays blacklisted through
-- jit.flush(), and traces through it then abort ("blacklisted").  Specs run
-- before (flows_spec) call the same functions over a few frames at a time.
-- Returns the module and a function that puts the old copies back (busted
-- keeps one `finally` a test, so the caller schedules it, with net.defer).
function M.fresh(name, ...)
  local names = { name, ... }
  local saved = {}
  for i, n in ipairs(names) do
    saved[i] = package.loaded[n]
    package.loaded[n] = nil
  end
  return require(name), function()
    for i, n in ipairs(names) do package.loaded[n] = saved[i] end
  end
end

-- What an abort failure message needs to be read without a rerun: every
-- abort seen, let through or not, in the order they came.
function M.abort_report(r)
  return ("aborts while warming up (%d rounds): %s; in the measured rounds (%d): %s"):format(r.warm_rounds or 0,
    #r.warm > 0 and table.concat(r.warm, "; ") or "none", r.rounds or 0, #r > 0 and table.concat(r, "; ") or "none")
end

-- What a heap-growth failure message needs to be read without a rerun.
function M.growth_report(r, packets)
  return ("Lua heap grew %.1f KiB over %d packets (warm-up rounds %d, measured rounds %d, "
    .. "traces compiled in the last %d, warm-up aborts: %s)"):format(r.growth_kib, packets,
    r.warm_rounds, r.rounds, r.compiled, #r.warm > 0 and table.concat(r.warm, "; ") or "none")
end

-- LuaJIT works out where the traces of nested loops begin as it goes: it may
-- start at the outer loop before the inner one is hot ("inner loop in root
-- trace") or try to unroll a short inner loop into the outer trace ("loop
-- unroll limit reached"), give up and come back to it later; a root trace
-- begun in a loop of few iterations may see the loop end before it closes
-- ("leaving loop in root trace"); and a C function met first while
-- recording is resolved and recorded again ("symbol not in cache").  Those
-- are part of compiling, not a failure to, and when a retry falls is timing
-- (a pacer's loop takes a new path whenever its waits change), so they are
-- let through in any round; the heap-growth check still sees a loop that
-- runs interpreted and allocates.  A side trace from the exit of the loop
-- under test follows fn's return into this file's frame and aborts here
-- ("NYI: return to lower frame"): that is the harness, not the loop.  Any
-- other abort counts.
local SHAPE = {
  "inner loop in root trace", "loop unroll limit reached", "symbol not in cache", "leaving loop in root trace",
}
local HARNESS = "jit_watch.lua:"
local function benign(a)
  if a:find(HARNESS, 1, true) == 1 or a:find("/" .. HARNESS, 1, true) then return true end
  for _, s in ipairs(SHAPE) do
    if a:find(s, 1, true) then return true end
  end
  return false
end
function M.real_aborts(r)
  local out = {}
  for _, a in ipairs(r.warm) do
    if not benign(a) then out[#out + 1] = "warm-up: " .. a end
  end
  for _, a in ipairs(r) do
    if not benign(a) then out[#out + 1] = a end
  end
  return out
end

return M
