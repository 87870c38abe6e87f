-- xsk.counters: a slot per worker in C memory, written by one worker each,
-- summed by the main VM; xsk.stats shows the total and, asked, each slot.
local patience = require "support.patience"
local xsk = require "xsk"

local workers, stats = xsk.workers, xsk.stats

local clean = require("support.worker_guard").guard

local function sink()
  local s = { parts = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
  end
  function s:lines()
    local t = {}
    for l in table.concat(self.parts):gmatch("[^\n]+") do t[#t + 1] = l end
    return t
  end
  return s
end

describe("xsk.counters", function()
  it("adds per slot and sums over them", function()
    local c = xsk.counters.new(3)
    assert.equal(3, c:size())
    local a, b = c:slot(1), c:slot(3)
    a:rx(10, 640); a:rx(5, 320); a:drops(2)
    b:tx(7, 448); b:rx(1, 64)
    assert.same({ rx_packets = 15, rx_bytes = 960, tx_packets = 0, tx_bytes = 0, drops = 2 }, c:read(1))
    assert.same({ rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, drops = 0 }, c:read(2))
    assert.same({ rx_packets = 16, rx_bytes = 1024, tx_packets = 7, tx_bytes = 448, drops = 2 }, c:total())
    assert.equal(960, c:value(1, "rx_bytes"))
    assert.equal(448, c:value(3, "tx_bytes"))
    local ok, err = pcall(c.value, c, 1, "bytes")
    assert.is_false(ok)
    assert.matches("xsk.counters: value: field must be one of rx_packets, rx_bytes", err, 1, true)
    assert.equal("xsk.counters(3 slots)", tostring(c))
  end)

  it("gives each slot to one writer at a time", function()
    local c = xsk.counters.new(2)
    local s = c:slot(2)
    local ok, err = pcall(c.slot, c, 2)
    assert.is_false(ok)
    assert.matches("xsk.counters: slot 2 already has a writer (one slot, one worker)", err, 1, true)
    s:rx(4, 4)
    s:release()
    ok, err = pcall(function() s:rx(1, 1) end)
    assert.is_false(ok)
    assert.matches("xsk.counters: this slot was released", err, 1, true)
    local again = c:slot(2) -- counts go on from where they were
    again:rx(1, 1)
    assert.equal(5, c:read(2).rx_packets)
  end)

  it("refuses bad arguments", function()
    local c = xsk.counters.new(2)
    for _, case in ipairs {
      { xsk.counters.new, { 0 }, "xsk.counters: n must be a whole number from 1 to 4096, got 0" },
      { xsk.counters.new, { 1.5 }, "xsk.counters: n must be a whole number from 1 to 4096, got 1.5" },
      { c.slot, { c, 3 }, "xsk.counters: slot: i must be a whole number from 1 to 2, got 3" },
      { c.read, { c, 0 }, "xsk.counters: read: i must be a whole number from 1 to 2, got 0" },
    } do
      local ok, err = pcall(case[1], unpack(case[2]))
      assert.is_false(ok)
      assert.matches(case[3], err, 1, true)
    end
  end)

  it("counts every add of four workers on two cores while the main VM reads", function()
    local start = clean()
    local c = xsk.counters.new(4)
    local ws, each = {}, patience.work(200000, 5000)
    for i = 1, 4 do
      ws[i] = start({ function(slot, n)
        for k = 1, n do slot:rx(1, 64); if k % 3 == 0 then slot:tx(2, 128) end end
        slot:drops(1)
        return n
      end, cpu = i % 2 }, c:slot(i), each + i)
    end
    local all = 4 * each + 10
    local seen, reads = 0, 0
    while seen < all and reads < 1e7 do -- the totals only grow, never tear
      local t = c:total().rx_packets
      assert.is_true(t >= seen)
      seen, reads = t, reads + 1
    end
    workers.wait(ws, patience.wait(20))
    local total = c:total()
    assert.equal(all, total.rx_packets)
    assert.equal(all * 64, total.rx_bytes)
    assert.equal(4, total.drops)
    for i = 1, 4 do assert.equal(2 * math.floor((each + i) / 3), c:read(i).tx_packets) end
  end)

  it("show in xsk.stats as a total line and, asked, a line per worker", function()
    local c = xsk.counters.new(2)
    local a, b = c:slot(1), c:slot(2)
    a:rx(500, 1000) -- before new(): not counted
    local out, clk = sink(), { t = 10 }
    local st = stats.new { rx = true, counters = c, per_worker = true, out = out, clock = function() return clk.t end }
    a:rx(1000, 125000); b:rx(3000, 375000); b:drops(4)
    clk.t = 11
    assert.is_true(st:tick())
    local lines = out:lines()
    assert.equal("    1.0s  received 4000    4.0 kpps  4.0 Mbit/s  drops 4", lines[1])
    assert.matches("^%s+worker 1%s+rx 1000%s+1.0 kpps%s+tx 0%s+0 pps%s+drops 0$", lines[2])
    assert.matches("^%s+worker 2%s+rx 3000%s+3.0 kpps%s+tx 0%s+0 pps%s+drops 4$", lines[3])
    local r = st:summary()
    assert.equal(4000, r.rx_pkts)
    assert.equal(4, r.drops)
    lines = out:lines()
    assert.matches("^total  received 4000 packets, 500000 bytes in 1.00 s", lines[4])
    assert.matches("worker 2%s+rx 3000", lines[6])
    local ok, err = pcall(stats.new, { rx = true, per_worker = true })
    assert.is_false(ok)
    assert.matches("per_worker needs counters", err, 1, true)
    ok, err = pcall(stats.new, { rx = true, counters = {} })
    assert.is_false(ok)
    assert.matches("counters must be an xsk.counters block", err, 1, true)
  end)
end)
