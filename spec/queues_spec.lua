-- Workers on many queues: one worker per queue of a veth pair with 2 and 4
-- queues, each with its own socket, on a UMEM of its own or on a partition
-- of one shared UMEM.  Every frame sent must be received exactly once,
-- by the worker of the queue it was sent to, and when all stop no frame may
-- be left owned, and no thread, socket or XDP program left behind.
local patience = require "support.patience"
local paths = require "support.paths"
local xsk = require "xsk"
local queues = require "support.queues"

local workers = xsk.workers
local RECEIVE = "support.queue_worker:receive"
local PER_QUEUE = 500

-- Starts a receiver per queue (cfg(q) gives its extra arguments) and waits
-- until each is listening.
local function receivers(nq, cfg)
  local ready, ctr = workers.mailbox(nq), workers.counters(nq)
  local ws = {}
  for q = 0, nq - 1 do
    local c = cfg and cfg(q) or {}
    c.ifname, c.queue, c.ready, c.slot = "va", q, ready, ctr:slot(q + 1)
    ws[q + 1] = queues.start({ RECEIVE, name = "rx " .. q, cpu = q % 2 }, c)
  end
  for _ = 1, nq do assert(ready:recv(patience.wait(10)), "a receiver did not start") end
  return ws, ctr
end

-- Sends PER_QUEUE frames on every queue, in rounds, each round waiting
-- until the receivers counted it, so that no ring overflows.
local function send_all(env, nq, ctr)
  local s = queues.sender(env, nq)
  local sent = 0
  for round = 0, PER_QUEUE / 50 - 1 do
    for q = 0, nq - 1 do s.send(q, q * 1000000 + round * 50, 50) end
    sent = sent + 50 * nq
    assert(queues.wait_until(function() return ctr:total().rx_packets >= sent end, patience.wait(10)),
      ("received %d of %d"):format(ctr:total().rx_packets, sent))
  end
  s.close()
  return sent
end

