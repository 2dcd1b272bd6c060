#!/usr/bin/env bash
# End to end, the agent's command line without a collector: exit statuses,
# configuration errors naming the line, preview, consent (not retroactive;
# withdrawn before sending removes the country), an invalid fact that is
# never sent, prompt exit on SIGTERM, recovery from a corrupt state file.
set -euo pipefail
# The owner's messages in English (messages.h picks French from the locale).
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
agent="$bin/sts-agent"
tmp=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "agent_cli: FAIL: $*" >&2; exit 1; }
# expect STATUS COMMAND...: runs it, checks its exit status.
expect() {
  local want=$1; shift
  local got=0
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "'$*' exited $got, expected $want"; }
}

expect 0 "$agent" --help
grep -q 'Usage: sts-agent' "$tmp/out" || fail "--help prints no usage"
expect 0 "$agent" --version
grep -q '^sts-agent [0-9]' "$tmp/out" || fail "--version prints no version"
expect 2 "$agent"
expect 2 "$agent" fly
expect 2 "$agent" run --bogus
expect 2 "$agent" status --once
expect 2 "$agent" consent
expect 1 "$agent" status --config "$tmp/missing.conf"
grep -q 'missing.conf: no such file' "$tmp/err" || fail "a missing config is not named"

# A port nothing listens on: the collector is down for this whole test.
port=9
conf="$tmp/agent.conf"
write_conf() { # extra lines on stdin
  { cat <<EOF
state_dir = $tmp/state
collector = http://127.0.0.1:$port
brand = acme-eu
model = K400
sw = K400-V12
country = FR
consent_country = on
timeout_ms = 500
retry_base_ms = 60000
retry_cap_ms = 60000
EOF
    cat; } >"$conf"
}

echo "imei = 352099001761481
colour = blue" | write_conf
expect 1 "$agent" status --config "$conf"
grep -q "agent.conf:12: unknown key 'colour'" "$tmp/err" || { cat "$tmp/err" >&2; fail "unknown key not named with its line"; }

# An invalid IMEI: nothing is made or sent; the owner is told.
echo "imei = 352099001761482" | write_conf
expect 1 "$agent" preview --config "$conf"
grep -q 'fact imei' "$tmp/err" || fail "preview does not name the invalid fact"
expect 1 "$agent" run --once --config "$conf"
grep -q 'fact imei' "$tmp/err" || fail "run does not name the invalid fact"
expect 0 "$agent" status --config "$conf"
grep -q '^Problem: imei' "$tmp/out" || fail "status does not show the fact problem"
grep -q '^  Not made yet' "$tmp/out" || fail "an activation was made from an invalid fact"

# Valid now. Preview shows the country (consent on by default here).
echo "imei = 352099001761481" | write_conf
expect 0 "$agent" preview --config "$conf"
grep -q '"country":"FR"' "$tmp/out" || fail "preview lacks the consented country"
grep -q '"imei":"352099001761481"' "$tmp/out" || fail "preview lacks the imei"

# The owner withdraws consent before anything is made: no country.
expect 0 "$agent" consent country off --config "$conf"
expect 0 "$agent" consent show --config "$conf"
grep -q '^country: off (set by the owner' "$tmp/out" || fail "consent show: $(cat "$tmp/out")"
expect 0 "$agent" preview --config "$conf"
grep -q '"country"' "$tmp/out" && fail "preview carries the country after consent was withdrawn"

# First run: the activation is made (without country), the attempt fails.
expect 1 "$agent" run --once --config "$conf"
grep -q 'attempt 1 failed' "$tmp/err" || fail "no failed attempt reported"
expect 0 "$agent" preview --config "$conf"
made=$(cat "$tmp/out")
# Consent given afterwards is not retroactive.
expect 0 "$agent" consent country on --config "$conf"
grep -q 'not retroactive' "$tmp/out" || fail "consent on does not say it is not retroactive"
expect 0 "$agent" preview --config "$conf"
[ "$(cat "$tmp/out")" = "$made" ] || fail "consent changed the activation already made"
# Not due yet (retry in a minute): --once does nothing and succeeds.
expect 0 "$agent" run --once --config "$conf"
grep -q 'nothing due now' "$tmp/err" || fail "--once with nothing due: $(cat "$tmp/err")"
expect 0 "$agent" status --json --config "$conf"
grep -q '"status": "pending"' "$tmp/out" || fail "status --json does not say pending"
grep -q '"attempts": 1' "$tmp/out" || fail "status --json does not count the attempt"

# The daemon sleeps until the next attempt and exits promptly on SIGTERM.
"$agent" run --config "$conf" 2>"$tmp/daemon.err" &
agent_pid=$!
sleep 0.3
kill -TERM "$agent_pid"
for _ in $(seq 50); do
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$agent_pid" 2>/dev/null && fail "the daemon did not exit within 2.5 s of SIGTERM"
rc=0; wait "$agent_pid" || rc=$?; agent_pid=""
[ "$rc" -eq 0 ] || fail "the daemon exited $rc on SIGTERM"

# A corrupt (truncated) state: moved aside, the report_id is kept.
id=$(sed -n 's/^    "report_id": "\([0-9a-f]*\)",/\1/p' "$tmp/state/state.json")
[ ${#id} -eq 32 ] || fail "no report_id in the state file"
# Cut the file a little after the activation's report_id.
cut_at=$(grep -bo '"report_id"' "$tmp/state/state.json" | head -1 | cut -d: -f1)
head -c $((cut_at + 60)) "$tmp/state/state.json" >"$tmp/cut" && mv "$tmp/cut" "$tmp/state/state.json"
expect 1 "$agent" status --config "$conf"
grep -q 'unreadable' "$tmp/err" || fail "status does not report the corrupt state"
expect 1 "$agent" run --once --config "$conf"
grep -q 'was corrupt' "$tmp/err" || fail "run does not report the recovery"
ls "$tmp/state"/state.json.corrupt-* >/dev/null 2>&1 || fail "the corrupt file was not kept aside"
expect 0 "$agent" status --config "$conf"
grep -q "report identifier $id" "$tmp/out" || fail "the report_id was not kept across the recovery"
echo "agent_cli: ok"
