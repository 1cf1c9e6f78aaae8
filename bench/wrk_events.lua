-- wrk script of bench_webhooks.py: sends pre-signed, unique Stripe events.
--
-- $WRK_EVENTS names a file with one event a line: "<Stripe-Signature>\t<body>",
-- and $WRK_THREADS is wrk's --threads. Each thread takes every n-th line, so
-- no event is sent twice (wrk checks the script by asking for one request
-- first: that event is never sent); a thread that runs out of events stops (the caller
-- checks that none did). At the end one JSON line on stdout gives the counts
-- and the latency percentiles (µs).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local id, count = wrk.thread:get("id"), tonumber(os.getenv("WRK_THREADS"))
  requests, sent = {}, 0
  local n = 0
  for line in io.lines(os.getenv("WRK_EVENTS")) do
    if n % count == id then
      local signature, body = line:match("^([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["Stripe-Signature"] = signature,
      }, body)
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  if sent > #requests then
    wrk.thread:set("ran_out", true)
    wrk.thread:stop()
    sent = #requests
  end
  return requests[sent]
end

function done(summary, latency, _)
  local ran_out = false
  for _, thread in ipairs(threads) do
    ran_out = ran_out or thread:get("ran_out") == true
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"timeouts": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "ran_out": %s}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max,
    tostring(ran_out)))
end
