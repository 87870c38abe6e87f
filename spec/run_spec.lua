-- spec/run's closing line is what CI and people read: it must count the
-- passed, failed and skipped (busted's pending) specs, and its exit status
-- must say whether anything failed.

-- Runs spec/run on one spec file written from `body`; returns its output's
-- last line and whether it exited 0.
local function run_on(body)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. dir) == 0)
  local path = dir .. "/probe_spec.lua"
  local f = assert(io.open(path, "w"))
  f:write(body)
  f:close()
  local p = io.popen("./spec/run " .. path .. " 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. dir)
  local text, status = out:match("^(.-)__status=(%d+)%s*$")
  local last = text:match("([^\n]*)\n?$")
  return last, tonumber(status) == 0
end

describe("spec/run", function()
  it("ends with passed, failed and skipped counts, and exits 0 when nothing failed", function()
    local last, ok = run_on [[
      describe("probe", function()
        it("passes", function() assert.is_true(true) end)
        it("passes too", function() assert.is_true(true) end)
        it("is skipped", function() pending("not on this host") end)
      end)
    ]]
    assert.equal("2 passed, 0 failed, 1 skipped", last)
    assert.is_true(ok)
  end)

  it("counts failures and errors as failed and exits non-zero", function()
    local last, ok = run_on [[
      describe("probe", function()
        it("passes", function() assert.is_true(true) end)
        it("fails", function() assert.is_true(false) end)
        it("errors", function() error("boom") end)
      end)
    ]]
    assert.equal("1 passed, 2 failed, 0 skipped", last)
    assert.is_false(ok)
  end)
end)
