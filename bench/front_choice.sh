#!/usr/bin/env bash
# bench/front_choice.sh: the project's own HTTP front against the HTTP server
# libraries Debian packages, on the framing cases it must refuse and on a no-op.
#
# It builds four no-op servers on 127.0.0.1 that answer POST /v1/reports with
# 202 and a small JSON body and anything else with 404 in JSON, each with one
# event thread and the library's default settings but the body cap (8 KiB, the
# collector's): libmicrohttpd, libevent's evhttp, h2o's libh2o-evloop
# (bench/front_choice/noop_*.c, built here with gcc) and the project's front
# (bench_front_noop, built with the project). Then, for each:
#
#   - the framing cases of tests/e2e/lib/framing.py (its --survey mode), sorted
#     by bench/front_choice/survey.py: of the requests that must be refused,
#     how many were answered once in JSON and closed, in HTML or text, twice,
#     not at all (hung, or closed silently), or passed to the handler as if
#     valid; how the well-formed ones fared; how much of a 200 MiB chunked
#     body was taken; whether a head sent one byte at a time was cut off;
#   - throughput with wrk (POST of a 184-byte JSON body), keep-alive and
#     Connection: close, as a ratio of nginx answering 202 from one worker,
#     measured in the same round just before (median of 3 rounds).
#
# Exit: 0 when everything was measured, 1 when something broke (a tool
# missing, a server that did not start or died), 2 on a usage error. See
# bench/README.md.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.bash
. "$HERE/lib.bash"
SRC=$HERE/front_choice
FRAMING=$HERE/../tests/e2e/lib/framing.py

duration=5
rounds=3
conns=64
threads=2
deadline=10
bin=${STS_BIN:-$HERE/../build/release}
servers_list="sts mhd evhttp h2o"
do_survey=1
do_load=1
verbose=
keep=0

usage() {
    cat <<EOF
usage: bench/front_choice.sh [options]

Framing cases and no-op throughput of the project's HTTP front, libmicrohttpd,
libevent's evhttp and h2o (libh2o-evloop), against nginx in the same run.

  --duration D     seconds per wrk run (default 5)
  --rounds N       rounds of wrk runs per mode (default 3): nginx, then each
                   server; the median ratio is printed with its spread
  --conns C        wrk connections (default 64)
  --threads N      wrk threads (default 2)
  --servers "S .." among sts mhd evhttp h2o (default all four)
  --survey-only    framing cases only
  --load-only      throughput only
  -v               list what each server answered to every case
  --bin DIR        the build with bench/bench_front_noop (default \$STS_BIN
                   or ./build/release; bash scripts/build.sh release)
  --keep           keep the temporary directory (sources built, logs, answers)
  -h, --help       this help

Installs wrk, nginx, libevent-dev, libh2o-evloop-dev and libmicrohttpd-dev
with apt-get when they are missing (needs root).
EOF
}

die() {
    echo "bench/front_choice.sh: $*" >&2
    exit 1
}

is_uint() { case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac }

while [ $# -gt 0 ]; do
    case $1 in
    --duration | --rounds | --conns | --threads | --servers | --bin)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case $1 in
        --duration) duration=$2 ;;
        --rounds) rounds=$2 ;;
        --conns) conns=$2 ;;
        --threads) threads=$2 ;;
        --servers) servers_list=$2 ;;
        --bin) bin=$2 ;;
        esac
        shift 2
        ;;
    --survey-only) do_load=0; shift ;;
    --load-only) do_survey=0; shift ;;
    -v) verbose=-v; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for n in "$duration" "$rounds" "$conns" "$threads"; do
    if ! is_uint "$n" || [ "$n" -eq 0 ]; then
        echo "bench/front_choice.sh: bad number '$n'" >&2
        exit 2
    fi
done
[ "$conns" -ge "$threads" ] || { echo "bench/front_choice.sh: $conns connections < $threads threads" >&2; exit 2; }
for s in $servers_list; do
    case $s in sts | mhd | evhttp | h2o) ;; *) echo "bench/front_choice.sh: bad server '$s'" >&2; exit 2 ;; esac
done

# --- tools --------------------------------------------------------------------

