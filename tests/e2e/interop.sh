#!/usr/bin/env bash
# Interop of STS's Oblivious HTTP with an independent HPKE implementation: the
# npm package @hpke/core, installed here with `npm ci` from the committed lock
# file (tests/interop). Both directions:
#   1. Node seals a Binary HTTP report to the key configuration that a running
#      collector serves (over TLS, throwaway CA), and opens the collector's
#      sealed answers (accepted, then duplicate);
#   2. Node is the gateway: our C client (tests/interop/ohttp_client.c) seals a
#      report to Node's key configuration, Node opens it with @hpke/core and
#      seals a 202 that our client opens.
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
fail() { echo "interop: FAIL: $*" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm are needed (bash scripts/deps.sh installs them)"

# @hpke/core from the lock file, in a scratch copy of tests/interop.
mkdir "$tmp/js"
cp "$src/tests/interop/package.json" "$src/tests/interop/package-lock.json" \
  "$src/tests/interop/.npmrc" "$src/tests/interop/interop.js" "$tmp/js/"
(cd "$tmp/js" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error >npm.log 2>&1) ||
  { cat "$tmp/js/npm.log" >&2; fail "npm ci failed"; }
node=(node "$tmp/js/interop.js")

(
  cd "$tmp"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=STS test CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext.cnf -out server.pem 2>/dev/null
)

# --- 1. @hpke/core client -> STS gateway -------------------------------------
"$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
"$bin/sts-collector" keygen --ohttp --out "$tmp/ohttp.key" 2>/dev/null
"$bin/sts-collector" serve --listen 127.0.0.1:0 --db "sqlite:$tmp/sts.db" --key "$tmp/key" \
  --ohttp-key "$tmp/ohttp.key" --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key" \
  2>"$tmp/collector.log" &
pids+=($!)
url=""
for _ in $(seq 200); do
  url=$(grep -o 'https://127\.0\.0\.1:[0-9]*' "$tmp/collector.log" || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$tmp/collector.log" >&2; fail "the collector did not start"; }
curl -sS --cacert "$tmp/ca.pem" -o "$tmp/keys" "$url/v1/ohttp-keys"

report='{"v":1,"type":"activation","report_id":"0123456789abcdef0123456789abcdef","imei":"352099001761481","brand":"acme-eu","model":"K400","sw":"K400-V12","country":"FR","day":"2026-01-20"}'
out=$("${node[@]}" client "$tmp/keys" "$url/v1/ohttp" "$tmp/ca.pem" "$report") ||
  fail "@hpke/core client: $out"
[ "$out" = $'status 202\n{"status":"accepted"}' ] || fail "@hpke/core client, first: $out"
out=$("${node[@]}" client "$tmp/keys" "$url/v1/ohttp" "$tmp/ca.pem" "$report")
[ "$out" = $'status 200\n{"status":"duplicate"}' ] || fail "@hpke/core client, again: $out"
bad=${report/352099001761481/352099001761482}
out=$("${node[@]}" client "$tmp/keys" "$url/v1/ohttp" "$tmp/ca.pem" "$bad")
grep -q '^status 400' <<<"$out" && grep -q '"field":"imei"' <<<"$out" ||
  fail "@hpke/core client, invalid: $out"
echo "interop: @hpke/core sealed reports to the STS gateway and opened its answers"

# --- 2. STS client -> @hpke/core gateway --------------------------------------
"${node[@]}" gateway "$tmp/node.port" >"$tmp/node.out" 2>"$tmp/node.err" &
pids+=($!)
for _ in $(seq 200); do [ -s "$tmp/node.port" ] && break; sleep 0.05; done
[ -s "$tmp/node.port" ] || { cat "$tmp/node.err" >&2; fail "the Node gateway did not start"; }
nurl=http://127.0.0.1:$(cat "$tmp/node.port")
curl -sS -o "$tmp/node.keys" "$nurl/v1/ohttp-keys"
out=$("$bin/tests/ohttp_client" post --keys "$tmp/node.keys" --url "$nurl/v1/ohttp" --body "$report") ||
  { cat "$tmp/node.err" >&2; fail "STS client -> @hpke/core gateway: $out"; }
[ "$out" = $'status 202\n{"status":"accepted"}' ] || fail "STS client, answer: $out"
for _ in $(seq 50); do [ -s "$tmp/node.out" ] && break; sleep 0.05; done
grep -q '"imei":"352099001761481"' "$tmp/node.out" || fail "@hpke/core did not read our report"
echo "interop: @hpke/core opened the STS client's request; the STS client opened its answer"
echo "interop: ok"
