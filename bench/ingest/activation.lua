-- wrk script for bench/ingest.sh: POSTs activation reports to /v1/reports.
--
-- Every request carries a distinct, Luhn-valid IMEI and a distinct report_id, so
-- that the collector stores one row per accepted request (no dedup, no
-- duplicate answers). The body is a real v1 activation, pretty-printed and
-- padded with JSON whitespace to BODY_LEN bytes: no extra keys, which the
-- collector would refuse.
--
-- Arguments (after wrk's "--"), as key=value:
--   day=YYYY-MM-DD   activation day (today UTC: the collector refuses the future)
--   mode=keepalive   one connection carries many reports (default)
--   mode=close       "Connection: close": a new connection per report, as devices do
--   nonce=HEX8       8 hex digits that start every report_id of this run
--   dump=PATH        write what is sent to PATH.<thread>.ids (imei, report_id,
--                    length per line) and the first bodies to PATH.<thread>.<n>.json
--   dumpn=N          bodies written as files per thread with dump= (default 5)
--   tbase=N          added to the thread number in IMEIs and report_ids (default
--                    0), so that several wrk instances run at once send distinct
--                    reports: give each its first thread number
--
-- At the end, done() prints one line that bench/ingest.sh parses:
--   STS-RESULT key=value ...
-- with the answers counted by status, wrk's errors and the latency percentiles
-- in microseconds.

local BODY_LEN = 400

-- Main state: setup() numbers the threads and keeps them for done().
local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

-- Thread state from here to done().
local prefix, template, close, nonce
local dump, dumpn, dumpids
sent, s200, s202, s204, other = 0, 0, 0, 0, 0
codes = {}          -- status -> count, for the answers that are not 200/202/204
first_error = ""    -- body of the first such answer, to say why

-- Luhn check digit of a string of 14 digits (IMEI without its last digit).
-- Digits are doubled from the rightmost one of the 14, leftwards.
local function luhn_digit(s)
   local sum = 0
   local double = true
   for i = #s, 1, -1 do
      local d = s:byte(i) - 48
      if double then
         d = d * 2
         if d > 9 then d = d - 9 end
      end
      sum = sum + d
      double = not double
   end
   return (10 - sum % 10) % 10
end

function init(args)
   local opt = { mode = "keepalive", dumpn = "5", tbase = "0" }
   for _, a in ipairs(args) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if not k then error("activation.lua: argument not key=value: " .. a) end
      opt[k] = v
   end
   if not (opt.day and opt.day:match("^%d%d%d%d%-%d%d%-%d%d$")) then
      error("activation.lua: day=YYYY-MM-DD is required")
   end
   if opt.mode ~= "keepalive" and opt.mode ~= "close" then
      error("activation.lua: mode must be keepalive or close")
   end
   nonce = tonumber(opt.nonce or "0", 16) or 0
   close = opt.mode == "close"
   local tbase = tonumber(opt.tbase)
   if not tbase or tbase < 0 or tbase % 1 ~= 0 then
      error("activation.lua: tbase must be a count >= 0")
   end
   -- Only the numbering changes: done() still finds the threads by position.
   tid = tid + tbase
   if tid > 99 then error("activation.lua: at most 100 threads") end

   -- Pretty-printed, then padded with spaces before the closing brace. Every
   -- variable field has a fixed length, so every body has the same length.
   local t = '{\n  "v": 1,\n  "type": "activation",\n'
      .. '  "report_id": "%s",\n  "imei": "%s",\n'
      .. '  "brand": "acme-eu",\n  "model": "K400",\n  "sw": "K400-V12",\n'
      .. '  "country": "FR",\n  "day": "' .. opt.day .. '"'
   local len = #t - 4 + 32 + 15 + 2
   if len > BODY_LEN then error("activation.lua: body longer than BODY_LEN") end
   template = t .. string.rep(" ", BODY_LEN - len) .. "\n}"

   local headers = { ["Content-Type"] = "application/json" }
   if close then headers["Connection"] = "close" end
   -- The request line and headers (Host, Content-Length included) are the same
   -- for every report: format them once, with a stand-in body, and append the
   -- real body to them on each request.
   local r = wrk.format("POST", "/v1/reports", headers, string.rep(" ", BODY_LEN))
   prefix = r:sub(1, #r - BODY_LEN)

   if opt.dump then
      dump = opt.dump .. "." .. tid
      dumpn = tonumber(opt.dumpn)
      dumpids = assert(io.open(dump .. ".ids", "w"))
      -- Line-buffered: wrk never closes a thread's state, so nothing may wait
      -- in a buffer at exit.
      dumpids:setvbuf("line")
   end
end

function request()
   sent = sent + 1
   -- IMEI: "35" (a GSMA reporting body), the thread on 2 digits, the counter
   -- on 10 digits, the Luhn digit.
   local body14 = string.format("35%02d%010d", tid, sent)
   local imei = body14 .. luhn_digit(body14)
   local rid = string.format("%08x%08x%08x%08x", nonce, tid,
                             math.floor(sent / 4294967296), sent % 4294967296)
   local body = string.format(template, rid, imei)
   if dump then
      dumpids:write(imei, " ", rid, " ", #body, "\n")
      if sent <= dumpn then
         local f = assert(io.open(dump .. "." .. sent .. ".json", "w"))
         f:write(body)
         f:close()
      end
   end
   return prefix .. body
end

function response(status, headers, body)
   if status == 202 then
      s202 = s202 + 1
   elseif status == 200 then
      s200 = s200 + 1
   elseif status == 204 then
      s204 = s204 + 1
   else
      other = other + 1
      codes[status] = (codes[status] or 0) + 1
      if first_error == "" then
         first_error = tostring(status) .. " " .. (body or "")
      end
   end
end

-- Main state again.
function done(summary, latency, requests)
   local n = { sent = 0, s200 = 0, s202 = 0, s204 = 0, other = 0 }
   local allcodes, why = {}, ""
   for _, t in ipairs(threads) do
      for k in pairs(n) do n[k] = n[k] + t:get(k) end
      for code, c in pairs(t:get("codes")) do
         allcodes[code] = (allcodes[code] or 0) + c
      end
      if why == "" then why = t:get("first_error") end
   end
   local list = {}
   for code, c in pairs(allcodes) do
      table.insert(list, string.format("%d:%d", code, c))
   end
   table.sort(list)
   local e = summary.errors
   io.write(string.format(
      "STS-RESULT requests=%d duration_us=%d sent=%d s202=%d s200=%d s204=%d"
         .. " other=%d codes=%s connect=%d read=%d write=%d status=%d timeout=%d"
         .. " p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, n.sent, n.s202, n.s200, n.s204,
      n.other, #list > 0 and table.concat(list, ",") or "-",
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99)))
   if why ~= "" then
      -- One line, so the shell can show it as it is.
      io.write("STS-FIRST-ERROR ", (why:gsub("[\r\n]+", " ")), "\n")
   end
end
