-- xsk.filter: tcpdump's filter language ("udp port 53", "host 198.18.0.1 and
-- tcp[tcpflags] & tcp-syn != 0") for packets in user space.
--
--   local filter = require "xsk.filter"
--   local f = filter.compile("udp and dst port 9")
--   for i = 0, b.n - 1 do
--     local fr = b.f[i]
--     if f:match(fr.data, fr.len) then ... end      -- no allocation, one C call
--   end
--
-- libpcap compiles the expression (pcap_compile on a dead handle: no device
-- is opened) into a classic BPF program, and libpcap's own interpreter,
-- bpf_filter, runs it on each packet: the same code tcpdump uses on a saved
-- file, so a filter matches here exactly what it matches there.  libpcap is
-- loaded the first time a filter is compiled (Debian package libpcap0.8, which
-- tcpdump installs): a script that never filters does not need it.
--
-- Could the filter run in the XDP program instead?  Not as it comes: libpcap
-- makes classic BPF (cBPF), XDP runs eBPF, and the kernel converts cBPF to eBPF
-- only for socket filters and seccomp, never for XDP.  AF_XDP sockets do not
-- run socket filters either (SO_ATTACH_FILTER applies to the stack's sockets;
-- an XDP redirect puts the packet straight on the RX ring).  A translator from
-- cBPF to eBPF or C (the approach of Cloudflare's cbpfc) could build an XDP
-- program per filter: the gain is that packets that do not match stay in the
-- kernel (XDP_PASS to the stack, no copy into the UMEM, no ring slot) instead
-- of being taken from the host and dropped in Lua; the costs are a program
-- built and loaded per expression, the verifier's bounds checks on every
-- packet read (cBPF's "out of bounds means no match" must be spelled out),
-- and one more compiler to trust.  Until then, xsk.steer's rules (ports,
-- protocols, addresses) are what runs in the kernel, and this filter refines
-- in user space what they let through.
local ffi = require "ffi"
local base = require "xsk.base"

local type, error, floor = type, error, math.floor

local WHAT = "xsk.filter"

-- libpcap's declarations (pcap/pcap.h, pcap/bpf.h), renamed so that user
-- scripts may declare the real names themselves.
ffi.cdef [[
struct lxsk_bpf_insn { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; };
struct lxsk_bpf_program { unsigned int bf_len; struct lxsk_bpf_insn *bf_insns; };
void *lxsk_pcap_open_dead(int linktype, int snaplen) __asm__("pcap_open_dead");
void lxsk_pcap_close(void *p) __asm__("pcap_close");
int lxsk_pcap_compile(void *p, struct lxsk_bpf_program *fp, const char *str, int optimize,
  uint32_t netmask) __asm__("pcap_compile");
char *lxsk_pcap_geterr(void *p) __asm__("pcap_geterr");
void lxsk_pcap_freecode(struct lxsk_bpf_program *fp) __asm__("pcap_freecode");
unsigned int lxsk_bpf_filter(const struct lxsk_bpf_insn *pc, const uint8_t *pkt, unsigned int wirelen,
  unsigned int buflen) __asm__("bpf_filter");
char *lxsk_bpf_image(const struct lxsk_bpf_insn *pc, int n) __asm__("bpf_image");
const char *lxsk_pcap_lib_version(void) __asm__("pcap_lib_version");
]]

local NETMASK_UNKNOWN = 0xffffffff
local MAX_LEN = 262144 -- pcap.MAX_CAPLEN: no packet is longer

local M = {}

-- The library, loaded once: Debian installs only the versioned name without
-- libpcap-dev.
local lib
local function load()
  if lib then return lib end
  local errs = {}
  for _, name in ipairs { "libpcap.so.0.8", "libpcap.so.1", "pcap" } do
    local ok, l = pcall(ffi.load, name)
    if ok then
      lib = l
      return lib
    end
    errs[#errs + 1] = l
  end
  return nil, ("%s: cannot load libpcap (Debian package libpcap0.8): %s"):format(WHAT, table.concat(errs, "; "))
end

-- libpcap's version string ("libpcap version 1.10.3 ..."), or nil and why not.
function M.version()
  local l, err = load()
  if not l then return nil, err end
  return ffi.string(l.lxsk_pcap_lib_version())
end

local Filter = {}
Filter.__index = Filter

local schema = {
  linktype = { "int", 1, 0, 65535 },
  snaplen = { "int", MAX_LEN, 1, MAX_LEN },
  optimize = { "bool", true },
}

local function free_program(prog)
  if lib and prog.bf_insns ~= nil then lib.lxsk_pcap_freecode(prog) end
end

-- Compiles a tcpdump filter expression for packets of a link type (1:
-- Ethernet, what AF_XDP frames are; a pcap reader's r.linktype for a file).
-- An empty expression matches everything.
function M.compile(expr, opts)
  if type(expr) ~= "string" then error(base.argerror(WHAT, "compile: expr", "a string", expr), 2) end
  local o, err = base.options(WHAT .. ": compile", schema, opts)
  if not o then error(err, 2) end
  local l
  l, err = load()
  if not l then error(err, 2) end
  local dead = l.lxsk_pcap_open_dead(o.linktype, o.snaplen)
  if dead == nil then error(("%s: compile: pcap_open_dead failed for link type %d"):format(WHAT, o.linktype), 2) end
  local prog = ffi.gc(ffi.new("struct lxsk_bpf_program"), free_program)
  local r = l.lxsk_pcap_compile(dead, prog, expr, o.optimize and 1 or 0, NETMASK_UNKNOWN)
  local why = r ~= 0 and ffi.string(l.lxsk_pcap_geterr(dead))
  l.lxsk_pcap_close(dead)
  if r ~= 0 then error(("%s: cannot compile %q: %s"):format(WHAT, expr, why), 2) end
  return setmetatable({ expr = expr, linktype = o.linktype, prog = prog, insns = prog.bf_insns,
    filter = l.lxsk_bpf_filter }, Filter)
end

-- True when the packet of len bytes at ptr (a pointer, or a string) matches.
-- wirelen, the packet's length on the wire, defaults to len (it differs
-- for packets cut to a snaplen: "len" and "greater" tests read it).
function Filter:match(ptr, len, wirelen)
  local tp = type(ptr)
  if tp ~= "cdata" and tp ~= "string" or ptr == nil then
    error(base.argerror(WHAT, "match: ptr", "a pointer or a string", ptr), 2)
  end
  if type(len) ~= "number" or len ~= floor(len) or len < 0 or len > (tp == "string" and #ptr or MAX_LEN) then
    error(base.argerror(WHAT, "match: len", tp == "string" and "a whole number from 0 to the string's length"
      or ("a whole number from 0 to %d"):format(MAX_LEN), len), 2)
  end
  if wirelen == nil then
    wirelen = len
  elseif type(wirelen) ~= "number" or wirelen ~= floor(wirelen) or wirelen < len or wirelen > 4294967295 then
    error(base.argerror(WHAT, "match: wirelen", "a whole number from len up", wirelen), 2)
  end
  return self.filter(self.insns, ptr, wirelen, len) ~= 0
end

-- The compiled program as tcpdump -d prints it, one instruction a line.
function Filter:listing()
  local out = {}
  local n = self.prog.bf_len
  for i = 0, n - 1 do
    out[#out + 1] = ffi.string(lib.lxsk_bpf_image(self.insns + i, i))
  end
  return table.concat(out, "\n") .. "\n"
end

-- Instructions in the program.
function Filter:size() return tonumber(self.prog.bf_len) end

return M
