-- wrk script for the HTTP proof benchmark (bench/http.ts): GETs inclusion proofs of random entries.
--   BENCH_LOG        log name
--   BENCH_TREE_SIZE  a signed tree size of that log; indices are uniform in [0, size)
--   BENCH_TOKEN      optional API key (proofs are public reads by default)
-- Example: BENCH_LOG=bench BENCH_TREE_SIZE=1000000 wrk -t1 -c32 -d10s --latency -s inclusion.lua \
--            http://127.0.0.1:7070
local size = assert(tonumber(os.getenv("BENCH_TREE_SIZE")), "BENCH_TREE_SIZE is required")
local path = "/v1/logs/" .. assert(os.getenv("BENCH_LOG"), "BENCH_LOG is required") .. "/proofs/inclusion"
local token = os.getenv("BENCH_TOKEN")
local headers = {}
if token ~= nil and token ~= "" then
  headers["Authorization"] = "Bearer " .. token
end
math.randomseed(6962)

request = function()
  local index = math.random(0, size - 1)
  return wrk.format("GET", path .. "?index=" .. index .. "&tree_size=" .. size, headers)
end
