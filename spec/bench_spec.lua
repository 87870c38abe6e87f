-- `make bench` must keep working as the code under it changes: one short
-- txonly round through bench/run, the C program and the Lua script on their
-- own veth pair, down to the table.  Rates are not judged here (benchmarks
-- measure, specs do not time); only that both sides ran and were tabled.
local netns = require "xsk.netns"
local paths = require "support.paths"

describe("bench/run", function()
  it("runs txonly in C and in Lua and prints the table row", function()
    local bin = paths.build .. "/xdpsock_c"
    local f = io.open(bin)
    assert.is_not_nil(f, bin .. " missing: make test builds it (make bench-bin)")
    f:close()
    local out = netns.sh("./bench/run --quick --no-perf --modes txonly -d 1 -r 1")
    local c, lua, ratio, uc, ul = out:match("\ntxonly%s+([%d%.]+)%s+([%d%.]+)%s+([%d%.]+)%s+([%d%.]+)%s+([%d%.]+)")
    assert.is_not_nil(c, "no txonly row in:\n" .. out)
    assert.is_true(tonumber(c) > 0 and tonumber(lua) > 0, out)
    assert.near(tonumber(lua) / tonumber(c), tonumber(ratio), 0.01)
    assert.is_true(tonumber(uc) >= 0 and tonumber(ul) >= 0, out)
    assert.matches("txonly  lua sent %d+ pkts", out)
    assert.matches("user ns: user CPU per packet from getrusage", out)
    -- The workers row: one worker, two, two on a shared UMEM, and the ratio.
    for _, n in ipairs { "1", "2", "2s" } do
      assert.matches("\n" .. n .. " +[%d.]+  [%d. ]+ +[%d. ]+ +[%d. ]+\n", out)
    end
    assert.matches("2 against 1: user ns/pkt per worker [%d.]+x", out)
  end)
end)

describe("bench/measurements", function()
  it("prints the RX metadata cost, the pacing and the replay timing tables", function()
    -- Tiny runs: only that every script runs to its table.
    local out = netns.sh("QUICK=1 META_ROUNDS=3 PACING_SECS=0.2 REPLAY_PACKETS=200 ./bench/measurements")
    assert.matches("\nRX metadata cost per packet", out)
    assert.matches("\nrx_time stamped, guard; loop reads f:rx_time%(%) +[%d.]+ +[%d.]+\n", out)
    assert.matches("\nPacing measured at the receiver", out)
    assert.matches("\n%-%-rate 10000 +10000 +%d+ +[-+][%d.]+%% ", out)
    assert.matches("\nReplay timing measured at the receiver %(200 packets", out)
    assert.matches("\n%-%-speed 4 +[%d.]+s ", out)
  end)
end)
