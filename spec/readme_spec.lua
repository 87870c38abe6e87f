-- README.md's scripts, run as written: saved in a folder of their own (not
-- the checkout), started the way the README says, stopped with Ctrl-C
-- (SIGINT), which must end them cleanly: exit 0, nothing on stderr.
--
-- From a checkout they run through tools/xsk-luajit; .ci/rock runs this spec
-- again after a rock install with XSK_LUAJIT set to a luajit with the
-- installed tree's paths (as `eval $(luarocks path)` sets them).
local paths = dofile "spec/support/paths.lua"
local net = require "support.net"
local readme = require "support.readme"
local xsk = require "xsk"

local HERE = io.popen("pwd"):read("*l")
local LUAJIT = os.getenv("XSK_LUAJIT") or (HERE .. "/tools/xsk-luajit")

local function slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  return s
end

local function sh(cmd)
  local p = io.popen("{ " .. cmd .. "\n} 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return body, tonumber(status) == 0
end

local function sleep(s) os.execute("sleep " .. s) end

-- The folder a user saved the scripts in; removed by the test's `finally`.
local function saved_scripts()
  local dir = io.popen("mktemp -d"):read("*l")
  local names = readme.write(dir)
  assert.same({ "bounce.lua", "my_responder.lua" }, names)
  return dir
end

-- Starts `luajit SCRIPT ARGS` in namespace ns from dir, in the background.
-- `timeout` bounds it and passes SIGINT on to it.
local function start(dir, ns, script, args)
  local job = { dir = dir, out = dir .. "/out", err = dir .. "/err", pid = dir .. "/pid", rc = dir .. "/rc" }
  os.execute(("(cd %s && { timeout -k 3 -s INT 30 ip netns exec %s %s %s %s > %s 2> %s & echo $! > %s; wait $!; "
    .. "echo $? > %s; }) &"):format(dir, ns, LUAJIT, script, args, job.out, job.err, job.pid, job.rc))
  for _ = 1, 50 do
    if slurp(job.pid) ~= "" then break end
    sleep(0.05)
  end
  return job
end

-- Ctrl-C, then the exit status and both outputs.
local function interrupt(job)
  os.execute("kill -INT " .. slurp(job.pid))
  for _ = 1, 100 do
    local rc = tonumber(slurp(job.rc))
    if rc then return rc, slurp(job.out), slurp(job.err) end
    sleep(0.1)
  end
  error("the script did not end within 10 s of SIGINT:\n" .. slurp(job.err))
end

-- The script's socket is bound once an XDP program is on its interface.
local function wait_attached(ns, dev, job)
  for _ = 1, 100 do
    if (sh(("ip -n %s link show dev %s"):format(ns, dev))):find("xdp", 1, true) then return end
    if slurp(job.rc) ~= "" then break end
    sleep(0.1)
  end
  error("no XDP program on " .. dev .. ":\n" .. slurp(job.err))
end

describe("README.md's scripts", function()
  it("bounce.lua sends every frame back with its MAC addresses swapped, and stops on Ctrl-C", function()
    local dir = saved_scripts()
    finally(function() os.execute("rm -rf " .. dir) end)
    local env = net.veth()
    local job = start(dir, env.ns, "bounce.lua", env.b)
    local ok, err = pcall(function()
      wait_attached(env.ns, env.b, job)
      local umem = xsk.umem { frame_count = 64 }
      local sock = umem:socket { ifname = env.a }
      local sent = "\2\0\0\0\0\2" .. "\2\0\0\0\0\1" .. "\136\181" .. "bounce me"
      local back = "\2\0\0\0\0\1" .. "\2\0\0\0\0\2" .. "\136\181" .. "bounce me"
      local tx, rx, got = umem:batch(1), umem:batch(16), nil
      for _ = 1, 20 do
        umem:alloc(tx, 1)
        tx.f[0]:set(sent)
        sock:send(tx)
        for _ = 1, 5 do
          local n = sock:recv(rx, 20)
          for i = 0, n - 1 do
            if rx.f[i]:bytes() == back then got = true end
          end
          umem:release(rx)
        end
        if got then break end
      end
      umem:close()
      assert.is_true(got, "no frame came back with the MAC addresses swapped")
    end)
    local code, out, errout = interrupt(job)
    assert(ok, err)
    assert.equal(0, code, out .. errout)
    assert.equal("", errout)
  end)

  it("my_responder.lua answers ping as the README shows, and stops on Ctrl-C", function()
    local dir = saved_scripts()
    finally(function() os.execute("rm -rf " .. dir) end)
    -- The README's lab and peer namespaces: veth0 in lab without an address,
    -- veth1 in peer with 198.18.0.2/24.
    local env = net.veth { peer = true, enter = false, addr_b = "198.18.0.2/24" }
    local job = start(dir, env.ns, "my_responder.lua", "veth0 198.18.0.1")
    local ok, err = pcall(function()
      wait_attached(env.ns, "veth0", job)
      local out, pinged = sh(("ip netns exec %s ping -c 3 -W 1 198.18.0.1"):format(env.peer_ns))
      assert.is_true(pinged, out)
      assert.truthy(out:find("3 packets transmitted, 3 received", 1, true), out)
    end)
    local code, out, errout = interrupt(job)
    assert(ok, err)
    assert.equal(0, code, out .. errout)
    assert.equal("", errout)
  end)

  it("are what runs: the README has exactly these two", function()
    local names = {}
    for name in pairs(readme.scripts()) do names[#names + 1] = name end
    table.sort(names)
    assert.same({ "bounce.lua", "my_responder.lua" }, names)
    assert.truthy(paths.build)
  end)
end)
