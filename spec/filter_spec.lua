dofile "spec/support/paths.lua"
local shell = require "support.shell"
local ffi = require "ffi"
local filter = require "xsk.filter"
local pcap = require "xsk.pcap"
local template = require "xsk.template"
local util = require "spec.support.util"
local jit_watch = require "support.jit_watch"

local sh = shell.ok

local function udp(d)
  local t = template.new {
    src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02",
    src_ip = d.src or "198.18.0.1", dst_ip = d.dst or "198.18.0.2",
    src_port = d.sport or 1000, dst_port = d.dport or 2000, payload = d.payload or "abcd",
    size = d.size, vlan = d.vlan,
  }
  local buf, len = t:frame()
  return ffi.string(buf, len)
end

-- The same frame with another IPv4 protocol number (23 bytes in: Ethernet 14 + 9).
local function with_proto(frame, proto)
  return frame:sub(1, 23) .. string.char(proto) .. frame:sub(25)
end

local ARP = util.unhex("ffffffffffff 020000000001 0806 0001 0800 06 04 0001 020000000001 c6120001"
  .. "000000000000 c6120002") .. ("\0"):rep(18)

-- A mix of packets, so that every expression below matches some and not others.
local PACKETS = {
  udp {}, udp { dport = 53 }, udp { sport = 53, dport = 4000 }, udp { src = "198.18.0.3" },
  udp { dst = "198.18.0.9", dport = 5678, payload = "p003" }, udp { size = 300 }, udp { vlan = 7, dport = 53 },
  udp { src = "2001:db8::1", dst = "2001:db8::2", dport = 53 }, with_proto(udp {}, 6), with_proto(udp {}, 1),
  ARP, udp { size = 1000, dport = 9 },
}

local EXPRESSIONS = {
  "", "udp", "udp port 53", "udp and dst port 5678", "tcp", "icmp", "arp", "ip6", "host 198.18.0.3",
  "net 198.18.0.0/24 and not port 53", "greater 200", "less 100", "vlan and udp port 53", "udp[8:4] = 0x70303033",
  "ether src 02:00:00:00:00:01 and ip", "dst host 198.18.0.9 or ip6 dst host 2001:db8::2",
}

describe("xsk.filter", function()
  local path = os.tmpname()
  local w = pcap.writer(path)
  for i, p in ipairs(PACKETS) do w:write(p, #p, i, 0) end
  w:close()
  teardown(function() os.remove(path) end)

  -- The packets tcpdump (libpcap on a saved file) lets through: their indexes.
  local function tcpdump_matches(expr)
    local out, ok = sh(("tcpdump -r %s -nn -tt '%s' 2>/dev/null"):format(path, expr))
    assert.is_true(ok, expr .. ": " .. out)
    local got = {}
    for sec in out:gmatch("(%d+)%.000000 ") do got[#got + 1] = tonumber(sec) end
    return got
  end

  it("matches exactly the packets tcpdump matches", function()
    for _, expr in ipairs(EXPRESSIONS) do
      local f = filter.compile(expr)
      local got = {}
      for i, p in ipairs(PACKETS) do
        if f:match(p, #p) then got[#got + 1] = i end
      end
      local want = tcpdump_matches(expr)
      assert.same(want, got, expr)
      assert.is_true(#want > 0 and (#want < #PACKETS or expr == ""), expr .. " does not tell packets apart")
    end
  end)

  it("compiles the program tcpdump -d prints", function()
    for _, expr in ipairs { "udp port 53", "arp or icmp", "greater 200" } do
      local out, ok = sh(("tcpdump -d -y EN10MB '%s' 2>/dev/null"):format(expr))
      assert.is_true(ok, out)
      local f = filter.compile(expr)
      assert.equal(out, f:listing())
      assert.equal(select(2, out:gsub("\n", "")), f:size())
    end
  end)

  it("reads frames in memory, and the wire length when it differs", function()
    local big = PACKETS[6] -- 300 bytes
    local p = util.at_end(big, #big)
    assert.is_true(filter.compile("greater 200"):match(p, #big))
    -- cut to 60 bytes: the length tests read the wire length
    local cut = util.at_end(big, 60)
    local greater = filter.compile("greater 200")
    assert.is_false(greater:match(cut, 60))
    assert.is_true(greater:match(cut, 60, 300))
    -- a read past what was captured is no match, not a read past the buffer
    assert.is_false(filter.compile("udp[200] = 0"):match(cut, 60, 300))
  end)

  it("compiles for other link types", function()
    -- Linux cooked capture (113): 16 bytes of header, protocol at 14
    local ip = PACKETS[1]:sub(15)
    local sll = util.unhex("0000 0001 0006 020000000001 0000 0800") .. ip
    assert.is_true(filter.compile("udp port 2000", { linktype = 113 }):match(sll, #sll))
    assert.is_false(filter.compile("udp port 2000"):match(sll, #sll))
    assert.equal(113, filter.compile("ip", { linktype = 113 }).linktype)
  end)

  it("refuses what it cannot compile, and bad arguments, naming them", function()
    assert.error_matches(function() filter.compile("udp prot 53") end,
      'xsk.filter: cannot compile "udp prot 53": can\'t parse filter expression: syntax error', nil, true)
    assert.error_matches(function() filter.compile("ip broadcast") end, "netmask not known", nil, true)
    assert.error_matches(function() filter.compile(53) end, "xsk.filter: compile: expr must be a string", nil, true)
    assert.error_matches(function() filter.compile("udp", { link = 1 }) end,
      'xsk.filter: compile: unknown option "link"', nil, true)
    assert.error_matches(function() filter.compile("udp", { linktype = -1 }) end, "linktype must be", nil, true)
    local f = filter.compile("udp")
    local p = PACKETS[1]
    assert.error_matches(function() f:match(nil, 10) end, "xsk.filter: match: ptr must be a pointer or a string",
      nil, true)
    for _, bad in ipairs { -1, 2.5, 0 / 0, #p + 1 } do
      assert.error_matches(function() f:match(p, bad) end, "xsk.filter: match: len must be a whole number", nil, true)
    end
    local buf = ffi.new("uint8_t[64]")
    assert.error_matches(function() f:match(buf, 262145) end, "from 0 to 262144", nil, true)
    assert.error_matches(function() f:match(buf, 64, 10) end, "xsk.filter: match: wirelen must be", nil, true)
  end)

  it("says which libpcap it uses", function()
    assert.matches("^libpcap version %d", filter.version())
  end)

  it("matches without allocating or leaving the trace", function()
    local f = filter.compile("udp and dst port 5678")
    local bufs = {}
    for i, p in ipairs(PACKETS) do
      bufs[i] = ffi.new("uint8_t[?]", #p)
      ffi.copy(bufs[i], p, #p)
    end
    local lens = {}
    for i, p in ipairs(PACKETS) do lens[i] = #p end
    local function loop(n)
      local hits = 0
      for k = 1, n do
        local i = k % #PACKETS + 1
        if f:match(bufs[i], lens[i]) then hits = hits + 1 end
      end
      return hits
    end
    local r = jit_watch.measure(function(warm) return loop(warm and 20000 or 100000) end)
    assert.same({}, jit_watch.real_aborts(r), jit_watch.abort_report(r))
    assert.is_true(r.growth_kib < 1, jit_watch.growth_report(r, 100000))
    assert.is_true(r.result[1] > 0)
  end)
end)
