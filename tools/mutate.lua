-- make mutate: does a spec fail when the code it guards breaks?  Applies each
-- mutation of tools/mutations.lua alone to a scratch copy of this checkout,
-- builds it, runs only the specs that mutation names, and reports whether
-- they caught it (a spec failed) or it survived (they all passed).
--
--   sudo luajit tools/mutate.lua [WORD ...]     (make mutate MUTATIONS="WORD ...")
--
-- WORDs pick the mutations whose names contain one of them; none: all.
-- The scratch copy (mktemp -d) holds the checkout's tracked and untracked,
-- not ignored, files as they are in the work tree; the checkout itself is
-- only read.  A mutation's original text must occur exactly once in its
-- file, or nothing runs: a mutation the code has moved away from must be
-- rewritten, never skipped.  The specs first run once on the unchanged
-- copy, since a spec that fails there would "catch" every mutation.
--
-- Logs: build/mutate/ in the checkout.  MUTATE_KEEP=1 keeps the scratch copy;
-- MUTATE_LIST=file reads another list (a one-off proof of a new spec);
-- MUTATE_TIMEOUT (600) bounds each spec run, in seconds.
-- Exit status 0 when every mutation was caught, 1 when one survived or did
-- not build, 2 when the run could not start.
local LIST = os.getenv("MUTATE_LIST") or "tools/mutations.lua"
local mutations = dofile(LIST)

local KEEP = os.getenv("MUTATE_KEEP") == "1"

local function die(msg)
  io.stderr:write("mutate: ", msg, "\n")
  os.exit(2)
end

-- Runs a shell command; returns whether it exited 0, and its output.
local function sh(cmd)
  local p = io.popen("{ " .. cmd .. "\n} 2>&1; echo \"__status=$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)%s*$")
  return tonumber(status) == 0, body or out
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function count_plain(s, sub)
  local n, at = 0, 1
  while true do
    local i = s:find(sub, at, true)
    if not i then return n end
    n, at = n + 1, i + 1
  end
end

local function now()
  local ok, out = sh("date +%s.%N")
  return ok and tonumber(out) or os.time()
end

-- ---- which mutations, and are they still true to the code? ----

