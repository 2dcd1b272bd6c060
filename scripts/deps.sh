#!/usr/bin/env bash
# Installs, with apt-get and only if missing, the Debian 12 packages STS needs
# to build, test and run its demo (chromium and python3: the dashboard's test in
# a real browser; postgresql: the server the PostgreSQL tests start clusters of,
# from /usr/lib/postgresql/15/bin). Run as root (or through sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libssl-dev openssl libcurl4-openssl-dev libjansson-dev
  libsqlite3-dev sqlite3 libpq-dev postgresql libcmocka-dev curl ca-certificates
  systemd
  python3 chromium jq
)
# Node.js runs the interop test against an independent HPKE implementation
# (tests/interop) and the recording taps of the relay test. Asked for only when
# missing, as a Node.js from elsewhere (with its own npm) is just as good.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
# The agent's cross build for 64-bit Arm, run under qemu-user by
# tests/e2e/agent_cross.sh: Debian's cross compiler and the target's libraries
# from the arm64 architecture (multiarch; added below when missing).
cross_packages=(
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  libssl-dev:arm64 libcurl4-openssl-dev:arm64 libjansson-dev:arm64
)
if [ "$(dpkg --print-architecture)" != arm64 ]; then
  packages+=("${cross_packages[@]}")
fi
if [ "${STS_DEPS_BENCH:-0}" = 1 ]; then
  packages+=(wrk nginx-light strace)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "sts: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if [ "$(dpkg --print-architecture)" != arm64 ] &&
  ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
