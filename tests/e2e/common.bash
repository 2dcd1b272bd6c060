# Shared helpers of the end-to-end scripts, sourced by them (the .bash suffix
# keeps it out of the tests/e2e/*.sh glob that CMake turns into tests).
#
# Every collector a script starts is recorded in STS_PIDS and stopped by PID
# on exit; every wait is bounded in count and time.

STS_PIDS=()
declare -A STS_ERRS=() # PID -> the file its stderr goes to
STS_TMP=""

sts_die()
{
    echo "FAIL: $*" >&2
    exit 1
}

# Creates the scratch directory and the exit trap. Call once, first.
sts_setup()
{
    : "${STS_BIN:?STS_BIN must name the build directory}"
    : "${STS_SRC:?STS_SRC must name the source directory}"
    COLLECTOR="$STS_BIN/sts-collector"
    [ -x "$COLLECTOR" ] || sts_die "no collector at $COLLECTOR"
    STS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sts-e2e.XXXXXX")
    trap sts_cleanup EXIT
}

# sts_check NAME WANT_STATUS WANT_STDERR_SUBSTRING CMD...: runs CMD with its
# output in $STS_TMP/out and $STS_TMP/err, checks its exit status and (if not
# empty) that stderr contains the text, and prints ok or FAIL; a failure sets
# fail=1 and the script goes on (it ends on $fail).
sts_check()
{
    local name=$1 want=$2 text=$3 rc
    shift 3
    "$@" >"$STS_TMP/out" 2>"$STS_TMP/err" && rc=0 || rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, expected $want; stderr: $(cat "$STS_TMP/err")"
        fail=1
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$STS_TMP/err"; then
        echo "FAIL $name: stderr lacks '$text': $(cat "$STS_TMP/err")"
        fail=1
    else
        echo "ok   $name"
    fi
}

# sts_keygen: a pseudonym key for the test's collectors at $STS_TMP/key.
sts_keygen()
{
    "$COLLECTOR" keygen --out "$STS_TMP/key" 2>/dev/null || sts_die "keygen failed"
}

sts_cleanup()
{
    local pid
    # Every one, whatever the status of the one before: the scripts run with
    # set -e, which applies here too, and wait returns a killed child's 137.
    for pid in "${STS_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STS_PIDS=()
    if [ -n "$STS_TMP" ] && [ -z "${STS_KEEP:-}" ]; then
        rm -rf "$STS_TMP"
    fi
}

# sts_start ERRFILE ARGS... : starts `sts-collector serve ARGS...` in the
# background with stderr to ERRFILE (stdout to ERRFILE.out), waits (at most
# 10 s) for its "listening on" line, and sets SRV_PID and SRV_PORT.
sts_start()
{
    local err=$1
    shift
    : >"$err"
    "$COLLECTOR" serve --listen 127.0.0.1:0 "$@" >"$err.out" 2>"$err" &
    SRV_PID=$!
    STS_PIDS+=("$SRV_PID")
    STS_ERRS[$SRV_PID]=$err
    SRV_PORT=""
    local i
    for ((i = 0; i < 200; i++)); do
        SRV_PORT=$(sed -n 's|^sts-collector: listening on http://127\.0\.0\.1:\([0-9]*\)\( (.*)\)\{0,1\}$|\1|p' "$err")
        [ -n "$SRV_PORT" ] && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$err" >&2
    sts_die "collector did not start (serve $*)"
}

# sts_forget PID: drops PID from the list of processes to kill on exit.
sts_forget()
{
    local keep=() p
    for p in "${STS_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    STS_PIDS=("${keep[@]}")
}

# sts_stop PID: SIGTERM, then waits at most 15 s for a clean exit (status 0).
sts_stop()
{
    local pid=$1 i rc
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        sts_forget "$pid"
        sts_die "collector $pid did not stop on SIGTERM within 15 s"
    fi
    wait "$pid"
    rc=$?
    sts_forget "$pid"
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "${STS_ERRS[$pid]}" >&2
        sts_die "collector $pid exited with status $rc after SIGTERM"
    fi
}

# sts_kill9 PID: kill -9 and reap.
sts_kill9()
{
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    sts_forget "$1"
}

# sts_luhn BODY14: prints BODY14 followed by its Luhn check digit.
sts_luhn()
{
    local b=$1 sum=0 i d
    for ((i = 0; i < 14; i++)); do
        d=${b:i:1}
        if ((i % 2 == 1)); then
            d=$((d * 2))
            ((d > 9)) && d=$((d - 9))
        fi
        sum=$((sum + d))
    done
    printf '%s%d\n' "$b" $(((10 - sum % 10) % 10))
}

# sts_imei N: a test IMEI (TAC 35209900, serial N mod 10^6), Luhn-valid.
sts_imei()
{
    sts_luhn "$(printf '35209900%06d' $(($1 % 1000000)))"
}

# sts_rid N [SALT]: a report id (32 lower-case hex) derived from N.
sts_rid()
{
    printf '%08x%024x\n' "${2:-0}" "$1"
}

# sts_activation RID IMEI [MODEL] [COUNTRY] [DAY]
sts_activation()
{
    local country=""
    [ -n "${4-FR}" ] && country=",\"country\":\"${4-FR}\""
    printf '{"v":1,"type":"activation","report_id":"%s","imei":"%s","brand":"acme-eu","model":"%s","sw":"%s-V12"%s,"day":"%s"}' \
        "$1" "$2" "${3:-K400}" "${3:-K400}" "$country" "${5:-2026-11-20}"
}
