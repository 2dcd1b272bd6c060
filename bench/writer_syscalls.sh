#!/usr/bin/env bash
# The collector's SQLite system calls under load: a collector on a fresh
# database, loaded by wrk with keep-alive activations (bench/ingest/activation.lua,
# as bench/ingest.sh sends them), traced with strace -f for a few seconds in
# the middle of the run. Prints pwrite64, pread64 and fdatasync per thread and
# file (the WAL, the database) and the writer's pwrite64 calls per commit:
# what the WAL buffer of collector/store/sqlite_wal.c is for. strace slows
# the collector several times over: compare the calls, not the rates. A run
# without strace before it gives the CPU time per stored report.
#
#   bash bench/writer_syscalls.sh [--bin DIR] [--seconds S] [--conns C]
#
# --bin: where sts-collector is (default $STS_BIN, else ./build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STS_BIN:-./build/release}
seconds=3
conns=64
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    *) echo "usage: $0 [--bin DIR] [--seconds S] [--conns C]" >&2; exit 2 ;;
    esac
done
for tool in strace wrk sqlite3; do
    command -v "$tool" >/dev/null || { echo "$0: needs $tool (STS_DEPS_BENCH=1 bash scripts/deps.sh)" >&2; exit 1; }
done
collector=$bin/sts-collector
[ -x "$collector" ] || { echo "$0: no $collector: bash scripts/build.sh release" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-syscalls.XXXXXX")
pid=
wpid=
cleanup()
{
    # Both, whatever the first one's wait returns (set -e applies here too).
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

"$collector" keygen --out "$tmp/key" 2>/dev/null

start_collector() # database name
{
    rm -f "$tmp/err"
    "$collector" serve --listen 127.0.0.1:0 --db "sqlite:$tmp/$1" --key "$tmp/key" >/dev/null \
        2>"$tmp/err" &
    pid=$!
    port=
    for _ in $(seq 1 200); do
        port=$(sed -n 's|^sts-collector: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' \
            "$tmp/err" | head -n1)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    cat "$tmp/err" >&2
    echo "$0: the collector did not start" >&2
    exit 1
}

stop_collector()
{
    kill -TERM "$pid"
    wait "$pid" || { echo "$0: the collector did not exit cleanly" >&2; exit 1; }
    pid=
}

nonce=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
load() # seconds, wrk thread base (distinct reports in each run)
{
    wrk -t2 -c"$conns" -d"${1}s" -s bench/ingest/activation.lua \
        "http://127.0.0.1:$port/v1/reports" -- day="$(date -u +%F)" nonce="$nonce" tbase="$2" \
        >"$tmp/wrk" 2>&1 &
    wpid=$!
}

# First untraced: the CPU time of the collector's threads per stored report
# (from /proc at the end of the load), which a loaded machine disturbs less
# than the rate.
start_collector untraced.db
load "$((seconds + 3))" 0
wait "$wpid"
wpid=
tick=$(getconf CLK_TCK)
# Per thread: user and system ticks, write calls and bytes; the writer is
# the thread that wrote the most bytes (the WAL's pages).
cpu=$(for t in /proc/"$pid"/task/*; do
    sed 's/^.*) //' "$t/stat" | awk '{ printf "%s %s ", $12, $13 }'
    awk '$1 == "syscw:" || $1 == "wchar:" { printf "%s ", $2 } END { print "" }' "$t/io"
done)
stop_collector
rows=$(sqlite3 "$tmp/untraced.db" 'SELECT count(*) FROM activation')
awk -v rows="$rows" -v tick="$tick" -v d="$((seconds + 3))" '
    { u += $1; s += $2; if ($3 > top) { top = $3; wu = $1; ws = $2; wc = $4 } }
    END {
        us = 1e6 / tick / rows
        printf "untraced, %d s: %d reports stored; CPU per report: %.0f us user, %.0f us system (all threads)\n",
            d, rows, u * us, s * us
        printf "  the writer thread: %.1f us user, %.1f us system, %.2f write calls per report\n",
            wu * us, ws * us, wc / rows
    }' <<<"$cpu"

start_collector traced.db
# Then traced, for the seconds asked, a second and a half into the load (the
# WAL past its first commits) and one before its end.
load "$((seconds + 3))" 10
sleep 1.5
# One file per thread (-ff), so that no call is split across lines; -T: the
# time of each call.
timeout -s INT "$seconds" strace -f -ff -yy -T -e trace=pwrite64,pread64,fdatasync -p "$pid" \
    -o "$tmp/strace" 2>/dev/null || true
wait "$wpid"
wpid=
stop_collector
rows=$(sqlite3 "$tmp/traced.db" 'SELECT count(*) FROM activation')

# Lines: name(FD</path>, ...) = result <seconds>; the file is "db" or
# "db-wal". Per thread: the writer is the thread that syncs the WAL (a
# commit each), the checkpointer the one that copies it into the database.
echo "$seconds s of strace -f, wrk -t2 -c$conns keep-alive activations; per thread:"
printf '%-8s %-8s %10s %10s %10s %12s %12s\n' thread file pwrite64 fdatasync pread64 \
    'pwrite64 us' 'fdatasync us'
for f in "$tmp"/strace.*; do
    sed -nE 's/^(pwrite64|pread64|fdatasync)\([0-9]+<[^>]*\.db(-wal)?>.* <([0-9.]+)>$/\1 db\2 \3/p' "$f" |
        awk -v tid="${f##*.}" '
        { n[$2 " " $1]++; t[$2 " " $1] += $3 * 1e6; files[$2] = 1 }
        END {
            for (file in files)
                printf "%-8s %-8s %10d %10d %10d %12.0f %12.0f\n", tid, file, n[file " pwrite64"],
                    n[file " fdatasync"], n[file " pread64"], t[file " pwrite64"], t[file " fdatasync"]
        }'
done | sort -k1,1n -k2,2r | tee "$tmp/table"
awk '$2 == "db-wal" && $4 > 0 && $4 >= max { max = $4; w = $0 }
    END {
        if (!w) { print "no commit traced"; exit }
        split(w, a, " ")
        printf "writer (thread %s): %d commits, %.1f pwrite64 per commit (%.0f us), fdatasync %.0f us per commit\n",
            a[1], a[4], a[3] / a[4], a[6] / a[4], a[7] / a[4]
    }' "$tmp/table"
echo "reports stored in the traced run: $rows"
