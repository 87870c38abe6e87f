-- udp_reflect: a UDP echo on a kernel socket (no AF_XDP, no lua-xsk: plain
-- LuaJIT and libc), the reflector xsk-latency measures against, with faults
-- to order for the specs: datagram i (the i-th received, from 1) is dropped,
-- duplicated, swapped with the next one or held back when i % N == K.
--
--   ip netns exec PEER luajit tools/udp_reflect.lua --port 7
--   ... --drop 10:3 --dup 10:5 --swap 10:7 --late 50:20 --late-ms 300 --duration 5
--
-- Prints "udp_reflect: echoing on port P" when it listens, and at the end
-- "udp_reflect: received N echoed N dropped N duplicated N swapped N late N".
-- Stops after --duration seconds (default: runs until killed, SIGTERM ends
-- it with the summary) or --count datagrams.
local ffi = require "ffi"
local bit = require "bit"

ffi.cdef [[
struct rf_sin { uint16_t family, port; uint8_t addr[4]; uint8_t zero[8]; };
struct rf_pollfd { int fd; short events, revents; };
struct rf_ts { long sec, nsec; };
int rf_socket(int, int, int) __asm__("socket");
int rf_bind(int, const void *, unsigned) __asm__("bind");
int rf_setsockopt(int, int, int, const void *, unsigned) __asm__("setsockopt");
long rf_recvfrom(int, void *, size_t, int, void *, unsigned *) __asm__("recvfrom");
long rf_sendto(int, const void *, size_t, int, const void *, unsigned) __asm__("sendto");
int rf_poll(struct rf_pollfd *, unsigned long, int) __asm__("poll");
int rf_clock_gettime(int, struct rf_ts *) __asm__("clock_gettime");
typedef struct { uint8_t bits[128]; } rf_sigset_t;
int rf_sigemptyset(rf_sigset_t *) __asm__("sigemptyset");
int rf_sigaddset(rf_sigset_t *, int) __asm__("sigaddset");
int rf_sigprocmask(int, const rf_sigset_t *, rf_sigset_t *) __asm__("sigprocmask");
int rf_sigtimedwait(const rf_sigset_t *, void *, const struct rf_ts *) __asm__("sigtimedwait");
]]
local C = ffi.C

local function usage(msg)
  io.stderr:write("udp_reflect: ", msg, "\n",
    "usage: udp_reflect.lua --port P [--drop N:K] [--dup N:K] [--swap N:K] [--late N:K] [--late-ms MS]\n",
    "                       [--duration S] [--count N]\n")
  os.exit(2)
end

-- ---- options ----

local o = { late_ms = 300 }
local i = 1
while i <= #arg do
  local k, v = arg[i], arg[i + 1]
  if v == nil then usage("missing value for " .. k) end
  local name = k:match("^%-%-([%w-]+)$")
  name = name and name:gsub("-", "_")
  if name == "port" or name == "late_ms" or name == "count" or name == "duration" then
    o[name] = tonumber(v) or usage(("%s needs a number, got %q"):format(k, v))
  elseif name == "drop" or name == "dup" or name == "swap" or name == "late" then
    local n, r = v:match("^(%d+):(%d+)$")
    if not n then n, r = v:match("^(%d+)$"), 0 end
    if not n or tonumber(n) < 1 then usage(("%s needs N or N:K, got %q"):format(k, v)) end
    o[name] = { tonumber(n), tonumber(r) }
  else
    usage("unknown option " .. k)
  end
  i = i + 2
end
if not o.port or o.port < 1 or o.port > 65535 then usage("--port P is required (1 to 65535)") end

local function hit(rule, n) return rule and n % rule[1] == rule[2] end

local ts = ffi.new("struct rf_ts")
local function now_ms()
  C.rf_clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.sec) * 1e3 + tonumber(ts.nsec) / 1e6
end

-- SIGINT/SIGTERM end the loop at the next turn, with the summary.
local stop_set, no_wait = ffi.new("rf_sigset_t"), ffi.new("struct rf_ts")
C.rf_sigemptyset(stop_set)
C.rf_sigaddset(stop_set, 2)
C.rf_sigaddset(stop_set, 15)
C.rf_sigprocmask(0, stop_set, nil) -- SIG_BLOCK

-- ---- the socket ----

local fd = C.rf_socket(2, 2, 0) -- AF_INET, SOCK_DGRAM
if fd < 0 then usage("cannot make a UDP socket (errno " .. ffi.errno() .. ")") end
local one = ffi.new("int[1]", 1)
C.rf_setsockopt(fd, 1, 2, one, 4) -- SO_REUSEADDR
local sa = ffi.new("struct rf_sin")
sa.family, sa.port = 2, bit.rshift(bit.bswap(o.port), 16)
if C.rf_bind(fd, sa, ffi.sizeof(sa)) ~= 0 then usage(("cannot bind port %d (errno %d)"):format(o.port, ffi.errno())) end
io.write(("udp_reflect: echoing on port %d\n"):format(o.port))
io.stdout:flush()

local buf = ffi.new("uint8_t[65536]")
local from = ffi.new("struct rf_sin")
local fromlen = ffi.new("unsigned[1]")
local pfd = ffi.new("struct rf_pollfd")
pfd.fd, pfd.events = fd, 1 -- POLLIN

local count = { received = 0, echoed = 0, dropped = 0, duplicated = 0, swapped = 0, late = 0 }
local held = {}     -- late datagrams: { due = ms, data = string, to = string }
local swap_with     -- a datagram waiting to go out after the next one

local function send(data, to)
  C.rf_sendto(fd, data, #data, 0, to, ffi.sizeof(from))
  count.echoed = count.echoed + 1
end

local deadline = o.duration and now_ms() + o.duration * 1e3 or math.huge
while now_ms() < deadline and (not o.count or count.received < o.count or #held > 0 or swap_with) do
  if C.rf_sigtimedwait(stop_set, nil, no_wait) > 0 then break end
  local t = now_ms()
  for k = #held, 1, -1 do
    if held[k].due <= t then
      send(held[k].data, held[k].to)
      table.remove(held, k)
    end
  end
  local wait = 50
  for _, h in ipairs(held) do wait = math.min(wait, math.max(0, math.ceil(h.due - t))) end
  if C.rf_poll(pfd, 1, wait) > 0 then
    fromlen[0] = ffi.sizeof(from)
    local n = C.rf_recvfrom(fd, buf, 65536, 0, from, fromlen)
    if n >= 0 then
      count.received = count.received + 1
      local k = count.received
      local data, to = ffi.string(buf, n), ffi.string(from, ffi.sizeof(from))
      local pending = swap_with
      swap_with = nil
      if hit(o.drop, k) then
        count.dropped = count.dropped + 1
      elseif hit(o.late, k) then
        count.late = count.late + 1
        held[#held + 1] = { due = now_ms() + o.late_ms, data = data, to = to }
      elseif hit(o.swap, k) and not pending then
        count.swapped = count.swapped + 1
        swap_with = { data = data, to = to }
      else
        send(data, to)
        if hit(o.dup, k) then
          send(data, to)
          count.duplicated = count.duplicated + 1
        end
      end
      if pending then send(pending.data, pending.to) end
    end
  elseif swap_with and o.count and count.received >= o.count then
    send(swap_with.data, swap_with.to) -- nothing came after it
    swap_with = nil
  end
end
io.write(("udp_reflect: received %d echoed %d dropped %d duplicated %d swapped %d late %d\n"):format(
  count.received, count.echoed, count.dropped, count.duplicated, count.swapped, count.late))
