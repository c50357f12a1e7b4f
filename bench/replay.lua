-- replay.lua: send a fixed list of pre-built requests exactly once, and record
-- every answer next to the request it belongs to.  Used by bench/flash_crowd.py:
--
--   wrk -t C -c C -d 300s --timeout 60s -s bench/replay.lua URL -- REQUESTS OUTDIR C SINK
--
-- REQUESTS has one request per line:  index TAB method TAB path TAB signature TAB body
-- (signature: the X-Twilio-Signature, or empty; body: a urlencoded form, or empty).
-- Thread t (0-based) sends the lines whose index % C == t, in file order, and
-- writes OUTDIR/thread-t.tsv, one line per request:
--   index TAB status TAB latency_us TAB queue TAB body
-- (status 0 = no answer: the connection broke; queue = the number the reply
-- announced, or "-"; body = the reply with tabs and newlines made spaces),
-- and a last line "#done TAB first_us TAB last_us TAB answered" when its slice
-- is through; then the thread stops.  done() prints one line
-- "FLASH_CROWD_JSON {...}" with the figures of the whole run.
--
-- Matching answers to requests: wrk's response(status, headers, body) says
-- nothing about which connection or request it belongs to, and a thread's
-- connections answer in any order.  But one connection never has more than
-- one request in flight (no pipelining: request() returns one request, so
-- wrk's pipeline depth is 1), and wrk calls request() for a connection only
-- after that connection's previous request was answered or abandoned.  So the
-- benchmark runs ONE connection per thread (-t C -c C): then each thread has
-- at most one request in flight, and the next response() is its answer.
-- Exact, without echoing anything.  When a connection breaks (a killed
-- worker), wrk reconnects and calls request() again without a response():
-- the request still in flight at that point got no answer, and is recorded
-- with status 0.
--
-- The wrk details this relies on (wrk 4.x, src/wrk.c and src/script.c):
-- * After creating thread 0, wrk calls request() once in thread 0's Lua state,
--   from the main OS thread, only to count the requests it returns (its
--   pipeline depth).  That call is told apart by pthread_self() and answered
--   with a request that is never sent.
-- * wrk reconnects as soon as a connection closes, and gunicorn's sync workers
--   close after every answer.  A thread that stopped after its last answer
--   would leave a fresh, silent connection behind, and a sync worker that
--   accepts it waits for a request that never comes (with 2 workers, two such
--   connections stall the server).  So before stopping, a thread points its
--   address at SINK, a port flash_crowd.py holds open and never accepts on.
-- * wrk runs init() for thread after thread in its main thread, and starts
--   each thread as soon as its init() is through: thread 0 would be sending
--   while the main thread still reads the request file for the others (about
--   a second for 64 threads, on the same cores as the server).  So a thread's
--   first request() waits until the last thread's result file exists (it is
--   opened at the end of that thread's init()): the crowd starts all at once.
-- * wrk's own latency histogram drops answers slower than --timeout and is
--   "corrected" for coordinated omission using a run time that includes the
--   wait until flash_crowd.py interrupts wrk; so latencies and the run time
--   are measured here, with CLOCK_MONOTONIC through LuaJIT's FFI, per request.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } fc_timespec;
int clock_gettime(int clk_id, fc_timespec *tp);
unsigned long pthread_self(void);
int usleep(unsigned int usec);
]])

