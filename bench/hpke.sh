#!/usr/bin/env bash
# Runs bench_hpke next to `openssl speed ecdhx25519` in the same run and prints
# the ratio of OHTTP gateway opens/s to OpenSSL's X25519 ops/s (target >= 0.8:
# one open is one X25519 derivation plus HKDF and AEAD work).
# Usage: bench/hpke.sh [BUILD_DIR] [SECONDS]   (defaults: build, 5)
set -euo pipefail

build=${1:-build}
secs=${2:-5}
bench="$build/bench/bench_hpke"

if [[ ! -x $bench ]]; then
    echo "hpke.sh: $bench not found; build first (cmake --build $build)" >&2
    exit 1
fi

ours=$("$bench" "$secs")
echo "$ours"
theirs=$(openssl speed -seconds "$secs" ecdhx25519 2>/dev/null)
echo "$theirs" | grep -E 'X25519' | tail -1 | sed 's/^/openssl speed: /'

opens=$(awk '$1 == "ohttp_open_per_s" { print $2 }' <<<"$ours")
derive=$(awk '$1 == "x25519_derive_per_s" { print $2 }' <<<"$ours")
ossl=$(grep -E 'ecdh \(X25519\)' <<<"$theirs" | tail -1 | awk '{ print $NF }')
if [[ -z $opens || -z $ossl ]]; then
    echo "hpke.sh: could not read the figures" >&2
    exit 1
fi
awk -v o="$opens" -v x="$ossl" -v d="$derive" 'BEGIN {
    printf "openssl_x25519_per_s %.0f\n", x
    printf "ratio opens/s / openssl X25519 ops/s = %.2f (target >= 0.80)\n", o / x
    printf "ratio own X25519 derive/s / openssl X25519 ops/s = %.2f\n", d / x
}'
