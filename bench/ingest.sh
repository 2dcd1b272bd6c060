#!/usr/bin/env bash
# bench/ingest.sh: ingestion throughput of sts-collector against the machine's HTTP ceiling.
#
# For each connection mode (keep-alive, then a new connection per report as devices do)
# and each connection count, it drives the same wrk load (POST of 400-byte activations,
# each with its own Luhn-valid IMEI and report_id, from bench/ingest/activation.lua)
# first at an nginx that answers 204 and does nothing else, then at sts-collector on a
# fresh SQLite database. It prints, per run, answered and committed reports per second,
# p50/p99 latency, the non-2xx answers and the ratio to nginx, and checks the targets:
# keep-alive >= 0.5x nginx, new connection per report >= 0.9x nginx (issue 10).
#
# With --ohttp, each collector run is followed by the same load sealed in Oblivious
# HTTP (POST /v1/ohttp, requests pre-generated and sealed to the collector's gateway
# key by tests/interop/ohttp_client, replayed by bench/ingest/ohttp.lua), on a fresh
# database: committed reports/s through the gateway as a ratio of the plain JSON
# path of the same mode and connection count (target >= 0.7x).
#
# With --callgrind, it first counts the instructions sts-collector spends per activation:
# one run under valgrind's callgrind with keep-alive load for a few seconds, one idle run of
# the same length, (instructions of the first - of the second) / rows stored, and the
# functions that cost most (target <= 60,000 instructions per activation).
#
# "Committed" is what the database holds once the collector has been stopped, not what
# wrk counted: the run fails (exit 1) if fewer rows are stored than 202 answers were
# received (an acknowledged report was lost) or more than were sent.
#
# With --devices N, every collector starts on a database that already holds N devices
# (written once through the store by bench/bench_store --fill, then copied for each run:
# a SQLite file, a PostgreSQL template database) instead of an empty one, as a collector
# does after months in service; "committed" is then what the run added.
#
# With --sync-free, each SQLite run is followed by the same load at a collector whose
# fdatasync and fsync return at once (bench/ingest/nosync.c, preloaded): NOT durable, a
# measurement only, of what waiting for this disk's flush costs (ratio to nginx and to the
# durable run beside it). It says how far a disk that flushes quickly would move the
# figures, not what the collector may be run as.
#
# With --db postgresql, each SQLite run is followed by the same load at a collector on
# PostgreSQL (a throwaway cluster started by tests/e2e/lib/pg.sh, a fresh database per
# run): committed reports/s as a ratio of nginx (target keep-alive >= 0.4x, the server
# sharing the machine's cores) and of the SQLite run beside it. With --collectors N
# as well, each PostgreSQL run is followed by N collectors on one fresh database
# (each on its own port, the same key), loaded at once by N wrk instances that
# split the same connections between them for the same duration: their committed
# reports/s together, as a ratio of the one collector on PostgreSQL and of nginx.
#
# Exit: 0 when every run completed (targets MET or MISSED alike), 1 when something broke
# (tool missing, collector crashed or refused to start, counts that do not add up),
# 2 on a usage error. See bench/README.md.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.bash
. "$HERE/lib.bash"
LUA=$HERE/ingest/activation.lua
OHTTP_LUA=$HERE/ingest/ohttp.lua
TARGET_OHTTP=0.7
NGINX_CONF_IN=$HERE/ingest/nginx.conf.in

TARGET_KEEPALIVE=0.5
TARGET_CLOSE=0.9
TARGET_INSTRUCTIONS=60000

duration=10
conns_list="64 256"
modes_list="keepalive close"
bin=${STS_BIN:-$HERE/../build/release}
threads=2
serve_args=
pg_args=
nginx_only=0
check_only=0
keep=0
ohttp=0
pg=0
TARGET_PG_KEEPALIVE=0.4
ncoll=1
callgrind=0
sync_free=0
collector_prefix=
devices=0

usage() {
    cat <<EOF
usage: bench/ingest.sh [options]

Benchmarks sts-collector ingestion (SQLite) against an nginx that answers 204.

  --duration D     seconds per run (default 10)
  --quick          smoke run: 3 s, 64 connections only
  --conns "C ..."  connection counts (default "64 256")
  --modes "M ..."  keepalive and/or close (default "keepalive close")
  --bin DIR        where sts-collector is (default \$STS_BIN or ./build/release)
  --threads N      wrk threads (default 2)
  --serve-args "A" more options for 'sts-collector serve' (e.g. "--threads 4")
  --nginx-only     measure the nginx ceiling only (no collector needed)
  --check          check the generated load: start nginx, send for 1 s, then verify
                   that the bodies are valid JSON activations of 400 bytes with
                   distinct Luhn-valid IMEIs and distinct report_ids
  --keep           keep the temporary directory (logs, databases, wrk output)
  --ohttp          also run each load through the collector's OHTTP gateway
                   (needs tests/ohttp_client in the build directory)
  --db postgresql  also run each load at a collector on PostgreSQL (a throwaway
                   cluster; needs the server of scripts/deps.sh), beside SQLite
  --collectors N   with --db postgresql: also run N collectors (2..9) on one
                   database, the connections split between N wrk at once
  --pg-args "A"    more options for the collectors on PostgreSQL only
                   (e.g. "--writers 1")
  --devices N      start every collector on a database already holding N devices
                   (needs bench/bench_store in the build directory)
  --callgrind      first count instructions per activation under callgrind
                   (valgrind), and print the costliest functions
  --sync-free      also run each SQLite load with fdatasync and fsync made no-ops
                   (NOT durable: what waiting for the disk costs; needs cc)
  -h, --help       this help

Installs wrk, nginx and sqlite3 with apt-get when they are missing (needs root).
EOF
}

