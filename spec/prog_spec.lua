-- xsk.prog: loading any BPF object, and what it says when it cannot.
--
-- Every test builds its own namespaces and veth pair (support/xdp.lua).
require "support.paths"
local xdp = require "support.xdp"
local prog = require "xsk.prog"

local pair, defer, sh, xdp_on = xdp.pair, xdp.defer, xdp.sh, xdp.xdp_on
local OBJ = xdp.OBJ

describe("xsk.prog errors", function()
  it("name the file, program, map and interface", function()
    local env = pair()
    local function fails(cfg, text)
      local ok, err = pcall(prog.load, cfg)
      assert.is_false(ok)
      assert.matches(text, err, 1, true)
      assert.is_nil(xdp_on("va"))
    end
    fails({ file = "bpf/no_such.bpf.o", ifname = "va" },
      "cannot read BPF object bpf/no_such.bpf.o (errno 2: No such file or directory)")
    fails({ file = "Makefile", ifname = "va" }, "cannot open BPF object Makefile: ")
    fails({ file = OBJ, program = "nope", ifname = "va" }, "no program 'nope' in " .. OBJ .. " (it has: xsk_steer)")
    fails({ file = OBJ, xskmap = "my_xsks", ifname = "va" },
      "no map 'my_xsks' in " .. OBJ .. " (program xsk_steer needs an XSKMAP)")
    fails({ file = OBJ, xskmap = "xsk_steer_rules", ifname = "va" },
      "map 'xsk_steer_rules' in " .. OBJ .. " is not an XSKMAP")
    fails({ file = OBJ, ifname = "nosuch0" }, "interface nosuch0 not found (errno 19: No such device)")
    fails({ file = OBJ, ifname = "va", colour = "red" }, "xsk.prog: unknown option \"colour\"")

    -- an interface that goes away: by ifindex, and under a live program
    local idx = tonumber(sh("ip -o link show dev va"):match("(%d+): va[@:]"))
    local p = prog.load { file = OBJ, ifindex = idx }
    sh(("ip netns exec %s ip link del vb"):format(env.peer_ns))
    p:close() -- the program went with the interface: not an error
    fails({ file = OBJ, ifindex = idx }, ("interface index %d not found (interface gone?)"):format(idx))
  end)
end)

