-- dev1_to_dev2: sends N numbered frames from an AF_XDP socket on dev1 to one
-- on dev2 and reports how many arrived and how fast.  One thread does both
-- sides, a batch at a time.
--
--   sudo luajit examples/dev1_to_dev2.lua --count 1000000
--   sudo luajit examples/dev1_to_dev2.lua --dev1 v0 --dev2 v1 --shared

-- Load the in-tree modules relative to this file, so the example runs from a
-- checkout after `make`, from any working directory, with nothing installed.
local root = ((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local bit = require "bit"

local NAME = "dev1_to_dev2"

local USAGE = [[
usage: luajit examples/dev1_to_dev2.lua [options]

Sends --count frames, each carrying a sequence number, from an AF_XDP socket
on dev1 to an AF_XDP socket on dev2; counts distinct sequence numbers that
arrive, so loss and duplicates are reported honestly.  Stops when all have
arrived or when nothing moved for --quiet ms.  Needs root.  Without
--dev1/--dev2 it builds a throwaway network namespace with a veth pair and
removes it when done.

options:
  --count N       frames to send (default 100000)
  --size N        bytes per frame, Ethernet header included (default 64,
                  at least 20)
  --batch N       frames per send/recv call (default 64)
  --frames N      frames per UMEM (default 4096)
  --rx-size N     RX ring size (default 2048, a power of two)
  --tx-size N     TX ring size (default 2048)
  --fill-size N   fill ring size (default 2048)
  --comp-size N   completion ring size (default 2048)
  --timeout MS    poll timeout once everything is sent (default 100)
  --quiet MS      give up after this long without progress (default 1000)
  --shared        one UMEM for both sockets
  --dev1 IF       send from this existing interface (needs --dev2)
  --dev2 IF       receive on this existing interface (needs --dev1)
  --queue N       queue id on both devices (default 0)
  -h, --help      show this text

exit status: 0 when every frame arrived, 1 when some were lost or on errors,
2 on bad arguments, 130 when interrupted.
]]

local function usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

-- name -> { kind, default }; kinds: "count" (whole, >= 1), "ms" (whole,
-- >= 0), "pow2", "string", "flag".
local OPTIONS = {
  count = { "count", 100000 },
  size = { "count", 64 },
  batch = { "count", 64 },
  frames = { "count", 4096 },
  ["rx-size"] = { "pow2", 2048 },
  ["tx-size"] = { "pow2", 2048 },
  ["fill-size"] = { "pow2", 2048 },
  ["comp-size"] = { "pow2", 2048 },
  timeout = { "ms", 100 },
  quiet = { "ms", 1000 },
  queue = { "ms", 0 },
  shared = { "flag", false },
  dev1 = { "string" },
  dev2 = { "string" },
}

local function parse_args(argv)
  local o = {}
  for name, spec in pairs(OPTIONS) do o[name] = spec[2] end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      o.help = true
    else
      local name, value = a:match("^%-%-([%w-]+)=(.*)$")
      if not name then name = a:match("^%-%-([%w-]+)$") end
      local spec = name and OPTIONS[name]
      if not spec then usage_error("unknown option %s", a) end
      local kind = spec[1]
      if kind == "flag" then
        if value then usage_error("option --%s takes no value", name) end
        value = true
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then usage_error("option --%s needs a value", name) end
        end
        if kind == "string" then
          if value == "" then usage_error("option --%s needs a non-empty value", name) end
        else
          local n = tonumber(value)
          local least = kind == "ms" and 0 or 1
          if not n or n % 1 ~= 0 or n < least or n > 4294967295 then
            usage_error("option --%s needs a whole number%s, got %q", name,
              least == 1 and " from 1" or "", value)
          end
          if kind == "pow2" then
            local p = 1
            while p < n do p = p * 2 end
            if p ~= n then usage_error("option --%s needs a power of two, got %d", name, n) end
          end
          value = n
        end
      end
      o[name] = value
    end
    i = i + 1
  end
  if (o.dev1 == nil) ~= (o.dev2 == nil) then usage_error("--dev1 and --dev2 go together") end
  if o.size < 20 then usage_error("option --size needs at least 20 bytes (header and sequence number), got %d", o.size) end
  if o.batch > 65536 then usage_error("option --batch is at most 65536, got %d", o.batch) end
  return o
end

-- libc through renamed symbols, so these declarations cannot clash with a
-- module that declares the same functions under their own names.
ffi.cdef [[
struct xskex_timespec { long tv_sec; long tv_nsec; };
typedef struct { uint8_t bits[128]; } xskex_sigset_t;
int xskex_clock_gettime(int clk, struct xskex_timespec *ts) __asm__("clock_gettime");
int xskex_sigemptyset(xskex_sigset_t *set) __asm__("sigemptyset");
int xskex_sigaddset(xskex_sigset_t *set, int sig) __asm__("sigaddset");
int xskex_sigprocmask(int how, const xskex_sigset_t *set, xskex_sigset_t *old) __asm__("sigprocmask");
int xskex_sigtimedwait(const xskex_sigset_t *set, void *info, const struct xskex_timespec *t) __asm__("sigtimedwait");
]]
local libc = ffi.C

local ts = ffi.new("struct xskex_timespec")
local function now()
  libc.xskex_clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- Ctrl-C and kill: LuaJIT's own SIGINT handler raises "interrupted!" at
-- whatever Lua line runs next (which can be in the middle of cleanup), and
-- not at all inside compiled code such as the send/receive loop.  So SIGHUP,
-- SIGINT and SIGTERM are held for the whole run and taken at points where
-- stopping is safe.
local stop_set, no_wait = ffi.new("xskex_sigset_t"), ffi.new("struct xskex_timespec")
libc.xskex_sigemptyset(stop_set)
for _, sig in ipairs { 1, 2, 15 } do libc.xskex_sigaddset(stop_set, sig) end
local function hold_signals() libc.xskex_sigprocmask(0, stop_set, nil) end -- SIG_BLOCK
-- Takes a pending stop signal, if there is one.
local function stop_requested() return libc.xskex_sigtimedwait(stop_set, nil, no_wait) > 0 end
local INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

-- Frame layout: broadcast destination, locally administered source, the
-- IEEE local-experiment EtherType, two bytes of padding so the sequence number
-- sits 4-aligned (packet data starts 4-aligned in the UMEM), then the number.
local ETH_HEADER = "\255\255\255\255\255\255" .. "\2\0\0\0\0\1" .. "\136\181" .. "\0\0"
local HDR_LEN = #ETH_HEADER
local SEQ_OFF = 16
local ETYPE_HI, ETYPE_LO = 0x88, 0xB5

local state = {}

local function cleanup()
  if state.sock1 then state.sock1:close() end
  if state.sock2 then state.sock2:close() end
  if state.umem1 then state.umem1:close() end
  if state.umem2 and state.umem2 ~= state.umem1 then state.umem2:close() end
  if state.env then state.env.destroy() end
end

-- The measured loop.  Everything it touches is made before it starts; inside
-- there are only FFI calls and arithmetic, so it compiles to one trace tree
-- and allocates nothing.
local function run(o, sock1, sock2, umem1, umem2, tx, rx, hdr, seen)
  local copy, cast, min = ffi.copy, ffi.cast, math.min
  local band, bor, lshift, rshift = bit.band, bit.bor, bit.lshift, bit.rshift
  local u32p = ffi.typeof("uint32_t *")
  local count, size, batch = o.count, o.size, o.batch
  local poll_ms, quiet = o.timeout, o.quiet / 1000
  local queued, sent, received, dups, foreign = 0, 0, 0, 0, 0
  -- How many frames to send; lowered to what is already queued on Ctrl-C,
  -- so frames in flight still get counted before the loop ends.
  local limit = count
  local start = now()
  local last_progress, last_rx = start, start
  local interrupted = false
  local iter = 0

  while true do
    local moved = false

    if queued < limit then
      -- Top the batch up; frames the TX ring refused last time are still at
      -- its front, already numbered.
      local have = tx.n
      local want = min(batch - have, limit - queued)
      if want > 0 then
        local got = umem1:alloc(tx, want)
        for i = have, have + got - 1 do
          local f = tx.f[i]
          copy(f.data, hdr, HDR_LEN)
          cast(u32p, f.data + SEQ_OFF)[0] = queued
          f.len = size
          queued = queued + 1
        end
      end
    end
    -- With nothing queued this still reaps completions and kicks the TX ring
    -- until the kernel has taken the last frames.
    local k = sock1:send(tx)
    if k > 0 then
      sent = sent + k
      moved = true
    end

    -- Wait in poll only when there is nothing left to send.
    local n = sock2:recv(rx, sent == limit and poll_ms or 0)
    local before = received
    if n > 0 then
      for i = 0, n - 1 do
        local f = rx.f[i]
        local d = f.data
        if f.len >= SEQ_OFF + 4 and d[12] == ETYPE_HI and d[13] == ETYPE_LO then
          local seq = cast(u32p, d + SEQ_OFF)[0]
          local byte, mask = rshift(seq, 3), lshift(1, band(seq, 7))
          if seq < count and band(seen[byte], mask) == 0 then
            seen[byte] = bor(seen[byte], mask)
            received = received + 1
          else
            dups = dups + 1
          end
        else
          foreign = foreign + 1
        end
      end
      umem2:release(rx)
      moved = true
    end

    local t = now()
    if moved then last_progress = t end
    if received ~= before then last_rx = t end
    if received == limit or t - last_progress > quiet then break end
    -- A syscall per pass would cost a little; every 64th is plenty for a human.
    iter = iter + 1
    if not interrupted and iter % 64 == 0 and stop_requested() then
      interrupted = true
      limit = queued
    end
  end

  return {
    sent = sent, received = received, dups = dups, foreign = foreign,
    elapsed = last_rx - start, interrupted = interrupted,
  }
end

local function main(o)
  local xsk = require "xsk"
  local netns = require "xsk.netns"

  netns.private_bpffs()
  local dev1, dev2 = o.dev1, o.dev2
  if not dev1 then
    -- veth drops frames longer than its MTU allows.
    local mtu = o.size - 14 > 1500 and o.size - 14 or nil
    state.env = netns.setup { prefix = "xskex", mtu = mtu }
    netns.enter(state.env)
    dev1, dev2 = state.env.a, state.env.b
  end

  local ucfg = {
    frame_count = o.frames, fill_size = o["fill-size"], comp_size = o["comp-size"],
  }
  state.umem1 = xsk.umem(ucfg)
  state.umem2 = o.shared and state.umem1 or xsk.umem(ucfg)
  local umem1, umem2 = state.umem1, state.umem2
  if o.size > umem1.max_packet then
    error(("--size %d does not fit a frame (at most %d bytes)"):format(o.size, umem1.max_packet), 0)
  end
  local scfg = { queue = o.queue, rx_size = o["rx-size"], tx_size = o["tx-size"], batch_size = o.batch }
  scfg.ifname, scfg.rx, scfg.tx = dev1, false, true
  state.sock1 = umem1:socket(scfg)
  scfg.ifname, scfg.rx, scfg.tx = dev2, true, false
  state.sock2 = umem2:socket(scfg)

  local tx, rx = umem1:batch(o.batch), umem2:batch(o.batch)
  local hdr = ffi.new("uint8_t[?]", HDR_LEN)
  ffi.copy(hdr, ETH_HEADER, HDR_LEN)
  -- One bit per sequence number: a billion frames still fit in 125 MB.
  local seen = ffi.new("uint8_t[?]", math.floor((o.count + 7) / 8))

  print(("%s -> %s: %d frames of %d bytes, batch %d, %s"):format(dev1, dev2, o.count, o.size, o.batch,
    o.shared and "one shared UMEM" or "a UMEM per socket"))
  -- The header goes out now, not at exit, for whoever watches a pipe or file.
  io.stdout:flush()
  if stop_requested() then error(INTERRUPTED, 0) end
  local r = run(o, state.sock1, state.sock2, umem1, umem2, tx, rx, hdr, seen)
  -- Frames the TX ring never took go back to the pool before the sockets close.
  if tx.n > 0 then umem1:release(tx) end

  local lost = r.sent - r.received
  print(("sent:     %d"):format(r.sent))
  print(("received: %d"):format(r.received))
  print(("lost:     %d"):format(lost))
  if r.dups > 0 then print(("duplicate: %d"):format(r.dups)) end
  if r.foreign > 0 then print(("other frames: %d"):format(r.foreign)) end
  print(("elapsed:  %.3f s"):format(r.elapsed))
  print(("pps:      %.0f"):format(r.elapsed > 0 and r.received / r.elapsed or 0))
  if lost > 0 or r.sent < o.count then
    local st = state.sock2:stats()
    print(("dev2 socket: rx_dropped %d, rx_ring_full %d, fill_ring_empty %d"):format(
      st.rx_dropped, st.rx_ring_full, st.rx_fill_ring_empty_descs))
  end
  if r.interrupted then return "interrupted" end
  return r.received == o.count
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
if result == "interrupted" then
  io.stderr:write(NAME, ": interrupted\n")
  os.exit(130)
end
if not result then
  io.stderr:write(NAME, ": not every frame arrived\n")
  os.exit(1)
end
os.exit(cleaned and 0 or 1)
