#!/usr/bin/env bash
# End to end through Oblivious HTTP: a client seals reports to the collector's
# gateway key and sends them through sts-relay, over 127.0.0.1 with TLS on both
# hops (a throwaway CA made here with the openssl command line). Checks the
# answers (accepted, duplicate, invalid, all sealed; the RFC 9458 answers in
# clear for an unknown key, bad encapsulation, wrong media type), that the
# collector's log and database hold no client address, that both programs
# refuse plain HTTP off loopback, and, with both hops in plain HTTP on
# loopback behind recording TCP taps, that no readable IMEI crosses either hop.
# The sender is sts-agent with transport = ohttp when the build has it, and
# the ohttp_client test tool otherwise.
set -euo pipefail

bin=${STS_BIN:?STS_BIN must point at the build directory}
src=${STS_SRC:?STS_SRC must point at the source tree}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "ohttp_relay: FAIL: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is missing (bash scripts/deps.sh installs it)"

imei=352099001761481
client=$bin/tests/ohttp_client
report() { # report_id imei
  printf '{"v":1,"type":"activation","report_id":"%s","imei":"%s","brand":"acme-eu","model":"K400","sw":"K400-V12","country":"FR","day":"2026-01-20"}' "$1" "$2"
}

# --- a throwaway CA and a certificate for 127.0.0.1 / localhost -------------
(
  cd "$tmp"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=STS test CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out server.pem 2>/dev/null
  chmod 600 server.key
)

"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --ohttp --out "$tmp/ohttp.key" 2>/dev/null
[ "$(stat -c %a "$tmp/ohttp.key")" = 600 ] || fail "the gateway key file is not mode 0600"

