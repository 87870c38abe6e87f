-- Shared plumbing for the examples: argument parsing, a monotonic clock,
-- sleeping, stop signals, the interface's MAC address and the throwaway veth
-- pair of the dev1/dev2 examples.  Not part of the library; examples load it with
--   package.path = root .. "/examples/?.lua;" .. package.path
--   local cli = require "lib.cli"
local ffi = require "ffi"

local M = {}

-- Every libc declaration is renamed with __asm__ so it cannot clash with the
-- same function declared by lua-xsk's own cdef (clock_gettime is there).
ffi.cdef [[
struct xskcli_timespec { long tv_sec; long tv_nsec; };
int xskcli_clock_gettime(int clk, struct xskcli_timespec *ts) __asm__("clock_gettime");
int xskcli_nanosleep(const struct xskcli_timespec *req, struct xskcli_timespec *rem) __asm__("nanosleep");
typedef struct { uint8_t bits[128]; } xskcli_sigset_t;
int xskcli_sigemptyset(xskcli_sigset_t *set) __asm__("sigemptyset");
int xskcli_sigaddset(xskcli_sigset_t *set, int sig) __asm__("sigaddset");
int xskcli_sigprocmask(int how, const xskcli_sigset_t *set, xskcli_sigset_t *old) __asm__("sigprocmask");
int xskcli_sigtimedwait(const xskcli_sigset_t *set, void *info, const struct xskcli_timespec *t) __asm__("sigtimedwait");
int xskcli_socket(int domain, int type, int proto) __asm__("socket");
int xskcli_ioctl(int fd, unsigned long req, void *arg) __asm__("ioctl");
int xskcli_close(int fd) __asm__("close");
char *xskcli_strerror(int errnum) __asm__("strerror");
]]
local libc = ffi.C

-- ---- clock and sleep ----

local CLOCK_MONOTONIC = 1
local ts = ffi.new("struct xskcli_timespec")

-- Seconds on the monotonic clock (wall-clock jumps must not end a run early).
function M.now()
  libc.xskcli_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local req = ffi.new("struct xskcli_timespec")
-- Sleeps s seconds (fractions fine); a signal may cut it short, which only
-- makes the caller look at the clock sooner.
function M.sleep(s)
  if s <= 0 then return end
  local sec = math.floor(s)
  req.tv_sec, req.tv_nsec = sec, math.floor((s - sec) * 1e9)
  libc.xskcli_nanosleep(req, nil)
end

-- ---- stop signals ----

-- LuaJIT's own SIGINT handler raises "interrupted!" at whatever line runs
-- next, possibly in the middle of closing sockets.  So SIGHUP, SIGINT and
-- SIGTERM are blocked and taken with a zero-timeout sigtimedwait once per
-- loop, where stopping is safe.
local stop_set, no_wait = ffi.new("xskcli_sigset_t"), ffi.new("struct xskcli_timespec")
libc.xskcli_sigemptyset(stop_set)
for _, sig in ipairs { 1, 2, 15 } do libc.xskcli_sigaddset(stop_set, sig) end

function M.hold_signals() libc.xskcli_sigprocmask(0, stop_set, nil) end -- SIG_BLOCK

-- True once a stop signal arrived (it is consumed).
function M.stop_requested() return libc.xskcli_sigtimedwait(stop_set, nil, no_wait) > 0 end

-- ---- interface MAC ----

-- SIOCGIFHWADDR on a throwaway UDP socket: unlike /sys/class/net, this sees
-- the namespace the thread is in now, also after setns without remounting /sys.
local AF_INET, SOCK_DGRAM, SIOCGIFHWADDR = 2, 2, 0x8927
function M.if_mac(ifname)
  if #ifname >= 16 then error(("interface name %q is too long"):format(ifname), 2) end
  local fd = libc.xskcli_socket(AF_INET, SOCK_DGRAM, 0)
  if fd < 0 then error("socket: " .. ffi.string(libc.xskcli_strerror(ffi.errno()))) end
  -- struct ifreq: 16 bytes of name, then struct sockaddr (family, 14 bytes).
  local ifr = ffi.new("uint8_t[40]")
  ffi.copy(ifr, ifname)
  local r = libc.xskcli_ioctl(fd, SIOCGIFHWADDR, ifr)
  local errno = ffi.errno()
  libc.xskcli_close(fd)
  if r < 0 then
    error(("cannot read the MAC address of %s: %s"):format(ifname, ffi.string(libc.xskcli_strerror(errno))), 2)
  end
  local mac = ffi.new("uint8_t[6]")
  ffi.copy(mac, ifr + 18, 6)
  return mac
end

function M.mac_string(p)
  return ("%02x:%02x:%02x:%02x:%02x:%02x"):format(p[0], p[1], p[2], p[3], p[4], p[5])
end

-- ---- arguments ----

-- A usage error is a table, so run() can tell it from a failure.
local function usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end
M.usage_error = usage_error

local function check_ip4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return false end
  for _, x in ipairs { a, b, c, d } do
    if tonumber(x) > 255 then return false end
  end
  return true
end

local function check_mac(s)
  return s:match("^%x%x[:-]%x%x[:-]%x%x[:-]%x%x[:-]%x%x[:-]%x%x$") ~= nil
end

-- Whole numbers past this are no count, size or port any example can use;
-- refusing them here keeps 2^53 and "1e300" out of the C calls.
local UINT_MAX = 4294967295

local function is_pow2(n)
  local p = 1
  while p < n do p = p * 2 end
  return p == n
end

