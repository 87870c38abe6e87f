-- xsk.prog: loading any BPF object, and what it says when it cannot.
--
-- Every test builds its own namespaces and veth pair (support/xdp.lua).
require "support.paths"
local xdp = require "support.xdp"
local prog = require "xsk.prog"

local pair, sh, xdp_on = xdp.pair, xdp.sh, xdp.xdp_on
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
