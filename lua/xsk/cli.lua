-- xsk.cli: what lua-xsk's tools share, for packet scripts of your own too.
--
--   local cli = require "xsk.cli"
--   local p = cli.parser("my-tool", "Counts frames on a queue.")
--   cli.dev_options(p)                              -- --dev IF, --queue N, --duration S
--   cli.option(p, "--size", "frame size in bytes", "count", 64):argname("BYTES")
--   cli.run(p, function(o)
--     ...                                            -- loop until cli.stop_requested()
--   end, cleanup)
--
-- * Options go through argparse (Debian: lua-argparse), so every tool has the
--   same --help; cli.option adds checked kinds (whole numbers, ports, IPv4
--   and MAC addresses) whose errors name the option and the value.
-- * cli.run is the top level: bad arguments exit 2 with "NAME: what was
--   wrong (see --help)", errors exit 1 with "NAME: message" and no Lua
--   file:line position or traceback, Ctrl-C/SIGTERM/SIGHUP exit 130 only
--   when main says it was interrupted, otherwise the run ends cleanly.
-- * Stop signals are held (blocked) and read at safe points with
--   cli.stop_requested(), so Ctrl-C never lands in the middle of a close.
-- * cli.now/cli.sleep (monotonic), cli.if_mac, cli.dev_pair (the throwaway
--   veth pair of the dev1/dev2 tools), cli.closer (cleanup in order),
--   cli.stats (live statistics whose line is ended before an error is
--   printed) and cli.serve (the loop of a host that answers in place).
local ffi = require "ffi"
local argparse = require "argparse"
local base = require "xsk.base"
local stats = require "xsk.stats"
require "xsk.cdef"

local type, tostring, tonumber, ipairs, pairs, pcall, error = type, tostring, tonumber, ipairs, pairs, pcall, error
local floor, huge, copy = math.floor, math.huge, ffi.copy

local M = {}

local WHAT = "xsk.cli"

-- libc calls lua-xsk's cdef does not declare, renamed with __asm__ so user
-- scripts may declare the real names themselves.
ffi.cdef [[
int lxsk_cli_nanosleep(const struct lxsk_timespec *req, struct lxsk_timespec *rem) __asm__("nanosleep");
typedef struct { uint8_t bits[128]; } lxsk_cli_sigset_t;
int lxsk_cli_sigemptyset(lxsk_cli_sigset_t *set) __asm__("sigemptyset");
int lxsk_cli_sigaddset(lxsk_cli_sigset_t *set, int sig) __asm__("sigaddset");
int lxsk_cli_sigprocmask(int how, const lxsk_cli_sigset_t *set, lxsk_cli_sigset_t *old) __asm__("sigprocmask");
int lxsk_cli_sigtimedwait(const lxsk_cli_sigset_t *set, void *info, const struct lxsk_timespec *t)
  __asm__("sigtimedwait");
int lxsk_cli_socket(int domain, int type, int proto) __asm__("socket");
int lxsk_cli_ioctl(int fd, unsigned long req, void *arg) __asm__("ioctl");
int lxsk_cli_close(int fd) __asm__("close");
]]
local libc = ffi.C

-- ---- clock and sleep ----

M.now = stats.now

local req = ffi.new("struct lxsk_timespec")
-- Sleeps s seconds (fractions fine); a signal may cut it short, which only
-- makes the caller look at the clock sooner.
function M.sleep(s)
  if type(s) ~= "number" then error(base.argerror(WHAT, "sleep: s", "a number of seconds", s), 2) end
  if s ~= s or s <= 0 then return end -- NaN too
  if s > 1e9 then s = 1e9 end
  local sec = floor(s)
  req.tv_sec, req.tv_nsec = sec, floor((s - sec) * 1e9)
  libc.lxsk_cli_nanosleep(req, nil)
end

-- ---- stop signals ----

-- LuaJIT's own SIGINT handler raises "interrupted!" at whatever line runs
-- next, possibly in the middle of closing sockets, and prints a traceback.
-- So SIGHUP, SIGINT and SIGTERM are blocked and taken with a zero-timeout
-- sigtimedwait where stopping is safe.
local SIG_BLOCK = 0
local stop_set, no_wait = ffi.new("lxsk_cli_sigset_t"), ffi.new("struct lxsk_timespec")
libc.lxsk_cli_sigemptyset(stop_set)
for _, sig in ipairs { 1, 2, 15 } do libc.lxsk_cli_sigaddset(stop_set, sig) end

function M.hold_signals() libc.lxsk_cli_sigprocmask(SIG_BLOCK, stop_set, nil) end

