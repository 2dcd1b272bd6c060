#!/usr/bin/env bash
# Configures and builds one flavour of STS into build/<flavour>:
#   release  gcc, optimised (the programs the demo runs)
#   clang    clang, to keep the code clean under both compilers
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer, no recovery
#   fuzz     clang libFuzzer targets
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc) ;;
  clang)   args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang) ;;
  asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DSTS_SANITIZE=ON) ;;
  fuzz)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DSTS_FUZZ=ON) ;;
  *) echo "usage: $0 release|clang|asan|fuzz" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" "${args[@]}" >/dev/null
cmake --build "build/$flavour" -j "$jobs"
