-- The FFI declarations in lua/xsk/cdef.lua against the C compiler's view of
-- the same structs (csrc/abi.c): sizes and field offsets must agree.
local ffi = require "ffi"
local C = require "xsk.cdef"
require "xsk.prog" -- its structs are declared with the core's

describe("FFI declarations", function()
  it("match the C layout of every shared struct", function()
    local ptype, pfield = ffi.new("const char *[1]"), ffi.new("const char *[1]")
    local checked = 0
    for i = 0, C.lxsk_abi_count() - 1 do
      assert.equal(0, C.lxsk_abi_entry(i, ptype, pfield))
      local t = ffi.string(ptype[0])
      local want = tonumber(C.lxsk_abi_layout(t, pfield[0]))
      local got, what
      if pfield[0] == nil then
        -- a struct ending in a flexible array has the size of its head
        local ok, size = pcall(ffi.sizeof, t)
        got, what = ok and size or ffi.sizeof(t, 0), "sizeof(" .. t .. ")"
      else
        local f = ffi.string(pfield[0])
        got, what = ffi.offsetof(t, f), "offsetof(" .. t .. ", " .. f .. ")"
      end
      assert.equal(want, got, what .. " in lua/xsk/cdef.lua differs from C")
      checked = checked + 1
    end
    assert.is_true(checked > 40)
  end)

  it("has no entry for what C does not have", function()
    assert.equal(-1, tonumber(C.lxsk_abi_layout("struct lxsk_frame", "nonsense")))
    assert.equal(-1, tonumber(C.lxsk_abi_layout("struct nonsense", nil)))
  end)
end)
