-- hello_xdp: one Ethernet frame carrying "Hello, world!" goes out of an
-- AF_XDP socket on dev1 and comes back in through an AF_XDP socket on dev2.
--
--   sudo luajit examples/hello_xdp.lua                     (throwaway veth pair)
--   sudo luajit examples/hello_xdp.lua --dev1 v0 --dev2 v1 (existing devices)

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"

local NAME = "hello_xdp"
local MESSAGE = "Hello, world!"

local USAGE = [[
usage: luajit examples/hello_xdp.lua [options]

Sends one Ethernet frame (broadcast, EtherType 0x88B5) carrying
"Hello, world!" from an AF_XDP socket on dev1 to an AF_XDP socket on dev2.
Needs root.  Without --dev1/--dev2 it builds a throwaway network namespace
with a veth pair and removes it when done.

options:
  --dev1 IF       send from this existing interface (needs --dev2)
  --dev2 IF       receive on this existing interface (needs --dev1)
  --queue N       queue id on both devices (default 0)
  --timeout MS    how long to wait for the frame (default 1000)
  -h, --help      show this text

exit status: 0 when the frame arrived, 1 when it did not or on errors,
2 on bad arguments, 130 when interrupted.
]]

-- A usage error is a table, so the top level can tell it from a failure.
local function usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

-- Options: name -> "string" | "number".  Accepts `--opt value` and
-- `--opt=value`; numbers must be whole and not negative.
local OPTIONS = { dev1 = "string", dev2 = "string", queue = "number", timeout = "number" }

local function parse_args(argv)
  local o = { queue = 0, timeout = 1000 }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      o.help = true
    else
      local name, value = a:match("^%-%-([%w-]+)=(.*)$")
      if not name then name = a:match("^%-%-([%w-]+)$") end
      local kind = name and OPTIONS[name]
      if not kind then usage_error("unknown option %s", a) end
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error("option --%s needs a value", name) end
      end
      if kind == "number" then
        local n = tonumber(value)
        if not n or n < 0 or n % 1 ~= 0 then
          usage_error("option --%s needs a whole number, got %q", name, value)
        end
        value = n
      elseif value == "" then
        usage_error("option --%s needs a non-empty value", name)
      end
      o[name] = value
    end
    i = i + 1
  end
  if (o.dev1 == nil) ~= (o.dev2 == nil) then
    usage_error("--dev1 and --dev2 go together")
  end
  return o
end

-- Broadcast destination, a locally administered source, then the EtherType
-- IEEE reserves for local experiments, which no stack on the way consumes.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181"

