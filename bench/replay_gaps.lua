-- bench/replay_gaps.lua: how closely xsk-replay keeps a capture's recorded
-- gaps, measured at the receiver.  Run by `make bench`; needs root.
--
--   luajit bench/replay_gaps.lua [PACKETS]        (default 5000; QUICK=1: 2000)
--
-- A pcap file (ns) of PACKETS frames whose gaps are drawn log-uniform from
-- 20 us to 2 ms (seeded: the same file each run), replayed by xsk-replay
-- (CPU 0) at --speed 1 and 4 into a veth pair; lua-xsk's steering program
-- on the far end stamps every arrival (f:rx_time(), spec/support/rate.lua).
-- For each gap: error = arrival gap - recorded gap / speed.  Prints the
-- distribution of the errors and of their absolute values.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = (os.getenv("LXSK_BUILD") or "build") .. "/lua/?.so;" .. package.cpath

local rate = require "support.rate"
local pcap = require "xsk.pcap"

-- A fresh file name ending in ext: os.tmpname makes the file it names, so
-- it goes again before its name is used with the extension.
local function tmpfile(ext)
  local base = os.tmpname()
  os.remove(base)
  return base .. ext
end

local N = tonumber(arg[1]) or (os.getenv("QUICK") == "1" and 2000 or 5000)

local lab = rate.lab { cpu_tx = 0, cpu_rx = 1 }
local file = tmpfile(".pcap")
local ok, err = pcall(function()
  -- the file
  local gaps, x = {}, 12345
  local t = lab:frame(64)
  local w = pcap.writer(file, { nanosecond = true })
  local at = 1700000000 * 1e9
  for i = 1, N do
    t:set_u32(0, i)
    local buf, len = t:frame()
    local sec = math.floor(at / 1e9)
    w:write(buf, len, sec, at - sec * 1e9)
    x = (x * 1103515245 + 12345) % 2147483648
    gaps[i] = math.floor(20000 * 100 ^ (x / 2147483648)) -- 20 us .. 2 ms
    at = at + gaps[i]
  end
  w:close()
  local total = 0
  for i = 1, N - 1 do total = total + gaps[i] end

  local function pct(sorted, p) return sorted[math.max(1, math.ceil(#sorted * p / 100))] end
  print(("\nReplay timing measured at the receiver (%d packets, recorded gaps log-uniform 20 us .. 2 ms, "
    .. "%.2f s in all)"):format(N, total / 1e9))
  print(("%-10s %9s %9s | %8s %8s %8s %8s %8s | %8s %8s %8s %8s"):format("speed", "span", "want", "err p1",
    "p10", "p50", "p90", "p99", "|err|p50", "p90", "p99", "max"))
  for _, speed in ipairs { 1, 4 } do
    local r = lab:replay(file, N, ("--speed %d"):format(speed), total / 1e9 / speed)
    assert(r.received == N, ("speed %d: %d of %d arrived\n%s"):format(speed, r.received, N, r.out))
    local e, a = {}, {}
    for i = 1, N - 1 do
      e[i] = (r.times[i] - r.times[i - 1]) - gaps[i] / speed
      a[i] = math.abs(e[i])
    end
    table.sort(e)
    table.sort(a)
    local us = function(v) return ("%.1fu"):format(v / 1e3) end
    print(("%-10s %8.4fs %8.4fs | %8s %8s %8s %8s %8s | %8s %8s %8s %8s"):format(("--speed %d"):format(speed),
      (r.last - r.first) / 1e9, total / speed / 1e9, us(pct(e, 1)), us(pct(e, 10)), us(pct(e, 50)), us(pct(e, 90)),
      us(pct(e, 99)), us(pct(a, 50)), us(pct(a, 90)), us(pct(a, 99)), us(a[#a])))
    io.stderr:write(".")
  end
  io.stderr:write("\n")
  print("err = arrival gap - recorded gap / speed (negative: a packet left early after a late one)")
end)
os.remove(file)
lab:close()
if not ok then
  io.stderr:write("bench/replay_gaps.lua: ", tostring(err), "\n")
  os.exit(1)
end
