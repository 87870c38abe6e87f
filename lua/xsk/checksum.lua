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

local function check(what, r)
  if r < 0 then error(what .. ": " .. reason(r), 3) end
  return r
end

local function truth(r)
  if r < 0 then return false, reason(r) end
  return r == 1
end

-- Running sum over a buffer; every chunk but the last must be even-sized.
function M.partial(p, len, sum)
  return C.lxsk_csum_partial(p, len_of(p, len), sum or 0)
end

function M.fold(sum) return C.lxsk_csum_fold(sum) end

function M.csum(p, len) return check("csum", C.lxsk_csum(p, len_of(p, len))) end

function M.pseudo4(saddr, daddr, proto, len) return C.lxsk_csum_pseudo4(saddr, daddr, proto, len) end
function M.pseudo6(saddr, daddr, proto, len) return C.lxsk_csum_pseudo6(saddr, daddr, proto, len) end

function M.ip4(p, len) return check("ip4", C.lxsk_ip4_csum(p, len_of(p, len))) end
function M.ip4_set(p, len) return check("ip4_set", C.lxsk_ip4_csum_set(p, len)) end
function M.ip4_ok(p, len) return truth(C.lxsk_ip4_csum_ok(p, len_of(p, len))) end

function M.l4v4(saddr, daddr, proto, l4, len)
  return check("l4v4", C.lxsk_l4_csum4(saddr, daddr, proto, l4, len_of(l4, len)))
end
function M.l4v6(saddr, daddr, proto, l4, len)
  return check("l4v6", C.lxsk_l4_csum6(saddr, daddr, proto, l4, len_of(l4, len)))
end

function M.udp4(p, len) return check("udp4", C.lxsk_udp4_csum(p, len_of(p, len))) end
function M.tcp4(p, len) return check("tcp4", C.lxsk_tcp4_csum(p, len_of(p, len))) end
function M.icmp4(p, len) return check("icmp4", C.lxsk_icmp4_csum(p, len_of(p, len))) end
function M.udp6(p, len) return check("udp6", C.lxsk_udp6_csum(p, len_of(p, len))) end
function M.tcp6(p, len) return check("tcp6", C.lxsk_tcp6_csum(p, len_of(p, len))) end
function M.icmp6(p, len) return check("icmp6", C.lxsk_icmp6_csum(p, len_of(p, len))) end

function M.l4_set(p, len) return check("l4_set", C.lxsk_l4_csum_set(p, len)) end
function M.l4_ok(p, len) return truth(C.lxsk_l4_csum_ok(p, len_of(p, len))) end

function M.update16(csum, old, new) return C.lxsk_csum_update16(csum, old, new) end
function M.update32(csum, old, new) return C.lxsk_csum_update32(csum, old, new) end

-- old and new hold n bytes before and after a change that starts at an odd
-- (odd = true) or even offset from the start of the checksummed data.
function M.update(csum, old, new, n, odd)
  return check("update", C.lxsk_csum_update(csum, old, new, n, odd and 1 or 0))
end

function M.udp_frame_fix(frame, len)
  return check("udp_frame_fix", C.lxsk_udp_frame_fix(frame, len))
end

-- For callers that want the raw C calls in a hot loop without the checks.
M.C = C

return M