die() {
    echo "bench/ingest.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
    --duration)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        duration=$2
        shift 2
        ;;
    --quick)
        duration=3
        conns_list=64
        shift
        ;;
    --conns)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        conns_list=$2
        shift 2
        ;;
    --modes)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        modes_list=$2
        shift 2
        ;;
    --bin)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        bin=$2
        shift 2
        ;;
    --db)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case $2 in
        postgresql | postgres) pg=1 ;;
        sqlite) pg=0 ;;
        *) usage >&2; exit 2 ;;
        esac
        shift 2
        ;;
    --collectors)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        ncoll=$2
        shift 2
        ;;
    --threads)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        threads=$2
        shift 2
        ;;
    --serve-args)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        serve_args=$2
        shift 2
        ;;
    --pg-args)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        pg_args=$2
        shift 2
        ;;
    --nginx-only) nginx_only=1; shift ;;
    --check) check_only=1; shift ;;
    --keep) keep=1; shift ;;
    --ohttp) ohttp=1; shift ;;
    --callgrind) callgrind=1; shift ;;
    --sync-free) sync_free=1; shift ;;
    --devices)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        devices=$2
        shift 2
        ;;
    -h | --help) usage; exit 0 ;;
    *)
        echo "bench/ingest.sh: unknown option '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
done

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
is_uint "$duration" || { echo "bench/ingest.sh: --duration wants seconds > 0" >&2; exit 2; }
is_uint "$threads" || { echo "bench/ingest.sh: --threads wants a count > 0" >&2; exit 2; }
[[ $devices =~ ^[0-9]+$ ]] || { echo "bench/ingest.sh: --devices wants a count" >&2; exit 2; }
[[ $ncoll =~ ^[1-9]$ ]] || { echo "bench/ingest.sh: --collectors wants 1..9" >&2; exit 2; }
[ "$ncoll" -eq 1 ] || [ $pg -eq 1 ] ||
    { echo "bench/ingest.sh: --collectors goes with --db postgresql" >&2; exit 2; }
# With N collectors, each wrk gets its share of the threads (at least one), so that
# the client takes about the same CPUs as the single wrk it is compared with.
threads_each=$((threads / ncoll))
[ $threads_each -ge 1 ] || threads_each=1
for c in $conns_list; do
    is_uint "$c" || { echo "bench/ingest.sh: bad connection count '$c'" >&2; exit 2; }
    [ "$c" -ge "$threads" ] || { echo "bench/ingest.sh: $c connections < $threads threads" >&2; exit 2; }
    [ "$ncoll" -eq 1 ] || [ "$c" -ge $((ncoll * threads_each)) ] ||
        { echo "bench/ingest.sh: $c connections < $ncoll x $threads_each wrk threads" >&2; exit 2; }
done
for m in $modes_list; do
    case $m in keepalive | close) ;; *) echo "bench/ingest.sh: bad mode '$m'" >&2; exit 2 ;; esac
done

# --- tools --------------------------------------------------------------------

apt_updated=0
install_pkg() { # command, Debian packages to try in order
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || die "'$cmd' is missing; install it (apt-get install $1) or run as root"
    command -v apt-get >/dev/null 2>&1 || die "'$cmd' is missing and there is no apt-get"
    if [ $apt_updated -eq 0 ]; then
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    local p
    for p in "$@"; do
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null; then
            break
        fi
    done
    # Debian puts nginx in /usr/sbin, which a non-login root shell may lack in PATH.
    hash -r
    command -v "$cmd" >/dev/null 2>&1 || die "could not install '$cmd' (tried: $*)"
}

PATH=$PATH:/usr/sbin:/sbin
install_pkg wrk wrk
install_pkg nginx nginx-light nginx
if { [ $nginx_only -eq 0 ] || [ $callgrind -eq 1 ]; } && [ $check_only -eq 0 ]; then
    install_pkg sqlite3 sqlite3
    collector=$bin/sts-collector
    [ -x "$collector" ] || die "no sts-collector in $bin: build it first
  (bash scripts/build.sh release), or give --bin DIR"
fi

# --- processes and clean-up ---------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-ingest.XXXXXX")
nginx_pid=
collector_pid=
multi_pids=() # the N collectors of a --collectors run
wrk_pids=()   # its N wrk instances

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in ${wrk_pids[@]+"${wrk_pids[@]}"}; do stop_pid "$p" TERM 300; done
    stop_pid "$collector_pid" TERM 300
    for p in ${multi_pids[@]+"${multi_pids[@]}"}; do stop_pid "$p" TERM 300; done
    stop_pid "$nginx_pid" QUIT 300
    for p in ${PG_PIDS[@]+"${PG_PIDS[@]}"}; do kill -9 "$p" 2>/dev/null || true; done
    if [ "$keep" -eq 1 ]; then
        echo "bench/ingest.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_nginx() {
    local port
    mkdir -p "$tmp/nginx"
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 12000))
        port_in_use "$port" && continue
        sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$port|g" "$NGINX_CONF_IN" >"$tmp/nginx/nginx.conf"
        nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
            -g 'daemon off;' 2>"$tmp/nginx/stderr" &
        nginx_pid=$!
        for _ in $(seq 1 100); do
            kill -0 "$nginx_pid" 2>/dev/null || break
            if port_in_use "$port"; then
                nginx_url=http://127.0.0.1:$port/v1/reports
                return 0
            fi
            sleep 0.05
        done
        stop_pid "$nginx_pid" QUIT 300
        nginx_pid=
    done
    cat "$tmp/nginx/stderr" "$tmp/nginx/error.log" >&2 || true
    die "nginx did not start"
}

