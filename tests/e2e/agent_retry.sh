#!/usr/bin/env bash
# End to end: the agent daemon starts while the collector is down, keeps
# retrying while the collector is started, killed with SIGKILL and restarted
# on the same port and database several times; in the end the collector holds
# exactly one activation and `sts-agent status` says sent. Then a lost
# acknowledgement is simulated (the state says pending again): the re-send is
# a duplicate and still counts once.
set -euo pipefail
# The owner's messages in English (messages.h picks French from the locale).
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
collector_pid=""
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
  [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "agent_retry: FAIL: $*" >&2; exit 1; }

"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null

# start_collector PORT: starts it on 127.0.0.1:PORT (0 = any), waits (bounded)
# for its "listening" line and sets collector_pid and url.
start_collector() {
  local port=$1 log="$tmp/collector.log" tries
  for tries in 1 2 3 4 5; do
    : >"$log"
    "$bin/sts-collector" serve --listen "127.0.0.1:$port" --db "sqlite:$tmp/sts.db" \
      --key "$tmp/key" --token-file "$tmp/token" 2>"$log" &
    collector_pid=$!
    for _ in $(seq 100); do
      url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" || true)
      [ -n "$url" ] && return 0
      kill -0 "$collector_pid" 2>/dev/null || break
      sleep 0.05
    done
    # Not up (the port may still be held a moment after SIGKILL): try again.
    kill -9 "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
    collector_pid=""
    sleep 0.2
  done
  cat "$log" >&2
  fail "the collector did not start on port $port"
}

kill9_collector() {
  kill -9 "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  collector_pid=""
}

# Learn a free port, then leave it free for now.
start_collector 0
port=${url##*:}
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""

cat >"$tmp/agent.conf" <<EOF
# e2e agent
state_dir = $tmp/state
collector = http://127.0.0.1:$port
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
country = FR
consent_country = on
timeout_ms = 2000
retry_base_ms = 50
retry_cap_ms = 300
EOF

"$bin/sts-agent" run --config "$tmp/agent.conf" 2>"$tmp/agent.log" &
agent_pid=$!

# The collector is down: the agent retries, the activation stays pending.
# (Polled, bounded: under a loaded machine the first fsync of the state can
# take a while.)
for _ in $(seq 100); do
  grep -q 'attempt [0-9]* failed' "$tmp/agent.log" && break
  sleep 0.1
done
kill -0 "$agent_pid" 2>/dev/null || { cat "$tmp/agent.log" >&2; fail "the agent exited while the collector was down"; }
"$bin/sts-agent" status --config "$tmp/agent.conf" | grep -q '^  Waiting to be sent: [0-9]* attempt' \
  || { "$bin/sts-agent" status --config "$tmp/agent.conf" >&2; cat "$tmp/agent.log" >&2; fail "the activation is not pending while the collector is down"; }
grep -q 'attempt [0-9]* failed' "$tmp/agent.log" || fail "no failed attempt logged"

# Up and down a few times, killed hard each time.
for cycle in 1 2 3 4; do
  start_collector "$port"
  sleep "0.0$cycle"
  kill9_collector
  sleep 0.3
done
start_collector "$port"

# The agent exits 0 by itself once the activation is acknowledged.
for _ in $(seq 300); do
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$agent_pid" 2>/dev/null; then
  cat "$tmp/agent.log" >&2
  fail "the agent did not finish within 30 s"
fi
rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ "$rc" -eq 0 ] || { cat "$tmp/agent.log" >&2; fail "the agent exited with $rc"; }

status=$("$bin/sts-agent" status --config "$tmp/agent.conf")
echo "$status" | grep -q '^  Delivered on .* to the statistics server' || { echo "$status" >&2; fail "status does not say sent"; }
echo "$status" | grep -q 'HTTP 20[02]' || fail "status shows no acknowledgement"
attempts=$("$bin/sts-agent" status --json --config "$tmp/agent.conf" | jq '.activation.attempts')
[ "$attempts" -ge 2 ] || fail "expected several attempts, got $attempts"

count() { sqlite3 "$tmp/sts.db" "SELECT count(*) FROM $1"; }
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
[ "$(count activation)" -eq 1 ] || fail "activation rows: $(count activation), expected 1"
[ "$(count reactivation)" -eq 0 ] || fail "reactivation rows: $(count reactivation), expected 0"

# A lost acknowledgement: the state says pending again; the re-send under the
# same report_id is a duplicate and nothing more is counted.
start_collector "$port"
report_id=$("$bin/sts-agent" status --json --config "$tmp/agent.conf" | sed -n 's/^    "report_id": "\([0-9a-f]*\)",/\1/p')
[ ${#report_id} -eq 32 ] || fail "no report_id in status --json"
sed -i 's/"status": "sent"/"status": "pending"/' "$tmp/state/state.json"
"$bin/sts-agent" run --once --config "$tmp/agent.conf" 2>"$tmp/once.log" \
  || { cat "$tmp/once.log" >&2; fail "run --once after a lost acknowledgement failed"; }
grep -q "activation $report_id: HTTP 200" "$tmp/once.log" || { cat "$tmp/once.log" >&2; fail "the re-send was not a duplicate"; }
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
[ "$(count activation)" -eq 1 ] || fail "activation rows after the re-send: $(count activation)"
[ "$(count reactivation)" -eq 0 ] || fail "reactivation rows after the re-send: $(count reactivation)"

# Nothing left to do: --once is a no-op.
"$bin/sts-agent" run --once --config "$tmp/agent.conf" 2>/dev/null || fail "run --once with nothing to do"
tail -3 "$tmp/agent.log"
echo "agent_retry: ok ($attempts attempts, one activation)"
