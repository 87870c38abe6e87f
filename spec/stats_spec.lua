dofile "spec/support/paths.lua"
local stats = require "xsk.stats"
local util = require "spec.support.util"

-- Collects what stats writes.
local function sink()
  local s = { parts = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
  end
  function s:text() return table.concat(self.parts) end
  function s:lines()
    local t = {}
    for l in self:text():gmatch("[^\n]+") do t[#t + 1] = l end
    return t
  end
  return s
end

local function fake_clock(t0)
  local c = { t = t0 or 100 }
  c.fn = function() return c.t end
  return c
end

-- A socket whose kernel counters grow by a fixed step per read: every
-- counter moves, so a line that shows one it should not is caught.
local function fake_socket(step)
  local n = 0
  return {
    stats = function()
      n = n + 1
      return {
        rx_dropped = n * step, rx_invalid_descs = n, tx_invalid_descs = 2 * n * step,
        rx_ring_full = 10 * n, rx_fill_ring_empty_descs = 1000 * n, tx_ring_empty_descs = 5000 * n,
      }
    end,
  }
end

local function new(opts, out, clk)
  opts.out, opts.clock = out, clk.fn
  return stats.new(opts)
end

describe("stats", function()
  it("shows a TX tool sent, rate, Mbit/s, progress and ETA, and nothing of RX", function()
    local out, clk = sink(), fake_clock()
    local st = new({ tx = true, total = 4000, sockets = { fake_socket(3) } }, out, clk)
    st:add_tx(500, 62500)
    clk.t = clk.t + 0.5
    assert.is_false(st:tick())
    st:add_tx(500, 62500)
    clk.t = clk.t + 0.5
    assert.is_true(st:tick())
    local line = out:lines()[1]
    assert.equal("    1.0s  sent 1000    1.0 kpps  1.0 Mbit/s   25%  ETA 3s", line)
    for _, word in ipairs { "rx", "RX", "drop", "received", "empty" } do
      assert.is_nil(line:find(word, 1, true), line)
    end
  end)

  it("shows an RX tool received, rate, Mbit/s and only real drops", function()
    local out, clk = sink(), fake_clock()
    local st = new({ rx = true, sockets = { fake_socket(3), fake_socket(1) } }, out, clk)
    st:add_rx(2000, 3000000)
    clk.t = clk.t + 1
    assert.is_true(st:tick())
    -- Since new(), per socket: rx_dropped +step, rx_ring_full +10,
    -- rx_invalid_descs +1; the fill-ring and TX-ring counters move by 1000
    -- and 5000 a read and must not show up.
    assert.equal("    1.0s  received 2000    2.0 kpps  24.0 Mbit/s  drops 26", out:lines()[1])
    -- the next interval's rate counts only its own packets; counts are totals
    st:add_rx(100, 100)
    clk.t = clk.t + 2
    assert.is_true(st:tick())
    assert.matches("^    3%.0s  received 2100      50 pps ", out:lines()[2])
  end)

  it("shows both directions of a tool that receives and sends", function()
    local out, clk = sink(), fake_clock()
    local st = new({ rx = true, tx = true, total = 100 }, out, clk)
    st:add_rx(40); st:add_tx(50)
    clk.t = clk.t + 1
    st:tick()
    assert.equal("    1.0s  rx 40     40 pps  tx 50     50 pps  drops 0   50%  ETA 1s", out:lines()[1])
  end)

  it("keeps every line within 100 characters, whatever the numbers", function()
    for _, opts in ipairs { { tx = true, total = 2 ^ 50 }, { rx = true, total = 2 ^ 50 },
        { rx = true, tx = true, total = 2 ^ 50 }, { rx = true, sockets = { fake_socket(1e12) } } } do
      local out, clk = sink(), fake_clock(0)
      local st = new(opts, out, clk)
      st:add_rx(2 ^ 49, 2 ^ 60)
      st:add_tx(2 ^ 49 - 1, 2 ^ 60)
      clk.t = 999999
      assert.is_true(st:tick())
      local line = out:lines()[1]
      assert.is_true(#line <= 100, ("%d characters: %s"):format(#line, line))
    end
  end)

  it("writes compact counts, rates and durations", function()
    assert.equal("999999999", stats.count(999999999))
    assert.equal("1.00G", stats.count(1e9))
    assert.equal("   999 pps", stats.rate(999))
    assert.equal("  1.0 kpps", stats.rate(1000))
    assert.equal(" 12.3 Mpps", stats.rate(12.34e6))
    assert.equal("59s", stats.duration(59))
    assert.equal("1m01s", stats.duration(61))
    assert.equal("2h03m", stats.duration(2 * 3600 + 3 * 60 + 10))
    assert.equal("--", stats.duration(math.huge))
    assert.equal(">99h", stats.duration(1e9))
  end)

  it("gives no ETA while nothing moves, and 100% at the end", function()
    local out, clk = sink(), fake_clock()
    local st = new({ tx = true, total = 10 }, out, clk)
    clk.t = clk.t + 1
    st:tick()
    assert.matches("  0%%  ETA %-%-$", out:lines()[1])
    st:add_tx(10)
    clk.t = clk.t + 1
    st:tick()
    assert.matches("100%%  ETA 0s$", out:lines()[2])
  end)

  it("rewrites one line in place when live, and ends it before the summary", function()
    local out, clk = sink(), fake_clock()
    local st = new({ tx = true, live = true }, out, clk)
    for _ = 1, 3 do
      st:add_tx(10, 640)
      clk.t = clk.t + 1
      st:tick()
    end
    local text = out:text()
    assert.is_nil(text:find("\n", 1, true))
    local starts = 0
    for _ in text:gmatch("\r") do starts = starts + 1 end
    assert.equal(3, starts)
    assert.matches("\27%[K$", text)
    st:summary()
    assert.matches("\27%[K\ntotal  sent 30 packets", out:text())
  end)

  it("writes CSV with a header of the counted directions only", function()
    local out, clk = sink(), fake_clock()
    local st = new({ rx = true, csv = true, sockets = { fake_socket(3), fake_socket(1) } }, out, clk)
    for _ = 1, 3 do
      st:add_rx(10, 1000)
      clk.t = clk.t + 1
      assert.is_true(st:tick())
    end
    local lines = out:lines()
    assert.equal(4, #lines)
    assert.equal("time_s,rx_pkts,rx_bytes,rx_pps,rx_mbps,drops", lines[1])
    -- each read adds 3+1 rx_dropped, 20 rx_ring_full, 2 rx_invalid_descs
    assert.equal("2.000,10,1000,10,0.008,26", lines[3])
    local sum = st:summary()
    assert.equal(30, sum.rx_pkts)
    assert.equal(3, sum.seconds)
    assert.equal(10, sum.rx_pps)
    assert.equal(4 * 26, sum.drops) -- four reads after the baseline one
    assert.equal(2 * 4 * 5000, sum.kernel.tx_ring_empty_descs) -- recorded, not a drop
    assert.matches("^# total,3%.000,30,3000,10,0%.008,104$", out:lines()[5])
  end)

  it("prints a summary of what was counted, drops explained", function()
    local out, clk = sink(), fake_clock()
    local st = new({ rx = true, tx = true, sockets = { fake_socket(5) } }, out, clk)
    st:add_tx(1e6, 1.5e9)
    st:add_rx(10, 1000)
    clk.t = clk.t + 1
    local sum = st:summary()
    assert.equal(1.5e9, sum.tx_bytes)
    assert.equal(12000, sum.tx_mbps)
    local lines = out:lines()
    assert.equal("total  received 10 packets, 1000 bytes in 1.00 s: 10 pps, 0.01 Mbit/s, 16 dropped "
      .. "(rx_dropped 5, rx_ring_full 10, rx_invalid_descs 1)", lines[1])
    assert.equal("total  sent 1000000 packets, 1500000000 bytes in 1.00 s: 1.0 Mpps, 12000.00 Mbit/s, "
      .. "10 refused by the kernel (tx_invalid_descs)", lines[2])
  end)

  it("keeps going when a socket cannot report", function()
    local out, clk = sink(), fake_clock()
    local broken = { stats = function() error("socket closed") end }
    local st = new({ rx = true, sockets = { broken, fake_socket(1) } }, out, clk)
    clk.t = clk.t + 1
    assert.is_true(st:tick())
    assert.matches("drops 12$", out:lines()[1])
  end)

  it("does not burst after a stall, and takes the time from its caller", function()
    local out, clk = sink(), fake_clock()
    local st = new({ tx = true }, out, clk)
    clk.t = clk.t + 10
    assert.is_true(st:tick())
    assert.is_false(st:tick())
    assert.is_false(st:tick(clk.t + 0.2))
    assert.is_true(st:tick(clk.t + 1))
    assert.equal(2, #out:lines())
  end)

  it("checks its options, naming xsk.stats and what was wanted", function()
    local function err(opts) local ok, e = pcall(stats.new, opts); assert.is_false(ok); return e end
    assert.equal('xsk.stats: new: unknown option "intervall" (known: clock, counters, csv, interval, live, out, '
      .. 'per_worker, rx, sockets, total, tx)', err { tx = true, intervall = 1 })
    assert.equal("xsk.stats: new: say what the tool counts: rx = true, tx = true or both", err {})
    assert.equal("xsk.stats: new: interval must be a positive number of seconds, got 0",
      err { tx = true, interval = 0 })
    assert.equal('xsk.stats: new: csv must be true or false, got "yes"', err { tx = true, csv = "yes" })
    assert.matches("^xsk%.stats: new: sockets%[1%] must be an object with a :stats%(%) method, got table",
      err { rx = true, sockets = { {} } })
    assert.matches("^xsk%.stats: new: out must be a file or an object with a :write method",
      err { tx = true, out = {} })
    assert.matches("^xsk%.stats: new: total must be a whole number from 1 to", err { tx = true, total = 0.5 })
    -- raised at the caller of new
    local ok, e = pcall(function() stats.new { bogus = 1 } end)
    assert.is_false(ok)
    assert.matches("stats_spec%.lua:%d+: xsk%.stats", e)
  end)

  it("reads a monotonic clock", function()
    local a = stats.now()
    local b = stats.now()
    assert.is_true(a > 0 and b >= a)
  end)

  it("counts without allocating", function()
    local st = stats.new { rx = true, tx = true, out = sink() }
    -- heap_growth may run the warm-up more than once: count the calls
    local calls = 0
    local function loop(n)
      calls = calls + n
      for i = 1, n do st:add_rx(32, 32 * 64 + i % 7); st:add_tx(32, 2048) end
    end
    local grown = util.heap_growth(loop, 20000, 500000)
    assert.is_true(grown < 16, ("grew %.1f KiB"):format(grown))
    assert.is_true(calls >= 520000)
    assert.equal(calls * 32, st.rx_pkts)
  end)
end)