# wait_url LOG PROGRAM_PID: prints the URL of the "listening on" line.
wait_url() {
  local log=$1 pid=$2 u
  for _ in $(seq 200); do
    u=$(grep -o 'https\?://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
    [ -n "$u" ] && { echo "$u"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$log" >&2
  return 1
}

start_collector() { # db log [serve options...]
  local db=$1 log=$2
  shift 2
  "$bin/sts-collector" serve --listen 127.0.0.1:0 --db "sqlite:$db" --key "$tmp/key" \
    --ohttp-key "$tmp/ohttp.key" "$@" 2>"$log" &
  pids+=($!)
  collector_url=$(wait_url "$log" $!) || fail "the collector did not start"
}

start_relay() { # log gateway_url [relay options...]
  local log=$1 gw=$2
  shift 2
  "$bin/sts-relay" --listen 127.0.0.1:0 --gateway "$gw" "$@" 2>"$log" &
  pids+=($!)
  relay_url=$(wait_url "$log" $!) || fail "the relay did not start"
}

# --- TLS on both hops --------------------------------------------------------
start_collector "$tmp/sts.db" "$tmp/collector.log" \
  --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key"
case $collector_url in https://*) ;; *) fail "collector not on https: $collector_url" ;; esac
start_relay "$tmp/relay.log" "$collector_url/v1/ohttp" --ca-file "$tmp/ca.pem" \
  --keys-url "$collector_url/v1/ohttp-keys" \
  --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key"
case $relay_url in https://*) ;; *) fail "relay not on https: $relay_url" ;; esac

# Key configuration over TLS from the collector, and the same through the relay.
ct=$(curl -sS --cacert "$tmp/ca.pem" -o "$tmp/keys" -w '%{http_code} %{content_type}' \
  "$collector_url/v1/ohttp-keys")
[ "$ct" = "200 application/ohttp-keys" ] || fail "GET /v1/ohttp-keys: $ct"
curl -sS --cacert "$tmp/ca.pem" -o "$tmp/keys.relay" "$relay_url/v1/ohttp-keys"
cmp -s "$tmp/keys" "$tmp/keys.relay" || fail "the relay served other key configurations"
# Without the CA, TLS verification must fail.
if curl -sS -o /dev/null "$collector_url/healthz" 2>/dev/null; then
  fail "the collector's certificate was accepted without the test CA"
fi

post() { # body -> prints the client's output
  "$client" post --keys "$tmp/keys" --url "$relay_url/" --cacert "$tmp/ca.pem" --body "$1"
}

# Sender: the agent when it has the OHTTP transport, the test tool otherwise.
id1=0123456789abcdef0123456789abcdef
if "$bin/sts-agent" --help 2>&1 | grep -q ohttp; then
  sender=agent
  cat >"$tmp/agent.conf" <<EOF
state_dir = $tmp/state
collector = $collector_url
transport = ohttp
relay = $relay_url/
ohttp_keys_file = $tmp/keys
ca_file = $tmp/ca.pem
imei = $imei
brand = acme-eu
model = K400
sw = K400-V12
country = FR
consent_country = on
retry_base_ms = 50
retry_cap_ms = 200
EOF
  "$bin/sts-agent" run --once --config "$tmp/agent.conf" 2>"$tmp/agent.log" ||
    { cat "$tmp/agent.log" >&2; fail "the agent could not send through the relay"; }
  grep -q 'HTTP 202' "$tmp/agent.log" || { cat "$tmp/agent.log" >&2; fail "agent: no 202"; }
  id1=$("$bin/sts-agent" status --json --config "$tmp/agent.conf" |
    grep -o '"report_id": *"[0-9a-f]*"' | head -1 | grep -o '[0-9a-f]\{32\}')
  # A second device fetches the key configuration over TLS from the collector,
  # with the collector's SPKI pinned, and caches it in its state directory.
  pin=sha256//$(openssl x509 -in "$tmp/server.pem" -pubkey -noout |
    openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
  sed -e "s|^state_dir = .*|state_dir = $tmp/state2|" -e '/^ohttp_keys_file/d' \
    -e "s|^imei = .*|imei = 490154203237518|" "$tmp/agent.conf" >"$tmp/agent2.conf"
  echo "pin_sha256 = $pin" >>"$tmp/agent2.conf"
  "$bin/sts-agent" run --once --config "$tmp/agent2.conf" 2>"$tmp/agent2.log" ||
    { cat "$tmp/agent2.log" >&2; fail "agent with fetched keys"; }
  cmp -s "$tmp/state2/ohttp-keys" "$tmp/keys" || fail "the fetched key configuration is not cached"
  # A wrong pin: the key configuration cannot be fetched, nothing is sent.
  sed -e "s|^state_dir = .*|state_dir = $tmp/state3|" -e "s|^pin_sha256 = .*|pin_sha256 = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=|" \
    -e "s|^imei = .*|imei = 356938035643809|" "$tmp/agent2.conf" >"$tmp/agent3.conf"
  if "$bin/sts-agent" run --once --config "$tmp/agent3.conf" 2>"$tmp/agent3.log"; then
    fail "the agent sent with a wrong collector pin"
  fi
  [ ! -e "$tmp/state3/ohttp-keys" ] || fail "a key configuration was cached despite a wrong pin"
  devices_expected=2
else
  sender=ohttp_client
  devices_expected=1
  out=$(post "$(report $id1 $imei)") || fail "first report: $out"
  [ "$(head -1 <<<"$out")" = "status 202" ] || fail "first report: $out"
  grep -q '{"status":"accepted"}' <<<"$out" || fail "first report body: $out"
fi
echo "ohttp_relay: sender $sender: accepted through the relay"

# The same report again: a sealed duplicate. An invalid one: the sealed 400
# naming the field, as POST /v1/reports would answer.
out=$(post "$(report $id1 $imei)")
[ "$(head -1 <<<"$out")" = "status 200" ] || fail "duplicate: $out"
grep -q '{"status":"duplicate"}' <<<"$out" || fail "duplicate body: $out"
out=$(post "$(report fedcba9876543210fedcba9876543210 352099001761482)")
[ "$(head -1 <<<"$out")" = "status 400" ] || fail "invalid: $out"
grep -q '"field":"imei"' <<<"$out" || fail "invalid body: $out"
out=$(post '{"v":1}x')
[ "$(head -1 <<<"$out")" = "status 400" ] || fail "not JSON: $out"

# Unknown key id: a key configuration with another id -> 400 in clear, with
# the RFC 9458 section 5.3 problem type.
cp "$tmp/keys" "$tmp/keys.other"
kid=$(od -An -tu1 -j2 -N1 "$tmp/keys" | tr -d ' ')
printf "$(printf '\\%03o' $(((kid + 1) % 256)))" |
  dd of="$tmp/keys.other" bs=1 seek=2 conv=notrunc 2>/dev/null
out=$("$client" post --keys "$tmp/keys.other" --url "$relay_url/" --cacert "$tmp/ca.pem" \
  --body "$(report 11111111111111111111111111111111 $imei)") && fail "unknown key accepted"
grep -q '^outer 400 application/problem+json' <<<"$out" || fail "unknown key: $out"
grep -q 'http-problem-types#ohttp-key' <<<"$out" || fail "unknown key body: $out"
# Bad encapsulation: the right key id but another public key.
cp "$tmp/keys" "$tmp/keys.other"
printf '\x55\x66\x77\x88' | dd of="$tmp/keys.other" bs=1 seek=10 conv=notrunc 2>/dev/null
out=$("$client" post --keys "$tmp/keys.other" --url "$relay_url/" --cacert "$tmp/ca.pem" \
  --body "$(report 22222222222222222222222222222222 $imei)") && fail "bad encapsulation accepted"
grep -q '^outer 400 application/problem+json' <<<"$out" || fail "bad encapsulation: $out"
# Wrong media type, at the gateway and at the relay; wrong method at the relay.
code=$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary "$(report $id1 $imei)" "$collector_url/v1/ohttp")
[ "$code" = 415 ] || fail "gateway, wrong media type: $code"
code=$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: application/json' --data-binary '{}' "$relay_url/")
[ "$code" = 415 ] || fail "relay, wrong media type: $code"
code=$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' "$relay_url/")
[ "$code" = 405 ] || fail "relay, GET: $code"
code=$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: message/ohttp-req' --data-binary @/dev/null "$relay_url/")
[ "$code" = 400 ] || fail "relay, empty body: $code"
head -c 70000 /dev/zero >"$tmp/big"
code=$(curl -sS --cacert "$tmp/ca.pem" -o /dev/null -w '%{http_code}' \
  -H 'Content-Type: message/ohttp-req' --data-binary @"$tmp/big" "$relay_url/")
[ "$code" = 413 ] || fail "relay, body too large: $code"

# One device stored, nothing else (the refused requests stored nothing).
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
n=$(sqlite3 "$tmp/sts.db" 'SELECT COUNT(*) FROM activation')
[ "$n" = "$devices_expected" ] || fail "expected $devices_expected device(s) stored, found $n"
# No client address in the collector's log (past its own listening line) or
# in its database files, and none in the relay's log either.
if grep -v 'listening on' "$tmp/collector.log" | grep -q '127\.0\.0\.1'; then
  fail "an address in the collector's log"
fi
if grep -v 'listening on\|forwarding to' "$tmp/relay.log" | grep -q '127\.0\.0\.1'; then
  fail "an address in the relay's log"
fi
for f in "$tmp"/sts.db*; do
  if grep -aq -e '127\.0\.0\.1' -e "$imei" "$f"; then fail "an address or the raw IMEI in $f"; fi
done
echo "ohttp_relay: TLS on both hops: answers right; no address in logs or database"

# --- Refusing plain HTTP off loopback ---------------------------------------
if "$bin/sts-collector" serve --listen 0.0.0.0:0 --db "sqlite:$tmp/x.db" --key "$tmp/key" \
  2>"$tmp/refuse.log"; then fail "the collector served plain HTTP on 0.0.0.0"; fi
grep -q 'refusing plain HTTP' "$tmp/refuse.log" || fail "collector: $(cat "$tmp/refuse.log")"
if "$bin/sts-relay" --listen 0.0.0.0:0 --gateway http://127.0.0.1:1/ 2>"$tmp/refuse.log"; then
  fail "the relay served plain HTTP on 0.0.0.0"
fi
grep -q 'refusing plain HTTP' "$tmp/refuse.log" || fail "relay: $(cat "$tmp/refuse.log")"
if "$bin/sts-relay" --gateway http://collector.example/v1/ohttp 2>"$tmp/refuse.log"; then
  fail "the relay forwarded to a plain HTTP gateway off loopback"
fi
grep -q 'must be https' "$tmp/refuse.log" || fail "relay: $(cat "$tmp/refuse.log")"

# --- What crosses each hop: plain HTTP on loopback behind recording taps ------
start_tap() { # target_port capture -> sets tap_port
  rm -f "$tmp/tap.port"
  node "$src/tests/interop/tap.js" "$1" "$2" "$tmp/tap.port" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/tap.port" ] && break; sleep 0.05; done
  [ -s "$tmp/tap.port" ] || fail "the tap did not start"
  tap_port=$(cat "$tmp/tap.port")
}
start_collector "$tmp/plain.db" "$tmp/collector2.log"
start_tap "${collector_url##*:}" "$tmp/hop2.cap"     # relay -> collector
start_relay "$tmp/relay2.log" "http://127.0.0.1:$tap_port/v1/ohttp"
start_tap "${relay_url##*:}" "$tmp/hop1.cap"         # client -> relay
curl -sS -o "$tmp/keys2" "$collector_url/v1/ohttp-keys"
out=$("$client" post --keys "$tmp/keys2" --url "http://127.0.0.1:$tap_port/" \
  --body "$(report 33333333333333333333333333333333 $imei)")
[ "$(head -1 <<<"$out")" = "status 202" ] || fail "through the taps: $out"
for cap in "$tmp/hop1.cap" "$tmp/hop2.cap"; do
  [ -s "$cap" ] || fail "nothing captured in $cap"
  grep -aq 'message/ohttp-req' "$cap" || fail "$cap does not hold the request"
  for needle in "$imei" acme-eu K400 activation '"imei"'; do
    if grep -aqF -- "$needle" "$cap"; then fail "'$needle' readable in $(basename "$cap")"; fi
  done
done
if grep -aqiE '^(x-forwarded-for|forwarded|via|user-agent|cookie|x-real-ip):' "$tmp/hop2.cap"; then
  fail "the relay sent a client-identifying header to the gateway"
fi
# Control: the same taps do see a plain report, so the search above means something.
start_tap "${collector_url##*:}" "$tmp/control.cap"
curl -sS -o /dev/null -H 'Content-Type: application/json' \
  --data-binary "$(report 44444444444444444444444444444444 $imei)" "http://127.0.0.1:$tap_port/v1/reports"
grep -aqF "$imei" "$tmp/control.cap" || fail "the control capture misses the IMEI"
echo "ohttp_relay: no readable IMEI or report field on either hop (control capture sees it)"
echo "ohttp_relay: ok"
