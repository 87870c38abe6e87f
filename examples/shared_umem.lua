-- shared_umem: one UMEM, two sockets.  A socket on dev1 transmits frames out
-- of the UMEM, a socket on dev2 receives them into the same UMEM.  Drives the
-- four rings by hand (fill, TX, completion, RX), as xsk-rs's example does.
--
--   sudo luajit examples/shared_umem.lua
--   sudo luajit examples/shared_umem.lua --dev1 v0 --dev2 v1 --count 8

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"

local NAME = "shared_umem"
local MAX_COUNT = 16

local USAGE = [[
usage: luajit examples/shared_umem.lua [options]

Makes one UMEM and two AF_XDP sockets on it: dev1 (TX only) and dev2 (RX
only).  Frames written into the UMEM and sent on dev1 arrive on dev2 in
other frames of the same UMEM; prints what arrived and where.  Needs root.
Without --dev1/--dev2 it builds a throwaway network namespace with a veth
pair and removes it when done.

options:
  --count N       frames to send, 1 to 16 (default 4)
  --dev1 IF       send from this existing interface (needs --dev2)
  --dev2 IF       receive on this existing interface (needs --dev1)
  --queue N       queue id on both devices (default 0)
  --timeout MS    how long to wait for the frames (default 1000)
  -h, --help      show this text

exit status: 0 when every frame arrived, 1 when not or on errors,
2 on bad arguments, 130 when interrupted.
]]

local function usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

local OPTIONS = { dev1 = "string", dev2 = "string", queue = "number", timeout = "number", count = "number" }

local function parse_args(argv)
  local o = { queue = 0, timeout = 1000, count = 4 }
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
  if (o.dev1 == nil) ~= (o.dev2 == nil) then usage_error("--dev1 and --dev2 go together") end
  if o.count < 1 or o.count > MAX_COUNT then
    usage_error("option --count needs a number from 1 to %d, got %d", MAX_COUNT, o.count)
  end
  return o
end

-- The clock symbol is renamed on the Lua side so this declaration cannot
-- clash with a module that declares clock_gettime itself.
ffi.cdef [[
struct xskex_timespec { long tv_sec; long tv_nsec; };
int xskex_clock_gettime(int clk, struct xskex_timespec *ts) __asm__("clock_gettime");
]]
local ts = ffi.new("struct xskex_timespec")
local function now_ms()
  ffi.C.xskex_clock_gettime(1, ts) -- CLOCK_MONOTONIC
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

-- Broadcast destination, locally administered source, local-experiment
-- EtherType: frames the kernel stack on either side leaves alone.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181"

local state = {}

local function cleanup()
  if state.sock1 then state.sock1:close() end
  if state.sock2 then state.sock2:close() end
  if state.umem then state.umem:close() end
  if state.env then state.env.destroy() end
end

local function main(o)
  local xsk = require "xsk"
  local netns = require "xsk.netns"

  netns.private_bpffs()
  local dev1, dev2 = o.dev1, o.dev2
  if not dev1 then
    state.env = netns.setup { prefix = "xskex" }
    netns.enter(state.env)
    dev1, dev2 = state.env.a, state.env.b
  end

  state.umem = xsk.umem { frame_count = 64 }
  local umem = state.umem
  -- auto_fill off: this example feeds dev2's fill ring itself.
  state.sock1 = umem:socket { ifname = dev1, queue = o.queue, rx = false, auto_fill = false }
  state.sock2 = umem:socket { ifname = dev2, queue = o.queue, tx = false, auto_fill = false }
  local sock1, sock2 = state.sock1, state.sock2
  if stop_requested() then error(INTERRUPTED, 0) end
  print(("one UMEM (%d frames of %d bytes) shared by %s (TX) and %s (RX)"):format(
    umem.frame_count, umem.frame_size, dev1, dev2))

  -- 1. Give dev2's fill ring frames to receive into.  They come from the same
  -- pool the sender allocates from.
  local fill = umem:batch(16)
  umem:alloc(fill)
  local filled = sock2.fill:produce(fill)
  if filled == 0 then error("dev2's fill ring took no frames") end
  if sock2.fill:needs_wakeup() then sock2.fill:wakeup() end
  print(("%s fill ring: %d frames handed to the kernel"):format(dev2, filled))

  -- 2. Write the frames in place in the UMEM and put them on dev1's TX ring.
  local tx = umem:batch(o.count)
  if umem:alloc(tx, o.count) ~= o.count then error("not enough free frames in the UMEM") end
  local sent_addr, expect = {}, {}
  for i = 0, o.count - 1 do
    local msg = ("frame %d from %s"):format(i + 1, dev1)
    tx.f[i]:set(ETH_HEADER .. msg)
    expect[msg] = true
    sent_addr[#sent_addr + 1] = tx.f[i].addr
    print(("%s sends: %q from UMEM addr 0x%x"):format(dev1, msg, tonumber(tx.f[i].addr)))
  end
  if sock1.tx:produce_and_wakeup(tx) ~= o.count then error("dev1's TX ring had no room") end

  -- 3. Receive on dev2 until every message is in or time is up.
  local rx = umem:batch(16)
  local got, deadline = 0, now_ms() + o.timeout
  while got < o.count and now_ms() < deadline do
    if stop_requested() then error(INTERRUPTED, 0) end
    local n = sock2.rx:poll_and_consume(rx, 50)
    for i = 0, n - 1 do
      local f = rx.f[i]
      local pkt = f:bytes()
      if pkt:sub(1, #ETH_HEADER) == ETH_HEADER then
        local msg = pkt:sub(#ETH_HEADER + 1)
        local same = f.umem_id == umem.id and "the same UMEM" or "ANOTHER UMEM"
        print(("%s received: %q in UMEM addr 0x%x (%s)"):format(dev2, msg, tonumber(f.addr), same))
        if expect[msg] and f.umem_id == umem.id then
          expect[msg] = nil
          got = got + 1
        end
      end
    end
    -- The frames go back to the UMEM's pool, where either socket can use them.
    umem:release(rx)
  end

  -- 4. dev1's sent frames come back on its completion ring.
  local comp = umem:batch(16)
  local back, comp_deadline = 0, now_ms() + 200
  while back < o.count and now_ms() < comp_deadline do
    back = back + sock1.comp:consume(comp)
    umem:release(comp)
    if back < o.count then
      -- dev1 has no RX ring, so this poll just waits a moment (and kicks the
      -- TX ring if the kernel still has work there).
      sock1:poll(10)
    end
  end
  print(("%s completion ring: %d of %d sent frames back"):format(dev1, back, o.count))

  print(("received %d of %d frames, in the UMEM the sender wrote them to"):format(got, o.count))
  return got == o.count
end

local ok, o = pcall(parse_args, arg or {})
if not ok then
  local msg = type(o) == "table" and o.usage or tostring(o)
  io.stderr:write(NAME, ": ", msg, " (see --help)\n")
  os.exit(2)
end
if o.help then
  io.write(USAGE)
  os.exit(0)
end

-- pcall so that the namespace goes away whatever happens.
hold_signals()
local ran, result = pcall(main, o)
local cleaned, cleanup_err = pcall(cleanup)
if not cleaned then io.stderr:write(NAME, ": cleanup: ", tostring(cleanup_err), "\n") end
if not ran then
  io.stderr:write(NAME, ": ", tostring(result), "\n")
  os.exit(result == INTERRUPTED and 130 or 1)
end
if not result then
  io.stderr:write(NAME, ": not every frame arrived\n")
  os.exit(1)
end
os.exit(cleaned and 0 or 1)
