-- wrk script: POST /scim/v2/Users with a fresh userName per request (the body of loadgen's
-- `create`). `wrk … -s loadgen/wrk-create.lua -- TOKEN`; prints one summary line that
-- loadgen/bench.sh reads: WRK_CREATE rps=… p50_ms=… p99_ms=… non2xx=… errors=…
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  token = args[1] or ""
  prefix = string.format("wrk-%d-%d-%d-", os.time(), math.random(1, 1000000000), tid)
  n = 0
end

function request()
  n = n + 1
  local name = prefix .. n .. "@example.com"
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Load","familyName":"Generator"},"emails":[{"primary":true,"value":"' ..
    name .. '","type":"work"}],"title":"Tester","externalId":"ext-' .. name .. '","active":true}'
  return wrk.format("POST", "/scim/v2/Users",
    { ["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. token }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_CREATE rps=%.0f p50_ms=%.1f p99_ms=%.1f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
