-- The claim (csrc/frames.h frames_claim) tests a frame's length against the
-- frame with arithmetic on shifted words, not comparisons: these specs hold
-- it to the exact edges, for each kind of hand-over and frame geometry.  A
-- length fits when the packet's bytes lie inside the frame (len <= cap); TX
-- also refuses an empty frame.
local xsk = require "xsk"
local net = require "support.net"

local EDGES = { 0, 1, "cap - 1", "cap", "cap + 1", 65536, 2 ^ 31, 2 ^ 32 - 1 }

local function length(edge, cap)
  if edge == "cap - 1" then return cap - 1 end
  if edge == "cap" then return cap end
  if edge == "cap + 1" then return cap + 1 end
  return edge
end

-- One frame, the script's, with length len; hand it over; whether it went.
-- A refusal must leave it the script's and say what was wrong.
local function try(u, b, handover, len)
  assert.equal(1, u:alloc(b, 1))
  local addr = b.f[0].addr
  b.f[0].len = len
  local ok, err = pcall(handover, b)
  if ok then
    assert.equal(0, b.n)
    return true
  end
  assert.equal("user", u:owner(addr))
  assert.equal(1, b.n)
  b.f[0].len = 0
  u:release(b)
  return false, err
end

-- Every edge through one hand-over: taken exactly when fits(len), refused
-- otherwise with the reason why(len) names.
local function edges(u, handover, fits, why)
  local b = u:batch(1)
  for _, edge in ipairs(EDGES) do
    local len = length(edge, u.max_packet)
    local ok, err = try(u, b, handover, len)
    assert.equal(fits(len), ok, ("length %s (%s)"):format(tostring(edge), tostring(len)))
    if not ok then assert.matches(why(len), err, 1, true) end
  end
end

for _, geometry in ipairs { { 2048, 0 }, { 4096, 0 }, { 4096, 100 } } do
  local frame_size, headroom = geometry[1], geometry[2]
  local past_the_end = "runs past the end of its " .. frame_size .. "-byte frame"
  describe(("claim on %d-byte frames, headroom %d:"):format(frame_size, headroom), function()
    local function umem()
      return xsk.umem { frame_count = 64, frame_size = frame_size, frame_headroom = headroom, fill_size = 16,
                        comp_size = 16 }
    end
    local function up_to_cap(u) return function(len) return len <= u.max_packet end end
    local function past() return past_the_end end

    it("release takes lengths 0 to cap and refuses every one past it", function()
      local u = umem()
      edges(u, function(x) return u:release(x) end, up_to_cap(u), past)
      u:close()
    end)

    it("the fill ring takes lengths 0 to cap and refuses every one past it", function()
      net.veth()
      local u = umem()
      local s = u:socket { ifname = "veth1", tx = false, rx_size = 16, auto_fill = false }
      edges(u, function(x) return s.fill:produce(x) end, up_to_cap(u), past)
      u:close()
    end)

    it("the TX ring takes lengths 1 to cap and refuses 0 and every one past cap", function()
      net.veth()
      local u = umem()
      -- descriptors produced, never kicked: the kernel never sees them, and
      -- closing the socket gives them back
      local s = u:socket { ifname = "veth0", rx = false, tx_size = 16, auto_fill = false }
      edges(u, function(x) return s.tx:produce(x) end, function(len) return len >= 1 and len <= u.max_packet end,
        function(len) return len == 0 and "has length 0" or past_the_end end)
      u:close()
    end)
  end)
end
