-- The release: one version everywhere (core, xsk, rockspecs, changelog), the
-- release and development rockspecs agreeing, what `rock-install` puts where
-- a luarocks tree expects it, installed tools that run from any folder, and
-- README's package list equal to what .ci/deps installs.  `.ci/rock` packs and
-- installs the real rock with luarocks; this spec keeps its inputs honest.
local paths = dofile "spec/support/paths.lua"

local PROJECT = "https://github.com/lua-xsk/lua-xsk"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs a shell command; returns its exit status and output (both streams).
local function run(cmd)
  local p = io.popen("{ " .. cmd .. "\n} 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return tonumber(status), body
end

-- A rockspec is Lua assignments: run it in an empty environment.
local function rockspec(path)
  local env = {}
  local chunk = assert(loadfile(path))
  setfenv(chunk, env)
  chunk()
  return env
end

local VERSION = slurp("csrc/module.c"):match('#define LXSK_VERSION "([^"]+)"')

local function tools()
  local status, out = run("make -s --no-print-directory tools-list")
  assert(status == 0, out)
  local t = {}
  for cmd, script in out:gmatch("(%S+) (%S+)\n") do t[#t + 1] = { cmd = cmd, script = script } end
  return t
end

describe("the release", function()
  local release = rockspec(("rockspec/lua-xsk-%s-1.rockspec"):format(VERSION))
  local scm = rockspec("rockspec/lua-xsk-scm-1.rockspec")

  it("has one version: core, xsk, the release rockspec and the changelog", function()
    assert.matches("^%d+%.%d+%.%d+$", VERSION)
    assert.equal(VERSION, require("xsk.core").version)
    assert.equal(VERSION, require("xsk").version)
    assert.equal(VERSION .. "-1", release.version)
    assert.equal("scm-1", scm.version)
    assert.truthy(slurp("CHANGELOG.md"):find("\n## " .. VERSION .. " ", 1, true), "CHANGELOG.md has no ## " .. VERSION)
  end)

  local xsk = require "xsk"
  if xsk._VERSION == nil then
    pending("xsk._VERSION matches the rock (lua/xsk/init.lua has no _VERSION yet)")
  else
    it("xsk._VERSION matches the rock", function()
      assert.equal(VERSION, xsk._VERSION)
    end)
  end

  it("publishes the release from the project's repository and tag", function()
    assert.equal("3.0", release.rockspec_format)
    assert.equal("lua-xsk", release.package)
    assert.equal("git+" .. PROJECT, release.source.url)
    assert.equal("v" .. VERSION, release.source.tag)
    assert.equal(PROJECT, release.description.homepage)
    assert.equal("MIT", release.description.license)
    assert.matches("^MIT License\n", slurp("LICENSE"))
    assert.same({ "linux" }, release.supported_platforms)
    assert.same({ "lua == 5.1", "argparse >= 0.7" }, release.dependencies)
    for _, dep in ipairs { "LUAJIT", "LIBXDP", "LIBBPF", "CLANG" } do
      assert.is_table(release.external_dependencies[dep], dep)
    end
    -- Tools run with luajit from their #! line, not luarocks' Lua.
    assert.same({ wrap_bin_scripts = false }, release.deploy)
  end)

  it("builds the development rock the same way", function()
    for _, k in ipairs { "rockspec_format", "package", "description", "supported_platforms", "dependencies",
        "external_dependencies", "build", "deploy" } do
      assert.same(release[k], scm[k], k)
    end
    assert.equal("git+" .. PROJECT, scm.source.url)
    assert.equal("main", scm.source.branch)
  end)

  it("passes luarocks' flags on without losing the Makefile's", function()
    local b = release.build
    assert.equal("make", b.type)
    assert.equal("rock-install", b.install_target)
    assert.matches("^%$%(CFLAGS%)", b.build_variables.CFLAGS)
    assert.truthy(slurp("Makefile"):find("LXSK_CFLAGS := -std=c11", 1, true))
    assert.same({ INST_PREFIX = "$(PREFIX)", INST_LUADIR = "$(LUADIR)", INST_LIBDIR = "$(LIBDIR)",
      INST_BINDIR = "$(BINDIR)" }, b.install_variables)
  end)

  it("installs modules, core, XDP programs and tools where a luarocks tree has them", function()
    local dir = io.popen("mktemp -d"):read("*l")
    finally(function() os.execute("rm -rf " .. dir) end)
    local status, out = run(("make -s --no-print-directory rock-install BUILD=%s INST_PREFIX=%s/rock "
      .. "INST_LUADIR=%s/share/lua/5.1 INST_LIBDIR=%s/lib/lua/5.1 INST_BINDIR=%s/bin")
      :format(paths.build, dir, dir, dir, dir))
    assert.equal(0, status, out)
    local listing = select(2, run("cd " .. dir .. " && find . -type f | sort"))
    for m in select(2, run("cd lua && find . -name '*.lua' | sort")):gmatch("%./(%S+)") do
      assert.truthy(listing:find("./share/lua/5.1/" .. m .. "\n", 1, true), m .. " not installed:\n" .. listing)
    end
    for _, f in ipairs { "lib/lua/5.1/xsk/core.so", "lib/lua/5.1/xsk/bpf/xsk_steer.bpf.o",
        "lib/lua/5.1/xsk/bpf/xsk_steer_frags.bpf.o", "lib/lua/5.1/xsk/bpf/xsk_steer_meta.bpf.o",
        "lib/lua/5.1/xsk/bpf/xsk_meta.h", "lib/lua/5.1/xsk/bpf/meta_abi.h",
        "rock/LICENSE", "rock/README.md", "rock/CHANGELOG.md" } do
      assert.truthy(listing:find("./" .. f .. "\n", 1, true), f .. " not installed:\n" .. listing)
    end
    -- From another folder, with only the install's paths: lua-xsk comes from
    -- there (steer finds its program next to core.so), and every tool runs.
    local env = ("cd / && LUA_PATH='%s/share/lua/5.1/?.lua;%s/share/lua/5.1/?/init.lua;;' "
      .. "LUA_CPATH='%s/lib/lua/5.1/?.so;;' "):format(dir, dir, dir)
    status, out = run(env .. "luajit -e 'local x = require \"xsk\"; io.write(x.core_path, \" \", "
      .. "require(\"xsk.steer\").object_path())'")
    assert.equal(0, status, out)
    assert.equal(("%s/lib/lua/5.1/xsk/core.so %s/lib/lua/5.1/xsk/bpf/xsk_steer.bpf.o"):format(dir, dir), out)
    local list = tools()
    assert.is_true(#list >= 6)
    for _, t in ipairs(list) do
      status, out = run(env .. dir .. "/bin/" .. t.cmd .. " --help")
      assert.equal(0, status, t.cmd .. ": " .. out)
      assert.equal("Usage: " .. t.cmd .. " ", out:sub(1, #t.cmd + 8))
    end
  end)

  it("names the tools as the rock installs them, each a luajit script", function()
    local names = {}
    for _, t in ipairs(tools()) do
      names[#names + 1] = t.cmd
      local src = slurp(t.script)
      assert.equal("#!/usr/bin/env luajit\n", src:match("^[^\n]*\n"), t.script)
      assert.truthy(src:find(('cli.parser("%s"'):format(t.cmd), 1, true), t.script .. " calls itself " .. t.cmd)
    end
    -- Later tools add themselves with one line in mk/rock.mk's TOOLS.
    local have = {}
    for _, n in ipairs(names) do have[n] = true end
    for _, n in ipairs { "xsk-capture", "xsk-detach", "xsk-responder", "xsk-txgen", "xsk-udp-echo", "xsk-udp-sink",
        "xsk-latency", "xsk-replay" } do
      assert.is_true(have[n], n .. " is not in TOOLS")
    end
  end)

  it("lists in README.md the packages .ci/deps installs", function()
    local deps = slurp(".ci/deps"):match("pkgs=%(([^)]*)%)"):gsub("%${[^}]*}", "")
    local want = {}
    for p in deps:gmatch("%S+") do want[#want + 1] = p end
    local readme = slurp("README.md"):match("`make deps` installs the Debian packages alone %(`([^`]*)`%)")
    assert.truthy(readme, "README.md: no \"`make deps` installs the Debian packages alone (`...`)\"")
    local got = {}
    for p in readme:gmatch("%S+") do got[#got + 1] = p end
    table.sort(want)
    table.sort(got)
    assert.same(want, got)
  end)
end)
