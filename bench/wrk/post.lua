-- wrk script for the HTTP ingest benchmark (bench/http.ts): POSTs one fixed JSON body.
--   BENCH_BODY   file holding the request body ({"events":[…]} or one event)
--   BENCH_TOKEN  API key sent as `Authorization: Bearer …` (omit for the floor server)
-- Example: BENCH_BODY=batch.json BENCH_TOKEN=… wrk -t1 -c16 -d10s --latency -s post.lua \
--            http://127.0.0.1:7070/v1/logs/bench/events
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
