-- wrk script for bench/ingest.sh --ohttp: POSTs pre-generated Oblivious HTTP
-- requests (message/ohttp-req) to /v1/ohttp.
--
-- Sealing happens before the run (tests/interop/ohttp_client gen, one hex line
-- per request), so wrk's Lua spends no time on HPKE: each request is a distinct
-- 400-byte activation sealed to the collector's gateway key. Thread t of n
-- sends lines t, t+n, t+2n... and never repeats one: past the end of its share
-- it counts "exhausted" and sends nothing new (the script generates enough).
--
-- Arguments (after wrk's "--"), as key=value:
--   file=PATH        the hex lines
--   threads=N        wrk's thread count
--   mode=keepalive|close
--
-- The gateway answers every opened request with an outer 200 and the sealed
-- inner answer, which wrk cannot open; the requests are distinct and valid, so
-- an outer 200 is counted as s202 (the stored rows are the real check). done()
-- prints the STS-RESULT line of activation.lua.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local bodies, prefix_close
sent, s200, s202, s204, other, exhausted = 0, 0, 0, 0, 0, 0
codes = {}
first_error = ""

local function unhex(h)
   return (h:gsub("%x%x", function(c) return string.char(tonumber(c, 16)) end))
end

function init(args)
   local opt = { mode = "keepalive" }
   for _, a in ipairs(args) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if not k then error("ohttp.lua: argument not key=value: " .. a) end
      opt[k] = v
   end
   local n = tonumber(opt.threads or "1")
   bodies = {}
   local i = 0
   if not opt.file then error("ohttp.lua: file= is required") end
   for line in io.lines(opt.file) do
      if i % n == tid then table.insert(bodies, unhex(line)) end
      i = i + 1
   end
   local headers = { ["Content-Type"] = "message/ohttp-req" }
   if opt.mode == "close" then headers["Connection"] = "close" end
   wrk.method = "POST"
   wrk.path = "/v1/ohttp"
   wrk.headers = headers
   prefix_close = headers
end

function request()
   sent = sent + 1
   local body = bodies[sent]
   if not body then
      exhausted = exhausted + 1
      body = bodies[#bodies]
   end
   return wrk.format("POST", "/v1/ohttp", prefix_close, body)
end

function response(status, headers, body)
   if status == 200 then
      s202 = s202 + 1
   else
      other = other + 1
      codes[status] = (codes[status] or 0) + 1
      if first_error == "" then first_error = tostring(status) .. " " .. (body or "") end
   end
end

function done(summary, latency, requests)
   local n = { sent = 0, s200 = 0, s202 = 0, s204 = 0, other = 0, exhausted = 0 }
   local allcodes, why = {}, ""
   for _, t in ipairs(threads) do
      for k in pairs(n) do n[k] = n[k] + t:get(k) end
      for code, c in pairs(t:get("codes")) do allcodes[code] = (allcodes[code] or 0) + c end
      if why == "" then why = t:get("first_error") end
   end
   local list = {}
   for code, c in pairs(allcodes) do table.insert(list, string.format("%d:%d", code, c)) end
   table.sort(list)
   local e = summary.errors
   io.write(string.format(
      "STS-RESULT requests=%d duration_us=%d sent=%d s202=%d s200=%d s204=%d"
         .. " other=%d codes=%s connect=%d read=%d write=%d status=%d timeout=%d"
         .. " p50_us=%d p99_us=%d exhausted=%d\n",
      summary.requests, summary.duration, n.sent, n.s202, n.s200, n.s204,
      n.other, #list > 0 and table.concat(list, ",") or "-",
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), n.exhausted))
   if why ~= "" then io.write("STS-FIRST-ERROR ", (why:gsub("[\r\n]+", " ")), "\n") end
end
