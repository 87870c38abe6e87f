-- `make bench-core` must keep working as the core under it changes: one short
-- round of every mode through bench/core-run, the checked Lua API and the bare
-- C loop on the simulated kernel's rings, down to the table.  Nothing is judged
-- but that both sides ran, were counted and tabled (benchmarks measure, specs
-- do not time).
local netns = require "xsk.netns"
local paths = require "support.paths"

-- valgrind cannot run a process a sanitizer instruments (make asan and make
-- tsan say which in LXSK_SANITIZER).
local function can_callgrind()
  local san = os.getenv("LXSK_SANITIZER")
  if san and san ~= "" then return false, "the core is built with " .. san end
  if not netns.try("command -v valgrind") then return false, "valgrind is not installed" end
  return true
end

describe("bench/core-run", function()
  local so = paths.build .. "/bench-core/lua/xsk/core.so"

  it("is built by make test (bench-bin) beside the release core, which holds none of it", function()
    local f = io.open(so)
    assert.is_not_nil(f, so .. " missing: make test builds it (make bench-bin)")
    f:close()
    local release = netns.sh("nm -D " .. paths.build .. "/lua/xsk/core.so")
    assert.is_nil(release:match("simk_"), "simulator symbols in the release core.so")
    assert.is_not_nil(netns.sh("nm -D " .. so):match("simk_step"))
  end)

  it("runs every mode in C and in Lua and prints the table", function()
    local cg, why = can_callgrind()
    local out = netns.sh("./bench/core-run --quick -d 0.05 -n 20000 --cpu -1" .. (cg and "" or " --no-callgrind")
      .. " 2>&1")
    for _, mode in ipairs { "rxdrop", "touch", "l2fwd", "txonly" } do
      local c, lua, ratio, ic, il, iratio = out:match("\n" .. mode
        .. "%s+([%d%.]+)%s+([%d%.]+)%s+([%d%.]+)%s+(%S+)%s+(%S+)%s+(%S+)")
      assert.is_not_nil(c, "no " .. mode .. " row in:\n" .. out)
      assert.is_true(tonumber(c) > 0 and tonumber(lua) > 0, out)
      assert.near(tonumber(lua) / tonumber(c), tonumber(ratio), 0.02)
      if cg then
        assert.is_true(tonumber(ic) > 0 and tonumber(il) > 0, out)
        assert.near(tonumber(il) / tonumber(ic), tonumber(iratio), 0.02)
        assert.matches(mode .. "%s+lua Mpps of all rounds: .*simulated kernel [%d%.]+ instr/pkt", out)
      else
        assert.equals("-", ic, out)
      end
    end
    if not cg then pending("instruction counts not checked: " .. why) end
  end)
end)
