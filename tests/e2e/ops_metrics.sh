# GET /metrics of the collector and of the relay, scraped as Prometheus
# would, read by a strict parser of the text format (lib/prom_check.py, which
# also refuses any label that is not one of the fixed names or whose value
# looks like an address or an identifier):
#  - the collector's /metrics needs the API token (401 without); with
#    --metrics-listen it is served there without it, and not on the main
#    address (404 even with the token);
#  - the values move as reports are sent: reports by type and outcome,
#    answers by status, commit batch sizes adding up to the records written,
#    commit latency, queue depth, storage up, rate-limited requests;
#  - the relay's own: requests by outcome, gateway failures by kind.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/ops_metrics.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
SEND="python3 $STS_SRC/tests/e2e/lib/send_reports.py"
CHECK="python3 $STS_SRC/tests/e2e/lib/prom_check.py"
sts_keygen
"$COLLECTOR" keygen --token --out "$STS_TMP/token" 2>/dev/null || sts_die "keygen --token failed"
TOKEN=$(cat "$STS_TMP/token")

# scrape URL OUT [TOKEN]: fetches and checks the format; OUT gets the samples.
scrape()
{
    local auth=()
    [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
    curl -s --max-time 5 "${auth[@]}" -D "$2.h" -o "$2.raw" "$1" || sts_die "cannot fetch $1"
    grep -qi '^content-type: text/plain; version=0.0.4' "$2.h" || sts_die "$1: $(cat "$2.h")"
    $CHECK "$2.raw" >"$2" || sts_die "$1: not valid exposition text (above)"
}

# val FILE SAMPLE: the value of one sample ('name{a="b"}'), 0 if absent.
val()
{
    local v
    v=$(awk -v k="$2" '$1 == k { print $2 }' "$1")
    printf '%.0f\n' "${v:-0}"
}

sts_start "$STS_TMP/err" --db "sqlite:$STS_TMP/m.db" --key "$STS_TMP/key" \
    --token-file "$STS_TMP/token"
base=http://127.0.0.1:$SRV_PORT
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/metrics")
[ "$st" = 401 ] || sts_die "/metrics without the token answered $st, want 401"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Authorization: Bearer wrong-token-0123456789' "$base/metrics")
[ "$st" = 403 ] || sts_die "/metrics with a wrong token answered $st, want 403"
scrape "$base/metrics" "$STS_TMP/m0" "$TOKEN"

a=$($SEND "$SRV_PORT" 40 0 4)
b=$($SEND "$SRV_PORT" 10 0 2)
for i in 1 2 3; do
    curl -s -o /dev/null --max-time 5 -H 'Content-Type: application/json' \
        --data '{"v":1,"type":"activation"}' "$base/v1/reports"
done
ping='{"v":1,"type":"lifetime","report_id":"fedcba9876543210fedcba9876543210","brand":"acme-eu","model":"K400","sw":"K400-V13","cohort":"2026-01","period":"2026-11","first":false}'
curl -s -o /dev/null --max-time 5 -H 'Content-Type: application/json' --data "$ping" "$base/v1/reports"
scrape "$base/metrics" "$STS_TMP/m1" "$TOKEN"

d()
{
    echo $(($(val "$STS_TMP/m1" "$1") - $(val "$STS_TMP/m0" "$1")))
}
[ "$(d 'sts_reports_total{outcome="accepted",type="activation"}')" = 40 ] || sts_die "accepted: $(grep reports_total "$STS_TMP/m1")"
[ "$(d 'sts_reports_total{outcome="duplicate",type="activation"}')" = 10 ] || sts_die "duplicates"
[ "$(d 'sts_reports_total{outcome="invalid",type="unknown"}')" = 3 ] || sts_die "invalid"
[ "$(d 'sts_reports_total{outcome="accepted",type="lifetime"}')" = 1 ] || sts_die "lifetime"
[ "$(d 'sts_http_responses_total{code="202"}')" = 41 ] || sts_die "202s: $(grep responses "$STS_TMP/m1")"
[ "$(d 'sts_http_responses_total{code="200"}')" -ge 10 ] || sts_die "200s"
[ "$(d 'sts_http_responses_total{code="400"}')" = 3 ] || sts_die "400s"
[ "$(d 'sts_commit_batch_size_sum{}')" = 51 ] || sts_die "batch sizes do not add up to 51 records: $(grep batch_size_sum "$STS_TMP/m1")"
commits=$(d 'sts_commit_seconds_count{}')
[ "$commits" -ge 1 ] && [ "$commits" = "$(d 'sts_storage_transactions_total{result="committed"}')" ] ||
    sts_die "commit latency count $commits vs committed transactions"
# Every answered batch waited for a sync of the WAL, and one sync may cover several batches.
syncs=$(d 'sts_sync_seconds_count{}')
[ "$syncs" -ge 1 ] && [ "$syncs" -le "$commits" ] || sts_die "$syncs WAL syncs for $commits commits"
[ "$(val "$STS_TMP/m1" 'sts_storage_up{}')" = 1 ] || sts_die "storage_up"
[ "$(val "$STS_TMP/m1" 'sts_ingest_queue_depth{}')" = 0 ] || sts_die "queue depth not 0 when idle"
grep -q '^sts_http_open_connections{} ' "$STS_TMP/m1" || sts_die "no open connections gauge"
[ "$(val "$STS_TMP/m1" 'sts_http_open_connections{}')" -ge 1 ] || sts_die "the scrape's own connection not counted"
sts_stop "$SRV_PID"
echo "collector: 401 without token, format valid, 40+10+3+1 reports counted, batch sizes sum to 51"

# With an address of their own, the metrics are there only: the API token
# (the analysts') no longer opens their exact counters.
sts_start "$STS_TMP/err1" --db "sqlite:$STS_TMP/m.db" --key "$STS_TMP/key" \
    --token-file "$STS_TMP/token" --metrics-listen 127.0.0.1:0
MPORT=$(sed -n 's|^sts-collector: metrics listening on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$STS_TMP/err1")
[ -n "$MPORT" ] || sts_die "no metrics line: $(cat "$STS_TMP/err1")"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$SRV_PORT/metrics")
[ "$st" = 404 ] || sts_die "/metrics on the main address with --metrics-listen answered $st, want 404"
scrape "http://127.0.0.1:$MPORT/metrics" "$STS_TMP/m2"
[ "$(wc -l <"$STS_TMP/m2")" -gt 50 ] || sts_die "metrics-listen: $(cat "$STS_TMP/m2")"
sts_stop "$SRV_PID"
echo "metrics-listen: served there without the token; the main address answers 404"

# Rate limits engaged.
sts_start "$STS_TMP/err2" --db "sqlite:$STS_TMP/r.db" --key "$STS_TMP/key" \
    --token-file "$STS_TMP/token" --rate-limit 2 --rate-burst 2
r=$($SEND "$SRV_PORT" 20 0 1)
sleep 1.1 # a token back for the scrape
scrape "http://127.0.0.1:$SRV_PORT/metrics" "$STS_TMP/m3" "$TOKEN"
limited=$(val "$STS_TMP/m3" 'sts_http_rate_limited_total{}')
[ "$limited" -ge 10 ] && [ "$limited" = "$(val "$STS_TMP/m3" 'sts_http_responses_total{code="429"}')" ] ||
    sts_die "rate limited $limited, sends $r"
sts_stop "$SRV_PID"
echo "rate limit: $limited requests counted as rate-limited and as 429"

# The relay's own: a gateway that is not there.
RELAY=$STS_BIN/sts-relay
"$RELAY" --listen 127.0.0.1:0 --gateway http://127.0.0.1:9/v1/ohttp --metrics-listen 127.0.0.1:0 \
    2>"$STS_TMP/relay.err" &
RPID=$!
STS_PIDS+=("$RPID")
STS_ERRS[$RPID]=$STS_TMP/relay.err
for ((i = 0; i < 100; i++)); do
    RPORT=$(sed -n 's|^sts-relay: listening on http://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$STS_TMP/relay.err")
    [ -n "$RPORT" ] && break
    sleep 0.05
done
RMPORT=$(sed -n 's|^sts-relay: metrics listening on http://127\.0\.0\.1:\([0-9]*\)/metrics$|\1|p' "$STS_TMP/relay.err")
[ -n "$RPORT" ] && [ -n "$RMPORT" ] || sts_die "relay did not start: $(cat "$STS_TMP/relay.err")"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: message/ohttp-req' \
    --data-binary 'abc' "http://127.0.0.1:$RPORT/x")
[ "$st" = 502 ] || sts_die "relay to no gateway answered $st, want 502"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: text/plain' \
    --data-binary 'abc' "http://127.0.0.1:$RPORT/x")
[ "$st" = 415 ] || sts_die "relay, wrong type, answered $st"
scrape "http://127.0.0.1:$RMPORT/metrics" "$STS_TMP/rm"
[ "$(val "$STS_TMP/rm" 'sts_relay_gateway_failures_total{kind="unreachable"}')" = 1 ] || sts_die "relay: $(cat "$STS_TMP/rm")"
[ "$(val "$STS_TMP/rm" 'sts_relay_requests_total{outcome="refused"}')" = 1 ] || sts_die "relay refused"
[ "$(val "$STS_TMP/rm" 'sts_http_responses_total{code="502"}')" = 1 ] || sts_die "relay 502"
sts_stop "$RPID"
echo "relay: gateway failure by kind, refusals and answers by status counted"
echo "ops_metrics: ok"
