-- Microbenchmarks of the measurement helpers: what one call costs in a
-- per-packet or per-burst loop.  No network, no root.
--
--   luajit bench/measure.lua [SECONDS_PER_CASE]        (default 0.5)
--
-- Each case runs its loop once to let the JIT compile it, then for about
-- SECONDS_PER_CASE, and prints ns per call (the median of 5 runs) next to an
-- empty loop over the same data, so the loop's own cost can be told apart.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local ffi = require "ffi"
local bit = require "bit"
local clock = require "xsk.clock"
local hist = require "xsk.hist"
local pace = require "xsk.pace"
local pcap = require "xsk.pcap"
local filter = require "xsk.filter"

local SECS = tonumber(arg[1]) or 0.5
local now = clock.now
local band = bit.band

-- ns per call of fn(n) doing n calls: the median of 5 timed runs of a size
-- found so that each lasts about SECS / 5.
local function ns_per_call(fn)
  fn(10000)
  local n = 10000
  while true do
    local t0 = now()
    fn(n)
    if now() - t0 > SECS * 1e9 / 5 / 4 then break end
    n = n * 2
  end
  n = n * 4
  local runs = {}
  for i = 1, 5 do
    local t0 = now()
    fn(n)
    runs[i] = (now() - t0) / n
  end
  table.sort(runs)
  return runs[3]
end

local rows = {}
local function case(name, fn, note)
  rows[#rows + 1] = { name, ns_per_call(fn), note or "" }
  io.stderr:write(".")
end

-- ---- histogram ----
local N = 65536
local values = ffi.new("double[?]", N)
do
  local x = 1
  for i = 0, N - 1 do
    x = (x * 1103515245 + 12345) % 2147483648
    values[i] = math.floor(100 * 1e8 ^ (x / 2147483648)) -- 100 ns .. 10 s, log-uniform
  end
end
local sink = 0
case("loop over the values (baseline)", function(n)
  local s = 0
  for i = 1, n do s = s + values[band(i, N - 1)] end
  sink = sink + s
end)
local h = hist.new()
case("hist:record(v)", function(n)
  for i = 1, n do h:record(values[band(i, N - 1)]) end
end, "100 ns .. 10 s, log-uniform")
local small = ffi.new("double[?]", N)
for i = 0, N - 1 do small[i] = 5000 + i % 3000 end
case("hist:record(v), values in few buckets", function(n)
  for i = 1, n do h:record(small[band(i, N - 1)]) end
end, "5 .. 8 us")
case("hist:percentile(99)", function(n)
  local s = 0
  for _ = 1, n / 1000 do s = s + h:percentile(99) end
  sink = sink + s
end)
rows[#rows][2] = rows[#rows][2] * 1000 -- per call, not per loop step

-- ---- pacer ----
case("clock.now()", function(n)
  local s = 0
  for _ = 1, n do s = s + now() end
  sink = sink + s
end)
for _, poisson in ipairs { false, true } do
  local p = pace.new { pps = 1e10, poisson = poisson }
  local kind = poisson and "Poisson" or "fixed"
  case(("pacer:poll(1), %s, always due"):format(kind), function(n)
    for _ = 1, n do p:poll(1) end
  end, "one packet a call: the per-packet cost")
  case(("pacer:wait(64), %s, always due"):format(kind), function(n)
    for _ = 1, n do p:wait(64) end
  end, "per burst of 64")
end
do
  local t = 0
  local p = pace.new { pps = 1e6, clock = function() t = t + 1000; return t end, sleep = function() end }
  case("pacer:wait(1), fixed, injected clock", function(n)
    for _ = 1, n do p:wait(1) end
  end, "without the clock read")
end

-- ---- filter and pcap ----
local pkt = ffi.new("uint8_t[64]")
do
  local frame = "\2\0\0\0\0\2\2\0\0\0\0\1\8\0\69\0\0\50\0\0\0\0\64\17\0\0\198\18\0\1\198\18\0\2\3\232\22\46\0\30\0\0"
  ffi.copy(pkt, frame, #frame)
end
local f = filter.compile("udp and dst port 5678")
case("filter:match(ptr, 64)", function(n)
  local hits = 0
  for _ = 1, n do if f:match(pkt, 64) then hits = hits + 1 end end
  sink = sink + hits
end, "\"udp and dst port 5678\"")

local path = os.tmpname()
local w = pcap.writer(path, { nanosecond = true })
for i = 1, 200000 do w:write(pkt, 64, i, 0) end
w:close()
local ngpath = path .. ".pcapng"
local status = os.execute("editcap -F pcapng " .. path .. " " .. ngpath .. " 2>/dev/null")
local converted = status == 0 or status == true
local dst = ffi.new("uint8_t[2048]")
for _, file in ipairs { path, converted and ngpath or nil } do
  local r = pcap.reader(file)
  case(("pcap next_into, %s"):format(r.format), function(n)
    for _ = 1, n do
      if r:next_into(dst, 2048) == nil then
        r:close()
        r = pcap.reader(file)
      end
    end
  end, "64-byte packets, file in the page cache")
  r:close()
end
os.remove(path)
os.remove(ngpath)

io.stderr:write("\n")
print(("%-45s %10s  %s"):format("call", "ns/call", ""))
for _, row in ipairs(rows) do print(("%-45s %10.1f  %s"):format(row[1], row[2], row[3])) end
if sink ~= sink then print(sink) end