# Starts a collector on a fresh database (with --devices, a copy of the filled one);
# sets collector_pid, collector_url, db.
start_collector() { # run name, [more serve options]
    local name=$1 port
    shift
    [ -d "$tmp" ] || die "$tmp has disappeared: something else removed it (set TMPDIR elsewhere)"
    db=$tmp/$name.db
    rm -f "$db" "$db-wal" "$db-shm"
    if [ "$devices" -gt 0 ] && [ -z "${pg_db:-}" ]; then
        # Synced, or the collector's first checkpoint would write the copy out.
        cp "$tmp/filled.db" "$db" && sync "$db" || die "could not copy the filled database"
    fi
    # shellcheck disable=SC2086 # serve_args and collector_prefix are lists of words
    $collector_prefix "$collector" serve --listen 127.0.0.1:0 --db "${pg_db:-sqlite:$db}" --key "$tmp/pseudonym.key" \
        $serve_args "$@" >"$tmp/$name.collector.out" 2>"$tmp/$name.collector.err" &
    collector_pid=$!
    for _ in $(seq 1 "${start_polls:-200}"); do
        port=$(sed -n 's|^sts-collector: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' \
            "$tmp/$name.collector.err" | head -n1)
        if [ -n "$port" ]; then
            collector_url=http://127.0.0.1:$port/v1/reports
            return 0
        fi
        kill -0 "$collector_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$tmp/$name.collector.err" >&2 || true
    die "sts-collector did not say it was listening within 10 s (run $name)"
}

# Stops the collector with SIGTERM; fails if it had died, or does not exit cleanly.
stop_collector() { # run name
    local name=$1 rc=0
    if ! kill -0 "$collector_pid" 2>/dev/null; then
        wait "$collector_pid" 2>/dev/null || rc=$?
        collector_pid=
        tail -n 20 "$tmp/$name.collector.err" >&2 || true
        die "sts-collector died during run $name (exit status $rc)"
    fi
    kill -TERM "$collector_pid"
    for _ in $(seq 1 300); do
        kill -0 "$collector_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$collector_pid" 2>/dev/null; then
        kill -KILL "$collector_pid" 2>/dev/null || true
        wait "$collector_pid" 2>/dev/null || true
        collector_pid=
        die "sts-collector did not stop within 30 s of SIGTERM (run $name)"
    fi
    wait "$collector_pid" 2>/dev/null || rc=$?
    collector_pid=
    if [ $rc -ne 0 ]; then
        tail -n 20 "$tmp/$name.collector.err" >&2 || true
        die "sts-collector exited with status $rc on SIGTERM (run $name)"
    fi
}

# --- load ---------------------------------------------------------------------

nonce=$(printf '%04x%04x' $((RANDOM)) $((RANDOM)))
today=$(date -u +%F)

# What activation.lua's done() prints, read into r_<key>.
result_keys="requests duration_us sent s202 s200 s204 other codes connect read write status
timeout p50_us p99_us"
r_requests='' r_duration_us='' r_sent='' r_s202='' r_s200='' r_s204='' r_other=''
r_codes='' r_connect='' r_read='' r_write='' r_timeout='' r_p50_us='' r_p99_us=''
r_first_error=''

# Runs wrk; leaves its output in $tmp/NAME.wrk and the STS-RESULT fields in r_*.
run_wrk() { # name, url, mode, connections, seconds, [extra lua args]
    local name=$1 url=$2 mode=$3 c=$4 d=$5
    shift 5
    wrk -t"${wrk_threads:-$threads}" -c"$c" -d"${d}s" --timeout 10s --latency \
        -s "${wrk_script:-$LUA}" "$url" \
        -- "day=$today" "mode=$mode" "nonce=$nonce" "$@" >"$tmp/$name.wrk" 2>&1 ||
        { cat "$tmp/$name.wrk" >&2; die "wrk failed (run $name)"; }
    parse_wrk "$name"
}