apt_updated=0
apt_install() { # Debian package
    [ "$(id -u)" -eq 0 ] || die "$1 is missing; install it (apt-get install $1) or run as root"
    command -v apt-get >/dev/null 2>&1 || die "$1 is missing and there is no apt-get"
    if [ $apt_updated -eq 0 ]; then
        apt-get update -qq || die "apt-get update failed"
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null || die "could not install $1"
}
need_cmd() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 && return 0
    apt_install "$2"
    hash -r
    command -v "$1" >/dev/null 2>&1 || die "$2 is installed but there is no '$1'"
}
need_lib() { # pkg-config module, Debian package
    pkg-config --exists "$1" 2>/dev/null && return 0
    apt_install "$2"
    pkg-config --exists "$1" || die "$2 is installed but pkg-config has no '$1'"
}

# Debian puts nginx in /usr/sbin, which a non-login root shell may lack in PATH.
PATH=$PATH:/usr/sbin:/sbin
need_cmd gcc gcc
need_cmd pkg-config pkg-config
need_cmd python3 python3
[ $do_load -eq 0 ] || need_cmd wrk wrk
[ $do_load -eq 0 ] || need_cmd nginx nginx-light
for s in $servers_list; do
    case $s in
    mhd) need_lib libmicrohttpd libmicrohttpd-dev ;;
    evhttp) need_lib libevent libevent-dev ;;
    h2o) need_lib libh2o-evloop libh2o-evloop-dev ;;
    sts)
        [ -x "$bin/bench/bench_front_noop" ] || die "no bench/bench_front_noop in $bin: build it first
  (bash scripts/build.sh release), or give --bin DIR"
        ;;
    esac
done

# --- processes and clean-up ---------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-front-choice.XXXXXX")
server_pid=
nginx_pid=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$server_pid" TERM
    stop_pid "$nginx_pid" QUIT
    if [ "$keep" -eq 1 ]; then
        echo "bench/front_choice.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the servers --------------------------------------------------------------

describe() {
    case $1 in
    sts) echo "own front" ;;
    mhd) echo "libmicrohttpd $(pkg-config --modversion libmicrohttpd)" ;;
    evhttp) echo "evhttp $(pkg-config --modversion libevent)" ;;
    h2o) # pkg-config has the library's own version (0.13), not h2o's
        echo "h2o $(dpkg-query -W -f='${Version}' libh2o-evloop-dev 2>/dev/null | sed 's/[+~-].*//')" ;;
    nginx) nginx -v 2>&1 | sed 's|.*nginx/|nginx |' ;;
    esac
}

build() { # server
    local mod
    case $1 in
    sts) return 0 ;;
    mhd) mod=libmicrohttpd ;;
    evhttp) mod=libevent ;;
    h2o) mod=libh2o-evloop ;;
    esac
    # shellcheck disable=SC2046 # pkg-config prints a list of words
    gcc -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DH2O_USE_LIBUV=0 -O2 -Wall -Wextra \
        -o "$tmp/noop_$1" "$SRC/noop_$1.c" $(pkg-config --cflags --libs "$mod") -lpthread \
        2>"$tmp/noop_$1.build" || { cat "$tmp/noop_$1.build" >&2; die "could not build noop_$1"; }
}

# Starts a server on a free port; sets server_pid (nginx_pid) and port.
start() { # server
    local prog
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 12000))
        port_in_use "$port" && continue
        if [ "$1" = nginx ]; then
            mkdir -p "$tmp/nginx"
            sed -e "s|@PREFIX@|$tmp/nginx|g" -e "s|@PORT@|$port|g" "$SRC/nginx.conf.in" \
                >"$tmp/nginx/nginx.conf"
            nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" \
                -g 'daemon off;' 2>"$tmp/nginx.err" &
            nginx_pid=$!
        else
            prog=$tmp/noop_$1
            [ "$1" = sts ] && prog=$bin/bench/bench_front_noop
            "$prog" "$port" 2>>"$tmp/$1.err" &
            server_pid=$!
        fi
        for _ in $(seq 1 100); do
            kill -0 "${nginx_pid:-$server_pid}" 2>/dev/null || break
            port_in_use "$port" && return 0
            sleep 0.05
        done
        if [ "$1" = nginx ]; then
            stop_pid "$nginx_pid" QUIT
            nginx_pid=
        else
            stop_pid "$server_pid" TERM
            server_pid=
        fi
    done
    cat "$tmp/$1.err" >&2 || true
    die "$1 did not start"
}

