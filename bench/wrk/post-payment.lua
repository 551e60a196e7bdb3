-- wrk script: POST /payments with a distinct correlationId per request (thread id + counter).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(wrk.thread:get("thread_id")) or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local id = string.format("%08x-0000-4000-8000-%012x", thread_id + math.random(0, 0xfffffff) * 16, counter)
  return wrk.format(nil, "/payments", nil, '{"correlationId":"' .. id .. '","amount":19.90}')
end