-- options: name -> { kind, default, required = bool }, kinds "string",
-- "uint" (whole, 0 .. 2^32-1), "count" (whole, 1 .. 2^32-1), "pow2" (a
-- count that is a power of two), "number" (> 0, fractions allowed), "ip4",
-- "mac", "flag" (takes no value; true when given).
-- Accepts `--opt value` and `--opt=value`, and -h / --help.
function M.parse(argv, options)
  local o = {}
  for name, spec in pairs(options) do o[name] = spec[2] end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      o.help = true
    else
      local name, value = a:match("^%-%-([%w-]+)=(.*)$")
      if not name then name = a:match("^%-%-([%w-]+)$") end
      local spec = name and options[name]
      if not spec then usage_error("unknown option %s", a) end
      local kind = spec[1]
      if kind == "flag" then
        if value then usage_error("option --%s takes no value", name) end
        value = true
      elseif not value then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error("option --%s needs a value", name) end
      end
      if kind == "uint" or kind == "count" or kind == "pow2" then
        local n = tonumber(value)
        local least = kind == "uint" and 0 or 1
        if not n or n % 1 ~= 0 or n < least or n > UINT_MAX then
          usage_error("option --%s needs a whole number%s, got %q", name, least == 1 and " from 1" or "", value)
        end
        if kind == "pow2" and not is_pow2(n) then usage_error("option --%s needs a power of two, got %d", name, n) end
        value = n
      elseif kind == "flag" then
        -- value is already true
      elseif kind == "number" then
        local n = tonumber(value)
        if not n or n <= 0 then usage_error("option --%s needs a positive number, got %q", name, value) end
        value = n
      elseif kind == "ip4" then
        if not check_ip4(value) then usage_error("option --%s needs an IPv4 address, got %q", name, value) end
      elseif kind == "mac" then
        if not check_mac(value) then usage_error("option --%s needs a MAC address, got %q", name, value) end
      elseif value == "" then
        usage_error("option --%s needs a non-empty value", name)
      end
      o[name] = value
    end
    i = i + 1
  end
  if not o.help then
    local names = {}
    for name in pairs(options) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      if options[name].required and o[name] == nil then usage_error("option --%s is required", name) end
    end
  end
  return o
end

-- ---- cleanup ----

-- A cleanup function for run(): closes state[name] for each name, in that
-- order (sockets before their UMEM), each object once (a UMEM two names
-- share closes once), then removes state.env, the namespace dev_pair made.
-- Fields main never set are skipped, so it works after any failure.
function M.closer(state, names)
  return function()
    local closed = {}
    for _, name in ipairs(names) do
      local o = state[name]
      if o and not closed[o] then
        closed[o] = true
        o:close()
      end
    end
    if state.env then state.env.destroy() end
  end
end

-- ---- the dev1/dev2 examples ----

-- The options every dev1/dev2 example has, plus its own (name -> spec).
function M.dev_pair_options(own)
  local o = { dev1 = { "string" }, dev2 = { "string" }, queue = { "uint", 0 } }
  for name, spec in pairs(own) do o[name] = spec end
  return o
end

-- hello_xdp, shared_umem and dev1_to_dev2 take both interfaces or neither.
function M.check_dev_pair(o)
  if (o.dev1 == nil) ~= (o.dev2 == nil) then usage_error("--dev1 and --dev2 go together") end
end

-- Their two interfaces: --dev1/--dev2 as given, or else a throwaway network
-- namespace (named xskex<pid>-<n>) with a veth pair, which this thread then
-- enters.  state.env is set before entering, so the caller's cleanup removes
-- the namespace (state.env.destroy()) even if entering fails.  setup: more
-- xsk.netns.setup options (mtu, ...).
function M.dev_pair(opts, state, setup)
  local netns = require "xsk.netns"
  -- libxdp keeps its program state in bpffs; this mounts one privately.
  netns.private_bpffs()
  if opts.dev1 then return opts.dev1, opts.dev2 end
  local cfg = { prefix = "xskex" }
  for k, v in pairs(setup or {}) do cfg[k] = v end
  state.env = netns.setup(cfg)
  netns.enter(state.env)
  return state.env.a, state.env.b
end

-- ---- top level ----

M.INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

-- Parses arguments (check(opts), if given, may raise usage errors too, also
-- for --help, before anything is set up), prints usage for --help, runs
-- main(opts) with stop signals held, calls cleanup whatever happened, and
-- exits: 0 on success, 1 on errors or when main returns false (its second
-- value, if any, is printed), 2 on bad arguments, 130 when main raised
-- cli.INTERRUPTED.  main may raise { usage = ... } itself.
function M.run(name, usage, options, main, cleanup, check)
  local ok, opts = pcall(function()
    local o = M.parse(arg or {}, options)
    if check then check(o) end
    return o
  end)
  if not ok then
    local msg = type(opts) == "table" and opts.usage or tostring(opts)
    io.stderr:write(name, ": ", msg, " (see --help)\n")
    os.exit(2)
  end
  if opts.help then
    io.write(usage)
    os.exit(0)
  end
  M.hold_signals()
  local ran, result, failure = pcall(main, opts)
  local cleaned, cleanup_err = true, nil
  if cleanup then cleaned, cleanup_err = pcall(cleanup) end
  io.stdout:flush()
  if not cleaned then io.stderr:write(name, ": cleanup: ", tostring(cleanup_err), "\n") end
  if not ran then
    if type(result) == "table" and result.usage then
      io.stderr:write(name, ": ", result.usage, " (see --help)\n")
      os.exit(2)
    end
    io.stderr:write(name, ": ", tostring(result), "\n")
    -- 130 = 128 + SIGINT, what a shell reports for a job stopped by Ctrl-C.
    os.exit(result == M.INTERRUPTED and 130 or 1)
  end
  if result == false then
    if failure then io.stderr:write(name, ": ", tostring(failure), "\n") end
    os.exit(1)
  end
  os.exit(cleaned and 0 or 1)
end

return M
