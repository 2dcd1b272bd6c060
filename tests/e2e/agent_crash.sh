#!/usr/bin/env bash
# End to end, crash safety: 20 devices (state directories) run `sts-agent run`
# against a collector on 127.0.0.1, and each run is killed with SIGKILL at a
# random moment (0-25 ms after start), 200 times in all, the injected clock
# moving on a few days at each round so that lifetime pings are drawn, made
# and sent as well. Every 20th run starts from a state file truncated at a
# random byte. After each kill the state must be valid (`status --json`
# parses). In the end: exactly one sale per device (re-sent activations are
# duplicates or re-activations, never new sales), every ping counted once, and
# no device has two pings for one month.
set -euo pipefail

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
agent_pid=""
fail() { echo "agent_crash: FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/lib/collector.sh"
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
  stop_collector
  rm -rf "$tmp"
}
trap cleanup EXIT

devices=20
kills=${STS_CRASH_KILLS:-200}
COLLECTOR_TODAY=2031-12-31
start_collector 0

# A Luhn-valid IMEI for device n.
imei() {
  local body sum=0 i d
  body=$(printf '35209900%06d' "$1")
  for i in $(seq 0 13); do
    d=${body:$((13 - i)):1}
    if [ $((i % 2)) -eq 0 ]; then d=$((d * 2)); [ $d -gt 9 ] && d=$((d - 9)); fi
    sum=$((sum + d))
  done
  echo "$body$(((10 - sum % 10) % 10))"
}
for n in $(seq 1 $devices); do
  cat >"$tmp/agent$n.conf" <<EOF2
state_dir = $tmp/state$n
collector = $url
imei = $(imei "$n")
brand = acme-eu
model = K400
sw = K400-V12
consent_lifetime = on
timeout_ms = 2000
retry_base_ms = 1
retry_cap_ms = 1
EOF2
done

start=$(epoch '2027-01-01 00:00:00')
deadline=$((SECONDS + 170))
corrupted=0
for i in $(seq 0 $((kills - 1))); do
  [ $SECONDS -lt $deadline ] || fail "ran out of time after $i kills"
  n=$((i % devices + 1)); round=$((i / devices))
  conf="$tmp/agent$n.conf"; state="$tmp/state$n/state.json"
  if [ $((i % 20)) -eq 19 ] && [ -s "$state" ]; then
    size=$(stat -c %s "$state")
    head -c $((RANDOM % size)) "$state" >"$tmp/cut" && cp "$tmp/cut" "$state"
    corrupted=$((corrupted + 1))
  else
    rm -f "$tmp/cut"
  fi
  STS_AGENT_NOW=$((start + round * 9 * 86400 + n * 3600)) "$bin/sts-agent" run --config "$conf" \
    >>"$tmp/agent$n.log" 2>&1 &
  agent_pid=$!
  sleep "0.0$(printf %02d $((RANDOM % 25)))"
  kill -9 "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
  if ! "$bin/sts-agent" status --json --config "$conf" >"$tmp/status.json" 2>"$tmp/status.err"; then
    # Allowed only when killed before it got to the file damaged here: then
    # one more run must recover it.
    [ -e "$tmp/cut" ] && cmp -s "$tmp/cut" "$state" || { cat "$tmp/status.err" >&2; fail "kill $i: status failed"; }
    STS_AGENT_NOW=$((start + round * 9 * 86400 + n * 3600)) "$bin/sts-agent" run --once \
      --config "$conf" >>"$tmp/agent$n.log" 2>&1 || true
    "$bin/sts-agent" status --json --config "$conf" >"$tmp/status.json" 2>"$tmp/status.err" \
      || { cat "$tmp/status.err" >&2; fail "kill $i: no recovery from a damaged state"; }
  fi
  jq -e '.format == 2' "$tmp/status.json" >/dev/null || fail "kill $i: status --json does not parse"
done

# Let every device finish what is pending, at the last time of the loop.
last=$((start + (kills / devices) * 9 * 86400))
for n in $(seq 1 $devices); do
  STS_AGENT_NOW=$((last + n * 3600)) "$bin/sts-agent" run --once --config "$tmp/agent$n.conf" \
    >>"$tmp/agent$n.log" 2>&1 || true
done

sales=$(sql 'SELECT coalesce(sum(activations),0) FROM sales_day')
[ "$sales" -eq $devices ] || fail "$sales sales counted for $devices devices"
[ "$(sql 'SELECT count(*) FROM activation')" -eq $devices ] || fail "activation rows: $(sql 'SELECT count(*) FROM activation')"
grep -q 'was corrupt' "$tmp"/agent*.log || [ $corrupted -eq 0 ] || fail "no recovery message after truncation"
# Every ping id once in the counters. Report ids of both kinds share one table
# (docs/at-rest.md): a ping's is kept 7 days from the collector's today (its
# month closed long ago), an activation's 30.
ping_ids="SELECT count(*) FROM report_id WHERE expires < CAST(julianday('$COLLECTOR_TODAY') - 2440587.5 AS INTEGER) + 30"
[ "$(sql 'SELECT coalesce(sum(count),0) FROM lifetime_count')" -eq "$(sql "$ping_ids")" ] \
  || fail "a ping was counted twice"
over=$(sql "SELECT count(*) FROM (SELECT period, sum(count) c FROM lifetime_count GROUP BY period) WHERE c > $devices")
[ "$over" -eq 0 ] || fail "a month has more pings than devices"
for n in $(seq 1 $devices); do
  "$bin/sts-agent" status --json --config "$tmp/agent$n.conf" >"$tmp/status.json"
  dup=$(jq '[.log[] | select(.type == "lifetime" and (.outcome == "accepted" or .outcome == "duplicate"))
            | .payload | fromjson] | group_by(.period) | map([.[].report_id] | unique | length) | max // 0' "$tmp/status.json")
  [ "$dup" -le 1 ] || fail "device $n sent two pings for one month"
done
pings=$(sql 'SELECT coalesce(sum(count),0) FROM lifetime_count')
react=$(sql 'SELECT count(*) FROM reactivation')
echo "agent_crash: ok ($kills kills, $corrupted truncated states, $devices sales, $react re-activations, $pings pings, ${SECONDS}s)"
