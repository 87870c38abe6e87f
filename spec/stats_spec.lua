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

-- A socket whose kernel counters grow by a fixed step per read.
local function fake_socket(step)
  local n = 0
  return {
    stats = function()
      n = n + 1
      return {
        rx_dropped = n * step, rx_invalid_descs = 0, tx_invalid_descs = 2 * n * step,
        rx_ring_full = 0, rx_fill_ring_empty_descs = n, tx_ring_empty_descs = 0,
      }
    end,
  }
end

describe("stats", function()
  it("prints rates once per interval", function()
    local out, clk = sink(), fake_clock()
    local st = stats.new { interval = 1, out = out, clock = clk.fn }
    st:add_rx(500, 750000)
    clk.t = clk.t + 0.5
    assert.is_false(st:tick())
    st:add_rx(500, 750000)
    st:add_tx(250, 125000)
    clk.t = clk.t + 0.5
    assert.is_true(st:tick())
    local line = out:lines()[1]
    assert.matches("1%.0s", line)
    assert.matches("RX +1000 pps +12%.00 Mbit/s", line)
    assert.matches("TX +250 pps +1%.00 Mbit/s", line)
    assert.is_nil(line:find("drops"))
    assert.is_false(st:tick())
    -- the next interval counts only its own packets
    st:add_rx(100, 100)
    clk.t = clk.t + 2
    assert.is_true(st:tick())
    assert.matches("RX +50 pps", out:lines()[2])
  end)

  it("writes CSV with one header and the drop counters of its sockets", function()
    local out, clk = sink(), fake_clock()
    local st = stats.new { csv = true, out = out, clock = clk.fn, sockets = { fake_socket(3), fake_socket(1) } }
    for _ = 1, 3 do
      st:add_rx(10, 1000)
      clk.t = clk.t + 1
      assert.is_true(st:tick())
    end
    local lines = out:lines()
    assert.equal(4, #lines)
    assert.equal("time_s,rx_pkts,rx_bytes,rx_pps,rx_mbps,tx_pkts,tx_bytes,tx_pps,tx_mbps,"
      .. table.concat(stats.DROP_FIELDS, ","), lines[1])
    -- each read adds 3+1 rx_dropped, 8 tx_invalid_descs and 2 fill-ring-empty
    assert.equal("2.000,10,1000,10,0.008,0,0,0,0.000,4,0,8,0,2,0", lines[3])
    local cols = 0
    for _ in lines[1]:gmatch("[^,]+") do cols = cols + 1 end
    for i = 2, 4 do
      local n = 0
      for _ in lines[i]:gmatch("[^,]+") do n = n + 1 end
      assert.equal(cols, n)
    end
    local sum = st:summary()
    assert.equal(30, sum.rx_pkts)
    assert.equal(3, sum.seconds)
    assert.equal(10, sum.rx_pps)
    assert.equal(16, sum.drops.rx_dropped) -- four reads after the baseline one
    assert.matches("^# total,3%.000,30,3000", out:lines()[5])
  end)

  it("shows drops in plain lines and a summary", function()
    local out, clk = sink(), fake_clock()
    local st = stats.new { out = out, clock = clk.fn, sockets = { fake_socket(5) } }
    st:add_tx(1e6, 1.5e9)
    clk.t = clk.t + 1
    st:tick()
    assert.matches("drops rx_drop=5 rx_inval=0 tx_inval=10", out:lines()[1])
    local sum = st:summary()
    assert.equal(1.5e9, sum.tx_bytes)
    assert.equal(12000, sum.tx_mbps)
    assert.matches("total 1%.0s", out:text())
    assert.matches("rx_dropped=10", out:text())
  end)

  it("keeps going when a socket cannot report", function()
    local out, clk = sink(), fake_clock()
    local broken = { stats = function() error("socket closed") end }
    local st = stats.new { out = out, clock = clk.fn, sockets = { broken, fake_socket(1) } }
    clk.t = clk.t + 1
    assert.is_true(st:tick())
    assert.matches("rx_drop=1", out:lines()[1])
  end)

  it("does not burst after a stall, and can be forced", function()
    local out, clk = sink(), fake_clock()
    local st = stats.new { out = out, clock = clk.fn }
    clk.t = clk.t + 10
    assert.is_true(st:tick())
    assert.is_false(st:tick())
    clk.t = clk.t + 0.2
    assert.is_false(st:tick())
    assert.is_true(st:tick(true))
    assert.equal(2, #out:lines())
  end)

  it("checks its options", function()
    assert.error_matches(function() stats.new { intervall = 1 } end, "unknown option intervall", nil, true)
    assert.error_matches(function() stats.new { interval = 0 } end, "interval must be positive", nil, true)
    assert.error_matches(function() stats.new { csv = "yes" } end, "csv must be a boolean", nil, true)
    assert.error_matches(function() stats.new { sockets = { {} } } end, "sockets[1] has no :stats()", nil, true)
    assert.error_matches(function() stats.new { out = {} } end, "out must have a :write", nil, true)
  end)

  it("reads a monotonic clock", function()
    local a = stats.now()
    local b = stats.now()
    assert.is_true(a > 0 and b >= a)
  end)

  it("counts without allocating", function()
    local st = stats.new { out = sink() }
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
