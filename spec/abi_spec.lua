-- The FFI reads the same declarations the C compiler does: the build cuts
-- them from the headers' FFI sections (mk/gen-cdefs.awk).  What must still
-- agree is how each side reads them: every struct's size, every enum
-- constant's value, and every declared function must exist in the core.
local ffi = require "ffi"
local C = require "xsk.cdef"

local function entries()
  local kind, name, value = ffi.new("int32_t[1]"), ffi.new("const char *[1]"), ffi.new("int64_t[1]")
  local out = {}
  for i = 0, C.lxsk_abi_count() - 1 do
    assert.equal(0, C.lxsk_abi_get(i, kind, name, value))
    out[#out + 1] = { kind = kind[0], name = ffi.string(name[0]), value = tonumber(value[0]) }
  end
  return out
end

describe("FFI declarations", function()
  it("lay out every struct as C does", function()
    local n = 0
    for _, e in ipairs(entries()) do
      if e.kind == C.LXSK_ABI_SIZE then
        -- a struct ending in a flexible array (a VLS to the FFI) has the size of its head
        local ok, size = pcall(ffi.sizeof, e.name)
        if not ok then size = ffi.sizeof(e.name, 0) end
        assert.equal(e.value, size, "sizeof(" .. e.name .. ") differs between the FFI and C")
        n = n + 1
      end
    end
    assert.is_true(n >= 20, "only " .. n .. " structs in the table")
  end)

  it("give every enum constant C's value", function()
    local n = 0
    for _, e in ipairs(entries()) do
      if e.kind == C.LXSK_ABI_CONST then
        assert.equal(e.value, tonumber(C[e.name]), e.name .. " differs between the FFI and C")
        n = n + 1
      end
    end
    assert.is_true(n >= 20, "only " .. n .. " enum constants in the table")
  end)

  it("declare only functions the core has", function()
    local n = 0
    for _, e in ipairs(entries()) do
      if e.kind == C.LXSK_ABI_FUNC then
        local ok, f = pcall(function() return C[e.name] end)
        assert.is_true(ok, e.name .. " is declared but the core lacks it: " .. tostring(f))
        n = n + 1
      end
    end
    assert.is_true(n >= 60, "only " .. n .. " functions in the table")
  end)

  it("is a table that ends where it says", function()
    local kind, name, value = ffi.new("int32_t[1]"), ffi.new("const char *[1]"), ffi.new("int64_t[1]")
    assert.equal(-1, C.lxsk_abi_get(C.lxsk_abi_count(), kind, name, value))
    assert.equal(-1, C.lxsk_abi_get(-1, kind, name, value))
  end)
end)