local CLOCK_MONOTONIC = 1
local timespec = ffi.new("fc_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

-- ---------------------------------------------------------------- main state
-- setup() and done() run in the main Lua state; the threads' states are
-- separate and only reachable through thread:get/set.

local threads = {}

function setup(thread)
  thread:set("fc_id", #threads)
  threads[#threads + 1] = thread
end

-- Nearest-rank percentile of a sorted list of numbers.
local function percentile(sorted, p)
  if #sorted == 0 then
    return 0
  end
  local rank = math.ceil(p / 100 * #sorted)
  if rank < 1 then
    rank = 1
  end
  return sorted[rank]
end

function done(summary, latency, requests)
  local first, last, answered = nil, nil, 0
  local latencies, non2xx = {}, 0
  for _, thread in ipairs(threads) do
    local f, l = thread:get("fc_first_us"), thread:get("fc_last_us")
    if f and (first == nil or f < first) then
      first = f
    end
    if l and (last == nil or l > last) then
      last = l
    end
    answered = answered + (thread:get("fc_answered") or 0)
    non2xx = non2xx + (thread:get("fc_non2xx") or 0)
    for _, v in ipairs(thread:get("fc_latencies") or {}) do
      latencies[#latencies + 1] = v
    end
  end
  table.sort(latencies)
  local duration = (first and last and last > first) and (last - first) / 1e6 or 0
  local e = summary.errors
  io.write(string.format(
    "FLASH_CROWD_JSON {\"requests\":%d,\"sent\":%d,\"duration_s\":%.3f,\"req_per_s\":%.1f,"
      .. "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,\"non2xx\":%d,"
      .. "\"wrk_non2xx\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d,"
      .. "\"wrk_requests\":%d,\"wrk_p50_ms\":%.1f,\"wrk_p90_ms\":%.1f,\"wrk_p99_ms\":%.1f}\n",
    #latencies, answered, duration, duration > 0 and #latencies / duration or 0,
    percentile(latencies, 50) / 1000, percentile(latencies, 90) / 1000,
    percentile(latencies, 99) / 1000, percentile(latencies, 100) / 1000, non2xx,
    e.status, e.connect, e.read, e.write, e.timeout, summary.requests,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000
  ))
end

-- -------------------------------------------------------------- thread state

local slice = nil -- this thread's requests: { {index, raw request}, ... }
local cursor = 0 -- how many of them were handed to wrk
local inflight = nil -- index of the request on the wire, or nil
local inflight_start = 0
local out = nil -- this thread's result file
local main_thread = nil -- pthread_self() of the OS thread that ran init()
local idle = nil -- harmless: answers wrk's counting call, and the call after the slice
local finished = false
local sink = nil -- where a finished thread's last reconnect goes (see the header)
local last_file = nil -- the last thread's result file: all threads are ready once it exists
local started = false

fc_first_us, fc_last_us, fc_answered, fc_non2xx = nil, nil, 0, 0
fc_latencies = {}

function init(args)
  local requests_file, out_dir, nthreads = args[1], args[2], tonumber(args[3])
  assert(requests_file and out_dir and nthreads and args[4],
    "usage: wrk ... -s replay.lua URL -- REQUESTS OUTDIR THREADS SINK")
  sink = wrk.lookup("127.0.0.1", args[4])[1]
  last_file = out_dir .. "/thread-" .. (nthreads - 1) .. ".tsv"
  main_thread = ffi.C.pthread_self()
  idle = wrk.format("GET", "/healthz")
  slice = {}
  for line in io.lines(requests_file) do
    local index = tonumber(line:match("^(%d+)\t"))
    if index and index % nthreads == fc_id then
      local _, method, path, signature, body =
        line:match("^(%d+)\t(%u+)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {}
      if signature ~= "" then
        headers["X-Twilio-Signature"] = signature
      end
      if method == "POST" then
        headers["Content-Type"] = "application/x-www-form-urlencoded"
      end
      slice[#slice + 1] = { index, wrk.format(method, path, headers, body ~= "" and body or nil) }
    end
  end
  out = assert(io.open(out_dir .. "/thread-" .. fc_id .. ".tsv", "w"))
  -- Line-buffered: flash_crowd.py follows the files while the run goes on.
  out:setvbuf("line")
end

local function record(index, status, latency, queue, body)
  out:write(index, "\t", status, "\t", latency, "\t", queue, "\t", body, "\n")
  fc_answered = fc_answered + 1
end

local function finish()
  if finished then
    return
  end
  finished = true
  out:write("#done\t", fc_first_us or "-", "\t", fc_last_us or "-", "\t", fc_answered, "\n")
  out:close()
  wrk.thread.addr = sink
  wrk.thread:stop()
end

function request()
  -- wrk's one-off call that counts the requests per call (see the header), or
  -- the main state, which never sends anything.
  if slice == nil or ffi.C.pthread_self() == main_thread then
    return idle or wrk.format("GET", "/healthz")
  end
  if not started then
    -- The starting line: wait for every thread's init() (see the header).
    local f = io.open(last_file, "r")
    while f == nil do
      ffi.C.usleep(1000)
      f = io.open(last_file, "r")
    end
    f:close()
    started = true
  end
  local now = now_us()
  if inflight ~= nil then
    -- The connection broke before an answer came, and wrk reconnected.
    record(inflight, 0, now - inflight_start, "-", "")
    fc_last_us = now
    inflight = nil
  end
  if cursor >= #slice then
    -- Nothing left (the last request went unanswered, or the slice is empty):
    -- stop. wrk still writes this one harmless request; it is never recorded.
    finish()
    return idle
  end
  cursor = cursor + 1
  inflight, inflight_start = slice[cursor][1], now
  if fc_first_us == nil then
    fc_first_us = now
  end
  return slice[cursor][2]
end

function response(status, headers, body)
  if inflight == nil then
    return -- the answer to an idle request after the slice: not part of the run
  end
  local now = now_us()
  local latency = now - inflight_start
  -- The number a reply announces: "Antrean PMK-007", "antrean PMK-007".
  local queue = body:match("[Aa]ntrean (%u[%u%d]*%-%d+)") or "-"
  record(inflight, status, latency, queue, (body:gsub("[\t\r\n]", " ")))
  fc_latencies[#fc_latencies + 1] = latency
  if status < 200 or status > 299 then
    fc_non2xx = fc_non2xx + 1
  end
  fc_last_us = now
  inflight = nil
  if cursor >= #slice then
    finish()
  end
end