# Reads the STS-RESULT fields of $tmp/NAME.wrk into r_*.
parse_wrk() { # name
    local name=$1 line
    line=$(grep '^STS-RESULT ' "$tmp/$name.wrk" | tail -n1) ||
        { cat "$tmp/$name.wrk" >&2; die "wrk printed no result (run $name)"; }
    local kv k
    for k in $result_keys; do printf -v "r_$k" '%s' ''; done
    for kv in ${line#STS-RESULT }; do
        printf -v "r_${kv%%=*}" '%s' "${kv#*=}"
    done
    for k in $result_keys; do
        local v="r_$k"
        [ -n "${!v}" ] || die "wrk's result lacks '$k' (run $name): $line"
    done
    r_first_error=$(sed -n 's/^STS-FIRST-ERROR //p' "$tmp/$name.wrk" | head -n1)
}

# Formatting helpers: awk does the floating point.
per_s() { awk -v n="$1" -v us="$2" 'BEGIN { printf "%.0f", n / (us / 1e6) }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2fms", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
# What a run added to a count of rows: the count less the --devices already there.
added() { [[ $1 =~ ^[0-9]+$ ]] && echo $(($1 - devices)); }

# --- --check: the load itself -------------------------------------------------

luhn_ok() { # prints the IMEIs of "imei rid len" lines that fail Luhn
    awk '{
        s = $1; sum = 0
        if (length(s) != 15 || s !~ /^[0-9]+$/) { print s; next }
        for (i = 15; i >= 1; i--) {
            d = substr(s, i, 1) + 0
            if ((15 - i) % 2 == 1) { d *= 2; if (d > 9) d -= 9 }
            sum += d
        }
        if (sum % 10 != 0) print s
    }'
}

if [ $check_only -eq 1 ]; then
    start_nginx
    mkdir -p "$tmp/dump"
    run_wrk check "$nginx_url" keepalive "$threads" 1 "dump=$tmp/dump/t"
    cat "$tmp/dump"/t.*.ids >"$tmp/dump/all"
    n=$(wc -l <"$tmp/dump/all")
    [ "$n" -gt 0 ] || die "check: nothing was sent"
    bad=0
    badluhn=$(luhn_ok <"$tmp/dump/all" | head -n3)
    [ -z "$badluhn" ] || { echo "check: IMEIs failing Luhn: $badluhn" >&2; bad=1; }
    dupi=$(awk '{ print $1 }' "$tmp/dump/all" | sort | uniq -d | head -n3)
    [ -z "$dupi" ] || { echo "check: repeated IMEIs: $dupi" >&2; bad=1; }
    dupr=$(awk '{ print $2 }' "$tmp/dump/all" | sort | uniq -d | head -n3)
    [ -z "$dupr" ] || { echo "check: repeated report_ids: $dupr" >&2; bad=1; }
    badr=$(awk '$2 !~ /^[0-9a-f]+$/ || length($2) != 32 { print $2 }' "$tmp/dump/all" | head -n3)
    [ -z "$badr" ] || { echo "check: malformed report_ids: $badr" >&2; bad=1; }
    badl=$(awk '$3 != 400 { print $3 }' "$tmp/dump/all" | sort -u | head -n3)
    [ -z "$badl" ] || { echo "check: body lengths other than 400: $badl" >&2; bad=1; }
    nb=0
    for f in "$tmp/dump"/t.*.json; do
        nb=$((nb + 1))
        if command -v jq >/dev/null 2>&1; then
            # Exactly the activation's keys, the right types, today's date.
            jq -e --arg day "$today" '
                (keys == (["brand","country","day","imei","model","report_id","sw","type","v"]))
                and .v == 1 and .type == "activation" and .day == $day
                and (.imei | test("^[0-9]{15}$")) and (.report_id | test("^[0-9a-f]{32}$"))' \
                "$f" >/dev/null || { echo "check: not a valid activation: $f" >&2; bad=1; }
        fi
        [ "$(wc -c <"$f")" -eq 400 ] || { echo "check: $f is not 400 bytes" >&2; bad=1; }
    done
    command -v jq >/dev/null 2>&1 || echo "check: jq missing, JSON of the bodies not checked" >&2
    echo "check: $n reports sent in 1 s, $nb bodies inspected; nginx answered" \
        "204=$r_s204 other=$r_other; example body:"
    bodies=("$tmp/dump"/t.*.json)
    cat "${bodies[0]}"
    echo
    if [ "$r_s204" -eq 0 ] || [ "$r_other" -ne 0 ]; then
        echo "check: nginx answers wrong" >&2
        bad=1
    fi
    [ $bad -eq 0 ] || die "check FAILED"
    echo "check: OK (distinct Luhn-valid IMEIs, distinct report_ids, 400-byte bodies)"
    exit 0
fi

# --- the runs -----------------------------------------------------------------

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "STS ingestion benchmark: $(date -u '+%F %T') UTC, $(nproc) CPUs," \
    "load average $load0, ${duration} s per run, wrk -t$threads"
echo "  $(uname -sr); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2); $(nginx -v 2>&1 | sed 's/.*: //')"
if [ "$(stat -f -c %T "$tmp")" = tmpfs ]; then
    echo "  WARNING: $tmp is on tmpfs: fsync costs nothing there, the collector's figures" \
        "are not those of a durable store (set TMPDIR to a directory on a disk)"
fi
if [ $nginx_only -eq 0 ]; then
    rev=$(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?')
    echo "  collector: $collector ($("$collector" --version 2>&1 | head -n1 || echo '?')," \
        "source $rev)${serve_args:+, serve $serve_args}${pg_args:+, on PostgreSQL $pg_args}"
    "$collector" keygen --out "$tmp/pseudonym.key" >"$tmp/keygen.log" 2>&1 ||
        { cat "$tmp/keygen.log" >&2; die "sts-collector keygen failed"; }
    if [ $ohttp -eq 1 ]; then
        ohttp_client=$bin/tests/ohttp_client
        [ -x "$ohttp_client" ] || die "--ohttp needs $ohttp_client: build the tests first"
        "$collector" keygen --ohttp --out "$tmp/ohttp.key" >>"$tmp/keygen.log" 2>&1 ||
            { cat "$tmp/keygen.log" >&2; die "sts-collector keygen --ohttp failed"; }
    fi
fi
if [ $sync_free -eq 1 ] && [ $nginx_only -eq 0 ]; then
    command -v cc >/dev/null 2>&1 || die "--sync-free needs a C compiler (cc)"
    cc -shared -fPIC -O2 -o "$tmp/nosync.so" "$HERE/ingest/nosync.c" 2>"$tmp/nosync.log" ||
        { cat "$tmp/nosync.log" >&2; die "could not build bench/ingest/nosync.c"; }
fi
if [ $pg -eq 1 ]; then
    # pg.sh reads STS_TMP and calls sts_die.
    # shellcheck disable=SC2034
    STS_TMP=$tmp
    # shellcheck disable=SC2317
    sts_die() { die "$@"; }
    # shellcheck source=SCRIPTDIR/../tests/e2e/lib/pg.sh
    . "$HERE/../tests/e2e/lib/pg.sh"
    pg_available || die "--db postgresql needs the PostgreSQL server (scripts/deps.sh)"
    [ "$(id -u)" -ne 0 ] || chmod 755 "$tmp"
    pg_init pg
    pg_start pg
    echo "  postgresql: $("$PG_BIN/postgres" --version), a throwaway cluster on a Unix socket"
fi
# A fresh database of the cluster for a run: a copy of the filled one with --devices.
bench_createdb() { # name
    if [ "$devices" -gt 0 ]; then
        pg_sql pg postgres "CREATE DATABASE $1 TEMPLATE bench_filled" >/dev/null ||
            die "cannot create database $1"
    else
        pg_createdb pg "$1"
    fi
}
if [ "$devices" -gt 0 ] && [ $nginx_only -eq 0 ]; then
    filler=$bin/bench/bench_store
    [ -x "$filler" ] || die "--devices needs $filler: build the benchmarks first"
    echo "  filling a database with $devices devices (bench_store --fill)..." >&2
    "$filler" --fill "sqlite:$tmp/filled.db" "$devices" || die "bench_store --fill failed"
    if [ $pg -eq 1 ]; then
        pg_createdb pg bench_filled
        "$filler" --fill "$(pg_uri pg bench_filled)" "$devices" ||
            die "bench_store --fill failed on PostgreSQL"
    fi
    echo "  every collector starts on a database already holding $devices devices"
fi
echo

if [ $callgrind -eq 1 ]; then
    install_pkg valgrind valgrind
    # cg_run NAME SECONDS LOAD: sets cg_ir (instructions) and cg_rows (activations stored).
    cg_run() {
        local name=$1 secs=$2 load=$3
        collector_prefix="valgrind --tool=callgrind --callgrind-out-file=$tmp/$name.cg --log-file=$tmp/$name.vg"
        start_polls=1200 start_collector "$name"
        if [ "$load" -eq 1 ]; then
            run_wrk "$name" "$collector_url" keepalive 8 "$secs"
        else
            sleep "$secs"
        fi
        stop_collector "$name"
        collector_prefix=
        cg_ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$tmp/$name.cg" | head -n1)
        [ -n "$cg_ir" ] || die "callgrind wrote no summary (run $name, see $tmp/$name.vg)"
        cg_rows=$(added "$(sqlite3 "$db" 'select count(*) from activation;')")
    }
    echo "callgrind: 8 keep-alive connections for 20 s, then 20 s idle (progress on stderr)" >&2
    cg_run cg-load 20 1
    load_ir=$cg_ir load_rows=$cg_rows
    cg_run cg-idle 20 0
    [ "$load_rows" -gt 0 ] || die "callgrind: no activation stored under load"
    per=$(( (load_ir - cg_ir) / load_rows ))
    if [ "$per" -le $TARGET_INSTRUCTIONS ]; then verdict="MET (<= $TARGET_INSTRUCTIONS)"
    else verdict="MISSED (> $TARGET_INSTRUCTIONS)"; fi
    echo "callgrind: $per instructions per activation ($load_ir under load for $load_rows" \
        "activations, $cg_ir idle): $verdict"
    echo "costliest functions under load (self cost, all threads):"
    callgrind_annotate --threshold=70 "$tmp/cg-load.cg" 2>/dev/null |
        awk '/^ *[0-9,]+ +\([ 0-9.]+%\)/ && n < 15 { print "  " $0; n++ }'
    echo
fi

# --collectors N: N collectors on one fresh PostgreSQL database, started one after
# the other (each applies the schema before it says it is listening), each on its
# own port with the same key, loaded at once by N wrk instances that split C
# connections between them (thread numbers apart, so every report is distinct).
# Appends its rows; sets failed when the counts do not add up.
run_multi() { # mode, connections, nginx req/s, committed/s of the one collector on PostgreSQL
    local mode=$1 c=$2 n_rps=$3 one_cps=$4
    local dbname="bench_${mode}_${c}_x$ncoll" base="pg$ncoll-$mode-$c" i rc
    local urls=() conns=()
    bench_createdb "$dbname"
    pg_db=$(pg_uri pg "$dbname")
    for ((i = 0; i < ncoll; i++)); do
        # shellcheck disable=SC2086 # a list of words
        start_collector "$base-$i" $pg_args
        multi_pids+=("$collector_pid")
        urls+=("$collector_url")
        collector_pid=
    done
    pg_db=
    for ((i = 0; i < ncoll; i++)); do
        conns+=($((c / ncoll + (i < c % ncoll ? 1 : 0))))
        wrk -t"$threads_each" -c"${conns[i]}" -d"${duration}s" --timeout 10s --latency \
            -s "$LUA" "${urls[i]}" -- "day=$today" "mode=$mode" "nonce=$nonce" \
            "tbase=$((i * threads_each))" >"$tmp/$base-$i.wrk" 2>&1 &
        wrk_pids+=("$!")
    done
    for ((i = 0; i < ncoll; i++)); do
        rc=0
        wait "${wrk_pids[i]}" || rc=$?
        [ $rc -eq 0 ] || { cat "$tmp/$base-$i.wrk" >&2; die "wrk failed (run $base-$i)"; }
    done
    wrk_pids=()
    for ((i = 0; i < ncoll; i++)); do
        collector_pid=${multi_pids[i]}
        stop_collector "$base-$i"
    done
    multi_pids=()

    # The N loads together: their sums, the longest run, the worst latencies.
    local requests=0 sent=0 s202=0 s200=0 other=0 errs=0 dur=0 p50=0 p99=0 codes=
    for ((i = 0; i < ncoll; i++)); do
        parse_wrk "$base-$i"
        requests=$((requests + r_requests)) sent=$((sent + r_sent))
        s202=$((s202 + r_s202)) s200=$((s200 + r_s200)) other=$((other + r_other))
        errs=$((errs + r_connect + r_read + r_write + r_timeout))
        [ "$r_duration_us" -le $dur ] || dur=$r_duration_us
        [ "$r_p50_us" -le $p50 ] || p50=$r_p50_us
        [ "$r_p99_us" -le $p99 ] || p99=$r_p99_us
        [ "$r_codes" = - ] || codes="$codes${codes:+,}$r_codes"
    done

    # What is stored, through the collector's own audit, and the rows themselves.
    local audit stored report_ids table_rows
    audit=$("$collector" audit --db "$(pg_uri pg "$dbname")" --format json 2>"$tmp/$base.audit.err") ||
        { cat "$tmp/$base.audit.err" >&2; die "sts-collector audit failed (run $base)"; }
    stored=$(added "$(jq -r .devices <<<"$audit")")
    report_ids=$(added "$(jq -r .report_ids <<<"$audit")")
    table_rows=$(added "$(pg_sql pg "$dbname" 'select count(*) from activation')") ||
        die "could not count the stored activations of run $base"

    local rps cps x unanswered=$((sent - requests)) notes=() n row
    rps=$(per_s "$requests" "$dur")
    cps=$(per_s "$stored" "$dur")
    x=$(ratio "$cps" "$n_rps")
    if [ "$stored" -lt "$s202" ]; then
        notes+=("LOST: $s202 answered 202 but only $stored stored")
        failed=1
    elif [ "$stored" -gt $((s202 + unanswered)) ]; then
        notes+=("WRONG COUNT: $stored stored, more than $s202 answered 202 + $unanswered unanswered")
        failed=1
    fi
    if [ "$table_rows" != "$stored" ] || [ "$report_ids" != "$stored" ]; then
        notes+=("WRONG COUNT: audit says $stored devices and $report_ids report ids, the table $table_rows rows")
        failed=1
    fi
    [ "$s200" -eq 0 ] || notes+=("$s200 answered 200 duplicate")
    [ "$other" -eq 0 ] || notes+=("errors: answers $codes")
    [ "$errs" -eq 0 ] || notes+=("$errs wrk errors")
    printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
        "pg x$ncoll" "$mode" "$c" "$rps" "$cps" "$(ms "$p50")" "$(ms "$p99")" \
        "$other" "$x" "vs 1 collector $(ratio "$cps" "$one_cps")x"
    rows+=("$row")
    echo "  $row" >&2
    row="          $ncoll collectors, wrk -t$threads_each -c$(IFS=+; echo "${conns[*]}"):"
    row="$row sent=$sent answered=$requests 202=$s202 stored=$stored (audit; table $table_rows rows)"
    for n in ${notes[@]+"${notes[@]}"}; do row="$row; $n"; done
    rows+=("$row")
}

start_nginx
echo "runs (progress on stderr):" >&2

rows=()
failed=0
missed=0
printf -v header '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
    target mode conns req/s committed/s p50 p99 non-2xx ratio verdict

for mode in $modes_list; do
    for c in $conns_list; do
        # nginx: the ceiling.
        run_wrk "nginx-$mode-$c" "$nginx_url" "$mode" "$c" "$duration"
        n_rps=$(per_s "$r_requests" "$r_duration_us")
        n_non2xx=$r_other
        note=
        [ "$r_other" -eq 0 ] || note="answers $r_codes"
        errs=$((r_connect + r_read + r_write + r_timeout))
        [ $errs -eq 0 ] || note="$note wrk errors: connect $r_connect read $r_read write $r_write timeout $r_timeout"
        printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
            nginx "$mode" "$c" "$n_rps" - "$(ms "$r_p50_us")" "$(ms "$r_p99_us")" \
            "$n_non2xx" 1.00 "ceiling${note:+ ($note)}"
        rows+=("$row")
        echo "  $row" >&2
        [ $nginx_only -eq 0 ] || continue

        # The collector, on a fresh database, under the same load.
        name=sts-$mode-$c
        start_collector "$name"
        run_wrk "$name" "$collector_url" "$mode" "$c" "$duration"
        stop_collector "$name"
        stored=$(added "$(sqlite3 "$db" 'select count(*) from activation;')") ||
            die "could not count the stored activations in $db"
        rps=$(per_s "$r_requests" "$r_duration_us")
        cps=$(per_s "$stored" "$r_duration_us")
        non2xx=$((r_other))
        x=$(ratio "$cps" "$n_rps")
        if [ "$mode" = keepalive ]; then target=$TARGET_KEEPALIVE; else target=$TARGET_CLOSE; fi
        if ge "$x" "$target"; then
            verdict="MET (>= ${target}x)"
        else
            verdict="MISSED (< ${target}x)"
            missed=$((missed + 1))
        fi
        # Every 202 must be in the database. Beyond them, only the reports still
        # unanswered when wrk stopped (at most one per connection) may have been
        # stored: wrk drops them, the collector may still commit them.
        unanswered=$((r_sent - r_requests))
        notes=()
        if [ "$stored" -lt "$r_s202" ]; then
            notes+=("LOST: $r_s202 answered 202 but only $stored stored")
            failed=1
        elif [ "$stored" -gt $((r_s202 + unanswered)) ]; then
            notes+=("WRONG COUNT: $stored stored, more than $r_s202 answered 202 + $unanswered unanswered")
            failed=1
        fi
        [ "$r_s200" -eq 0 ] || notes+=("$r_s200 answered 200 duplicate")
        [ "$r_other" -eq 0 ] || notes+=("errors: answers $r_codes")
        errs=$((r_connect + r_read + r_write + r_timeout))
        [ $errs -eq 0 ] || notes+=("wrk errors: connect $r_connect read $r_read write $r_write timeout $r_timeout")
        [ -z "$r_first_error" ] || notes+=("first: $r_first_error")
        printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
            collector "$mode" "$c" "$rps" "$cps" "$(ms "$r_p50_us")" "$(ms "$r_p99_us")" \
            "$non2xx" "$x" "$verdict"
        rows+=("$row")
        echo "  $row" >&2
        row="          sent=$r_sent answered=$r_requests 202=$r_s202 stored=$stored"
        row="$row (stored - 202 = $((stored - r_s202)), at most the $unanswered unanswered)"
        for n in "${notes[@]}"; do row="$row; $n"; done
        rows+=("$row")

        if [ $sync_free -eq 1 ]; then
            # The same load with the disk's flush taken out: not durable, a measurement.
            durable_cps=$cps durable_stored=$stored
            name=nosync-$mode-$c
            collector_prefix="env LD_PRELOAD=$tmp/nosync.so"
            start_collector "$name"
            collector_prefix=
            run_wrk "$name" "$collector_url" "$mode" "$c" "$duration"
            stop_collector "$name"
            stored=$(added "$(sqlite3 "$db" 'select count(*) from activation;')") ||
                die "could not count the stored activations in $db"
            cps=$(per_s "$stored" "$r_duration_us")
            note=
            [ "$r_other" -eq 0 ] || note=", answers $r_codes"
            printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
                no-sync "$mode" "$c" "$(per_s "$r_requests" "$r_duration_us")" "$cps" \
                "$(ms "$r_p50_us")" "$(ms "$r_p99_us")" "$r_other" "$(ratio "$cps" "$n_rps")" \
                "NOT DURABLE, vs durable $(ratio "$cps" "$durable_cps")x$note"
            rows+=("$row")
            echo "  $row" >&2
            cps=$durable_cps stored=$durable_stored
        fi

        if [ $pg -eq 1 ]; then
            # The same load at a collector on PostgreSQL, against SQLite's run.
            sqlite_cps=$cps sqlite_stored=$stored
            name=pg-$mode-$c
            bench_createdb "bench_${mode}_$c"
            pg_db=$(pg_uri pg "bench_${mode}_$c")
            # shellcheck disable=SC2086 # a list of words
            start_collector "$name" $pg_args
            run_wrk "$name" "$collector_url" "$mode" "$c" "$duration"
            stop_collector "$name"
            pg_db=
            stored=$(added "$(pg_sql pg "bench_${mode}_$c" 'select count(*) from activation')") ||
                die "could not count the stored activations of run $name"
            rps=$(per_s "$r_requests" "$r_duration_us")
            cps=$(per_s "$stored" "$r_duration_us")
            x=$(ratio "$cps" "$n_rps")
            verdict="vs SQLite $(ratio "$cps" "$sqlite_cps")x"
            if [ "$mode" = keepalive ]; then
                if ge "$x" "$TARGET_PG_KEEPALIVE"; then
                    verdict="MET (>= ${TARGET_PG_KEEPALIVE}x), $verdict"
                else
                    verdict="MISSED (< ${TARGET_PG_KEEPALIVE}x), $verdict"
                    missed=$((missed + 1))
                fi
            fi
            unanswered=$((r_sent - r_requests))
            notes=()
            if [ "$stored" -lt "$r_s202" ]; then
                notes+=("LOST: $r_s202 answered 202 but only $stored stored")
                failed=1
            elif [ "$stored" -gt $((r_s202 + unanswered)) ]; then
                notes+=("WRONG COUNT: $stored stored, more than $r_s202 answered 202 + $unanswered unanswered")
                failed=1
            fi
            [ "$r_other" -eq 0 ] || notes+=("errors: answers $r_codes")
            printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
                postgres "$mode" "$c" "$rps" "$cps" "$(ms "$r_p50_us")" "$(ms "$r_p99_us")" \
                "$r_other" "$x" "$verdict"
            rows+=("$row")
            echo "  $row" >&2
            row="          sent=$r_sent answered=$r_requests 202=$r_s202 stored=$stored"
            for n in "${notes[@]}"; do row="$row; $n"; done
            rows+=("$row")
            [ "$ncoll" -eq 1 ] || run_multi "$mode" "$c" "$n_rps" "$cps"
            cps=$sqlite_cps stored=$sqlite_stored
        fi
        [ $ohttp -eq 1 ] || continue

        # The same load sealed in OHTTP, on a fresh database, against the plain run.
        plain_cps=$cps
        name=ohttp-$mode-$c
        need=$((stored * 2 + 20000))
        start_collector "$name" --ohttp-key "$tmp/ohttp.key"
        curl -sS -o "$tmp/ohttp-keys" "${collector_url%/v1/reports}/v1/ohttp-keys" ||
            die "could not fetch the gateway key configuration"
        echo "  sealing $need requests for run $name..." >&2
        "$ohttp_client" gen --keys "$tmp/ohttp-keys" --count "$need" --day "$today" --pad 400 \
            >"$tmp/$name.requests" || die "ohttp_client gen failed"
        wrk_script=$OHTTP_LUA run_wrk "$name" "${collector_url%/v1/reports}/v1/ohttp" "$mode" \
            "$c" "$duration" "file=$tmp/$name.requests" "threads=$threads"
        stop_collector "$name"
        exhausted=$(sed -n 's/.* exhausted=\([0-9]*\).*/\1/p' "$tmp/$name.wrk" | tail -n1)
        rm -f "$tmp/$name.requests"
        stored=$(added "$(sqlite3 "$db" 'select count(*) from activation;')") ||
            die "could not count the stored activations in $db"
        rps=$(per_s "$r_requests" "$r_duration_us")
        cps=$(per_s "$stored" "$r_duration_us")
        x=$(ratio "$cps" "$plain_cps")
        if ge "$x" "$TARGET_OHTTP"; then
            verdict="MET (>= ${TARGET_OHTTP}x plain)"
        else
            verdict="MISSED (< ${TARGET_OHTTP}x plain)"
            missed=$((missed + 1))
        fi
        unanswered=$((r_sent - r_requests))
        notes=()
        if [ "$stored" -lt "$r_s202" ]; then
            notes+=("LOST: $r_s202 sealed answers but only $stored stored")
            failed=1
        elif [ "$stored" -gt $((r_s202 + unanswered)) ]; then
            notes+=("WRONG COUNT: $stored stored, more than $r_s202 answered + $unanswered unanswered")
            failed=1
        fi
        [ "${exhausted:-0}" -eq 0 ] || notes+=("$exhausted requests past the pre-generated ones (repeats)")
        [ "$r_other" -eq 0 ] || notes+=("errors: answers $r_codes")
        errs=$((r_connect + r_read + r_write + r_timeout))
        [ $errs -eq 0 ] || notes+=("wrk errors: connect $r_connect read $r_read write $r_write timeout $r_timeout")
        [ -z "$r_first_error" ] || notes+=("first: $r_first_error")
        printf -v row '%-9s %-9s %5s %9s %11s %9s %9s %8s %6s  %s' \
            ohttp "$mode" "$c" "$rps" "$cps" "$(ms "$r_p50_us")" "$(ms "$r_p99_us")" \
            "$r_other" "$x" "$verdict"
        rows+=("$row")
        echo "  $row" >&2
        row="          sent=$r_sent answered=$r_requests sealed-200=$r_s202 stored=$stored"
        for n in "${notes[@]}"; do row="$row; $n"; done
        rows+=("$row")
    done
done

echo "$header"
printf '%s\n' "${rows[@]}"
echo
echo "req/s: answers per second seen by wrk; committed/s: rows in the database after the"
echo "collector stopped, per second of the run; ratio: committed/s over nginx req/s in the"
echo "same mode and connection count. Targets: keepalive >= ${TARGET_KEEPALIVE}x, close >= ${TARGET_CLOSE}x."
if [ "$ncoll" -gt 1 ]; then
    echo "pg x$ncoll rows: $ncoll collectors on one PostgreSQL database, each loaded by its own"
    echo "wrk at once, the connections split between them; committed/s: rows counted by"
    echo "'sts-collector audit' over the longest of the runs; p50/p99: the worst of the wrk;"
    echo "ratio: to nginx; 'vs 1 collector': over the postgres row just above."
fi
if [ $sync_free -eq 1 ]; then
    echo "no-sync rows: the collector with fdatasync and fsync made no-ops, NOT durable: what"
    echo "waiting for this disk's flush costs; 'vs durable': over the collector row above."
fi
if [ $ohttp -eq 1 ]; then
    echo "ohttp rows: the same reports sealed in Oblivious HTTP to /v1/ohttp; ratio: committed/s"
    echo "over the plain collector row just above. Target: >= ${TARGET_OHTTP}x."
fi
echo "wrk and the server share the machine's $(nproc) CPUs: figures depend on its load"
echo "(load average at the start: $load0; at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
if awk -v l="${load0%% *}" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "WARNING: the machine was not idle at the start (1-minute load average ${load0%% *}):"
    echo "other work competes for the CPUs; compare ratios, not absolute figures, or rerun."
fi
if [ $nginx_only -eq 0 ]; then
    if [ $missed -eq 0 ]; then echo "All targets MET."; else echo "$missed target(s) MISSED."; fi
fi
[ $failed -eq 0 ] || die "counts do not add up (see above): the benchmark FAILED"
exit 0
