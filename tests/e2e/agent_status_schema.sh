#!/usr/bin/env bash
# `sts-agent status --json` is the interface a settings screen reads
# (docs/agent.md): its output, in every state a device goes through, must
# validate against docs/agent-status.schema.json — fresh, blocked on a fact,
# pending after failed attempts, sent, with a lifetime ping pending,
# through an Oblivious HTTP relay. A document that breaks the schema is
# refused too, so the check can fail.
set -euo pipefail
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
src=${STS_SRC:?STS_SRC must point at the source directory}
tmp=$(mktemp -d)
cleanup() {
  [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "agent_status_schema: FAIL: $*" >&2; exit 1; }
. "$src/tests/e2e/lib/collector.sh"
schema="$src/docs/agent-status.schema.json"
n=0

validate() { # validate NAME CONF
  n=$((n + 1))
  STS_AGENT_NOW=${NOW:-} "$bin/sts-agent" status --json --config "$2" >"$tmp/s$n.json" \
    || fail "$1: status --json failed"
  python3 "$src/tests/e2e/lib/schema_check.py" "$schema" "$tmp/s$n.json" >"$tmp/v$n" \
    || { cat "$tmp/v$n" >&2; fail "$1: status --json breaks the schema"; }
}
conf() { # conf FILE COLLECTOR [EXTRA LINE...]
  local f=$1 c=$2
  shift 2
  { printf 'state_dir = %s/state\ncollector = %s\n' "$tmp" "$c"
    printf 'imei = 352099001761481\nbrand = acme-eu\nmodel = K400\nsw = K400-V12\n'
    printf 'country = FR\nconsent_country = on\nconsent_lifetime = on\n'
    for l in "$@"; do printf '%s\n' "$l"; done; } >"$f"
}

conf "$tmp/down.conf" http://127.0.0.1:9
validate fresh "$tmp/down.conf"
conf "$tmp/bad.conf" http://127.0.0.1:9
sed -i 's/^imei = .*/imei = 352099001761482/' "$tmp/bad.conf"
"$bin/sts-agent" run --once --config "$tmp/bad.conf" 2>/dev/null || true
validate "blocked on a fact" "$tmp/bad.conf"
for _ in 1 2 3; do "$bin/sts-agent" run --once --config "$tmp/down.conf" 2>/dev/null || true; done
validate pending "$tmp/down.conf"
conf "$tmp/relay.conf" https://stats.example.com 'transport = ohttp' 'relay = https://relay.example/gateway'
validate "through a relay" "$tmp/relay.conf"
jq -e '.destination.relay == "https://relay.example/gateway" and .destination.transport == "ohttp"' \
  "$tmp/s$n.json" >/dev/null || fail "status --json does not name the relay"
"$bin/sts-agent" status --config "$tmp/relay.conf" \
  | grep -q '^Reports go through the relay https://relay.example/gateway, .* to the statistics server https://stats.example.com' \
  || fail "status does not name the relay"

start_collector 0
conf "$tmp/up.conf" "$url"
NOW=$(date -u -d '2027-03-31 23:59:00' +%s)
STS_AGENT_NOW=$NOW "$bin/sts-agent" run --once --config "$tmp/up.conf" 2>/dev/null || true
validate "sent, lifetime planned" "$tmp/up.conf"
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
conf "$tmp/off.conf" http://127.0.0.1:9
# April's moment is drawn in its last seconds, the ping made late in May's
# first: pending, the collector being down.
for t in '2027-04-30 23:59:58' '2027-05-01 00:00:05'; do
  NOW=$(date -u -d "$t" +%s)
  STS_AGENT_NOW=$NOW "$bin/sts-agent" run --once --config "$tmp/off.conf" 2>/dev/null || true
done
validate "a ping pending" "$tmp/off.conf"
jq -e '.activation.status == "sent" and (.lifetime.pending | length) >= 1' "$tmp/s$n.json" >/dev/null \
  || fail "the states walked through are not the ones meant"
NOW=""

# The check can fail.
jq '.activation.status = "lost" | .extra = 1' "$tmp/s$n.json" >"$tmp/broken.json"
if python3 "$src/tests/e2e/lib/schema_check.py" "$schema" "$tmp/broken.json" >"$tmp/vb"; then
  fail "a broken document passed the schema"
fi
grep -q 'activation' "$tmp/vb" && grep -q 'extra is not in the schema' "$tmp/vb" \
  || { cat "$tmp/vb" >&2; fail "the schema check does not say what is wrong"; }
echo "agent_status_schema: ok ($n documents)"