-- True once a stop signal arrived (it is consumed).  One system call.
function M.stop_requested() return libc.lxsk_cli_sigtimedwait(stop_set, nil, no_wait) > 0 end

-- What main raises when a stop signal ends work that cannot finish: cli.run
-- then exits 130, as a shell does for a job stopped by Ctrl-C.
M.INTERRUPTED = setmetatable({}, { __tostring = function() return "interrupted" end })

function M.interrupted() error(M.INTERRUPTED, 0) end

-- ---- interface MAC ----

-- SIOCGIFHWADDR on a throwaway UDP socket: unlike /sys/class/net, this sees
-- the namespace the thread is in now, also after setns without remounting /sys.
local AF_INET, SOCK_DGRAM, SIOCGIFHWADDR, IFNAMSIZ = 2, 2, 0x8927, 16
local ifr = ffi.new("uint8_t[40]") -- struct ifreq: 16 bytes of name, then a sockaddr

local function syserr(errno)
  return ffi.string(libc.lxsk_libc_strerror(errno))
end

-- The MAC address of an interface, as 6 bytes (uint8_t[6]).
function M.if_mac(ifname)
  local want = base.bad_string(ifname)
  if not want and #ifname >= IFNAMSIZ then want = "an interface name of at most 15 characters" end
  if want then error(base.argerror(WHAT, "if_mac: ifname", want, ifname), 2) end
  local fd = libc.lxsk_cli_socket(AF_INET, SOCK_DGRAM, 0)
  if fd < 0 then error(("%s: if_mac: socket: %s"):format(WHAT, syserr(ffi.errno())), 2) end
  ffi.fill(ifr, 40)
  copy(ifr, ifname)
  local r = libc.lxsk_cli_ioctl(fd, SIOCGIFHWADDR, ifr)
  local errno = ffi.errno()
  libc.lxsk_cli_close(fd)
  if r < 0 then
    error(("%s: if_mac: cannot read the MAC address of %s: %s"):format(WHAT, ifname, syserr(errno)), 2)
  end
  local mac = ffi.new("uint8_t[6]")
  copy(mac, ifr + 18, 6)
  return mac
end

-- "aa:bb:cc:dd:ee:ff" of 6 bytes at p.
function M.mac_string(p)
  return ("%02x:%02x:%02x:%02x:%02x:%02x"):format(p[0], p[1], p[2], p[3], p[4], p[5])
end

-- ---- options ----

local UINT_MAX = 4294967295

local function whole(s, lo, hi)
  local n = tonumber(s)
  if n and n == floor(n) and n >= lo and n <= hi then return n end
end

-- Each kind turns the option's text into its value, or returns nil and the
-- words for what was wanted.
local KINDS = {
  string = function(s)
    if s ~= "" then return s end
    return nil, "a non-empty value"
  end,
  uint = function(s) return whole(s, 0, UINT_MAX), "a whole number from 0 to 4294967295" end,
  count = function(s) return whole(s, 1, UINT_MAX), "a whole number from 1 to 4294967295" end,
  pow2 = function(s)
    local n = whole(s, 1, 2 ^ 31)
    local p2 = 1
    while n and p2 < n do p2 = p2 * 2 end
    if n and p2 == n then return n end
    return nil, "a power of two"
  end,
  port = function(s) return whole(s, 1, 65535), "a port number from 1 to 65535" end,
  number = function(s)
    local n = tonumber(s)
    if n and n > 0 and n < huge then return n end
    return nil, "a positive number"
  end,
  ip4 = function(s)
    local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if a and tonumber(a) < 256 and tonumber(b) < 256 and tonumber(c) < 256 and tonumber(d) < 256 then return s end
    return nil, "an IPv4 address (a.b.c.d)"
  end,
  mac = function(s)
    if s:match("^%x%x[:-]%x%x[:-]%x%x[:-]%x%x[:-]%x%x[:-]%x%x$") then return s end
    return nil, "a MAC address (aa:bb:cc:dd:ee:ff)"
  end,
}
M.KINDS = {}
for k in pairs(KINDS) do M.KINDS[k] = true end

local parser_names = setmetatable({}, { __mode = "k" })

-- A parser for a tool: argparse's, named `name` (the command users type),
-- with -h/--help.  epilog: text after the options (exit statuses).  Stop
-- signals are held from here on, so a Ctrl-C while the tool starts up is
-- read at its first safe point too.
function M.parser(name, description, epilog)
  local want = base.bad_string(name)
  if want then error(base.argerror(WHAT, "parser: name", want, name), 2) end
  M.hold_signals()
  local p = argparse(name, description):help_max_width(80)
  if epilog then p:epilog(epilog) end
  parser_names[p] = name
  return p
