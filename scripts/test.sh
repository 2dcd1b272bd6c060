#!/usr/bin/env bash
# Sets up what is missing, builds STS with gcc, clang and the sanitizers, and
# runs every test: the whole suite in the gcc build and again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the unit tests in the clang
# build, then each fuzz target briefly (STS_FUZZ_SECONDS, default 20). First,
# the house rules: format, banned functions, error contracts (scripts/checksrc.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
status=0

echo "== house rules (scripts/checksrc.py)"
python3 scripts/checksrc.py || status=1
run_ctest() { # build dir, extra ctest args...
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") || status=1
}

echo "== gcc build, all tests"
bash scripts/build.sh release
run_ctest build/release

echo "== clang build, unit tests"
bash scripts/build.sh clang
run_ctest build/clang -R '^unit/'

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build, all tests"
bash scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build/asan

echo "== fuzz targets, ${STS_FUZZ_SECONDS:-20} s each"
bash scripts/build.sh fuzz
fuzzed=0
for f in build/fuzz/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f"); corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus/." "$work/"
  if "$f" -max_total_time="${STS_FUZZ_SECONDS:-20}" -max_len=9000 -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | awk '{print $2}') runs)"
    fuzzed=$((fuzzed + 1))
  else
    echo "fuzz: $name FAILED"; tail -30 "$work.log"; status=1
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $fuzzed target(s) ran clean"

if [ $status -ne 0 ]; then
  echo "sts: some tests FAILED" >&2
fi
exit $status
