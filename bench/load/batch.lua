-- wrk script: NDJSON batches of BATCH (default 1000) 20-feature prediction events per request.
-- Ids are left out so every event is labelled inline and no pending map grows during long runs.

local batch_size = tonumber(os.getenv("BATCH") or "1000")
-- NUMERIC (default 16) of the 20 features are numbers, the rest categories.
local numeric = tonumber(os.getenv("NUMERIC") or "16")
local body = nil

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-ndjson"
  local lines = {}
  for k = 1, batch_size do
    local parts = {}
    for i = 0, numeric - 1 do
      parts[#parts + 1] = string.format('"n%d":%d.%03d', i, (k * 7 + i) % 1000, (k * 13 + i * 7) % 1000)
    end
    for i = 0, 19 - numeric do
      parts[#parts + 1] = string.format('"c%d":"v%d"', i, (k + i) % 50)
    end
    lines[#lines + 1] = string.format('{"features":{%s},"score":0.%03d,"latency_ms":4.2,"label":%d}',
      table.concat(parts, ","), k % 1000, k % 2)
  end
  body = table.concat(lines, "\n") .. "\n"
  wrk.body = body
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d p50_us=%d p99_us=%d rps=%.1f events_per_s=%.0f\n",
    summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99),
    summary.requests / (summary.duration / 1e6), summary.requests * batch_size / (summary.duration / 1e6)))
end
