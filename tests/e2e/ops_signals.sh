# Signals, as an operator sends them with systemctl reload / stop:
#  - SIGHUP reloads the TLS certificate and key: a connection open across
#    the reload keeps working, a new one gets the new certificate; a broken
#    certificate is refused and the old one stays, the log says why;
#  - SIGHUP reloads the API token (the old one is refused at once) and the
#    Oblivious HTTP gateway keys (/v1/ohttp-keys lists the new key);
#  - SIGTERM drains: new connections are refused at once, a report whose
#    body is still arriving is answered 202 and stored, the exit is 0;
#  - the relay reloads its certificate on SIGHUP and drains on SIGTERM.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/ops_signals.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
PROBE="python3 $STS_SRC/tests/e2e/lib/tls_probe.py"
T=$STS_TMP
"$COLLECTOR" keygen --out "$T/key" 2>/dev/null || sts_die "keygen failed"
"$COLLECTOR" keygen --token --out "$T/token" 2>/dev/null || sts_die "keygen --token failed"
"$COLLECTOR" keygen --ohttp --out "$T/ohttp.key" 2>/dev/null || sts_die "keygen --ohttp failed"
for n in a b; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=sts-test-$n" -keyout "$T/$n.key" -out "$T/$n.pem" 2>/dev/null ||
        sts_die "openssl req failed"
    chmod 600 "$T/$n.key"
done
fp_of() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
FA=$(fp_of "$T/a.pem")
FB=$(fp_of "$T/b.pem")
cp "$T/a.pem" "$T/cert.pem"
cp -p "$T/a.key" "$T/tls.key"

# wait_log FILE TEXT: waits (at most 5 s) for TEXT in FILE.
wait_log()
{
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qF -- "$2" "$1" && return 0
        sleep 0.05
    done
    sts_die "no '$2' in $1: $(tail -5 "$1")"
}

# --- the collector, HTTPS on 127.0.0.1 --------------------------------------
log=$T/c.log
"$COLLECTOR" serve --listen 127.0.0.1:0 --db "sqlite:$T/s.db" --key "$T/key" \
    --tls-cert "$T/cert.pem" --tls-key "$T/tls.key" --token-file "$T/token" \
    --ohttp-key "$T/ohttp.key" 2>"$log" &