local picked = {}
for _, m in ipairs(mutations) do
  local want = #arg == 0
  for _, w in ipairs(arg) do want = want or m.name:find(w, 1, true) ~= nil end
  if want then picked[#picked + 1] = m end
end
if #picked == 0 then die("no mutation's name contains " .. table.concat(arg, " or ")) end

local problems = {}
for _, m in ipairs(picked) do
  local src = read(m.file)
  if not src then
    problems[#problems + 1] = ("%s: no file %s"):format(m.name, m.file)
  else
    local n = count_plain(src, m.from)
    if n ~= 1 then
      problems[#problems + 1] = ("%s: its original text occurs %d times in %s (must be once):\n%s")
        :format(m.name, n, m.file, m.from)
    end
  end
  if m.from == m.to then problems[#problems + 1] = m.name .. ": changes nothing" end
  if type(m.specs) ~= "table" or #m.specs == 0 then problems[#problems + 1] = m.name .. ": names no spec" end
  for _, s in ipairs(m.specs or {}) do
    if not read(s) then problems[#problems + 1] = ("%s: no spec file %s"):format(m.name, s) end
  end
end
if #problems > 0 then die(LIST .. " is out of date:\n  " .. table.concat(problems, "\n  ")) end

-- ---- a scratch copy, built ----

local ok, out = sh("mktemp -d /tmp/lua-xsk-mutate.XXXXXX")
if not ok then die("mktemp failed: " .. out) end
local scratch = out:match("^%s*(.-)%s*$")
-- Specs that drop privileges run code from the copy: let them read it.
sh("chmod 755 " .. quote(scratch))
local logs = assert(io.popen("pwd")):read("*l") .. "/build/mutate"
sh("rm -rf " .. logs .. " && mkdir -p " .. logs)

local function cleanup()
  if KEEP then
    io.stdout:write("mutate: the scratch copy stays in ", scratch, "\n")
  else
    sh("rm -rf " .. quote(scratch))
  end
end

ok, out = sh("git ls-files -z --cached --others --exclude-standard | "
  .. "tar --null --ignore-failed-read -T - -cf - | tar -xf - -C " .. quote(scratch))
if not ok then cleanup(); die("copying the checkout failed:\n" .. out) end

-- Environment of every build and spec run: the copy's own build.
local ENV = "cd " .. quote(scratch) .. " && env -u LXSK_BUILD "

local function build(log)
  local built, text = sh(ENV .. "make all bench-bin")
  write(log, text)
  return built
end

io.stdout:write(("mutate: %d mutations, scratch copy %s, logs in %s/\n"):format(#picked, scratch, logs))
if not build(logs .. "/build.log") then
  cleanup()
  die("the unchanged copy does not build: see " .. logs .. "/build.log")
end

-- Every spec file named, in the order first named.
local all_specs, seen = {}, {}
for _, m in ipairs(picked) do
  for _, s in ipairs(m.specs) do
    if not seen[s] then seen[s], all_specs[#all_specs + 1] = true, s end
  end
end

-- Runs the specs in a session of their own, killed after TIMEOUT seconds
-- (a mutation can make a spec wait forever: that counts as caught); the
-- namespaces the killed processes made (named with their pids) go too.
local TIMEOUT = tonumber(os.getenv("MUTATE_TIMEOUT")) or 600
local RUNNER = scratch .. "/.mutate-run.sh"
write(RUNNER, [[
limit=$1; log=$2; shift 2
setsid "$@" > "$log" 2>&1 &
pid=$!
end=$(( $(date +%s) + limit ))
while kill -0 "$pid" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$end" ]; then
		pids=$(ps -o pid= -s "$pid")
		kill -KILL -- "-$pid" 2>/dev/null
		sleep 1
		for p in $pids; do
			for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^[a-z]*$p-[0-9]+p?$"); do
				ip netns del "$ns"
			done
		done
		echo "mutate: killed after $limit s" >> "$log"
		exit 124
	fi
	sleep 1
done
wait "$pid"
]])

local function run_specs(specs, log)
  local passed = sh(ENV .. "bash .mutate-run.sh " .. TIMEOUT .. " " .. quote(log) .. " ./spec/run "
    .. table.concat(specs, " "))
  return passed, read(log) or ""
end

-- The first failing spec of a run, as busted names it.
local function first_failure(text)
  local kind, where, name = text:match("\n(%a+) %-> (%S+ @ %d+)\n([^\n]*)")
  if not kind then return text:match("([^\n]*)\n[^\n]*\n?$") or "?" end
  return ("%s: %s"):format(where, name)
end

local t0 = now()
local base_ok, base_text = run_specs(all_specs, logs .. "/baseline.log")
if not base_ok then
  cleanup()
  die(("the specs fail without any mutation (%s); see %s/baseline.log"):format(first_failure(base_text), logs))
end
io.stdout:write(("mutate: baseline %s (%.0f s)\n"):format(base_text:match("([^\n]*)\n?$"), now() - t0))

-- ---- one mutation at a time ----

local results = {}
for i, m in ipairs(picked) do
  local path = scratch .. "/" .. m.file
  local original = read(path)
  local at = original:find(m.from, 1, true)
  write(path, original:sub(1, at - 1) .. m.to .. original:sub(at + #m.from))
  local log = ("%s/%02d.log"):format(logs, i)
  local t = now()
  local result, detail
  if not build(log) then
    result, detail = "NO BUILD", "the mutated copy does not build: " .. log
  else
    local passed, text = run_specs(m.specs, log)
    if passed then
      result, detail = "SURVIVED", table.concat(m.specs, " ") .. " all pass: " .. log
    else
      result, detail = "caught", first_failure(text)
    end
  end
  write(path, original)
  results[i] = { m = m, result = result, detail = detail }
  io.stdout:write(("mutate: %2d/%d %-8s %s (%.0f s)\n        %s\n"):format(i, #picked, result, m.name,
    now() - t, detail))
end

-- Restored sources with newer times than their objects: rebuild, so a kept
-- copy is what the checkout is.
if KEEP then build(logs .. "/rebuild.log") end
cleanup()

local caught = 0
for _, r in ipairs(results) do
  if r.result == "caught" then caught = caught + 1 end
end
io.stdout:write(("\nmutate: %d of %d mutations caught (%.0f s)\n"):format(caught, #results, now() - t0))
for _, r in ipairs(results) do
  io.stdout:write(("  %-8s %s\n"):format(r.result, r.m.name))
  if r.result ~= "caught" and r.m.note then io.stdout:write("           ", r.m.note, "\n") end
end
os.exit(caught == #results and 0 or 1)
