#!/usr/bin/env bash
# End to end: the agent cross-built for aarch64 (cmake -DSTS_AGENT_ONLY=ON
# with cmake/aarch64-linux-gnu.cmake: Debian's cross compiler, multiarch
# OpenSSL, libcurl and Jansson) runs `sts-agent run --once` under qemu-user
# against a collector on 127.0.0.1; the collector stores the activation and
# the agent's state says sent. scripts/deps.sh installs what this needs; a
# missing piece is a failure, not a skip. The cross build is kept in
# $STS_BIN/cross-aarch64, so later runs only rebuild what changed.
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
fail() { echo "agent_cross: FAIL: $*" >&2; exit 1; }
. "$src/tests/e2e/lib/collector.sh"

for tool in aarch64-linux-gnu-gcc qemu-aarch64 pkg-config cmake; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/deps.sh"
done
for pc in libcurl libcrypto jansson; do
  [ -f "/usr/lib/aarch64-linux-gnu/pkgconfig/$pc.pc" ] \
    || fail "$pc for arm64 is missing: run scripts/deps.sh (it adds the arm64 architecture)"
done

cross="$bin/cross-aarch64"
start=$(date +%s)
cmake -S "$src" -B "$cross" -DSTS_AGENT_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" >"$tmp/cmake.log" 2>&1 \
  || { cat "$tmp/cmake.log" >&2; fail "cmake for aarch64 failed"; }
cmake --build "$cross" -j 2 >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log" >&2; fail "the cross build failed"; }
built=$(date +%s)
file -b "$cross/sts-agent" | grep -q 'ARM aarch64' || fail "not an aarch64 binary: $(file -b "$cross/sts-agent")"
# Nothing of the collector's was built or linked.
[ ! -e "$cross/sts-collector" ] || fail "STS_AGENT_ONLY built the collector"
if aarch64-linux-gnu-readelf -d "$cross/sts-agent" | grep -E 'NEEDED.*(sqlite|libpq|libssl|cmocka)'; then
  fail "the agent links a collector library"
fi

qemu() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$cross/sts-agent" "$@"; }
qemu --version | grep -q '^sts-agent ' || fail "the aarch64 agent does not run under qemu"

start_collector 0
cat >"$tmp/agent.conf" <<CONF
state_dir = $tmp/state
collector = $url
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
country = FR
consent_country = on
CONF
qemu run --once --config "$tmp/agent.conf" 2>"$tmp/run.log" \
  || { cat "$tmp/run.log" >&2; fail "run --once under qemu failed"; }
grep -q 'HTTP 202 (accepted)' "$tmp/run.log" || { cat "$tmp/run.log" >&2; fail "no acknowledgement"; }
[ "$(sqlite3 "$tmp/sts.db" 'SELECT count(*) FROM activation')" -eq 1 ] || fail "the collector holds no activation"
qemu status --json --config "$tmp/agent.conf" | jq -e '.activation.status == "sent"' >/dev/null \
  || fail "the aarch64 agent's state does not say sent"
# The host's agent reads the state the aarch64 one wrote: same format.
"$bin/sts-agent" status --json --config "$tmp/agent.conf" | jq -e '.activation.status == "sent"' >/dev/null \
  || fail "the host agent cannot read the aarch64 agent's state"

kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
size=$(aarch64-linux-gnu-strip -o "$tmp/stripped" "$cross/sts-agent" && stat -c %s "$tmp/stripped")
echo "agent_cross: ok (cross build $((built - start)) s, aarch64 sts-agent $size bytes stripped, run --once under qemu-aarch64)"
