-- wrk script: POST /payments with a fresh correlationId per request (a counter in the last UUID
-- group, under a per-run random prefix so a rerun does not send ids already accepted).
--   wrk -t1 -c64 -d15s --latency -s bench/http-servers/post-payment.lua http://127.0.0.1:PORT
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local prefix = math.random(0, 0x7fffffff)
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  thread:set("thread_prefix", math.random(0, 0xffff))
end

request = function()
  counter = counter + 1
  local id = string.format("%08x-%04x-4000-8000-%012x", prefix, thread_prefix or 0, counter)
  return wrk.format("POST", "/payments", headers, '{"correlationId":"' .. id .. '","amount":19.90}')
end