stop() { # server; fails if it had died
    local pid
    if [ "$1" = nginx ]; then pid=$nginx_pid; else pid=$server_pid; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$tmp/$1.err" >&2 || true; die "$1 died"; }
    if [ "$1" = nginx ]; then
        stop_pid "$nginx_pid" QUIT
        nginx_pid=
    else
        stop_pid "$server_pid" TERM
        server_pid=
    fi
}

for s in $servers_list; do build "$s"; done

# --- framing cases ------------------------------------------------------------

if [ $do_survey -eq 1 ]; then
    args=()
    for s in $servers_list; do
        echo "bench/front_choice.sh: framing cases against $(describe "$s")" >&2
        start "$s"
        timeout 600 python3 "$FRAMING" --survey "$port" "$deadline" >"$tmp/$s.survey" ||
            die "framing.py --survey failed against $s"
        stop "$s"
        args+=("$(describe "$s" | tr ' ' '_')=$tmp/$s.survey")
    done
    python3 "$SRC/survey.py" $verbose "${args[@]}"
fi

# --- throughput ---------------------------------------------------------------

rps() { # wrk output file: requests per second
    sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"
}
bad() { # wrk output file: non-2xx answers plus socket errors
    awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10}
         END {print n + 0}' "$1"
}

load() { # server, mode: sets r (requests/s) and e (errors)
    local hdr=()
    [ "$2" = close ] && hdr=(-H "Connection: close")
    start "$1"
    wrk -t"$threads" -c"$conns" -d"$duration"s --latency -s "$SRC/post.lua" ${hdr[@]+"${hdr[@]}"} \
        "http://127.0.0.1:$port/v1/reports" >"$tmp/$1.$2.wrk" 2>&1 || true
    stop "$1"
    r=$(rps "$tmp/$1.$2.wrk")
    e=$(bad "$tmp/$1.$2.wrk")
    [ -n "$r" ] || { cat "$tmp/$1.$2.wrk" >&2; die "wrk gave no figure for $1 ($2)"; }
}

# Each round runs nginx, then every server, for one mode; a server's ratio in
# a round is against the nginx run just before it, and the figure printed is
# the median over the rounds, with the lowest and highest, so that load from
# elsewhere on the machine shows as spread rather than as a verdict.
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
if [ $do_load -eq 1 ]; then
    declare -A RPS RATIO ERR
    for mode in keepalive close; do
        for round in $(seq 1 "$rounds"); do
            for s in nginx $servers_list; do
                echo "bench/front_choice.sh: round $round/$rounds, wrk -t$threads -c$conns -d${duration}s ($mode) against $(describe "$s")" >&2
                load "$s" "$mode"
                [ "$s" = nginx ] && ref=$r
                RPS[$s.$mode]="${RPS[$s.$mode]:-} $r"
                RATIO[$s.$mode]="${RATIO[$s.$mode]:-} $(awk -v a="$r" -v b="$ref" 'BEGIN {printf "%.3f", a / b}')"
                ERR[$s.$mode]=$((${ERR[$s.$mode]:-0} + e))
            done
        done
    done
    echo
    echo "No-op throughput, wrk -t$threads -c$conns -d${duration}s, POST /v1/reports -> 202, $rounds rounds:"
    echo "requests/s and ratio of nginx (one worker) in the same round, median [lowest-highest]"
    printf '%-22s %12s %18s %6s %12s %18s %6s\n' server "keep-alive/s" ratio errors "close/s" ratio errors
    for s in nginx $servers_list; do
        line=$(printf '%-22s' "$(describe "$s")")
        for mode in keepalive close; do
            # shellcheck disable=SC2086 # lists of figures
            line+=$(printf ' %12.0f %6.2f [%4.2f-%4.2f] %6s' \
                "$(printf '%s\n' ${RPS[$s.$mode]} | median)" \
                "$(printf '%s\n' ${RATIO[$s.$mode]} | median)" \
                "$(printf '%s\n' ${RATIO[$s.$mode]} | sort -g | head -n1)" \
                "$(printf '%s\n' ${RATIO[$s.$mode]} | sort -g | tail -n1)" "${ERR[$s.$mode]}")
        done
        echo "$line"
    done
fi