end

-- Adds --name to parser p: help text, a kind (see KINDS) and a default
-- (given as a value; --help shows it).  Returns argparse's option, for more
-- settings (:argname("N"), :count(1) for a required option, ...).
function M.option(p, name, help, kind, default)
  local check = KINDS[kind]
  if not check then error(base.argerror(WHAT, "option: kind", base.bad_enum(kind, KINDS), kind), 2) end
  local o = p:option(name, help)
  local shown = name:match("^%-%-[%w-]+") or name
  o:convert(function(s)
    local v, wanted = check(s)
    if v == nil then return nil, ("option %s needs %s, got %q"):format(shown, wanted, s) end
    return v
  end)
  if default ~= nil then o:default(tostring(default)) end
  return o
end

-- The options of a tool on one interface: --dev IF (required), --queue N
-- (default 0), --duration S.
function M.dev_options(p)
  M.option(p, "--dev", "interface in the current network namespace", "string"):argname("IF"):count(1)
  M.option(p, "--queue", "queue id", "uint", 0):argname("N")
  M.option(p, "--duration", "stop after S seconds (default: run until stopped)", "number"):argname("S")
end

-- The options of the dev1/dev2 tools: both interfaces or neither (then a
-- throwaway namespace with a veth pair), and the queue.
function M.pair_options(p)
  M.option(p, "--dev1", "send from this existing interface (needs --dev2)", "string"):argname("IF")
  M.option(p, "--dev2", "receive on this existing interface (needs --dev1)", "string"):argname("IF")
  M.option(p, "--queue", "queue id on both devices", "uint", 0):argname("N")
end

-- A usage error is a table, so run can tell it from a failure; main and
-- check raise it for arguments argparse cannot judge alone.
function M.usage_error(fmt, ...)
  error({ usage = fmt:format(...) }, 0)
end

function M.check_pair(o)
  if (o.dev1 == nil) ~= (o.dev2 == nil) then M.usage_error("--dev1 and --dev2 go together") end
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

-- ---- the dev1/dev2 tools ----

-- Their two interfaces: --dev1/--dev2 as given, or else a throwaway network
-- namespace (named xskex<pid>-<n>) with a veth pair, which this thread then
-- enters; state.env is set so the caller's cleanup removes it.  setup: more
-- xsk.netns.setup options (mtu, ...).
function M.dev_pair(o, state, setup)
  local netns = require "xsk.netns"
  -- libxdp keeps its program state in bpffs; this mounts one privately.
  netns.private_bpffs()
  if o.dev1 then return o.dev1, o.dev2 end
  local cfg = { prefix = "xskex", enter = true }
  for k, v in pairs(setup or {}) do cfg[k] = v end
  state.env = netns.setup(cfg)
  return state.env.a, state.env.b
end

-- ---- live statistics ----

local live = setmetatable({}, { __mode = "k" })

-- xsk.stats.new(opts), whose live line run ends before printing an error.
function M.stats(opts)
  local ok, st = pcall(stats.new, opts)
  if not ok then error(st, 2) end
  live[st] = true
  return st
end

-- ---- top level ----

-- An error as users read it: no "file.lua:123: " of the Lua code that raised it.
local function message(e)
  if type(e) == "table" and e.usage then return e.usage end
  local s = tostring(e)
  return (s:gsub("^[^%s:]+:%d+: ", "", 1))
end
M.message = message

