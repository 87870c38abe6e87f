-- What the process and the host hold, for specs that promise to give it
-- back: memory mappings, file descriptors, address space, huge pages; and a
-- lock for specs that change host-wide settings (vm.nr_hugepages), so that
-- two runs of the suite on one host take turns.
local ffi = require "ffi"

ffi.cdef [[
int lxsk_spec_open(const char *path, int flags, int mode) __asm__("open");
int lxsk_spec_close(int fd) __asm__("close");
int lxsk_spec_flock(int fd, int op) __asm__("flock");
/* glibc's struct dirent on 64-bit Linux */
struct lxsk_spec_dirent { uint64_t d_ino; int64_t d_off; uint16_t d_reclen; uint8_t d_type; char d_name[256]; };
void *lxsk_spec_opendir(const char *path) __asm__("opendir");
struct lxsk_spec_dirent *lxsk_spec_readdir(void *dir) __asm__("readdir");
int lxsk_spec_closedir(void *dir) __asm__("closedir");
long lxsk_spec_readlink(const char *path, char *buf, size_t size) __asm__("readlink");
]]

local M = {}

local function count_lines(path)
  local f = assert(io.open(path))
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end

-- Mappings in /proc/self/maps, and those of sockets among them (an AF_XDP
-- socket's rings: "socket:[inode]").  Only the second is exact from one
-- moment to the next: the allocators map, unmap and merge anonymous memory
-- as they like.
function M.maps_count() return count_lines("/proc/self/maps") end

function M.socket_maps_count()
  local f = assert(io.open("/proc/self/maps"))
  local n = 0
  for line in f:lines() do
    if line:find("socket:[", 1, true) then n = n + 1 end
  end
  f:close()
  return n
end

-- Open file descriptors by what they are ("socket", "pipe",
-- "anon_inode:bpf-map", a path ...), and their count, the directory read to
-- list them included.  Read in this process: a listing by a child (popen)
-- would catch the pipe to it half made.
local link = ffi.new("char[4096]")
function M.fds()
  local dir = ffi.C.lxsk_spec_opendir("/proc/self/fd")
  assert(dir ~= nil, "cannot list /proc/self/fd")
  local kinds, n = {}, 0
  while true do
    local e = ffi.C.lxsk_spec_readdir(dir)
    if e == nil then break end
    local name = ffi.string(e.d_name)
    if name ~= "." and name ~= ".." then
      local len = ffi.C.lxsk_spec_readlink("/proc/self/fd/" .. name, link, 4096)
      local kind = len > 0 and ffi.string(link, len):gsub(":%[%d+%]$", "") or "?"
      kinds[kind] = (kinds[kind] or 0) + 1
      n = n + 1
    end
  end
  ffi.C.lxsk_spec_closedir(dir)
  return kinds, n
end

function M.fd_count() return select(2, M.fds()) end

-- A "Name:   123 kB" field of a /proc file, in KiB (or a plain count).
local function field(path, name)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  local v = text:match("\n" .. name .. ":%s*(%d+)") or text:match("^" .. name .. ":%s*(%d+)")
  return assert(tonumber(v), ("no %s in %s"):format(name, path))
end

function M.vm_size_kib() return field("/proc/self/status", "VmSize") end

-- Under valgrind the tool's own memory (its translations of every piece of
-- code the JIT makes) lives in this address space, so VmSize says nothing
-- about ours there.
function M.under_valgrind()
  for line in io.lines("/proc/self/maps") do
    if line:find("vgpreload", 1, true) then return true end
  end
  return false
end
function M.hugepages_free() return field("/proc/meminfo", "HugePages_Free") end

function M.read_number(path)
  local f = assert(io.open(path))
  local n = tonumber(f:read("*l"))
  f:close()
  return n
end

function M.write_number(path, n)
  local f = assert(io.open(path, "w"))
  f:write(tostring(n), "\n")
  f:close()
end

-- Everything a spec compares before and after.
function M.snapshot()
  local kinds, n = M.fds()
  return { maps = M.maps_count(), ring_maps = M.socket_maps_count(), fds = n, fd_kinds = kinds,
    vm_kib = M.vm_size_kib() }
end

-- How many more descriptors of each kind `after` holds than `before`, as
-- "kind +n" words (empty: none more, none fewer).
function M.fd_growth(before, after)
  local out, seen = {}, {}
  for _, t in ipairs { before.fd_kinds, after.fd_kinds } do
    for kind in pairs(t) do
      if not seen[kind] then
        seen[kind] = true
        local d = (after.fd_kinds[kind] or 0) - (before.fd_kinds[kind] or 0)
        if d ~= 0 then out[#out + 1] = ("%s %+d"):format(kind, d) end
      end
    end
  end
  table.sort(out)
  return table.concat(out, ", ")
end

-- Waits for the host-wide lock at path; returns the function that frees it.
function M.lock(path)
  local O_RDWR, O_CREAT, LOCK_EX, LOCK_UN = 2, 64, 2, 8
  local fd = ffi.C.lxsk_spec_open(path, O_RDWR + O_CREAT, 420)
  assert(fd >= 0, "cannot open the lock " .. path)
  assert(ffi.C.lxsk_spec_flock(fd, LOCK_EX) == 0, "cannot take the lock " .. path)
  return function()
    ffi.C.lxsk_spec_flock(fd, LOCK_UN)
    ffi.C.lxsk_spec_close(fd)
  end
end

return M
