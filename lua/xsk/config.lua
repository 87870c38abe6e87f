-- Checks the config tables users pass in, against a schema per object, and
-- fills in defaults.  Every complaint names the object, the key and the value.
local type, pairs, tostring, error, floor = type, pairs, tostring, error, math.floor
local concat, sort = table.concat, table.sort

local M = {}

-- Schema entries: { kind, default, extra }
--   "uint"  : whole number 0 .. 2^32-1 (extra: minimum)
--   "bool"  : boolean
--   "string": non-empty string
--   "enum"  : one of the strings in extra (a set)
--   "any"   : anything (an object checked by its user)
local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

local function keys_of(schema)
  local ks = {}
  for k in pairs(schema) do ks[#ks + 1] = k end
  sort(ks)
  return concat(ks, ", ")
end

local check = {}
function check.uint(v, extra)
  if type(v) ~= "number" then return "a whole number" end
  if v ~= floor(v) or v < (extra or 0) or v > 4294967295 then
    return extra and ("a whole number from %d to 4294967295"):format(extra) or "a whole number from 0 to 4294967295"
  end
end
function check.int(v, extra)
  if type(v) ~= "number" then return "a whole number" end
  if v ~= floor(v) or v < (extra and extra[1] or -2147483648) or v > (extra and extra[2] or 2147483647) then
    return ("a whole number from %d to %d"):format(extra and extra[1] or -2147483648, extra and extra[2] or 2147483647)
  end
end
function check.bool(v)
  if type(v) ~= "boolean" then return "true or false" end
end
function check.string(v)
  if type(v) ~= "string" or v == "" then return "a non-empty string" end
end
function check.enum(v, extra)
  if type(v) ~= "string" or not extra[v] then
    local names = {}
    for k in pairs(extra) do names[#names + 1] = ("%q"):format(k) end
    sort(names)
    return "one of " .. concat(names, ", ")
  end
end
function check.any() end

-- Returns a new table with every key of the schema set.  `what` names the
-- object in messages ("xsk.umem"); `level` is passed on to error().
function M.apply(what, schema, cfg, level)
  level = (level or 1) + 1
  if cfg == nil then cfg = {} end
  if type(cfg) ~= "table" then
    error(("%s: expected a config table, got %s"):format(what, type(cfg)), level)
  end
  for k in pairs(cfg) do
    if schema[k] == nil then
      error(("%s: unknown config key %s (known: %s)"):format(what, describe(k), keys_of(schema)), level)
    end
  end
  local out = {}
  for k, spec in pairs(schema) do
    local v = cfg[k]
    if v == nil then
      v = spec[2]
    else
      local want = check[spec[1]](v, spec[3])
      if want then
        error(("%s: %s must be %s, got %s"):format(what, k, want, describe(v)), level)
      end
    end
    out[k] = v
  end
  return out
end

-- Raised when a required key is missing.
function M.require(what, cfg, key, level)
  if cfg[key] == nil then
    error(("%s: %s is required"):format(what, key), (level or 1) + 1)
  end
end

return M
