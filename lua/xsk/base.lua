-- xsk.base: what every lua-xsk module leans on: the one way to check option
-- tables and arguments, and the one way to word errors.
--
-- The convention (docs/CONVENTIONS.md):
--   * A public entry point raises misuse at its caller, error(msg, 2), with a
--     message that starts with the module's public name: "xsk.umem: ...".
--   * Helpers, the ones here included, never raise: they return nil and a
--     message (or, for the checks, the words for what was wanted), and the
--     entry point raises it.  So no error level is ever threaded by hand.
local ffi = require "ffi"
local C = require "xsk.cdef"

local type, pairs, tostring, floor = type, pairs, tostring, math.floor
local concat, sort, fstring = table.concat, table.sort, ffi.string

local M = {}

-- A value as a message shows it: strings quoted, the rest as tostring does.
local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end
M.describe = describe

-- "<prefix>: <the core's last error>", for an entry point to raise after a
-- C call returned failure.
function M.core_error(prefix)
  return prefix .. ": " .. fstring(C.lxsk_errmsg())
end

-- "<prefix>: <name> must be <want>, got <v>".
function M.argerror(prefix, name, want, v)
  return ("%s: %s must be %s, got %s"):format(prefix, name, want, describe(v))
end

-- The checks return nil when v is fine, else the words for what was wanted.

-- A whole number from lo to hi (NaN, fractions and infinities are refused).
function M.bad_int(v, lo, hi)
  if type(v) ~= "number" or v ~= floor(v) or v < lo or v > hi then
    return ("a whole number from %d to %d"):format(lo, hi)
  end
end

function M.bad_bool(v)
  if type(v) ~= "boolean" then return "true or false" end
end

function M.bad_string(v)
  if type(v) ~= "string" or v == "" then return "a non-empty string" end
end

local function names_of(set)
  local names = {}
  for k in pairs(set) do names[#names + 1] = ("%q"):format(k) end
  sort(names)
  return concat(names, ", ")
end

function M.bad_enum(v, set)
  if type(v) ~= "string" or set[v] == nil then return "one of " .. names_of(set) end
end

-- Option tables.  A schema maps each key to { kind, default, a, b }:
--   "int"    whole number from a to b
--   "bool"   true or false
--   "string" non-empty string
--   "enum"   a key of the set a
--   "any"    anything (checked by the module that uses it)
--   "table"  a table (checked by the module that uses it)
-- A key whose default is nil and that is not given stays nil.
local checks = {
  int = M.bad_int,
  bool = M.bad_bool,
  string = M.bad_string,
  enum = M.bad_enum,
  any = function() end,
  table = function(v) if type(v) ~= "table" then return "a table" end end,
}

local function keys_of(schema)
  local ks = {}
  for k in pairs(schema) do ks[#ks + 1] = k end
  sort(ks)
  return concat(ks, ", ")
end

-- Checks cfg (nil: no options) against schema; returns a new table with every
-- key of the schema set to the value given or its default, or nil and a
-- message that names `what` (the module's public name), the key and the value.
function M.options(what, schema, cfg)
  if cfg == nil then cfg = {} end
  if type(cfg) ~= "table" then
    return nil, ("%s: expected a table of options, got %s"):format(what, type(cfg))
  end
  for k in pairs(cfg) do
    if schema[k] == nil then
      return nil, ("%s: unknown option %s (known: %s)"):format(what, describe(k), keys_of(schema))
    end
  end
  local out = {}
  for k, spec in pairs(schema) do
    local v = cfg[k]
    if v == nil then
      v = spec[2]
    else
      local check = checks[spec[1]]
      local want = check and check(v, spec[3], spec[4])
      if not check then want = "checkable (the schema has no kind " .. tostring(spec[1]) .. ")" end
      if want then return nil, M.argerror(what, k, want, v) end
    end
    out[k] = v
  end
  return out
end

-- nil when every key in `keys` is set in the checked options o, else a message.
function M.missing(what, o, keys)
  for _, k in ipairs(keys) do
    if o[k] == nil then return ("%s: %s is required"):format(what, k) end
  end
end

return M
