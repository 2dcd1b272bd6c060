#!/usr/bin/env bash
# End to end, consent with an injected clock against a real collector:
# lifetime consent off (the default) over two simulated years: the collector
# receives no lifetime ping and the agent logs none. Consent given: pings
# start, the first marked first. Consent withdrawn while a ping is pending
# (collector unreachable): it is deleted at once, the withdrawal sends
# nothing, and nothing is sent afterwards. A policy default of on is
# overridden by the owner's off.
set -euo pipefail
# The owner's messages in English (messages.h picks French from the locale).
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
tmp=$(mktemp -d)
fail() { echo "agent_consent: FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/lib/collector.sh"
cleanup() { stop_collector; rm -rf "$tmp"; }
trap cleanup EXIT

COLLECTOR_TODAY=2031-12-31
start_collector 0
write_conf() { # collector URL, policy default for lifetime
  cat >"$tmp/agent.conf" <<EOF2
state_dir = $tmp/state
collector = $1
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
consent_lifetime = $2
timeout_ms = 2000
retry_base_ms = 60000
EOF2
}
write_conf "$url" off
at() { STS_AGENT_NOW=$(epoch "$1") "$bin/sts-agent" "${@:2}" --config "$tmp/agent.conf" \
         >>"$tmp/agent.log" 2>&1 || true; }

# Two years, a run every third day.
start=$(epoch '2027-01-01 10:00:00')
for i in $(seq 0 243); do
  STS_AGENT_NOW=$((start + i * 3 * 86400)) "$bin/sts-agent" run --once --config "$tmp/agent.conf" \
    >>"$tmp/agent.log" 2>&1 || fail "run --once failed: $(tail -3 "$tmp/agent.log")"
done
[ "$(sql 'SELECT count(*) FROM activation')" -eq 1 ] || fail "no activation"
[ "$(sql 'SELECT count(*) FROM lifetime_count')" -eq 0 ] || fail "lifetime pings without consent"
# Report ids of both kinds share one table (docs/at-rest.md): the activation's only.
[ "$(sql 'SELECT count(*) FROM report_id')" -eq 1 ] || fail "ping ids without consent"
"$bin/sts-agent" status --json --config "$tmp/agent.conf" >"$tmp/s.json"
[ "$(jq '[.log[] | select(.type == "lifetime")] | length' "$tmp/s.json")" -eq 0 ] \
  || fail "the agent logged lifetime activity without consent"
[ "$(jq '.effective_consent.lifetime' "$tmp/s.json")" = false ] || fail "effective consent not off"
grep -q 'lifetime: off (default' <("$bin/sts-agent" consent show --config "$tmp/agent.conf") \
  || fail "consent show does not say the default is off"

# The owner consents in March 2029: one ping in March, marked first.
at '2029-03-05 09:00:00' consent lifetime on
for d in $(seq 5 31); do at "2029-03-$d 12:00:00" run --once; done
at '2029-03-31 23:59:59' run --once
[ "$(pings 2029-03)" -eq 1 ] || fail "2029-03: $(pings 2029-03) pings after consent"
[ "$(sql "SELECT first FROM lifetime_count WHERE period=$(month_of 2029-03)")" -eq 1 ] \
  || fail "the first ping after consent is not marked first"

# April: offline; the ping is made and pending; the owner withdraws consent.
write_conf "http://127.0.0.1:9" off
for d in $(seq 1 30); do at "2029-04-$(printf %02d "$d") 12:00:00" run --once; done
# The month's moment may fall after the last noon: one run at the month's last second.
at '2029-04-30 23:59:59' run --once
"$bin/sts-agent" status --json --config "$tmp/agent.conf" >"$tmp/s.json"
[ "$(jq '.lifetime.pending | length' "$tmp/s.json")" -eq 1 ] || fail "no pending ping while offline"
before=$(sql 'SELECT count(*) FROM report_id')
at '2029-04-30 23:59:59' consent lifetime off
grep -q '1 monthly report(s) waiting to be sent deleted' "$tmp/agent.log" || fail "withdrawal does not say the ping was deleted"
"$bin/sts-agent" status --json --config "$tmp/agent.conf" >"$tmp/s.json"
[ "$(jq '.lifetime.pending | length' "$tmp/s.json")" -eq 0 ] || fail "a pending ping survived the withdrawal"
# Back online for a year: nothing more is sent.
write_conf "$url" off
for i in $(seq 0 122); do
  STS_AGENT_NOW=$(( $(epoch '2029-05-01 10:00:00') + i * 3 * 86400)) "$bin/sts-agent" run --once \
    --config "$tmp/agent.conf" >>"$tmp/agent.log" 2>&1 || true
done
[ "$(sql 'SELECT count(*) FROM report_id')" -eq "$before" ] || fail "pings were sent after the withdrawal"
[ "$(sql 'SELECT sum(count) FROM lifetime_count')" -eq 1 ] || fail "only the March ping should be counted"

# A maker's policy default of on: the owner's off still wins.
write_conf "$url" on
for i in $(seq 0 60); do
  STS_AGENT_NOW=$(( $(epoch '2030-06-01 10:00:00') + i * 86400)) "$bin/sts-agent" run --once \
    --config "$tmp/agent.conf" >>"$tmp/agent.log" 2>&1 || true
done
[ "$(sql 'SELECT sum(count) FROM lifetime_count')" -eq 1 ] || fail "the policy default beat the owner's off"
echo "agent_consent: ok"
