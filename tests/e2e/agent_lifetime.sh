#!/usr/bin/env bash
# End to end, lifetime pings with an injected clock (STS_AGENT_NOW) against a
# real collector on 127.0.0.1: one ping per calendar month, made at a random
# moment; a month where the clock goes backwards gets no second ping; a year
# jump makes one ping, for the month it lands in; three months offline: the
# pings whose grace window (7 days) closed are dropped, the last one is sent
# late with its own month; the first ping says first=true, later ones false.
# Also the collector side: a lifetime ping carrying an imei or an unknown
# field is rejected with 400 and counts nothing.
set -euo pipefail

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
fail() { echo "agent_lifetime: FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/lib/collector.sh"
cleanup() { stop_collector; rm -rf "$tmp"; }
trap cleanup EXIT

# The collector accepts periods up to its today: put it far enough ahead.
COLLECTOR_TODAY=2031-12-31
start_collector 0
port=${url##*:}

write_conf() { # collector URL
  cat >"$tmp/agent.conf" <<EOF2
state_dir = $tmp/state
collector = $1
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
country = FR
consent_country = on
consent_lifetime = on
timeout_ms = 2000
retry_base_ms = 60000
retry_cap_ms = 3600000
EOF2
}
write_conf "$url"

# at 'YYYY-MM-DD HH:MM:SS': one `run --once` at that time.
at() { STS_AGENT_NOW=$(epoch "$1") "$bin/sts-agent" run --once --config "$tmp/agent.conf" \
         >>"$tmp/agent.log" 2>&1 || true; }
# days FROM N: one run at noon on each of N days from FROM, and one at the last
# day's last second (a month's drawn moment may fall after its last noon).
days() {
  local d
  for d in $(seq 0 $(($2 - 1))); do at "$(date -u -d "$1 + $d day" '+%F') 12:00:00"; done
  at "$(date -u -d "$1 + $(($2 - 1)) day" '+%F') 23:59:59"
}

# January 2027: activation on the 1st, then every day.
at '2027-01-01 00:00:01'
[ "$(sql 'SELECT count(*) FROM activation')" -eq 1 ] || fail "no activation"
days 2027-01-01 31
[ "$(pings 2027-01)" -eq 1 ] || fail "2027-01: $(pings 2027-01) pings, expected 1"
[ "$(sql "SELECT count FROM lifetime_count WHERE period=$(month_of 2027-01) AND first=1")" = 1 ] \
  || fail "the first ping is not marked first"
[ "$(sql "SELECT cohort FROM lifetime_count WHERE period=$(month_of 2027-01)")" -eq "$(month_of 2027-01)" ] \
  || fail "wrong cohort"

# February, with the clock going backwards twice inside the month.
days 2027-02-01 28
days 2027-02-10 5
days 2027-02-01 28
[ "$(pings 2027-02)" -eq 1 ] || fail "2027-02 with the clock going back: $(pings 2027-02) pings"
[ "$(sql "SELECT coalesce(sum(count),0) FROM lifetime_count WHERE period=$(month_of 2027-02) AND first=1")" -eq 0 ] \
  || fail "a second ping was marked first"
# Back into January: already done, nothing more.
days 2027-01-15 3
[ "$(pings 2027-01)" -eq 1 ] || fail "going back into January made another ping"

# A year jump: one ping for March 2028, none for the months skipped.
days 2028-03-01 31
[ "$(pings 2028-03)" -eq 1 ] || fail "2028-03 after a year jump: $(pings 2028-03) pings"
skipped=$(sql "SELECT coalesce(sum(count),0) FROM lifetime_count WHERE period > $(month_of 2027-02) AND period < $(month_of 2028-03)")
[ "$skipped" -eq 0 ] || fail "$skipped pings for months the device never ran in"

# Offline from April to June 2028 (nothing listens on port 9), back on July 3.
write_conf "http://127.0.0.1:9"
days 2028-04-01 91
pending=$(STS_AGENT_NOW=$(epoch '2028-06-30 23:00:00') "$bin/sts-agent" status --json --config "$tmp/agent.conf" | jq '.lifetime.pending | length')
[ "$pending" -ge 1 ] || fail "no ping pending while offline"
write_conf "$url"
at '2028-07-03 08:00:00'
for m in 2028-04 2028-05; do
  [ "$(pings $m)" -eq 0 ] || fail "$m: a ping sent after its grace window"
done
[ "$(pings 2028-06)" -eq 1 ] || fail "2028-06: the late ping within the grace window was not sent"
days 2028-07-03 29
[ "$(pings 2028-07)" -eq 1 ] || fail "2028-07: $(pings 2028-07) pings"
"$bin/sts-agent" status --config "$tmp/agent.conf" >"$tmp/status"
grep -q 'not sent within the grace window: dropped' "$tmp/status" || fail "status does not show the dropped pings"

# Exactly one activation, and pings for exactly the months expected.
[ "$(sql 'SELECT count(*) FROM activation')" -eq 1 ] || fail "activations: $(sql 'SELECT count(*) FROM activation')"
[ "$(sql 'SELECT count(*) FROM reactivation')" -eq 0 ] || fail "a re-activation was counted"
total=$(sql 'SELECT sum(count) FROM lifetime_count')
[ "$total" -eq 5 ] || fail "$total pings in all, expected 5 (2027-01, 2027-02, 2028-03, 2028-06, 2028-07)"
# No device identifier reaches the lifetime tables.
sqlite3 "$tmp/sts.db" .dump | grep -i 'lifetime_count' | grep -q 352099001761481 && fail "an imei in the lifetime counters"

# The collector refuses a lifetime ping with an imei or an unknown field.
ping='"v":1,"type":"lifetime","report_id":"fedcba9876543210fedcba9876543299","brand":"acme-eu","model":"K400","sw":"K400-V13","cohort":"2027-01","period":"2027-03","first":false'
post() { curl -s -o "$tmp/answer" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "$url/v1/reports"; }
[ "$(post "{$ping,\"imei\":\"352099001761481\"}")" = 400 ] || fail "a lifetime ping with an imei was not refused"
grep -q '"field":"imei"' "$tmp/answer" || fail "the refusal does not name the imei: $(cat "$tmp/answer")"
[ "$(post "{$ping,\"serial\":\"R58M123\"}")" = 400 ] || fail "a lifetime ping with an unknown field was not refused"
[ "$(post "{$ping,\"pseudonym\":\"abc\"}")" = 400 ] || fail "a lifetime ping with a pseudonym was not refused"
[ "$(pings 2027-03)" -eq 0 ] || fail "a refused ping was counted"
[ "$(post "{$ping}")" = 202 ] || fail "a valid lifetime ping was not accepted"
[ "$(post "{$ping}")" = 200 ] || fail "a repeated lifetime ping was not a duplicate"
[ "$(pings 2027-03)" -eq 1 ] || fail "a repeated ping counted twice"
echo "agent_lifetime: ok"
