-- docs/API.md lists every public function of every module, and nothing else.
-- The code's side comes from spec/support/surface.lua, which reads the module
-- tables and the metatables of real objects at run time (a process of its
-- own, as root: it makes a veth pair for the socket and XDP objects).  The
-- page's side is every `name(` or `name{` in its inline code, as MODULE.fn or
-- OBJECT:method with the object names of its legend.  A failure names each
-- function that is missing on one side.
dofile "spec/support/paths.lua"

local PAGE = "docs/API.md"

-- A doc name standing for several objects: `ring:state()` documents state
-- on all four rings, `icmp:checksum()` on ICMP and ICMPv6 headers.
local GROUPS = { ring = { "fill", "comp", "rx", "tx" }, icmp = { "icmp", "icmp6" } }

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The code's public surface: a set of names, and the problems the reader met.
local function surface()
  local p = io.popen("tools/xsk-luajit spec/support/surface.lua 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  assert(status == "0", "spec/support/surface.lua failed:\n" .. out)
  local names, problems, owners = {}, {}, {}
  for line in body:gmatch("[^\n]+") do
    if line:sub(1, 1) == "!" then
      problems[#problems + 1] = line:sub(2)
    else
      local owner, sep = line:match("^([%w_]+)([.:])([%w_]+)$")
      assert(owner, "surface.lua printed " .. line)
      names[line] = true
      owners[owner .. sep] = true
    end
  end
  return names, problems, owners
end

-- The names the page documents: calls in its inline code, fenced blocks left out.
local function documented(text)
  text = text:gsub("\n```.-\n```", "\n")
  local names = {}
  for span in text:gmatch("`([^`\n]+)`") do
    for owner, sep, fn in span:gmatch("([%a_][%w_]*)([.:])([%a_][%w_]*)%s*[({]") do
      names[#names + 1] = { owner = owner, sep = sep, fn = fn }
    end
  end
  return names
end

local function sorted(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  table.sort(t)
  return t
end

describe("docs/API.md", function()
  it("lists every public function of every module and object, and nothing else", function()
    local code, problems, owners = surface()
    assert.same({}, problems)
    local covered, extra = {}, {}
    for _, d in ipairs(documented(slurp(PAGE))) do
      local members = GROUPS[d.owner] and d.sep == ":" and GROUPS[d.owner] or { d.owner }
      local known, exists = false, false
      for _, m in ipairs(members) do
        local name = m .. d.sep .. d.fn
        if owners[m .. d.sep] then known = true end
        if code[name] then covered[name], exists = true, true end
      end
      -- Calls of things the code does not have (ffi.copy, io.write) are not ours.
      if known and not exists then extra[d.owner .. d.sep .. d.fn] = true end
    end
    local missing = {}
    for name in pairs(code) do
      if not covered[name] then missing[name] = true end
    end
    local msg = {}
    if next(missing) then
      msg[#msg + 1] = "public in the code but not in " .. PAGE .. " (add a row or a call `name(...)` for each): "
        .. table.concat(sorted(missing), ", ")
    end
    if next(extra) then
      msg[#msg + 1] = "in " .. PAGE .. " but not in the code (remove or rename): " .. table.concat(sorted(extra), ", ")
    end
    assert(#msg == 0, table.concat(msg, "\n"))
  end)

  it("finds what it compares: the reader sees the objects, the page parser its calls", function()
    local code = surface()
    for _, name in ipairs { "xsk.umem", "umem:alloc", "sock:recv", "fill:produce", "f:set", "b:push",
        "ip4:src", "icmp6:echo_id", "t:stamp", "w:write", "r:next", "stats:tick", "st:add_rule", "p:map_fd",
        "env.destroy", "cli.run", "netns.setup", "headers.parse" } do
      assert.is_true(code[name], name)
    end
    local names = {}
    for _, d in ipairs(documented("`umem:alloc(b, n)` and `xsk.steer.open{ifname}` but not `b.n` or\n"
        .. "```lua\nx.y(1)\n```\n`for i in b:packets() do`")) do
      names[#names + 1] = d.owner .. d.sep .. d.fn
    end
    assert.same({ "umem:alloc", "steer.open", "b:packets" }, names)
  end)
end)
