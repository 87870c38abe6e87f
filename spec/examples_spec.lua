-- The examples, run the way users run them from a checkout: as separate
-- processes through tools/xsk-luajit, from the repo root.  Each must print what
-- it promises, fail loudly on bad arguments (without Lua file:line positions
-- or tracebacks), and leave no network namespace behind.
local netns = require "xsk.netns"

-- Examples name their namespaces "xskex<pid>-<n>" (this spec "xskexspec<pid>-<n>");
-- other specs running at the same time make and remove their own, so only
-- these are compared.  Another run of this spec (another clone, the same
-- machine) makes the same names: a namespace is left behind only when the
-- process named in it is gone.
local PREFIX = "xskex"

local function alive(name)
  local pid = name:match("^%a+(%d+)%-")
  local f = pid and io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f ~= nil
end

local function our_namespaces()
  local p = io.popen("ip netns list 2>/dev/null")
  local out = p:read("*a")
  p:close()
  local set = {}
  for name in out:gmatch("[^\n]+") do
    name = name:match("^(%S+)")
    if name and name:sub(1, #PREFIX) == PREFIX then set[name] = true end
  end
  return set
end

local function new_since(before)
  local added = {}
  for name in pairs(our_namespaces()) do
    if not before[name] and not alive(name) then added[#added + 1] = name end
  end
  table.sort(added)
  return added
end

local function slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(path)
  return s
end

-- Runs a shell command line with a time limit; returns exit status, stdout
-- and stderr.  SIGINT first, so a stuck example still gets to clean up.
local function run(cmdline, dir)
  local out, err = os.tmpname(), os.tmpname()
  local p = io.popen(("cd %s && timeout -k 5 -s INT 60 %s >%s 2>%s; echo $?"):format(dir or ".", cmdline, out, err))
  local code = tonumber(p:read("*a"):match("(%d+)"))
  p:close()
  return code, slurp(out), slurp(err)
end

local function example(name, args)
  return run(("tools/xsk-luajit examples/%s.lua %s"):format(name, args or ""))
end

-- What a message from a tool must not carry: a Lua position or a traceback.
local function plain_message(err)
  assert.is_nil(err:find("%.lua:%d+:"), err)
  assert.is_nil(err:find("traceback", 1, true), err)
end

-- Whole-line match in a multi-line output.
local function has_line(text, line)
  for l in text:gmatch("[^\n]+") do
    if l == line then return true end
  end
  return false
end

local function field(text, key)
  return tonumber(text:match("\n?" .. key .. ":%s*(%d+)"))
end

describe("examples", function()
  local before

  setup(function()
    assert(io.popen("id -u"):read("*l") == "0", "the example specs need root (network namespaces, AF_XDP)")
    local so = (os.getenv("LXSK_BUILD") or "build") .. "/lua/xsk/core.so"
    assert(io.open(so), "run `make` first: " .. so .. " is missing")
    before = our_namespaces()
  end)

  teardown(function()
    assert.same({}, new_since(before))
  end)

  -- Each test also checks on its own, so a leak is pinned to the example.
  local function no_leftovers(b)
    assert.same({}, new_since(b), "namespaces left behind")
  end

  describe("hello_xdp", function()
    it("sends and receives \"Hello, world!\" in its own namespace", function()
      local b = our_namespaces()
      local code, out, err = example("hello_xdp")
      assert.equal(0, code, err)
      assert.is_true(has_line(out, 'sending: "Hello, world!"'), out)
      assert.is_true(has_line(out, 'received: "Hello, world!"'), out)
      no_leftovers(b)
    end)

    it("uses existing interfaces with --dev1/--dev2 and detaches from them", function()
      local env = netns.setup { prefix = PREFIX .. "spec", a = "hx0", b = "hx1" }
      finally(env.destroy)
      local code, out, err = run(("ip netns exec %s tools/xsk-luajit examples/hello_xdp.lua --dev1 hx0 --dev2=hx1")
        :format(env.ns))
      assert.equal(0, code, err)
      assert.is_true(has_line(out, 'received: "Hello, world!"'), out)
      local links = netns.sh(("ip -n %s -d link show"):format(env.ns))
      assert.is_nil(links:match("prog/xdp"), links)
    end)

    it("fails with a message when the frame cannot arrive", function()
      local code, _, err = example("hello_xdp", "--dev1 xsknosuch0 --dev2 xsknosuch1")
      assert.equal(1, code)
      assert.matches("^hello_xdp: xsk", err)
      assert.matches("no such interface", err, 1, true)
      plain_message(err)
    end)

    it("says it needs root when run without privileges", function()
      -- nobody may not read this clone (a 0700 home folder): run a copy of
      -- the tree made readable for the test.
      local dir = io.popen("mktemp -d"):read("*l")
      finally(function() os.execute("rm -rf " .. dir) end)
      local build = os.getenv("LXSK_BUILD") or "build"
      os.execute(("mkdir -p %s/build/lua && cp -r lua examples tools %s/ && cp -r %s/lua/xsk %s/build/lua/ "
        .. "&& chmod -R a+rX %s"):format(dir, dir, build, dir, dir))
      local code, out, err = run(("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
        .. "--bounding-set=-all env LXSK_BUILD=build %s/tools/xsk-luajit %s/examples/hello_xdp.lua"):format(dir, dir),
        "/")
      assert.equal(1, code, out .. err)
      -- private_bpffs says it (or, where bpffs is mounted already, setup).
      assert.matches("^hello_xdp: xsk%.netns: [%w_]+: .*needs root %(CAP_[%u_, ]+%)", err)
      plain_message(err)
    end)
  end)

  describe("dev1_to_dev2", function()
    it("delivers every frame of --count 2000", function()
      local b = our_namespaces()
      local code, out, err = example("dev1_to_dev2", "--count 2000")
      assert.equal(0, code, out .. err)
      assert.equal(2000, field(out, "sent"), out)
      assert.equal(2000, field(out, "received"), out)
      assert.equal(0, field(out, "lost"), out)
      assert.is_number(field(out, "pps"), out)
      no_leftovers(b)
    end)

    it("works with one UMEM for both sockets and small rings", function()
      local code, out, err = example("dev1_to_dev2",
        "--count 2000 --shared --frames 512 --rx-size 256 --fill-size 256 --batch 32")
      assert.equal(0, code, out .. err)
      assert.equal(2000, field(out, "received"), out)
    end)

    for _, shared in ipairs { "", " --shared" } do
      it("delivers every frame with sender and receiver in workers of their own" .. shared, function()
        local b = our_namespaces()
        local code, out, err = example("dev1_to_dev2", "--count 20000 --threads" .. shared)
        assert.equal(0, code, out .. err)
        assert.matches("a worker each side, " .. (shared == "" and "a UMEM per worker" or "one shared UMEM"), out)
        assert.equal(20000, field(out, "sent"), out)
        assert.equal(20000, field(out, "received"), out)
        assert.equal(0, field(out, "lost"), out)
        no_leftovers(b)
      end)
    end

    it("reports loss honestly and stops after the quiet time", function()
      -- Two separate veth pairs: what dev1 sends can never reach dev2.
      local env = netns.setup { prefix = PREFIX .. "spec", a = "lx0", b = "lx1" }
      finally(env.destroy)
      netns.sh(("ip -n %s link add ly0 type veth peer name ly1"):format(env.ns))
      netns.sh(("ip -n %s link set ly0 up && ip -n %s link set ly1 up"):format(env.ns, env.ns))
      local code, out = run(("ip netns exec %s tools/xsk-luajit examples/dev1_to_dev2.lua --dev1 lx0 --dev2 ly1 "
        .. "--count 100 --quiet 200"):format(env.ns))
      assert.equal(1, code, out)
      assert.equal(100, field(out, "sent"), out)
      assert.equal(0, field(out, "received"), out)
      assert.equal(100, field(out, "lost"), out)
    end)

    for _, sig in ipairs { "INT", "TERM" } do
      it("stops on SIG" .. sig .. ", reports what it counted and cleans up", function()
        local b = our_namespaces()
        local out, err = os.tmpname(), os.tmpname()
        -- The `&` applies to the launcher alone, which execs luajit, so $! is
        -- luajit's pid.  The signal goes out once the header shows the
        -- sockets are up, plus time for the first live line (at 1 s).
        local p = io.popen(("tools/xsk-luajit examples/dev1_to_dev2.lua --count 1000000000 >%s 2>%s & pid=$!; "
          .. "for i in $(seq 100); do grep -q frames %s && break; sleep 0.05; done; "
          .. "sleep 1.3; kill -%s $pid; wait $pid; echo $?"):format(out, err, out, sig))
        local code = tonumber(p:read("*a"):match("(%d+)"))
        p:close()
        out, err = slurp(out), slurp(err)
        assert.equal(130, code, out .. err)
        assert.equal("dev1_to_dev2: interrupted\n", err)
        -- The live line: both sides, progress, ETA, within 100 characters.
        local live = out:match("\n( +%d+%.%ds  rx %d+ [^\n]*)")
        assert.truthy(live, out)
        assert.matches("^ +%d+%.%ds  rx %d+ +[%d.]+ [kM]?pps  tx %d+ +[%d.]+ [kM]?pps  drops 0 +%d+%%  ETA ", live)
        assert.is_true(#live <= 100, live)
        assert.is_number(field(out, "sent"), out)
        assert.equal(field(out, "sent"), field(out, "received"), out)
        no_leftovers(b)
      end)
    end

    it("rejects bad sizes before touching the network", function()
      local code, _, err = example("dev1_to_dev2", "--rx-size 1000")
      assert.equal(2, code)
      assert.matches("--rx-size needs a power of two", err, 1, true)
      code, _, err = example("dev1_to_dev2", "--size 10")
      assert.equal(2, code)
      assert.matches("--size needs at least 20 bytes", err, 1, true)
    end)
  end)

  describe("shared_umem", function()
    it("receives on dev2 what dev1 sent, in the same UMEM", function()
      local b = our_namespaces()
      local code, out, err = example("shared_umem")
      assert.equal(0, code, out .. err)
      local got = 0
      for _ in out:gmatch('received: "frame %d from veth0" in UMEM addr 0x%x+ %(the same UMEM%)') do
        got = got + 1
      end
      assert.equal(4, got, out)
      assert.is_true(has_line(out, "received 4 of 4 frames, in the UMEM the sender wrote them to"), out)
      no_leftovers(b)
    end)
  end)

  -- A short real run of each, for the test that loads modules from elsewhere.
  local SMALL = { hello_xdp = "", dev1_to_dev2 = "--count 100", shared_umem = "--count 1" }

  for _, name in ipairs { "hello_xdp", "dev1_to_dev2", "shared_umem" } do
    describe(name .. " arguments", function()
      it("prints --help and exits 0", function()
        local code, out = example(name, "--help")
        assert.equal(0, code)
        assert.matches("^Usage: " .. name .. " ", out)
        assert.matches("--dev1 IF", out, 1, true)
      end)

      it("exits non-zero on an unknown option", function()
        local b = our_namespaces()
        local code, out, err = example(name, "--bogus")
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal(name .. ": unknown option '--bogus' (see --help)\n", err)
        no_leftovers(b)
      end)

      it("exits non-zero on a non-numeric value", function()
        local code, _, err = example(name, "--timeout soon")
        assert.equal(2, code)
        assert.matches('option --timeout needs a whole number', err, 1, true)
        assert.matches('"soon"', err, 1, true)
      end)

      it("exits non-zero when --dev1 comes without --dev2", function()
        local code, _, err = example(name, "--dev1 veth0")
        assert.equal(2, code)
        assert.matches("--dev1 and --dev2 go together", err, 1, true)
      end)

      it("finds the in-tree modules from another working directory", function()
        local here = io.popen("pwd"):read("*l")
        local code, out, err = run(("%s/tools/xsk-luajit %s/examples/%s.lua %s"):format(here, here, name,
          SMALL[name]), "/")
        assert.equal(0, code, out .. err)
        assert.matches("received", out, 1, true)
      end)
    end)
  end

  it("make demo's script runs hello_xdp and reports success", function()
    local b = our_namespaces()
    local code, out, err = run("./examples/demo.sh")
    assert.equal(0, code, out .. err)
    assert.is_true(has_line(out, 'received: "Hello, world!"'), out)
    assert.matches("demo: one Ethernet frame went from", out, 1, true)
    no_leftovers(b)
  end)
end)
