#!/usr/bin/env bash
# Footprint of sts-agent, next to curl in the same run:
#   - size of the stripped binary;
#   - peak RSS and CPU time (user+system) of `sts-agent run --once` sending one
#     activation to a collector on 127.0.0.1 (a fresh state each time), and of
#     `curl` POSTing the very same JSON to the same collector; median of N runs;
#   - CPU used by the `sts-agent run` daemon while it sleeps, over 10 s
#     (utime+stime from /proc/PID/stat before and after).
# Targets: peak RSS and CPU time within 1.2x of curl's; zero CPU while idle.
# Usage: bench/agent.sh [BUILD_DIR] [RUNS]   (defaults: build/release, 60)
set -euo pipefail

build=${1:-build/release}
runs=${2:-60}
agent="$build/sts-agent"
collector="$build/sts-collector"
for b in "$agent" "$collector"; do
  [ -x "$b" ] || { echo "agent.sh: $b not found; build first (bash scripts/build.sh release)" >&2; exit 1; }
done
if [ ! -x /usr/bin/time ]; then
  echo "agent.sh: installing GNU time for /usr/bin/time -v" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq time >/dev/null
fi
command -v python3 >/dev/null || { echo "agent.sh: python3 is needed to read rusage" >&2; exit 1; }
command -v curl >/dev/null || { echo "agent.sh: curl is needed as the reference" >&2; exit 1; }

tmp=$(mktemp -d)
collector_pid=""; daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$collector" keygen --out "$tmp/key" 2>/dev/null
"$collector" keygen --token --out "$tmp/token" 2>/dev/null
"$collector" serve --listen 127.0.0.1:0 --db "sqlite:$tmp/sts.db" --key "$tmp/key" \
  --token-file "$tmp/token" 2>"$tmp/collector.log" &
collector_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$tmp/collector.log" || true)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$tmp/collector.log" >&2; exit 1; }

strip -o "$tmp/sts-agent.stripped" "$agent"
size=$(stat -c %s "$tmp/sts-agent.stripped")
curl_bin=$(command -v curl)
curl_size=$(stat -c %s "$curl_bin")

conf() { # N: the config of device N
  cat >"$tmp/agent$1.conf" <<EOF2
state_dir = $tmp/state$1
collector = $url
imei = 352099001761481
brand = acme-eu
model = K400
sw = K400-V12
consent_lifetime = $2
EOF2
}

# measure CMD...: prints "peak_rss_kb cpu_seconds". GNU time prints CPU in
# hundredths, too coarse here, so the figures come from wait4()'s rusage
# (microseconds); /usr/bin/time -v on the same command gives the same RSS.
measure() {
  python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_, _, ru = os.wait4(pid, 0)
print("%d %.6f" % (ru.ru_maxrss, ru.ru_utime + ru.ru_stime))' "$@"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# The kernel charges CPU time by sampling at each tick (4 ms at 250 Hz), so
# one short run reads 0 or a whole tick: the mean over many runs is the
# estimate that means something.
mean() { awk '{ s += $1 } END { printf "%.6f\n", s / NR }'; }

: >"$tmp/agent.rss"; : >"$tmp/agent.cpu"; : >"$tmp/curl.rss"; : >"$tmp/curl.cpu"
for i in $(seq 1 "$runs"); do
  conf "$i" off
  read -r rss cpu < <(measure "$agent" run --once --config "$tmp/agent$i.conf")
  echo "$rss" >>"$tmp/agent.rss"; echo "$cpu" >>"$tmp/agent.cpu"
  payload=$(sed -n 's/^    "payload": "\(.*\)",$/\1/p' "$tmp/state$i/state.json" | head -1 | sed 's/\\"/"/g')
  [ -n "$payload" ] || { echo "agent.sh: the agent sent nothing" >&2; exit 1; }
  read -r rss cpu < <(measure "$curl_bin" -s -o /dev/null -H 'Content-Type: application/json' \
                        --data-binary "$payload" "$url/v1/reports")
  echo "$rss" >>"$tmp/curl.rss"; echo "$cpu" >>"$tmp/curl.cpu"
done
a_rss=$(median <"$tmp/agent.rss"); c_rss=$(median <"$tmp/curl.rss")
a_cpu=$(mean <"$tmp/agent.cpu"); c_cpu=$(mean <"$tmp/curl.cpu")
sent=$(sqlite3 "$tmp/sts.db" 'SELECT count(*) FROM activation' 2>/dev/null || echo "?")

# Idle: a daemon with lifetime consent sleeps until its drawn moment.
conf idle on
"$agent" run --config "$tmp/agentidle.conf" 2>"$tmp/daemon.log" &
daemon_pid=$!
sleep 1
kill -0 "$daemon_pid" || { cat "$tmp/daemon.log" >&2; echo "agent.sh: the daemon exited" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
t0=$(ticks "$daemon_pid"); sleep 10; t1=$(ticks "$daemon_pid")
idle_rss=$(awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
kill -TERM "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""

echo "sts-agent stripped binary:      $size bytes (curl: $curl_size bytes, plus libcurl)"
echo "run --once, one report ($runs runs each, interleaved: median peak RSS, mean CPU; $sent device stored):"
echo "  peak RSS   sts-agent $a_rss KiB   curl $c_rss KiB"
echo "  CPU time   sts-agent ${a_cpu} s   curl ${c_cpu} s"
/usr/bin/time -v "$agent" status --config "$tmp/agent1.conf" 2>&1 >/dev/null | \
  sed -n 's/^\tMaximum resident set size (kbytes): /  (cross-check, \/usr\/bin\/time -v of `status`: peak RSS /p' | sed 's/$/ KiB)/' 
awk -v a="$a_rss" -v c="$c_rss" -v ac="$a_cpu" -v cc="$c_cpu" 'BEGIN {
  r = a / c; printf "  RSS ratio  %.2f (target <= 1.2): %s\n", r, r <= 1.2 ? "ok" : "MISSED"
  if (cc > 0) { q = ac / cc; printf "  CPU ratio  %.2f (target <= 1.2): %s\n", q, q <= 1.2 ? "ok" : "MISSED" }
  else printf "  CPU ratio  n/a (curl below the clock resolution)\n" }'
echo "daemon idle over 10 s:          $((t1 - t0)) clock ticks of CPU (target 0), RSS $idle_rss KiB"