-- Stops and joins the receivers; checks each got exactly its queue's frames.
local function check(ws, nq, ctr, sent)
  workers.stop()
  local results = workers.wait(ws, patience.wait(5))
  local total = 0
  for q = 0, nq - 1 do
    local r = results[q + 1][1]
    assert.equal(0, r.wrong_queue, "frames of another queue on queue " .. q)
    assert.equal(PER_QUEUE, #r.seqs, "queue " .. q .. " received")
    local seen = {}
    for _, seq in ipairs(r.seqs) do
      assert.is_nil(seen[seq], ("queue %d received %d twice"):format(q, seq))
      seen[seq] = true
    end
    for i = 0, PER_QUEUE - 1 do assert.is_true(seen[q * 1000000 + i], ("queue %d lost %d"):format(q, i)) end
    total = total + #r.seqs
  end
  assert.equal(sent, total)
  assert.equal(sent, ctr:total().rx_packets)
  for q = 0, nq - 1 do assert.equal(PER_QUEUE, ctr:read(q + 1).rx_packets) end
  workers.reset()
  return results
end

local function slurp(path)
  local f = io.open(path, "rb")
  local s = f and f:read("*a") or ""
  if f then f:close() end
  return s
end

-- The script of README.md's "Many cores" section, as written.
local function readme_script()
  local text = slurp("README.md")
  local code = text:match("\n## Many cores\n.-```lua\n(.-)\n```")
  assert(code, "README.md has no lua block under ## Many cores")
  return code .. "\n"
end

describe("workers on many queues", function()
  for _, nq in ipairs { 2, 4 } do
    it(("receive every frame once on %d queues, a UMEM per worker"):format(nq), function()
      local env = queues.setup { queues = nq }
      local threads, socks = queues.threads(), queues.xsk_sockets()
      local ws, ctr = receivers(nq)
      assert.equal(threads + nq, queues.threads())
      assert.equal(socks + nq, queues.xsk_sockets())
      assert.is_number(queues.xdp_on("va"))
      local results = check(ws, nq, ctr, send_all(env, nq, ctr))
      for q = 1, nq do assert.equal(results[q][1].frames, results[q][1].free) end
      -- Nothing left behind: threads, sockets, the XDP program.
      assert.equal(threads, queues.threads())
      assert.equal(socks, queues.xsk_sockets())
      assert.is_nil(queues.xdp_on("va"))
    end)

    it(("receive every frame once on %d queues, partitions of one shared UMEM"):format(nq), function()
      local env = queues.setup { queues = nq }
      local threads, socks = queues.threads(), queues.xsk_sockets()
      local umem = xsk.umem { frame_count = 4096, fill_size = 512, comp_size = 512 }
      local per = math.floor(4096 / (nq + 1))
      local ws, ctr = receivers(nq, function() return { umem = umem:share(per) } end)
      local parts = {}
      local results = check(ws, nq, ctr, send_all(env, nq, ctr))
      for q = 1, nq do
        local r = results[q][1]
        assert.is_nil(parts[r.part], "two workers on partition " .. r.part)
        parts[r.part] = true
      end
      -- Each worker's partition came back through the lost and found.
      assert.equal(per * nq, umem:reclaim())
      assert.equal(4096, umem:free_frames())
      for addr = 0, 4095 * 4096, 4096 * 97 do assert.equal("pool", umem:owner(addr)) end
      umem:close()
      assert.equal(threads, queues.threads())
      assert.equal(socks, queues.xsk_sockets())
      assert.is_nil(queues.xdp_on("va"))
    end)
  end

  it("spreads flows from the peer's kernel stack over 4 queues, each received once", function()
    local env = queues.setup { queues = 4 }
    local ws, ctr = receivers(4)
    local n = 200
    -- bash opens a new UDP socket (a new source port, a new flow) for each
    -- datagram, and the kernel picks each flow's TX queue by its hash.
    queues.peer(env, ("bash -c 'for i in $(seq 1 %d); do printf seq$i > /dev/udp/198.18.0.1/9; done'"):format(n))
    assert(queues.wait_until(function() return ctr:total().rx_packets >= n end, patience.wait(10)),
      ("received %d of %d"):format(ctr:total().rx_packets, n))
    workers.stop()
    local results = workers.wait(ws, patience.wait(5))
    local seen, busy = {}, 0
    for q = 0, 3 do
      local r = results[q + 1][1]
      if #r.seqs > 0 then busy = busy + 1 end
      for _, seq in ipairs(r.seqs) do
        assert.is_nil(seen[seq], "datagram " .. seq .. " received twice")
        seen[seq] = true
      end
    end
    for i = 1, n do assert.is_true(seen[i], "datagram " .. i .. " lost") end
    assert.equal(4, busy, "every queue should have carried some of 200 flows")
    workers.reset()
  end)

  it("runs README.md's many-cores script: a worker per queue, their lines, Ctrl-C ends it", function()
    local env = queues.setup { queues = 2 }
    local dir = io.popen("mktemp -d"):read("*l")
    queues.defer(function() os.execute("rm -rf " .. dir) end)
    local f = assert(io.open(dir .. "/many.lua", "w"))
    f:write(readme_script())
    f:close()
    -- luajit with this checkout's paths, as tools/xsk-luajit runs it (under
    -- make asan and tsan the luajit first on PATH preloads the sanitizer)
    local root = io.popen("pwd"):read("*l")
    local build = paths.build:sub(1, 1) == "/" and paths.build or (root .. "/" .. paths.build)
    local luajit = ("env LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' LUA_CPATH='%s/lua/?.so;;' luajit"):format(
      root, root, build)
    local job = { out = dir .. "/out", err = dir .. "/err", pid = dir .. "/pid", rc = dir .. "/rc" }
    os.execute(("(cd %s && { timeout -k 3 -s INT %d ip netns exec %s %s many.lua va 2 > %s 2> %s & echo $! > %s; "
      .. "wait $!; echo $? > %s; }) &"):format(dir, patience.wait(60), env.ns, luajit, job.out, job.err, job.pid,
      job.rc))
    queues.defer(function() if slurp(job.rc) == "" then os.execute("kill -INT " .. slurp(job.pid)) end end)
    assert(queues.wait_until(function() return queues.xdp_on("va") or slurp(job.rc) ~= "" end, patience.wait(20)),
      "the script bound no socket:\n" .. slurp(job.err))
    -- Until each worker's line shows packets of its queue (the second
    -- socket may bind a moment after the first).
    local s = queues.sender(env, 2)
    local seq = 0
    local function both_counted()
      local a = tonumber(slurp(job.out):match(".*worker 1%s+rx (%d+)"))
      local b = tonumber(slurp(job.out):match(".*worker 2%s+rx (%d+)"))
      return a and b and a > 0 and b > 0
    end
    assert(queues.wait_until(function()
      s.send(0, seq, 10); s.send(1, 1000000 + seq, 10); seq = seq + 10
      os.execute("sleep 0.3")
      return both_counted() or slurp(job.rc) ~= ""
    end, patience.wait(20)), "no per-worker lines with packets:\n" .. slurp(job.out) .. slurp(job.err))
    os.execute("kill -INT " .. slurp(job.pid))
    assert(queues.wait_until(function() return slurp(job.rc) ~= "" end, patience.wait(10)), "no end after Ctrl-C")
    local out, err = slurp(job.out), slurp(job.err)
    assert.equal(0, tonumber(slurp(job.rc)), out .. err)
    assert.equal("", err)
    local total = tonumber(out:match("total  received (%d+) packets"))
    assert.is_true(total >= 2, out)
    assert.matches("worker 1%s+rx %d+", out)
    assert.matches("worker 2%s+rx %d+", out)
    assert.is_nil(queues.xdp_on("va"))
  end)
end)
