-- xsk.handover: how values and C objects cross from one LuaJIT VM to another
-- (a worker's arguments and results, mailbox messages).
--
-- Values cross as bytes: numbers, strings, booleans and tables of them (keys
-- of those kinds too), copied; a table that contains itself, a function, a
-- coroutine, userdata and cdata do not cross, and the error names where the
-- value sat ("argument 2.queues[3]: a function cannot cross ...").
--
-- C objects cross by hand-over (csrc/worker.c): an object whose metatable
-- has a __handover entry { kind, what, check, ptr, moved } is given to the worker
-- by index.  Objects that move (a UMEM handle, a channel end, a counter slot)
-- are dead in the giving VM afterwards: every use raises an error that says
-- where they went.  Shared ones (a mailbox, a counter block) stay usable on
-- both sides.  The worker adopts each one with a finalizer of its own.
local ffi = require "ffi"
local C = require "xsk.cdef"

local type, pairs, tostring, error, setmetatable, getmetatable = type, pairs, tostring, error, setmetatable,
  getmetatable
local rawget, rawset, next, select, concat, char = rawget, rawset, next, select, table.concat, string.char
local fstring, copy = ffi.string, ffi.copy

local M = {}

local num = ffi.new("double[1]")
local u32 = ffi.new("uint32_t[1]")

local function u32_bytes(n)
  u32[0] = n
  return fstring(u32, 4)
end

-- How a table key shows in a path: .name when it could be written so, else [key].
local function step(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return path .. "." .. k end
  if type(k) == "string" then return ("%s[%q]"):format(path, k) end
  return ("%s[%s]"):format(path, tostring(k))
end

local WHY = {
  ["function"] = "a function cannot cross (a worker's VM has nothing of this one: require or build it there)",
  thread = "a coroutine cannot cross",
  userdata = "userdata cannot cross",
  ["nil"] = "nil cannot cross here",
}

-- Encoding.  out: the pieces; st: { seen = tables being encoded, hands =
-- objects to hand over in order, index = object -> its place, allow_hands }.
local encode

local function encode_object(v, path, out, st, hand)
  if not st.allow_hands then
    return nil, ("%s: %s cannot cross here (objects cross only as a worker's arguments)"):format(path,
      hand.what)
  end
  local i = st.index[v]
  if not i then
    local why = hand.check(v)
    if why then return nil, ("%s: %s"):format(path, why) end
    i = #st.hands
    st.hands[i + 1] = v
    st.index[v] = i
  end
  out[#out + 1] = "h" .. char(hand.kind) .. u32_bytes(i)
  return true
end

function encode(v, path, out, st)
  local t = type(v)
  if t == "number" then
    num[0] = v
    out[#out + 1] = "n" .. fstring(num, 8)
  elseif t == "string" then
    out[#out + 1] = "s" .. u32_bytes(#v)
    out[#out + 1] = v
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif t == "table" then
    local mt = getmetatable(v)
    local hand = type(mt) == "table" and rawget(mt, "__handover")
    if hand then return encode_object(v, path, out, st, hand) end
    if mt ~= nil then
      return nil, ("%s: a table with a metatable (an object) cannot cross; only plain tables of numbers, "
        .. "strings and booleans, and lua-xsk's objects that say they can"):format(path)
    end
    if st.seen[v] then return nil, ("%s: a table that contains itself cannot cross"):format(path) end
    st.seen[v] = true
    local count, at = 0, #out + 1
    out[at] = false -- the header, once the count is known
    for k, val in next, v do
      local kt = type(k)
      if kt ~= "number" and kt ~= "string" and kt ~= "boolean" then
        st.seen[v] = nil
        return nil, ("%s: a key of type %s cannot cross (keys: numbers, strings, booleans)"):format(path, kt)
      end
      local ok, err = encode(k, path, out, st)
      if ok then ok, err = encode(val, step(path, k), out, st) end
      if not ok then st.seen[v] = nil; return nil, err end
      count = count + 1
    end
    out[at] = "t" .. u32_bytes(count)
    st.seen[v] = nil
  elseif t == "cdata" then
    return nil, ("%s: a cdata (%s) cannot cross; numbers cross as Lua numbers (tonumber), lua-xsk objects "
      .. "as the objects"):format(path, tostring(ffi.typeof(v)))
  else
    return nil, ("%s: %s"):format(path, WHY[t] or (t .. " cannot cross"))
  end
  return true
end

-- Encodes values v[1 .. n] (nil allowed among them), naming them
-- "<what> 1", "<what> 2", ... in errors.  Returns the bytes and the objects
-- to hand over (in index order), or nil and a message.  Objects are only
-- allowed when allow_hands is true.
function M.encode(v, n, what, allow_hands)
  local out = { "v" .. u32_bytes(n) }
  local st = { seen = {}, hands = {}, index = {}, allow_hands = allow_hands }
  for i = 1, n do
    if v[i] == nil then
      out[#out + 1] = "z"
    else
      local ok, err = encode(v[i], ("%s %d"):format(what, i), out, st)
      if not ok then return nil, err end
    end
  end
  return concat(out), st.hands
end

-- Gives the objects the encoding collected to worker w (a struct
-- lxsk_worker *) in index order; objects that move let go of their C object
-- and die here.  Returns true, or nil and the core's message.
function M.give(w, hands, whom)
  for i = 1, #hands do
    local obj = hands[i]
    local hand = getmetatable(obj).__handover
    local at = C.lxsk_worker_give(w, hand.kind, hand.ptr(obj))
    if at ~= i - 1 then return nil, ffi.string(C.lxsk_errmsg()) end
    if hand.moved then hand.moved(obj, whom) end
  end
  return true
end

-- ---- decoding ----

local ADOPTERS = {
  [C.LXSK_HAND_UMEM] = "xsk.umem",
  [C.LXSK_HAND_CHAN] = "xsk.channel",
  [C.LXSK_HAND_MAILBOX] = "xsk.mailbox",
  [C.LXSK_HAND_COUNTERS] = "xsk.counters",
  [C.LXSK_HAND_SLOT] = "xsk.counters",
}

local decode

-- p: the bytes as a pointer; i: 0-based offset.  Returns value, next offset.
local function read_u32(p, i)
  copy(u32, p + i, 4)
  return u32[0], i + 4
end

function decode(p, i, adopted)
  local tag = char(p[i])
  i = i + 1
  if tag == "n" then
    copy(num, p + i, 8)
    return num[0], i + 8
  elseif tag == "s" then
    local len
    len, i = read_u32(p, i)
    return fstring(p + i, len), i + len
  elseif tag == "T" then
    return true, i
  elseif tag == "F" then
    return false, i
  elseif tag == "z" then
    return nil, i
  elseif tag == "t" then
    local t = {}
    local count
    count, i = read_u32(p, i)
    for _ = 1, count do
      local k, v
      k, i = decode(p, i, adopted)
      v, i = decode(p, i, adopted)
      rawset(t, k, v)
    end
    return t, i
  elseif tag == "h" then
    local kind = p[i]
    local index
    index, i = read_u32(p, i + 1)
    local obj = adopted[index]
    if obj == nil then
      local ptr = C.lxsk_worker_adopt(index, kind)
      if ptr == nil then error("xsk.workers: " .. ffi.string(C.lxsk_errmsg()), 0) end
      obj = require(ADOPTERS[kind])._adopt(kind, ptr)
      adopted[index] = obj
    end
    return obj, i
  end
  error(("xsk.handover: corrupt bytes (tag %q at %d)"):format(tag, i - 1), 0)
end

-- Decodes what M.encode made; objects are adopted (in a worker) on the way.
-- Returns a table of the values and their count.
function M.decode(s)
  local p = ffi.cast("const uint8_t *", s)
  if #s < 5 or char(p[0]) ~= "v" then error("xsk.handover: corrupt bytes (no header)", 0) end
  local n, i = read_u32(p, 1)
  local vals, adopted = {}, {}
  for k = 1, n do vals[k], i = decode(p, i, adopted) end
  if i ~= #s then error("xsk.handover: corrupt bytes (trailing data)", 0) end
  return vals, n
end

-- ---- objects that moved away ----

-- Turns obj (a table) into a tombstone: every field gone, every use raises msg.
function M.kill(obj, msg, name)
  for k in pairs(obj) do rawset(obj, k, nil) end
  setmetatable(obj, {
    __index = function() error(msg, 2) end,
    __newindex = function() error(msg, 2) end,
    __tostring = function() return name end,
  })
end

-- An object that moved to worker `whom`.
function M.neuter(obj, what, whom)
  M.kill(obj, ("%s: this object was handed to %s and cannot be used here any more"):format(what, whom),
    what .. " (handed to " .. whom .. ")")
end

-- select("#", ...) and the values, as a table with n.
function M.pack(...)
  return { n = select("#", ...), ... }
end

return M