local function say(name, msg)
  for st in pairs(live) do st:end_line() end
  io.stdout:flush()
  if msg:sub(1, #name + 2) ~= name .. ": " then msg = name .. ": " .. msg end
  io.stderr:write(msg, "\n")
end

-- Parses arg with p, a parser from cli.parser (check(o), if given, may raise usage errors too, before
-- anything is set up), runs main(o) with stop signals held, calls cleanup
-- whatever happened, and exits: 0 on success, 1 on errors or when main
-- returns false (its second value is printed), 2 on bad arguments, 130 when
-- main raised cli.INTERRUPTED.  --help prints the help and exits 0.
function M.run(p, main, cleanup, check)
  if type(main) ~= "function" then error(base.argerror(WHAT, "run: main", "a function", main), 2) end
  M.hold_signals()
  local name = parser_names[p] or "error"
  local ok, o = p:pparse(arg or {})
  if not ok then
    say(name, o .. " (see --help)")
    os.exit(2)
  end
  if check then
    local checked, e = pcall(check, o)
    if not checked then
      local usage = type(e) == "table" and e.usage
      say(name, usage and usage .. " (see --help)" or message(e))
      os.exit(usage and 2 or 1)
    end
  end
  local ran, result, failure = pcall(main, o)
  local cleaned, cleanup_err = true, nil
  if cleanup then cleaned, cleanup_err = pcall(cleanup) end
  if not cleaned then say(name, "cleanup: " .. message(cleanup_err)) end
  if not ran then
    if type(result) == "table" and result.usage then
      say(name, result.usage .. " (see --help)")
      os.exit(2)
    end
    say(name, message(result))
    os.exit(result == M.INTERRUPTED and 130 or 1)
  end
  for st in pairs(live) do st:end_line() end
  io.stdout:flush()
  if result == false then
    if failure then say(name, message(failure)) end
    os.exit(1)
  end
  os.exit(cleaned and 0 or 1)
end

-- ---- answering in place ----

local ETH_P_IP = 0x0800
local ARP_REQUEST, ARP_REPLY = 1, 2

-- The loop of a host that answers in place: receive a burst, parse each
-- frame, answer ARP for our address and whatever answer(res) rewrites into
-- its reply, send the answers back out of the same socket without copying,
-- give the rest back to the pool.  Until a stop signal or the duration is up.
-- opts: sock, umem, mac (6 bytes), ip_bytes (4 bytes, network order),
-- answer(res) -> true when it rewrote the parsed frame, duration (seconds or
-- nil), res (a headers.result() to parse into).  Prints a live line for runs
-- longer than a second.  Returns the ARP replies and the other answers.
-- In a worker (xsk.workers): stop, a function that says when to end instead
-- of the stop signals (workers.stopping), and slot, an xsk.counters slot that
-- gets the counts instead of a live line.
function M.serve(opts)
  local headers = require "xsk.headers"
  local sock, umem, mac, ip_bytes, answer = opts.sock, opts.umem, opts.mac, opts.ip_bytes, opts.answer
  if type(answer) ~= "function" then error(base.argerror(WHAT, "serve: answer", "a function", answer), 2) end

  local rx, tx, drop = umem:batch(64), umem:batch(64), umem:batch(64)
  local res = opts.res or headers.result()
  local parse, now, stop_requested = headers.parse, M.now, opts.stop or M.stop_requested
  local slot = opts.slot
  local st = not slot and (opts.duration == nil or opts.duration > 1)
    and M.stats { rx = true, tx = true, sockets = { sock } }
  local deadline = opts.duration and now() + opts.duration or huge
  local arp_replies, answers = 0, 0

  -- ARP request for our address -> reply in place: the asker becomes the
  -- target, we become the sender.
  local function arp_reply()
    local arp = res.arp
    if arp:op() ~= ARP_REQUEST or arp:proto_type() ~= ETH_P_IP then return false end
    local tpa = arp.tpa
    if tpa[0] ~= ip_bytes[0] or tpa[1] ~= ip_bytes[1] or tpa[2] ~= ip_bytes[2] or tpa[3] ~= ip_bytes[3] then
      return false
    end
    local eth = res.eth
    copy(arp.tha, arp.sha, 6)
    copy(arp.tpa, arp.spa, 4)
    copy(arp.sha, mac, 6)
    copy(arp.spa, ip_bytes, 4)
    arp:set_op(ARP_REPLY)
    copy(eth.dst, eth.src, 6)
    copy(eth.src, mac, 6)
    return true
  end

  while true do
    local n = sock:recv(rx, 100)
    local bytes = 0
    for i = 0, n - 1 do
      local f = rx.f[i]
      bytes = bytes + f.len
      local answered = false
      if parse(f.data, f.len, res) then
        if res.arp ~= nil then
          answered = arp_reply()
          if answered then arp_replies = arp_replies + 1 end
        else
          answered = answer(res)
          if answered then answers = answers + 1 end
        end
      end
      if answered then tx:push(f) else drop:push(f) end
    end
    rx:clear()
    local out_n, out_bytes = tx.n, 0
    for i = 0, out_n - 1 do out_bytes = out_bytes + tx.f[i].len end
    -- forward sends the frames back out without copying; what the TX ring
    -- has no room for goes back to the pool, as a full NIC would drop it.
    if out_n > 0 then sock:forward(tx) end
    if drop.n > 0 then umem:release(drop) end
    local t = now()
    if st then
      st:add_rx(n, bytes)
      st:add_tx(out_n, out_bytes)
      st:tick(t)
    elseif slot and n > 0 then
      slot:rx(n, bytes)
      slot:tx(out_n, out_bytes)
    end
    if stop_requested() or t >= deadline then break end
  end
  sock:flush(1000)
  if st then st:summary() end
  return arp_replies, answers
end

return M
