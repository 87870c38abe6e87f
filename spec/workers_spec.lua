-- xsk.workers: a function in a fresh LuaJIT VM on a thread of its own;
-- values in and out by copy, errors back with their traceback, one stop flag
-- for all, join with a timeout, and nothing left running afterwards.
local patience = require "support.patience"
local xsk = require "xsk"
local child = require "support.child"
local queues = require "support.queues"

local workers = xsk.workers

local clean = require("support.worker_guard").guard

local function spin_until_stopped()
  local w = require "xsk.workers"
  local turns = 0
  while not w.stopping() do turns = turns + 1 end
  return turns
end

describe("xsk.workers", function()
  it("runs a function in another VM and brings its values back", function()
    local start = clean()
    local w = start(function(a, s, t, flag)
      return a * 2, s:upper(), { list = { t[1] + 1, t[2] }, nested = { deep = t.k } }, nil, not flag
    end, 21, "abc", { 1, "two", k = "v" }, false)
    local ok, n, s, t, none, yes = w:join(patience.wait(5))
    assert.is_true(ok)
    assert.equal(42, n)
    assert.equal("ABC", s)
    assert.same({ list = { 2, "two" }, nested = { deep = "v" } }, t)
    assert.is_nil(none)
    assert.is_true(yes)
    -- The result is kept: joining again gives it again.
    assert.same({ true, 42 }, { (w:join(0)), (select(2, w:join(0))) })
  end)

  it("copies numbers, strings and booleans exactly, in keys too", function()
    local start = clean()
    local v = { 0.1, -0, 1 / 0, -1 / 0, 2 ^ 53, -2 ^ 31, ("\0\255"):rep(100), [true] = false, [2.5] = "x" }
    local ok, back = start(function(t) return t end, v):join(patience.wait(5))
    assert.is_true(ok)
    assert.same(v, back)
    local ok2, nan = start(function() return 0 / 0 end):join(patience.wait(5))
    assert.is_true(ok2)
    assert.is_true(nan ~= nan)
  end)

  it("brings a worker's error back with its traceback", function()
    local start = clean()
    local w = start({ function(x)
      local function deeper(y) error("bad value " .. y) end
      deeper(x)
    end, name = "failing" }, 7)
    local ok, err = w:join(patience.wait(5))
    assert.is_false(ok)
    assert.matches("^xsk.workers: failing raised: spec/workers_spec.lua:%d+: bad value 7", err)
    assert.matches("stack traceback:", err, 1, true)
    assert.matches("in function 'deeper'", err, 1, true)
    -- workers.wait raises it, after waiting for every worker.
    local good = start(function() return "fine" end)
    local ok2, err2 = pcall(workers.wait, { good, w }, 5)
    assert.is_false(ok2)
    assert.matches("failing raised: .*bad value 7", err2)
    assert.is_false(good:running())
  end)

  it("runs a function named as module:function", function()
    local start = clean()
    local ok, s = start("string:rep", "ab", 3):join(patience.wait(5))
    assert.is_true(ok)
    assert.equal("ababab", s)
    local ok2, err = start("string:nope"):join(patience.wait(5))
    assert.is_false(ok2)
    assert.matches('module "string" has no function "nope"', err, 1, true)
    local ok3, err3 = start("no.such.module:f"):join(patience.wait(5))
    assert.is_false(ok3)
    assert.matches("module 'no.such.module' not found", err3, 1, true)
  end)

  it("refuses a function with upvalues, naming them", function()
    clean()
    local helper = 1
    local ok, err = pcall(workers.start, function() return helper + xsk.version end)
    assert.is_false(ok)
    assert.matches("the function uses upvalues 'helper', 'xsk'", err, 1, true)
    assert.matches("require what it needs itself", err, 1, true)
  end)

  local refused = {
    { "a function", { function() end }, "argument 1: a function cannot cross" },
    { "a nested function", { 1, { a = { print } } }, "argument 2.a[1]: a function cannot cross" },
    { "a cdata", { { addr = require("ffi").new("uint64_t", 5) } },
      "argument 1.addr: a cdata (ctype<uint64_t>) cannot cross" },
    { "an object", { setmetatable({}, {}) }, "argument 1: a table with a metatable (an object) cannot cross" },
    { "a coroutine", { coroutine.create(print) }, "argument 1: a coroutine cannot cross" },
    { "a table key", { { [{}] = 1 } }, "argument 1: a key of type table cannot cross" },
    { "a string key path", { { ["a b"] = { print } } }, 'argument 1["a b"][1]: a function cannot cross' },
  }
  for _, case in ipairs(refused) do
    it("refuses " .. case[1] .. " as an argument, naming where it was", function()
      clean()
      local ok, err = pcall(workers.start, function() end, unpack(case[2]))
      assert.is_false(ok)
      assert.matches("xsk.workers: start: " .. case[3], err, 1, true)
    end)
  end

  it("refuses a table that contains itself", function()
    clean()
    local t = { a = {} }
    t.a.back = t
    local ok, err = pcall(workers.start, function() end, t)
    assert.is_false(ok)
    assert.matches("argument 1.a.back: a table that contains itself cannot cross", err, 1, true)
  end)

  it("reports a return value that cannot cross as the worker's error", function()
    local start = clean()
    local w = start({ function() return 1, { f = print } end, name = "ret" })
    local ok, err = w:join(patience.wait(5))
    assert.is_false(ok)
    assert.matches("xsk.workers: ret raised: xsk.workers: ret: return value 2.f: a function cannot cross", err, 1,
      true)
  end)

  it("refuses bad options", function()
    clean()
    local noop = function() end
    local cases = {
      { { noop, cpu = -1 }, "cpu must be a whole number from 0 to 4095, got -1" },
      { { noop, cpu = 1000 }, "cpu 1000 is not one this process may run on" },
      { { noop, cpu = 4000 }, "cpu 4000 is past the last one this system can have (1023)" },
      { { noop, name = "" }, "name must be a string of 1 to 47 characters" },
      { { noop, colour = 1 }, 'unknown option "colour"' },
      { { 42 }, "fn must be a function or \"module:function\", got number" },
      { "os.exit", 'fn must be a function or "module:function", got "os.exit"' },
      { print, "the function cannot be dumped: it is a C function" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(workers.start, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("pins a worker to a cpu and names its thread", function()
    local start = clean()
    local ok, status = start({ function()
      local f = assert(io.open("/proc/thread-self/status"))
      local s = f:read("*a")
      f:close()
      return s
    end, cpu = 1, name = "pinned" }):join(patience.wait(5))
    assert.is_true(ok)
    assert.equal("1", status:match("Cpus_allowed_list:%s*(%S+)"))
    assert.equal("xsk:pinned", status:match("Name:%s*(%S+)"))
  end)

  it("joins with a timeout, and stop ends every worker within a second", function()
    local start = clean()
    local ws = {}
    for i = 1, 4 do ws[i] = start({ spin_until_stopped, cpu = i % 2 }) end
    local ok, err = ws[1]:join(0.05)
    assert.is_nil(ok)
    assert.matches("worker %d+ is still running after 0.05 s", err)
    assert.is_true(ws[2]:running())
    assert.is_false(workers.stopping())
    workers.stop()
    assert.is_true(workers.stopping())
    for i = 1, 4 do
      local done, turns = ws[i]:join(patience.wait(1))
      assert.is_true(done, "worker " .. i .. " still running a second after stop")
      assert.is_number(turns)
    end
  end)

  it("cancels one worker alone", function()
    local start = clean()
    local a, b = start(spin_until_stopped), start(spin_until_stopped)
    a:cancel()
    assert.is_true((a:join(patience.wait(1))))
    assert.is_true(b:running())
    assert.is_false(workers.stopping())
    local ok, err = pcall(workers.reset)
    assert.is_false(ok)
    assert.matches("1 worker is still running; join it first", err, 1, true)
    workers.stop()
    assert.is_true((b:join(patience.wait(1))))
    workers.reset()
    assert.is_false(workers.stopping())
  end)

  it("tells a worker waiting on a mailbox that it must stop", function()
    local start = clean()
    local mb = workers.mailbox(4)
    local w = start(function(box) return box:recv(-1) end, mb)
    assert.is_nil(mb:recv(0.1)) -- the worker waits meanwhile
    workers.stop()
    local ok, msg, why = w:join(patience.wait(1))
    assert.is_true(ok)
    assert.is_nil(msg)
    assert.equal("stopped", why)
  end)

  it("leaves no thread behind, also when a running worker is dropped", function()
    local start = clean()
    local before = queues.threads()
    for i = 1, patience.work(20, 5) do
      assert.is_true((start(function(x) return x end, i):join(patience.wait(5))))
    end
    assert.equal(before, queues.threads())
    -- A worker whose object the collector takes is cancelled and waited for.
    workers.start(spin_until_stopped)
    assert.equal(before + 1, queues.threads())
    collectgarbage("collect")
    collectgarbage("collect")
    assert.equal(before, queues.threads())
  end)

  it("gives each worker a VM of its own that compiles its own traces", function()
    local start = clean()
    local function loop()
      local s = 0
      for i = 1, 1e5 do s = s + i % 7 end
      return jit.status(), s
    end
    local ok, on, sum = start(loop):join(patience.wait(5))
    assert.is_true(ok)
    assert.is_true(on)
    assert.equal(select(2, loop()), sum)
  end)

  it("stops every worker on Ctrl-C, and a blocked Ctrl-C too", function()
    for _, blocked in ipairs { false, true } do
      local status, out = child.run(([==[
local ffi = require "ffi"
local workers = require "xsk.workers"
ffi.cdef [[
int getpid(void); int kill(int pid, int sig);
int sigprocmask(int how, const uint8_t *set, uint8_t *old); int sigaddset(uint8_t *set, int sig);
]]
if %s then
  local set = ffi.new("uint8_t[128]")
  ffi.C.sigaddset(set, 2)
  ffi.C.sigprocmask(0, set, nil) -- SIG_BLOCK, as a script that takes its signals itself does
end
local function loop() local w = require "xsk.workers" while not w.stopping() do end return "ended" end
local a, b = workers.start(loop), workers.start(loop)
ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT, as Ctrl-C sends it
local ra, sa = a:join(%d)
local rb, sb = b:join(%d)
print("joined", ra, sa, rb, sb)
]==]):format(tostring(blocked), patience.wait(3), patience.wait(3)), { timeout = patience.wait(20) })
      assert.equal(0, status, out)
      assert.matches("joined\ttrue\tended\ttrue\tended", out, 1, true)
    end
  end)
end)
