-- Shared helpers for specs that need a veth pair: each test builds its own
-- namespace, enters it, and always removes it (busted's `finally`), even when
-- the test fails.
local ffi = require "ffi"
local netns = require "xsk.netns"
local now = require("xsk.stats").now

-- libxdp wants bpffs; mount one in a private mount namespace, once.
netns.private_bpffs()

local M = { netns = netns }

-- busted keeps one `finally` per test (a second replaces the first), so one
-- cleanup runs what the test deferred, then removes every namespace it made.
local made, deferred = {}, {}
local function cleanup()
  for i = #deferred, 1, -1 do
    local fn = deferred[i]
    deferred[i] = nil
    pcall(fn)
  end
  for i = #made, 1, -1 do made[i].destroy(); made[i] = nil end
end

-- Runs fn when the test ends, passed or failed, before its namespaces go.
-- Specs use this instead of `finally`, which would replace net.veth's.
function M.defer(fn)
  deferred[#deferred + 1] = fn
  getfenv(2).finally(cleanup)
end

-- Builds a namespace with a veth pair (see xsk.netns.setup for opts), enters
-- it, and schedules its removal.  Must be called inside an `it` block.
function M.veth(opts)
  local env = netns.setup(opts)
  made[#made + 1] = env
  -- busted gives `finally` to the spec file's environment, not to modules.
  getfenv(2).finally(cleanup)
  if not (opts and opts.enter == false) then netns.enter(env) end
  return env
end

-- A broadcast Ethernet frame with an experimental EtherType the kernel
-- ignores, carrying `payload`.
function M.frame(payload)
  return ("\255\255\255\255\255\255\2\0\0\0\0\1\136\181") .. payload
end

-- Writes frame bytes into the frames of batch b (one string per frame).
function M.fill_batch(b, strings)
  for i, s in ipairs(strings) do b.f[i - 1]:set(s) end
end

function M.strings_of(b)
  local out = {}
  for i = 0, b.n - 1 do out[#out + 1] = b.f[i]:bytes() end
  return out
end

-- Receives until `want` frames arrived or `ms` passed; returns the strings.
-- The deadline is on the monotonic clock: os.clock() is CPU time, which a
-- receiver waiting in poll hardly uses, so it would wait almost forever.
function M.receive(sock, umem, want, ms)
  local b = umem:batch(want)
  local deadline = now() + (ms or 2000) / 1000
  local got = {}
  while #got < want and now() < deadline do
    local n = sock:recv(b, 50)
    if n > 0 then
      for _, s in ipairs(M.strings_of(b)) do got[#got + 1] = s end
      umem:release(b)
    end
  end
  return got
end

function M.nr_hugepages()
  local f = io.open("/proc/sys/vm/nr_hugepages")
  local n = f and tonumber(f:read("*l")) or 0
  if f then f:close() end
  return n
end

M.ffi = ffi
return M
