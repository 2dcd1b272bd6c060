#!/usr/bin/env bash
# End to end: answers that are not the collector's never lose the activation.
# A redirect, an HTML 404 from a proxy and a captive portal's "200" are
# retried hours later (never followed, never final); fixing the collector URL
# in the configuration delivers at the next run. A JSON 400 from the
# collector is final, and `sts-agent retry` sends it again with the same
# report_id. A consent change that cannot be saved (storage full: the state's
# temporary file points at /dev/full) says on stdout that nothing changed and
# exits 1.
set -euo pipefail
export LC_ALL=C

bin=${STS_BIN:?STS_BIN must point at the build directory}
src=${STS_SRC:?STS_SRC must point at the source directory}
tmp=$(mktemp -d)
fake_pid=""
cleanup() {
  [ -n "$fake_pid" ] && kill -9 "$fake_pid" 2>/dev/null || true
  [ -n "$collector_pid" ] && kill -9 "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "agent_answers: FAIL: $*" >&2; exit 1; }
. "$src/tests/e2e/lib/collector.sh"

# start_fake STATUS CTYPE BODY [HEADER]: sets fake_pid and fake_url.
# Never on the port of the fake before it: the same URL would not be a
# changed route, and the agent would rightly send nothing at once.
start_fake() {
  local tries
  for tries in 1 2 3 4 5; do
    : >"$tmp/fake.port"
    python3 "$src/tests/e2e/lib/fake_server.py" "$@" >"$tmp/fake.port" 2>/dev/null &
    fake_pid=$!
    for _ in $(seq 100); do
      [ -s "$tmp/fake.port" ] && break
      sleep 0.05
    done
    [ -s "$tmp/fake.port" ] || fail "the fake server did not start"
    [ "http://127.0.0.1:$(cat "$tmp/fake.port")" != "${fake_url:-}" ] && break
    stop_fake
  done
  fake_url="http://127.0.0.1:$(cat "$tmp/fake.port")"
}
stop_fake() { kill -9 "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fake_pid=""; }

conf() { # conf COLLECTOR_URL
  cat >"$tmp/agent.conf" <<CONF
state_dir = $tmp/state
collector = $1
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
retry_base_ms = 1
retry_cap_ms = 1
CONF
}
agent() { "$bin/sts-agent" "$@" --config "$tmp/agent.conf"; }
js() { agent status --json | jq -r "$1"; }

start_collector 0
collector_url=$url

# 1. A redirect to the right place: not followed, not final, hours later.
start_fake 301 text/html '<a href="x">moved</a>' "Location: $collector_url/v1/reports"
conf "$fake_url"
rc=0; agent run --once 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "run --once after a redirect exited $rc"
[ "$(js .activation.status)" = pending ] || fail "a redirect made the activation $(js .activation.status)"
now_ms=$(($(date +%s) * 1000))
next=$(js .activation.next_attempt_ms)
[ "$next" -ge $((now_ms + 1700 * 1000)) ] || fail "a redirect is retried after $(((next - now_ms) / 1000)) s, not hours"
[ "$next" -le $((now_ms + 86400 * 1000 + 60000)) ] || fail "a redirect is retried after more than a day"
[ "$(sqlite3 "$tmp/sts.db" 'SELECT count(*) FROM activation')" -eq 0 ] || fail "the redirect was followed"
agent status >"$tmp/out"
grep -q "Last attempt: HTTP 301 (text/html): a redirect, which is never followed to $collector_url/v1/reports" "$tmp/out" \
  || { cat "$tmp/out" >&2; fail "status does not say what the redirect was"; }
grep -q 'tried again in a few hours' "$tmp/out" || fail "status does not say when it is tried again"
# Not due yet: a second run sends nothing.
rc=0; agent run --once 2>"$tmp/err" || rc=$?
[ "$(js .activation.attempts)" -eq 1 ] || fail "the long backoff was not kept"
stop_fake

# 2. A proxy's HTML 404 and a captive portal's 200: the same.
for answer in "404 text/html <h1>Not Found</h1>" "200 text/html <html>Login</html>" "403 application/json {\"error\":\"forbidden\"}"; do
  read -r st ct body <<<"$answer"
  start_fake "$st" "$ct" "$body"
  conf "$fake_url" # a changed URL: due at once
  rc=0; agent run --once 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 1 ] || fail "run --once after HTTP $st exited $rc"
  [ "$(js .activation.status)" = pending ] || fail "HTTP $st $ct made the activation $(js .activation.status)"
  [ "$(js .activation.answer_status)" = "$st" ] || fail "the URL change did not make the report due at once"
  stop_fake
done

# 3. The URL is fixed: delivered at the next run, not hours later.
conf "$collector_url"
agent run --once 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "run --once with the fixed URL failed"; }
[ "$(js .activation.status)" = sent ] || fail "the fixed URL did not deliver at once"
[ "$(sqlite3 "$tmp/sts.db" 'SELECT count(*) FROM activation')" -eq 1 ] || fail "not stored"
id=$(js .activation.report_id)