-- A monotonic clock for the wait.  The symbol is renamed on the Lua side so
-- this declaration cannot clash with another module declaring clock_gettime.
ffi.cdef [[
struct xskex_timespec { long tv_sec; long tv_nsec; };
int xskex_clock_gettime(int clk, struct xskex_timespec *ts) __asm__("clock_gettime");
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("struct xskex_timespec")
local function now_ms()
  ffi.C.xskex_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

-- Ctrl-C and kill: LuaJIT's own SIGINT handler raises "interrupted!" at
-- whatever Lua line runs next, which can be in the middle of cleanup and leave
-- the namespace behind.  So SIGHUP, SIGINT and SIGTERM are held for the whole
-- run and taken at points where stopping is safe.
ffi.cdef [[
typedef struct { uint8_t bits[128]; } xskex_sigset_t;
int xskex_sigemptyset(xskex_sigset_t *set) __asm__("sigemptyset");
int xskex_sigaddset(xskex_sigset_t *set, int sig) __asm__("sigaddset");
int xskex_sigprocmask(int how, const xskex_sigset_t *set, xskex_sigset_t *old) __asm__("sigprocmask");
int xskex_sigtimedwait(const xskex_sigset_t *set, void *info, const struct xskex_timespec *t) __asm__("sigtimedwait");
]]
local stop_set, no_wait = ffi.new("xskex_sigset_t"), ffi.new("struct xskex_timespec")
ffi.C.xskex_sigemptyset(stop_set)
for _, sig in ipairs { 1, 2, 15 } do ffi.C.xskex_sigaddset(stop_set, sig) end
local function hold_signals() ffi.C.xskex_sigprocmask(0, stop_set, nil) end -- SIG_BLOCK
-- Takes a pending stop signal, if there is one.
local function stop_requested() return ffi.C.xskex_sigtimedwait(stop_set, nil, no_wait) > 0 end
local INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

-- Everything that must be undone, in the order it is undone.
local state = {}

local function cleanup()
  if state.sock1 then state.sock1:close() end
  if state.sock2 then state.sock2:close() end
  if state.umem1 then state.umem1:close() end
  if state.umem2 then state.umem2:close() end
  if state.env then state.env.destroy() end
end

local function main(opts)
  local xsk = require "xsk"
  local netns = require "xsk.netns"

  -- libxdp keeps its program state in bpffs; this mounts one privately.
  netns.private_bpffs()
  local dev1, dev2 = opts.dev1, opts.dev2
  if not dev1 then
    state.env = netns.setup { prefix = "xskex" }
    netns.enter(state.env)
    dev1, dev2 = state.env.a, state.env.b
  end

  -- Two UMEMs, as in xsk-rs's hello_xdp: each socket owns its own frames.
  state.umem1 = xsk.umem { frame_count = 32 }
  state.umem2 = xsk.umem { frame_count = 32 }
  state.sock1 = state.umem1:socket { ifname = dev1, queue = opts.queue, rx = false }
  state.sock2 = state.umem2:socket { ifname = dev2, queue = opts.queue, tx = false }
  local umem1, umem2, sock1, sock2 = state.umem1, state.umem2, state.sock1, state.sock2
  if stop_requested() then error(INTERRUPTED, 0) end

  local tx = umem1:batch(1)
  if umem1:alloc(tx, 1) ~= 1 then error("no free frame in dev1's UMEM") end
  tx.f[0]:set(ETH_HEADER .. MESSAGE)
  print(("sending: %q"):format(MESSAGE))
  -- One frame always fits an empty TX ring; a 0 here would be a core bug.
  if sock1:send(tx) ~= 1 then error("dev1's TX ring took no frame") end

  local rx = umem2:batch(32)
  local deadline = now_ms() + opts.timeout
  while now_ms() < deadline do
    if stop_requested() then error(INTERRUPTED, 0) end
    local n = sock2:recv(rx, 50)
    for i = 0, n - 1 do
      local pkt = rx.f[i]:bytes()
      if pkt:sub(1, #ETH_HEADER) == ETH_HEADER then
        local payload = pkt:sub(#ETH_HEADER + 1)
        print(("received: %q"):format(payload))
        if payload == MESSAGE then
          umem2:release(rx)
          return true
        end
      end
    end
    umem2:release(rx)
  end
  return false
end

local ok, opts = pcall(parse_args, arg or {})
if not ok then
  local msg = type(opts) == "table" and opts.usage or tostring(opts)
  io.stderr:write(NAME, ": ", msg, " (see --help)\n")
  os.exit(2)
end
if opts.help then
  io.write(USAGE)
  os.exit(0)
end

-- pcall so that the namespace goes away whatever happens.
hold_signals()
local ran, result = pcall(main, opts)
local cleaned, cleanup_err = pcall(cleanup)
if not cleaned then io.stderr:write(NAME, ": cleanup: ", tostring(cleanup_err), "\n") end
if not ran then
  io.stderr:write(NAME, ": ", tostring(result), "\n")
  os.exit(result == INTERRUPTED and 130 or 1)
end
if not result then
  io.stderr:write(NAME, ": no matching frame received within ", opts.timeout, " ms\n")
  os.exit(1)
end
os.exit(cleaned and 0 or 1)
