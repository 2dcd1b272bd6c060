#!/usr/bin/env bash
# The collector's SQLite system calls under load: a collector on a fresh
# database, loaded by wrk with keep-alive activations (bench/ingest/activation.lua,
# as bench/ingest.sh sends them), traced with strace -f for a few seconds in
# the middle of the run. Prints pwrite64, pread64 and fdatasync per file (the
# WAL, the database) and pwrite64 calls per fdatasync: what the WAL buffer of
# collector/store/sqlite_wal.c is for. strace slows the collector several
# times over: compare the calls, not the rates.
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
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$collector" keygen --out "$tmp/key" 2>/dev/null
"$collector" serve --listen 127.0.0.1:0 --db "sqlite:$tmp/db" --key "$tmp/key" >/dev/null 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's|^sts-collector: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$tmp/err" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { cat "$tmp/err" >&2; echo "$0: the collector did not start" >&2; exit 1; }

# Load for the traced seconds, a second and a half before them (the WAL
# past its first commits) and one after.
nonce=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
wrk -t2 -c"$conns" -d"$((seconds + 3))s" -s bench/ingest/activation.lua \
    "http://127.0.0.1:$port/v1/reports" -- day="$(date -u +%F)" nonce="$nonce" >"$tmp/wrk" 2>&1 &
wpid=$!
sleep 1.5
timeout -s INT "$seconds" strace -f -yy -e trace=pwrite64,pread64,fdatasync -p "$pid" \
    -o "$tmp/strace" 2>/dev/null || true
wait "$wpid"
wpid=
kill -TERM "$pid"
wait "$pid" || { echo "$0: the collector did not exit cleanly" >&2; exit 1; }
pid=

# Lines: PID name(FD</path>, ...) = result; the file is the path's last part
# with the database's name as "db".
sed -nE 's/^[0-9]+ +(pwrite64|pread64|fdatasync)\([0-9]+<[^>]*\/db(-wal)?>.*/\1 db\2/p' "$tmp/strace" |
    awk -v s="$seconds" -v c="$conns" -v rows="$(sqlite3 "$tmp/db" 'SELECT count(*) FROM activation')" '
    { n[$2 " " $1]++; all[$1]++ }
    END {
        printf "%s s of strace -f, wrk -t2 -c%s keep-alive activations\n", s, c
        printf "%-8s %10s %10s %10s\n", "file", "pwrite64", "fdatasync", "pread64"
        split("db-wal db", f, " ")
        for (i = 1; i <= 2; i++)
            printf "%-8s %10d %10d %10d\n", f[i], n[f[i] " pwrite64"], n[f[i] " fdatasync"], n[f[i] " pread64"]
        if (all["fdatasync"] > 0 && n["db-wal fdatasync"] > 0) {
            printf "pwrite64 per fdatasync: %.1f (all files), %.1f (the WAL alone)\n",
                all["pwrite64"] / all["fdatasync"], n["db-wal pwrite64"] / n["db-wal fdatasync"]
        }
        printf "rows stored in the whole run: %d\n", rows
    }'
