-- Internet checksums (csrc/checksum.c) for scripts.
--
-- Values are host-order numbers: the number that, stored big-endian in the
-- header field, makes the packet verify.  Pointers are any cdata pointer or a
-- Lua string (then len defaults to its length).  Functions that compute raise
-- a Lua error on malformed or truncated input; the *_ok checks return false
-- and a reason instead, so they can sit in a receive loop.
local C = require "xsk.cdef"

local M = {}

M.PROTO_ICMP, M.PROTO_TCP, M.PROTO_UDP, M.PROTO_ICMP6 = 1, 6, 17, 58

local reasons = {
  [22] = "malformed header",             -- EINVAL
  [34] = "truncated packet",             -- ERANGE
  [71] = "not the protocol asked for, or a fragment", -- EPROTO
}

local function reason(r)
  return reasons[-r] or ("error " .. r)
end
M.reason = reason

local function len_of(p, len)
  if len == nil and type(p) == "string" then return #p end
  return len
end

local function truth(r)
  if r < 0 then return false, reason(r) end
  return r == 1
end

-- An entry point that computes: a C call whose negative result is raised
-- (at its caller) with the reason.  p may be a string; len defaults to its length.
local function computing(name, cfn)
  local prefix = "xsk.checksum: " .. name .. ": "
  return function(p, len)
    local r = cfn(p, len_of(p, len))
    if r < 0 then error(prefix .. reason(r), 2) end
    return r
  end
end

-- Running sum over a buffer; every chunk but the last must be even-sized.
function M.partial(p, len, sum)
  return C.lxsk_csum_partial(p, len_of(p, len), sum or 0)
end

function M.fold(sum) return C.lxsk_csum_fold(sum) end

M.csum = computing("csum", C.lxsk_csum)

function M.pseudo4(saddr, daddr, proto, len) return C.lxsk_csum_pseudo4(saddr, daddr, proto, len) end
function M.pseudo6(saddr, daddr, proto, len) return C.lxsk_csum_pseudo6(saddr, daddr, proto, len) end

M.ip4 = computing("ip4", C.lxsk_ip4_csum)
M.ip4_set = computing("ip4_set", C.lxsk_ip4_csum_set)
function M.ip4_ok(p, len) return truth(C.lxsk_ip4_csum_ok(p, len_of(p, len))) end

function M.l4v4(saddr, daddr, proto, l4, len)
  local r = C.lxsk_l4_csum4(saddr, daddr, proto, l4, len_of(l4, len))
  if r < 0 then error("xsk.checksum: l4v4: " .. reason(r), 2) end
  return r
end
function M.l4v6(saddr, daddr, proto, l4, len)
  local r = C.lxsk_l4_csum6(saddr, daddr, proto, l4, len_of(l4, len))
  if r < 0 then error("xsk.checksum: l4v6: " .. reason(r), 2) end
  return r
end

M.udp4 = computing("udp4", C.lxsk_udp4_csum)
M.tcp4 = computing("tcp4", C.lxsk_tcp4_csum)
M.icmp4 = computing("icmp4", C.lxsk_icmp4_csum)
M.udp6 = computing("udp6", C.lxsk_udp6_csum)
M.tcp6 = computing("tcp6", C.lxsk_tcp6_csum)
M.icmp6 = computing("icmp6", C.lxsk_icmp6_csum)

M.l4_set = computing("l4_set", C.lxsk_l4_csum_set)
function M.l4_ok(p, len) return truth(C.lxsk_l4_csum_ok(p, len_of(p, len))) end

-- RFC 1624: the checksum after a 16- or 32-bit field changed (nothing to
-- check; a per-packet loop compiles the call inline).
function M.update16(csum, old, new) return C.lxsk_csum_update16(csum, old, new) end
function M.update32(csum, old, new) return C.lxsk_csum_update32(csum, old, new) end

-- old and new hold n bytes before and after a change that starts at an odd
-- (odd = true) or even offset from the start of the checksummed data.
function M.update(csum, old, new, n, odd)
  local r = C.lxsk_csum_update(csum, old, new, n, odd and 1 or 0)
  if r < 0 then error("xsk.checksum: update: " .. reason(r), 2) end
  return r
end

M.udp_frame_fix = computing("udp_frame_fix", C.lxsk_udp_frame_fix)

return M