# 4. The collector's JSON 400 is final; retry sends it again unchanged.
rm -rf "$tmp/state"
start_fake 400 application/json '{"error":"invalid","field":"imei","detail":"check digit does not match"}'
conf "$fake_url"
rc=0; agent run --once 2>"$tmp/err" || rc=$?
[ "$(js .activation.status)" = rejected ] || fail "the collector's JSON 400 is not final"
id=$(js .activation.report_id)
payload=$(js .activation.payload)
stop_fake
agent status | grep -q 'unless you run `sts-agent retry`' || fail "status does not name the retry command"
conf "$collector_url"
agent retry >"$tmp/out" || fail "retry failed"
grep -q "report_id $id" "$tmp/out" || fail "retry does not name the report: $(cat "$tmp/out")"
agent run --once 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "run --once after retry failed"; }
[ "$(js .activation.status)" = sent ] || fail "the retried report was not delivered"
[ "$(js .activation.report_id)" = "$id" ] || fail "retry changed the report_id"
[ "$(js .activation.payload)" = "$payload" ] || fail "retry changed the payload"
agent retry | grep -q 'Nothing to send again' || fail "a second retry found something"

# 5. Storage full: consent is not reported as changed.
before=$(js .consent.lifetime)
ln -s /dev/full "$tmp/state/state.json.tmp"
rc=0; agent consent lifetime on >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a consent that cannot be saved exited $rc"
grep -q '^Nothing changed: .*no space left' "$tmp/out" || fail "stdout: $(cat "$tmp/out")"
grep -q 'lifetime consent: on' "$tmp/out" && fail "stdout claims the consent changed"
grep -q 'No space left on device' "$tmp/err" || fail "stderr does not name ENOSPC: $(cat "$tmp/err")"
rm -f "$tmp/state/state.json.tmp"
[ "$(js .consent.lifetime)" = "$before" ] || fail "the consent changed after all"
env LC_ALL=fr_FR.UTF-8 "$bin/sts-agent" consent lifetime on --config "$tmp/agent.conf" | grep -q 'consentement au rapport mensuel : oui' \
  || fail "no French"
[ "$(js .consent.lifetime)" = on ] || fail "consent not saved once the storage is back"

# 6. A refused lifetime ping: retry puts it back, unchanged, within its grace
# window. April's moment is drawn in its last minute (a run at 23:59:58 left
# a 2 s window, which the run itself sometimes reached: the ping went at
# once); the ping is made late on May 1st and refused by a JSON 400; retry;
# the collector counts it once.
kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
COLLECTOR_TODAY=2031-12-31
start_collector 0
collector_url=$url
life_conf() { conf "$1"; sed -i "s|^state_dir = .*|state_dir = $tmp/state2|" "$tmp/agent.conf"
  echo 'consent_lifetime = on' >>"$tmp/agent.conf"; }
at() { STS_AGENT_NOW=$(date -u -d "$1" +%s) "$bin/sts-agent" "${@:2}" --config "$tmp/agent.conf"; }
life_conf "$collector_url"
at '2027-04-30 23:59:00' run --once 2>/dev/null || true
start_fake 400 application/json '{"error":"invalid","field":"period","detail":"refused here"}'
life_conf "$fake_url"
at '2027-05-01 00:00:05' run --once 2>/dev/null || true
stop_fake
STS_AGENT_NOW=$(date -u -d '2027-05-01 00:00:06' +%s) agent status --json >"$tmp/s.json"
jq -e '[.log[] | select(.type == "lifetime" and .outcome == "rejected")] | length == 1' "$tmp/s.json" >/dev/null \
  || fail "the ping was not refused: $(jq -c '.log' "$tmp/s.json")"
ping_id=$(jq -r '.log[] | select(.type == "lifetime" and .outcome == "rejected") | .report_id' "$tmp/s.json")
life_conf "$collector_url"
# Past April's grace window (May 8th) a refused ping is not put back.
at '2027-05-20 00:00:00' retry | grep -q 'Nothing to send again' || fail "a ping past its grace window was put back"
at '2027-05-01 00:00:10' retry >"$tmp/out" || fail "retry of the ping failed"
grep -q '^1 lifetime report(s) will be sent again' "$tmp/out" || fail "retry: $(cat "$tmp/out")"
at '2027-05-01 00:00:11' run --once 2>"$tmp/err" || true
april=$(sqlite3 "$tmp/sts.db" "SELECT coalesce(sum(count),0) FROM lifetime_count lc WHERE period = (SELECT max(period) FROM lifetime_count)")
[ "$april" -eq 1 ] || { cat "$tmp/err" >&2; fail "the retried ping was counted $april times"; }
STS_AGENT_NOW=$(date -u -d '2027-05-01 00:00:12' +%s) agent status --json \
  | jq -e --arg id "$ping_id" '[.log[] | select(.report_id == $id and .outcome == "accepted")] | length == 1' >/dev/null \
  || fail "the ping was not delivered under its report_id"
# Delivered now: nothing to put back, even within the grace window.
at '2027-05-01 00:00:13' retry | grep -q 'Nothing to send again' || fail "a delivered ping was put back"

kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
echo "agent_answers: ok"
