-- xsk.flows: ranges of addresses and ports and a mix of sizes, stamped into
-- the frames of a batch, every frame with valid checksums, in the order the
-- module promises (frame i takes the i-th value of each range and size).
dofile "spec/support/paths.lua"
local xsk = require "xsk"
local flows = require "xsk.flows"
local headers = require "xsk.headers"
local ck = require "xsk.checksum"

local res = headers.result()

local function desc(over)
  local d = { src_mac = "02:00:00:00:00:01", dst_mac = "02:00:00:00:00:02", src_ip = "198.18.0.1",
    dst_ip = "198.18.0.2", src_port = 9, dst_port = 7 }
  for k, v in pairs(over or {}) do d[k] = v end
  return d
end

-- What frame f holds: source and destination address and port, length;
-- fails unless it parses and both checksums verify.
local function fields(f)
  assert.is_true(headers.parse(f.data, f.len, res), "parse error " .. res.err)
  assert.is_true(ck.ip4_ok(f.data + res.l3_off, f.len - res.l3_off))
  assert.is_true(ck.l4_ok(f.data + res.l3_off, f.len - res.l3_off))
  assert.are.equal(f.len, res.l3_off + res.l3_len)
  return headers.ip4_ntop(res.ip4:src()), headers.ip4_ntop(res.ip4:dst()), res.udp:sport(), res.udp:dport(), f.len
end

describe("xsk.flows", function()
  local umem
  before_each(function() umem = xsk.umem { frame_count = 512 } end)
  after_each(function() umem:close() end)

  it("parses ranges and size mixes, and says what is wrong", function()
    assert.are.same({ headers.ip4_pton("198.18.0.1"), headers.ip4_pton("198.18.0.100") },
      { flows.ip4_range("198.18.0.1-198.18.0.100") })
    assert.are.same({ headers.ip4_pton("10.0.0.7"), headers.ip4_pton("10.0.0.7") }, { flows.ip4_range("10.0.0.7") })
    assert.are.same({ 1000, 1999 }, { flows.port_range("1000-1999") })
    assert.are.same({ 53, 53 }, { flows.port_range("53") })
    assert.are.same({ 64, 576, 1500 }, flows.sizes("64,576,1500"))
    assert.are.same({ 128 }, flows.sizes(128))
    assert.are.same(flows.IMIX, flows.sizes("IMIX"))
    for _, bad in ipairs { "198.18.0.9-198.18.0.1", "1.2.3", "1.2.3.4-", "x" } do
      local lo, err = flows.ip4_range(bad)
      assert.is_nil(lo, bad)
      assert.is_string(err)
    end
    for _, bad in ipairs { "2000-1000", "70000", "-1", "1-2-3", "" } do
      assert.is_nil((flows.port_range(bad)), bad)
    end
    local none, err = flows.sizes("64,30")
    assert.is_nil(none)
    assert.are.equal("frame sizes from 42 to 9022 bytes", err)
    assert.is_nil((flows.sizes("64,,128")))
    assert.is_nil((flows.sizes("")))
  end)

  it("walks every range by one per frame and the sizes in turn, with valid checksums", function()
    local g = flows.new(desc { src_ip = "198.18.0.1-198.18.0.3", dst_ip = "198.18.1.10-198.18.1.11",
      src_port = "5000-5006", dst_port = "1000-1004", size = "64,576,1500" })
    local sizes = { 64, 576, 1500 }
    local b = umem:batch(64)
    local i = 0
    -- across several calls, and a call that fills only part of the batch
    for _, part in ipairs { 64, 64, 17, 64 } do
      assert.are.equal(part, umem:alloc(b, part))
      g:fill(b)
      for k = 0, b.n - 1 do
        local src, dst, sport, dport, len = fields(b.f[k])
        assert.are.equal("198.18.0." .. (1 + i % 3), src)
        assert.are.equal("198.18.1." .. (10 + i % 2), dst)
        assert.are.equal(5000 + i % 7, sport)
        assert.are.equal(1000 + i % 5, dport)
        assert.are.equal(sizes[i % 3 + 1], len)
        i = i + 1
      end
      umem:release(b)
    end
    assert.are.equal(i, g:count())
    assert.are.equal(3 * 2 * 7 * 5, g.combinations)
  end)

  it("fills part of a batch and keeps the rest as it was", function()
    local g = flows.new(desc { dst_port = "1-3" })
    local b = umem:batch(8)
    umem:alloc(b, 8, 0)
    g:fill(b, 2, 3)
    for k = 0, 7 do
      if k >= 2 and k < 5 then
        local _, _, _, dport = fields(b.f[k])
        assert.are.equal(k - 1, dport)
      else
        assert.are.equal(0, b.f[k].len)
      end
    end
    umem:release(b)
  end)

  it("imix: 7 of 64, 4 of 576 and 1 of 1500 bytes in every 12 frames, spread out", function()
    local g = flows.new(desc { size = "imix" })
    local b = umem:batch(60)
    umem:alloc(b, 60)
    g:fill(b)
    local counts, run, longest, last = {}, 0, 0, nil
    for k = 0, 59 do
      local len = b.f[k].len
      counts[len] = (counts[len] or 0) + 1
      run = len == last and run + 1 or 1
      last = len
      if run > longest then longest = run end
    end
    assert.are.same({ [64] = 35, [576] = 20, [1500] = 5 }, counts)
    assert.is_true(longest <= 2, "a run of " .. longest .. " frames of one size")
    umem:release(b)
  end)

  it("refuses bad options, and frames the script does not hold", function()
    assert.has_error(function() flows.new(desc { src_ip = "198.18.0.5-198.18.0.1" }) end,
      "xsk.flows: src_ip must be a range whose first address is not after its last (198.18.0.5-198.18.0.1), "
        .. 'got "198.18.0.5-198.18.0.1"')
    assert.has_error(function() flows.new(desc { dst_port = "1-70000" }) end,
      'xsk.flows: dst_port must be a port or range of ports from 0 to 65535 (P or P-Q), got "1-70000"')
    assert.has_error(function() flows.new(desc { size = 20 }) end,
      "xsk.flows: size must be frame sizes from 42 to 9022 bytes, got 20")
    assert.has_error(function() flows.new(desc { sizee = 20 }) end)
    assert.has_error(function() flows.new(desc { dst_port = false }) end)
    local g = flows.new(desc())
    local b = umem:batch(4)
    assert.has_error(function() g:fill({}) end, "xsk.flows: fill: expected a batch from umem:batch(), got table")
    umem:alloc(b, 2)
    assert.has_error(function() g:fill(b, 1, 2) end,
      "xsk.flows: fill: frames 1 to 2 are not within the batch's 2 frames")
    -- a frame given back to the pool is no longer the script's: the core refuses it
    local f = b.f[1]
    local copy = umem:batch(4)
    copy:push(f)
    umem:release(copy)
    assert.has_error(function() g:fill(b) end)
    assert.are.equal("pool", umem:owner(f.addr))
  end)

  it("a frame too small for a size is refused, not overrun", function()
    local g = flows.new(desc { size = 3000 })
    local small = xsk.umem { frame_count = 16, frame_size = 2048 }
    local b = small:batch(1)
    small:alloc(b, 1)
    assert.has_error(function() g:fill(b) end)
    small:close()
  end)
end)
