-- wrk script for the HTTP ingest benchmark (bench/http.ts): POSTs one fixed JSON body, each request
-- with its own Idempotency-Key (as the SDK and CLI send), so every request is a first attempt.
--   BENCH_BODY   file holding the request body ({"events":[…]} or one event)
--   BENCH_TOKEN  API key sent as `Authorization: Bearer …`
-- Example: BENCH_BODY=single.json BENCH_TOKEN=… wrk -t1 -c64 -d10s --latency -s post-keyed.lua \
--            http://127.0.0.1:7070/v1/logs/bench/events
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local headers = { ["Content-Type"] = "application/json" }
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end
-- Unique across runs against one server (warm-up and measured run are separate wrk processes).
math.randomseed(os.time())
local prefix = string.format("bench-%d-%d-", os.time(), math.random(1, 2147483647))
local counter = 0

request = function()
  counter = counter + 1
  headers["Idempotency-Key"] = prefix .. counter
  return wrk.format("POST", nil, headers, body)
end