-- Misuse of xsk.prog and xsk.steer: every bad argument or option is a Lua
-- error that names it, raised at the caller, and leaves nothing attached or
-- half-done; the C side refuses what the FFI could hand it directly.
describe("xsk.prog and xsk.steer misuse", function()
  local steer = require "xsk.steer"
  local xsk = require "xsk"
  local ffi = require "ffi"
  local C = require "xsk.cdef"
  local THIS = "^spec/prog_spec%.lua:%d+: "

  -- fn() must raise, at the line of the spec that called the entry point,
  -- an error that contains text.
  local function raises(text, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error containing: " .. text)
    assert.is_string(err)
    assert.matches(text, err, 1, true)
    assert.matches(THIS, err, 1, false, "raised at the caller's line")
  end

  local BAD_INTS = { -1, 1.5, 0 / 0, 1 / 0, -1 / 0, 2 ^ 53, "3", true }
  local function shown(v)
    if type(v) == "string" then return ("%q"):format(v) end
    return tostring(v)
  end

  it("options of prog.load and steer.open", function()
    pair()
    raises("xsk.prog: expected a table of options, got string", function() prog.load("va") end)
    raises("xsk.prog: unknown option \"colour\" (known: dev_bound, file, frags, ifindex, ifname, mode, program, "
      .. "replace, xskmap)",
      function() prog.load { file = OBJ, ifname = "va", colour = "red" } end)
    raises("xsk.prog: file is required", function() prog.load { ifname = "va" } end)
    raises("xsk.prog: give ifname or ifindex (one of them), got neither", function() prog.load { file = OBJ } end)
    raises("xsk.prog: give ifname or ifindex (one of them), got both",
      function() prog.load { file = OBJ, ifname = "va", ifindex = 1 } end)
    for _, v in ipairs(BAD_INTS) do
      raises("xsk.prog: ifindex must be a whole number from 1 to 2147483647, got " .. shown(v),
        function() prog.load { file = OBJ, ifindex = v } end)
      raises("xsk.steer: ifindex must be a whole number from 1 to 2147483647, got " .. shown(v),
        function() steer.open { ifindex = v } end)
    end
    raises("xsk.prog: ifindex must be a whole number from 1 to 2147483647, got 0",
      function() prog.load { file = OBJ, ifindex = 0 } end)
    raises("xsk.prog: ifname must be a non-empty string, got 5", function() prog.load { file = OBJ, ifname = 5 } end)
    raises("xsk.prog: ifname must be a non-empty string, got \"\"",
      function() prog.load { file = OBJ, ifname = "" } end)
    raises("xsk.prog: interface name 'an-interface-name-too-long' is too long (at most 15 characters)",
      function() prog.load { file = OBJ, ifname = "an-interface-name-too-long" } end)
    raises("xsk.prog: file must be a non-empty string, got 5", function() prog.load { file = 5, ifname = "va" } end)
    raises("xsk.prog: program must be a non-empty string, got \"\"",
      function() prog.load { file = OBJ, ifname = "va", program = "" } end)
    raises("xsk.prog: xskmap must be a map name or false, got 5",
      function() prog.load { file = OBJ, ifname = "va", xskmap = 5 } end)
    raises("xsk.prog: xskmap must be a map name or false, got true",
      function() prog.load { file = OBJ, ifname = "va", xskmap = true } end)
    raises("xsk.prog: mode must be one of \"auto\", \"native\", \"skb\", got \"fast\"",
      function() prog.load { file = OBJ, ifname = "va", mode = "fast" } end)
    raises("xsk.prog: frags must be true or false, got \"yes\"",
      function() prog.load { file = OBJ, ifname = "va", frags = "yes" } end)
    raises("xsk.prog: replace must be true or false, got 1",
      function() prog.load { file = OBJ, ifname = "va", replace = 1 } end)

    raises("xsk.steer: expected a table of options, got string", function() steer.open("va") end)
    raises("xsk.steer: give ifname or ifindex (one of them), got neither", function() steer.open() end)
    raises("xsk.steer: give ifname or ifindex (one of them), got neither", function() steer.open {} end)
    raises("xsk.steer: unknown option \"program\"",
      function() steer.open { ifname = "va", program = "x" } end)
    raises("xsk.steer: file must be a non-empty string, got \"\"",
      function() steer.open { ifname = "va", file = "" } end)
    raises("xsk.steer: frags must be true or false, got 1", function() steer.open { ifname = "va", frags = 1 } end)
    raises("xsk.steer: mode must be one of", function() steer.open { ifname = "va", mode = 2 } end)
    assert.is_nil(xdp_on("va"), "nothing was attached along the way")
  end)

  it("arguments of a program's methods", function()
    pair()
    local p = prog.load { file = OBJ, ifname = "va" }
    local umem = xsk.umem { frame_count = 64 }
    local sock = umem:socket { ifname = "va", queue = 0, load_program = false, tx = false }
    defer(function() umem:close(); p:close() end)

    raises("xsk.prog: register: sock must be an xsk socket or a file descriptor, got \"va\"",
      function() p:register("va") end)
    raises("xsk.prog: register: sock must be an xsk socket or a file descriptor, got nil", function() p:register() end)
    for _, v in ipairs(BAD_INTS) do
      if type(v) == "number" then
        raises("xsk.prog: register: fd must be a whole number from 0 to 2147483647, got " .. shown(v),
          function() p:register(v, 0) end)
      end
      raises("xsk.prog: register: queue must be a whole number from 0 to 4294967295, got " .. shown(v),
        function() p:register(sock:fd(), v) end)
      raises("xsk.prog: unregister: queue must be a whole number from 0 to 4294967295 or an xsk socket, got "
        .. shown(v), function() p:unregister(v) end)
    end
    raises("xsk.prog: register: queue must be a whole number from 0 to 4294967295, got nil",
      function() p:register(sock:fd()) end)
    raises("xsk.prog: register: queue 64 is out of range 0-63 of xsks_map in " .. OBJ .. " (va)",
      function() p:register(sock:fd(), 64) end)
    raises("xsk.prog: unregister: queue 4294967295 is out of range 0-63", function() p:unregister(2 ^ 32 - 1) end)
    raises("xsk.prog: register: the socket is bound to queue 0, not 1", function() p:register(sock, 1) end)
    raises("xsk.prog: map_fd: name must be a non-empty string, got nil", function() p:map_fd() end)
    raises("xsk.prog: no map 'nope' in " .. OBJ .. " (program xsk_steer)", function() p:map_fd("nope") end)
    raises("xsk.prog: register must be called on a program, as p:register(...), got nil",
      function() p.register(nil, sock) end)
    raises("xsk.prog: detach must be called on a program, as p:detach(...), got", function() p.detach({}) end)
    raises("xsk.prog: id must be called on a program", function() prog.Prog.id(sock) end)
    raises("xsk.prog: detach: ifname must be an interface name or index (a whole number from 1 to 2147483647), "
      .. "got -1", function() prog.detach(-1) end)
    raises("xsk.prog: detach: ifname must be an interface name or index", function() prog.detach({}) end)
    raises("xsk.prog: detach: ours_only must be true, false or nil, got \"yes\"",
      function() prog.detach("va", "yes") end)
    raises("xsk.prog: detach: no interface name given", function() prog.detach("") end)
    raises("xsk.prog: detach: interface index 2147483647 not found", function() prog.detach(2 ^ 31 - 1) end)
    raises("xsk.prog: detach: interface nosuch0 not found", function() xsk.detach("nosuch0") end)
    assert.equals(p:id(), xdp_on("va"), "misuse changed nothing")

    p:register(sock) -- still works after all of it
    sock:close()
    raises("xsk.prog: register: the socket is closed", function() p:register(sock) end)
    p:close()
    raises("xsk.prog: register: the program is closed", function() p:register(3, 0) end)
    raises("xsk.prog: map_fd: the program is closed", function() p:map_fd("xsks_map") end)
    p:close()
    p:detach()
    assert.is_nil(p:id())
    assert.is_false(p:attached())
    assert.is_nil(xdp_on("va"))
  end)

  it("arguments of a steering object's methods", function()
    pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    for _, v in ipairs(BAD_INTS) do
      for _, m in ipairs { "remove_rule", "rule", "counters" } do
        raises(("xsk.steer: %s: id must be a whole number from 0 to 63, got %s"):format(m, shown(v)),
          function() st[m](st, v) end)
      end
      raises("xsk.steer: reset_counters: id must be a whole number from 0 to 64, got " .. shown(v),
        function() st:reset_counters(v) end)
      raises("xsk.steer: add_rule: rule.vlan must be a whole number from 0 to 4095, got " .. shown(v),
        function() st:add_rule { vlan = v } end)
      raises("xsk.steer: add_rule: rule.dport: ports must be whole numbers from 0 to 65535, got " .. shown(v),
        function() st:add_rule { dport = v } end)
    end
    for m, id in pairs { remove_rule = 64, rule = 64, counters = 64, reset_counters = 65 } do
      raises(("xsk.steer: %s: id must be a whole number from 0 to %d, got %d"):format(m, id - 1, id),
        function() st[m](st, id) end)
    end
    raises("xsk.steer: add_rule: rule must be a table, got nil", function() st:add_rule() end)
    raises("xsk.steer: add_rule must be called on a steering object, as st:add_rule(...), got table",
      function() st.add_rule { proto = "udp" } end)
    raises("xsk.steer: rules must be called on a steering object", function()
      steer.Steer.rules(setmetatable({ p = st.p }, steer.Steer)) -- a forged one
    end)
    raises("xsk.steer: add_rule: unknown rule key 1", function() st:add_rule { "udp" } end)
    raises("xsk.steer: add_rule: rule.proto must be a whole number from 0 to 255 or one of", function()
      st:add_rule { proto = 256 }
    end)
    raises("xsk.steer: add_rule: rule.ethertype must be a whole number from 0 to 65535 or one of", function()
      st:add_rule { ethertype = 0x10000 }
    end)
    raises("xsk.steer: add_rule: rule.dport must be a port or a {first, last} range, got a table of 3 entries",
      function() st:add_rule { dport = { 1, 2, 3 } } end)
    raises("xsk.steer: add_rule: rule.dport must be a port or a {first, last} range, got a table of 1 entries",
      function() st:add_rule { dport = { 1 } } end)
    raises("xsk.steer: add_rule: rule.dport: ports must be whole numbers from 0 to 65535, got {1, nan}",
      function() st:add_rule { dport = { 1, 0 / 0 } } end)
    raises("xsk.steer: add_rule: rule.src must be an address or prefix string, got 5",
      function() st:add_rule { src = 5 } end)
    raises("xsk.steer: add_rule: rule.src: bad prefix \"198.18.0.0/-1\"",
      function() st:add_rule { src = "198.18.0.0/-1" } end)
    raises("xsk.steer: add_rule: rule.dst: prefix length 99999999999999999999 is too long",
      function() st:add_rule { dst = "198.18.0.0/99999999999999999999" } end)
    raises("xsk.steer: add_rule: rule.action must be one of \"drop\", \"pass\", \"redirect\", got 1",
      function() st:add_rule { action = 1 } end)
    raises("xsk.steer: register: queue must be a whole number", function() st:register(3, -1) end)
    assert.same({}, st:rules(), "no rule was added by any of it")
    assert.equals(st:id(), xdp_on("va"))
    st:close()
    raises("xsk.steer: add_rule: the program is closed", function() st:add_rule { proto = "udp" } end)
    raises("xsk.steer: counters: the program is closed", function() st:counters(0) end)
    raises("xsk.steer: register: the program is closed", function() st:register(3, 0) end)
  end)

  it("the C side refuses what the FFI could hand it directly", function()
    pair()
    local st = steer.open { ifname = "va" }
    defer(function() st:close() end)
    local function refuses(text, rc)
      assert.is_true(rc < 0, "expected a failure: " .. text)
      assert.matches(text, ffi.string(C.lxsk_errmsg()), 1, true)
    end
    local function rule(fields)
      local r = ffi.new("struct lxsk_rule")
      for k, v in pairs(fields) do r[k] = v end
      return r
    end
    refuses("rule: unknown match bits 0x200", C.lxsk_steer_rule_add(st.p, rule { match = 0x200 }))
    refuses("rule: unknown action 3", C.lxsk_steer_rule_add(st.p, rule { action = 3 }))
    refuses("rule: VLAN id 5000 is out of range 0-4095",
      C.lxsk_steer_rule_add(st.p, rule { match = C.LXSK_RULE_VLAN, vlan = 5000 }))
    refuses("rule: port range 9-8 is empty",
      C.lxsk_steer_rule_add(st.p, rule { match = C.LXSK_RULE_DPORT, dport_lo = 9, dport_hi = 8 }))
    refuses("rule: source is both IPv4 and IPv6",
      C.lxsk_steer_rule_add(st.p, rule { match = C.LXSK_RULE_SRC4 + C.LXSK_RULE_SRC6 }))
    refuses("rule: mixes IPv4 and IPv6 addresses",
      C.lxsk_steer_rule_add(st.p, rule { match = C.LXSK_RULE_SRC4 + C.LXSK_RULE_DST6 }))
    refuses("rule: prefix length 33/0 is too long",
      C.lxsk_steer_rule_add(st.p, rule { match = C.LXSK_RULE_SRC4, src_len = 33 }))
    refuses("rule: none given", C.lxsk_steer_rule_add(st.p, nil))
    refuses("rule id 64 is out of range 0-63", C.lxsk_steer_rule_set(st.p, 64, rule {}))
    refuses("rule id 4294967295 is out of range 0-63", C.lxsk_steer_rule_get(st.p, -1, rule {}))
    refuses("rule 0: nowhere to put it", C.lxsk_steer_rule_get(st.p, 0, nil))
    refuses("rule id 65 is out of range 0-64", C.lxsk_steer_counters(st.p, 65, ffi.new("struct lxsk_counter")))
    refuses("counters of rule 0: nowhere to put them", C.lxsk_steer_counters(st.p, 0, nil))
    refuses("rule id 65 is out of range 0-64", C.lxsk_steer_counters_reset(st.p, 65))
    refuses("no rule 5 on va", C.lxsk_steer_rule_remove(st.p, 5))
    refuses("map: no program", C.lxsk_steer_rule_add(nil, rule {}))
    refuses("register: no program", C.lxsk_prog_register(nil, 0, 3))
    refuses("map: no map name given", C.lxsk_prog_map_fd(st.p, nil))
    assert.is_true(C.lxsk_prog_load(nil) == nil)
    assert.matches("^no BPF object file given", ffi.string(C.lxsk_errmsg()))
    refuses("address: none given", C.lxsk_addr_parse(nil, ffi.new("uint8_t[16]")))
    refuses("address: nowhere to put it", C.lxsk_addr_parse("198.18.0.1", nil))
    refuses("address family 5 is neither 4 nor 6",
      C.lxsk_addr_format(5, ffi.new("uint8_t[16]"), ffi.new("char[64]"), 64))
    refuses("cannot format an IPv6 address into 2 bytes",
      C.lxsk_addr_format(6, ffi.new("uint8_t[16]"), ffi.new("char[2]"), 2))
    refuses("bad interface index -1", C.lxsk_detach_all(-1))

    -- a closed program, and one that is not a steering program
    st:close()
    refuses("map: program xsk_steer of " .. OBJ .. " is closed", C.lxsk_steer_rule_add(st.p, rule {}))
    local q = prog.load { file = xdp.FOREIGN, xskmap = false, ifname = "va" }
    defer(function() q:close() end)
    refuses("no map 'xsk_steer_rules' in " .. xdp.FOREIGN, C.lxsk_steer_rule_get(q.p, 0, rule {}))
    refuses("register: program xdpfilt_alw_all of " .. xdp.FOREIGN .. " was loaded without an XSKMAP",
      C.lxsk_prog_register(q.p, 0, 3))
  end)
end)

describe("xsk.prog run statistics", function()
  it("count the program's runs and the time spent in it while they are on", function()
    local env = pair()
    local p = prog.load { file = OBJ, ifname = "va" }
    defer(function() p:close() end)
    local ns0, runs0 = p:run_stats()
    local stats = prog.stats_on()
    assert.is_true(xdp.ping(env, 5))
    local ns1, runs1 = p:run_stats()
    -- 5 requests, maybe ARP: each one run of the program on va
    assert.is_true(runs1 - runs0 >= 5, ("%d runs"):format(runs1 - runs0))
    assert.is_true(ns1 > ns0)
    -- (Whether they stop counting after close depends on every process on
    -- the machine: the kernel counts while any of them has them on.)
    stats:close()
    stats:close()
    p:close()
    assert.error_matches(function() p:run_stats() end, "xsk.prog: run_stats: the program is closed", nil, true)
  end)
end)
