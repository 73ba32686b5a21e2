-- wrk script: one 20-feature prediction event per request, with a unique id each time.
-- Usage: wrk -s bench/load/event.lua http://HOST/v1/models/bench/predictions
-- RATE (requests per second for the whole run, across connections) and CONNECTIONS are optional
-- environment variables; with RATE set, each connection waits between requests to approach that rate.
-- PAUSE_MS, if set, is the wait itself, in whole milliseconds.
-- NUMERIC (default 16) of the 20 features are numbers, the rest categories.

local numeric = tonumber(os.getenv("NUMERIC") or "16")

local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local rate = tonumber(os.getenv("RATE") or "0")
  local conns = tonumber(os.getenv("CONNECTIONS") or "0")
  local pause_ms = tonumber(os.getenv("PAUSE_MS") or "0")
  if pause_ms > 0 then
    -- A fixed pause before each request of a connection (bench/load/soak.sh calibrates it).
    pause = pause_ms
  elseif rate > 0 and conns > 0 then
    -- Each connection sends one request per `pause` ms: conns / pause * 1000 = rate. wrk takes whole
    -- milliseconds and the response time adds to the pause, so the rate reached is lower.
    pause = conns * 1000 / rate
  end
end

function delay()
  return pause or 0
end

local function feature_list(k)
  local parts = {}
  for i = 0, numeric - 1 do
    parts[#parts + 1] = string.format('"n%d":%d.%03d', i, (k * 7 + i) % 1000, (k * 13 + i * 7) % 1000)
  end
  for i = 0, 19 - numeric do
    parts[#parts + 1] = string.format('"c%d":"v%d"', i, (k + i) % 50)
  end
  return table.concat(parts, ",")
end

function request()
  counter = counter + 1
  local k = counter * 64 + thread_id
  local body = string.format('{"id":"t%d-%d","features":{%s},"score":0.%03d,"latency_ms":4.2,"label":%d}',
    thread_id, counter, feature_list(k), k % 1000, k % 2)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d p50_us=%d p99_us=%d rps=%.1f\n",
    summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99),
    summary.requests / (summary.duration / 1e6)))
end
