-- wrk script of benches/ingest.rs: POSTs the same signed pull_request body under a fresh
-- X-GitHub-Delivery id each request, and prints one machine-readable summary line.
--
--   wrk -t2 -c32 -d15s -s deliver.lua URL -- BODY_FILE SIGNATURE PREFIX
--
-- Delivery ids are PREFIX-<thread>-<n>, so the benchmark can count in the database the
-- deliveries of one run.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local prefix
local sent = 0

function init(args)
  local file = assert(io.open(args[1], "rb"), "cannot read the body file " .. tostring(args[1]))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "pull_request"
  wrk.headers["X-Hub-Signature-256"] = args[2]
  prefix = args[3] .. "-" .. thread_number .. "-"
end

function request()
  sent = sent + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. sent
  return wrk.format()
end

-- requests, duration in µs, non-2xx/3xx answers, socket errors, then latency in µs:
-- p50, p90, p99, max.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("FQ-SUMMARY %d %d %d %d %d %d %d %d\n",
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