PID=$!
STS_PIDS+=("$PID")
STS_ERRS[$PID]=$log
wait_log "$log" "listening on https://127.0.0.1:"
PORT=$(sed -n 's|^sts-collector: listening on https://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log")
[ "$($PROBE fingerprint "$PORT")" = "$FA" ] || sts_die "not serving certificate a"

mkfifo "$T/go"
$PROBE keepalive "$PORT" /healthz "$T/go" >"$T/ka.out" &
KA=$!
for ((i = 0; i < 100; i++)); do [ -s "$T/ka.out" ] && break; sleep 0.05; done
keys_before=$(curl -sk --max-time 5 "https://127.0.0.1:$PORT/v1/ohttp-keys" | od -An -tx1 | tr -d ' \n')
OLD_TOKEN=$(cat "$T/token")
st=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $OLD_TOKEN" "https://127.0.0.1:$PORT/metrics")
[ "$st" = 200 ] || sts_die "metrics with the token before the reload: $st"

# New certificate, token and gateway key, all put in place, then SIGHUP.
cp "$T/b.pem" "$T/cert.pem"
cp -p "$T/b.key" "$T/tls.key"
rm -f "$T/token" && "$COLLECTOR" keygen --token --out "$T/token" 2>/dev/null
rm -f "$T/ohttp.key" && "$COLLECTOR" keygen --ohttp --out "$T/ohttp.key" 2>/dev/null
kill -HUP "$PID"
wait_log "$log" "reload (SIGHUP): "
grep -q "reload (SIGHUP): TLS certificate and key: reloaded; API token: reloaded; Oblivious HTTP keys: reloaded; pseudonym keys: reloaded (current key [0-9a-f]\{8\}, unchanged; 1 key(s))$" "$log" ||
    sts_die "reload line: $(grep reload "$log")"
echo >"$T/go"
wait "$KA" || sts_die "the keep-alive connection failed across the reload: $(cat "$T/ka.out")"
[ "$(wc -l <"$T/ka.out")" = 2 ] && [ "$(cut -d' ' -f1 "$T/ka.out" | sort -u)" = 200 ] &&
    [ "$(cut -d' ' -f2 "$T/ka.out" | sort -u)" = "$FA" ] ||
    sts_die "keep-alive across the reload: $(cat "$T/ka.out") (want 200 twice on certificate a)"
[ "$($PROBE fingerprint "$PORT")" = "$FB" ] || sts_die "a new connection does not get certificate b"
st=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $OLD_TOKEN" "https://127.0.0.1:$PORT/metrics")
[ "$st" = 403 ] || sts_die "old token after the reload: $st, want 403"
st=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $(cat "$T/token")" "https://127.0.0.1:$PORT/metrics")
[ "$st" = 200 ] || sts_die "new token after the reload: $st, want 200"
keys_after=$(curl -sk --max-time 5 "https://127.0.0.1:$PORT/v1/ohttp-keys" | od -An -tx1 | tr -d ' \n')
[ -n "$keys_after" ] && [ "$keys_after" != "$keys_before" ] || sts_die "/v1/ohttp-keys unchanged by the reload"
echo "reload: keep-alive connection kept across SIGHUP, new connections get the new certificate, old token 403, new key listed"

# A broken certificate: refused, the old pair stays.
echo "not a certificate" >"$T/cert.pem"
kill -HUP "$PID"
wait_log "$log" "TLS certificate and key: kept ("
[ "$($PROBE fingerprint "$PORT")" = "$FB" ] || sts_die "after a failed reload, certificate b is not served"
grep -q "^sts-collector: reload (SIGHUP): TLS certificate and key: kept (" "$log" || sts_die "failed reload not logged"
st=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $(cat "$T/token")" "https://127.0.0.1:$PORT/metrics")
[ "$st" = 200 ] || sts_die "after a failed reload: $st"
grep -q '^sts_reloads_total{result="failed"} 1$' <(curl -sk --max-time 5 -H "Authorization: Bearer $(cat "$T/token")" "https://127.0.0.1:$PORT/metrics") ||
    sts_die "sts_reloads_total failed not counted"
echo "reload: a broken certificate is refused ($(grep -o 'kept ([^)]*' "$log" | head -1 | cut -c7-60)...), the old one stays"
sts_stop "$PID"

# --- SIGTERM drains ---------------------------------------------------------
sts_start "$T/d.log" --db "sqlite:$T/d.db" --key "$T/key"
body=$(sts_activation "$(sts_rid 7)" "$(sts_imei 7)")
mkfifo "$T/go2"
$PROBE slowpost "$SRV_PORT" "$body" "$T/go2" >"$T/slow.out" &
SP=$!
wait_log "$T/slow.out" sent
kill -TERM "$SRV_PID"
wait_log "$T/d.log" "stopping: no new connections"
sleep 0.2
refused=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SRV_PORT/healthz")
echo >"$T/go2"
wait "$SP"
[ "$(tail -n 1 "$T/slow.out")" = 202 ] || sts_die "the report arriving during the drain: $(cat "$T/slow.out"), want 202"
[ "$refused" = 000 ] || sts_die "a new connection during the drain was answered $refused, want refused"
sts_stop "$SRV_PID"
devices=$("$COLLECTOR" audit --db "sqlite:$T/d.db" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["devices"])')
[ "$devices" = 1 ] || sts_die "the drained report is not stored ($devices devices)"
echo "drain: new connections refused, the report in flight answered 202 and stored, exit 0"

# --- the relay --------------------------------------------------------------
cp "$T/a.pem" "$T/cert.pem"
cp -p "$T/a.key" "$T/tls.key"
rlog=$T/r.log
"$STS_BIN/sts-relay" --listen 127.0.0.1:0 --gateway http://127.0.0.1:9/v1/ohttp \
    --tls-cert "$T/cert.pem" --tls-key "$T/tls.key" 2>"$rlog" &
RPID=$!
STS_PIDS+=("$RPID")
STS_ERRS[$RPID]=$rlog
wait_log "$rlog" "listening on https://127.0.0.1:"
RPORT=$(sed -n 's|^sts-relay: listening on https://127\.0\.0\.1:\([0-9]*\),.*|\1|p' "$rlog")
[ "$($PROBE fingerprint "$RPORT")" = "$FA" ] || sts_die "relay: not certificate a"
cp "$T/b.pem" "$T/cert.pem"
cp -p "$T/b.key" "$T/tls.key"
kill -HUP "$RPID"
wait_log "$rlog" "reload (SIGHUP): TLS certificate and key: reloaded"
[ "$($PROBE fingerprint "$RPORT")" = "$FB" ] || sts_die "relay: new connections do not get certificate b"
sts_stop "$RPID"
echo "relay: SIGHUP reloads the certificate, SIGTERM exits 0"
echo "ops_signals: ok"
