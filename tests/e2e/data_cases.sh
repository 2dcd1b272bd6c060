# Runs the declarative collector cases of tests/data/*.case (format in
# tests/data/README.md): one collector with a fresh database per case, the
# setup requests, then the request, whose status, exact body, headers and
# what is stored are compared with what the case expects. What is stored is
# read through the collector's own commands only (`audit --format json` for
# the row counts and the inventory, `export` for a device's rows), so the
# cases hold on every backend.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/data_cases.sh [CASE-FILE...]
#
# With STS_DATA_BACKEND=postgresql, each case gets an empty schema of its own
# in a throwaway PostgreSQL cluster (tests/e2e/lib/pg.sh) instead of a new
# SQLite file; without the server binaries the run is skipped.
#
# With STS_CASES_VIA=ohttp, every case whose request is a plain report (POST
# /v1/reports, application/json, no token, not chunked) is sent instead sealed
# in Oblivious HTTP to /v1/ohttp, and must get the same inner status, the same
# body and leave the same rows: the gateway handles the inner request exactly
# as POST /v1/reports would. Other cases are skipped in that mode.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup

# The tables a case names in its `rows` lines, each with the key of
# `audit --format json` that counts its rows (the one place they are mapped).
TABLES=(activation reactivation sales_day lifetime_count version_count report_id)
declare -A AUDIT_KEY=([activation]=devices [reactivation]=reactivations [sales_day]=sales_cells
    [lifetime_count]=lifetime_cells [version_count]=version_cells [report_id]=report_ids)
AUDIT_COUNTS="" # one jq filter printing them all, in the order of TABLES
for t in "${TABLES[@]}"; do AUDIT_COUNTS+="${AUDIT_COUNTS:+, }.${AUDIT_KEY[$t]}"; done
BACKEND=${STS_DATA_BACKEND:-sqlite}
case $BACKEND in
sqlite) ;;
postgresql)
    . "$STS_SRC/tests/e2e/lib/pg.sh"
    pg_skip_unless_available
    pg_setup
    pg_init pg
    # The cluster is thrown away: durability is not what is tested.
    pg_start pg "" fsync=off synchronous_commit=off full_page_writes=off
    pg_createdb pg sts
    ;;
*) sts_die "STS_DATA_BACKEND must be sqlite or postgresql, not '$BACKEND'" ;;
esac
NOW_DAY=2026-11-20
export STS_NOW_DAY=$NOW_DAY

sts_keygen
"$COLLECTOR" keygen --token --out "$STS_TMP/token" 2>/dev/null || sts_die "keygen --token failed"
TOKEN=$(head -n1 "$STS_TMP/token")
VIA=${STS_CASES_VIA:-plain}
case $VIA in
plain) ;;
ohttp)
    CLIENT=$STS_BIN/tests/ohttp_client
    [ -x "$CLIENT" ] || sts_die "no $CLIENT: build the tests first"
    "$COLLECTOR" keygen --ohttp --out "$STS_TMP/ohttp.key" 2>/dev/null || sts_die "keygen --ohttp failed"
    ;;
*) sts_die "STS_CASES_VIA must be plain or ohttp, not '$VIA'" ;;
esac
skipped=0

if [ $# -gt 0 ]; then
    CASES=("$@")
else
    CASES=("$STS_SRC"/tests/data/[0-9][0-9][0-9][0-9]-*.case)
fi

failures=0
ran=0

# On PostgreSQL each case gets an empty schema of its own (case1, case2, ...)
# in one database, made here in one go: the collector creates every table,
# index and function of the store in the first schema of its search_path
# (libpq's options=-csearch_path in the URI), and audit reads the live schema
# of current_schema(), so each case starts from nothing as on a new SQLite file.
# A CREATE DATABASE per case would cost about a second each.
if [ "$BACKEND" = postgresql ]; then
    ddl=""
    for ((i = 1; i <= ${#CASES[@]}; i++)); do ddl+="CREATE SCHEMA case$i;"; done
    pg_sql pg sts "$ddl" >/dev/null || sts_die "cannot create the cases' schemas"
fi

# post_setup STATUS BODY: one earlier report; its status must be STATUS.
post_setup()
{
    local want=$1 body=$2 got
    printf '%s' "$body" >"$STS_TMP/setup.body"
    got=$(curl -sS --max-time 10 -o "$STS_TMP/setup.out" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H 'Expect:' \
        --data-binary @"$STS_TMP/setup.body" "http://127.0.0.1:$SRV_PORT/v1/reports")
    if [ "$got" != "$want" ]; then
        echo "  setup: status $got, expected $want: $(cat "$STS_TMP/setup.out")"
        return 1
    fi
}

# check_stored CHECK DB DIR: one `audit`, `audit-on` or `export` line of a
# case (format in tests/data/README.md): the jq filter's output on the
# command's JSON, lines joined by one space, must be the expected text.
check_stored()
{
    local kw=${1%% *} rest=${1#* } db=$2 dir=$3 json=$dir/audit.json
    local filter=${rest% => *} want=${rest##* => } have day imei
    case $kw in
    audit-on)
        day=${filter%% *}
        filter=${filter#* }
        json=$dir/audit-on.json
        if ! STS_NOW_DAY=$day "$COLLECTOR" audit --db "$db" --key "$STS_TMP/key" --format json \
            >"$json" 2>"$dir/audit.err"; then
            echo "  audit on $day failed: $(cat "$dir/audit.err")"
            return 1
        fi
        ;;
    export)
        imei=${filter%% *}
        filter=${filter#* }
        json=$dir/export.json
        if ! "$COLLECTOR" export --imei "$imei" --db "$db" --key "$STS_TMP/key" --format json \
            >"$json" 2>"$dir/export.err"; then
            echo "  export failed: $(cat "$dir/export.err")"
            return 1
        fi
        ;;
    esac
    have=$(jq -rc "$filter" "$json" 2>&1 | tr '\n' ' ' | sed 's/ $//')
    if [ "$have" != "$want" ]; then
        echo "  $kw ${imei:-}${day:-} $filter -> '$have', expected '$want'"
        return 1
    fi
}

# run_case FILE: prints what differs and returns 1 on failure.
run_case()
{
    local file=$1
    local title="" method=POST path=/v1/reports ctype=application/json auth=none
    local body="" body_set=0 printf_body=0 pad="" chunked=0
    local status="" expect="" expect_set=0
    local -a serve_args=() setups=() headers=() checks=()
    local -A rows=()
    local line kw rest n=0 ok=0

    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        [[ -z "$line" || "$line" == \#* ]] && continue
        kw=${line%% *}
        rest=""
        [[ "$line" == *" "* ]] && rest=${line#* }
        case $kw in
        title) title=$rest ;;
        serve) read -r -a serve_args <<<"$rest" ;;
        setup) setups+=("$rest") ;;
        method) method=$rest ;;
        path) path=$rest ;;
        type) ctype=$rest ;;
        auth) auth=$rest ;;
        body) body=$rest; body_set=1 ;;
        bodyf) body=$rest; body_set=1; printf_body=1 ;;
        pad) pad=$rest ;;
        chunked) chunked=1 ;;
        status) status=$rest ;;
        expect) expect=$rest; expect_set=1 ;;
        header) headers+=("$rest") ;;
        rows) rows[${rest%% *}]=${rest#* } ;;
        audit | export | audit-on) checks+=("$kw $rest") ;;
        *) echo "  $file:$n: unknown keyword '$kw'"; return 1 ;;
        esac
    done <"$file"
    [ -n "$status" ] || { echo "  $file: no 'status' line"; return 1; }
    if [ "$VIA" = ohttp ]; then
        if [ "$method $path $ctype $auth $chunked" != "POST /v1/reports application/json none 0" ] ||
            ((!body_set)); then
            skipped=$((skipped + 1))
            return 0
        fi
        serve_args+=(--ohttp-key "$STS_TMP/ohttp.key")
    fi
    local t
    for t in "${!rows[@]}"; do
        [[ " ${TABLES[*]} " == *" $t "* ]] || { echo "  $file: unknown table '$t'"; return 1; }
    done
    echo "case $(basename "$file"): $title"

    local dir=$STS_TMP/case
    rm -rf "$dir"
    mkdir -p "$dir"
    local db
    if [ "$BACKEND" = postgresql ]; then
        db="$(pg_uri pg sts)&options=-csearch_path%3Dcase$ran"
    else
        db=sqlite:$dir/sts.db
    fi
    sts_start "$dir/err" --db "$db" --key "$STS_TMP/key" --token-file "$STS_TMP/token" \
        "${serve_args[@]}"
    local url=http://127.0.0.1:$SRV_PORT

    local s
    for s in "${setups[@]}"; do
        post_setup "${s%% *}" "${s#* }" || { sts_stop "$SRV_PID"; return 1; }
    done

    # The body, byte for byte, padded with spaces (JSON whitespace) if asked.
    if ((printf_body)); then
        printf '%b' "$body" >"$dir/body"
    else
        printf '%s' "$body" >"$dir/body"
    fi
    if [ -n "$pad" ]; then
        local have
        have=$(stat -c %s "$dir/body")
        ((pad >= have)) || { echo "  body already longer than pad $pad"; return 1; }
        printf '%*s' $((pad - have)) '' >>"$dir/body"
    fi

    local -a curl_args=(-sS --max-time 10 -o "$dir/out" -D "$dir/headers" -w '%{http_code}'
        -X "$method" -H 'Expect:')
    if [ "$ctype" = none ]; then
        curl_args+=(-H 'Content-Type:')
    else
        curl_args+=(-H "Content-Type: $ctype")
    fi
    case $auth in
    token) curl_args+=(-H "Authorization: Bearer $TOKEN") ;;
    wrong) curl_args+=(-H "Authorization: Bearer ${TOKEN%?}x") ;;
    none) ;;
    *) echo "  unknown auth '$auth'"; return 1 ;;
    esac
    ((chunked)) && curl_args+=(-H 'Transfer-Encoding: chunked')
    ((body_set)) && curl_args+=(--data-binary @"$dir/body")

    local got
    if [ "$VIA" = ohttp ]; then
        # The inner answer: "status N", then the body (without a newline).
        curl -sS --max-time 10 -o "$dir/keys" "$url/v1/ohttp-keys" || { echo "  no key config"; return 1; }
        "$CLIENT" post --keys "$dir/keys" --url "$url/v1/ohttp" --body-file "$dir/body" \
            >"$dir/sealed" 2>&1 || echo "  the answer was not an opened OHTTP response: $(cat "$dir/sealed")"
        got=$(sed -n '1s/^status //p' "$dir/sealed")
        tail -n +2 "$dir/sealed" | head -c -1 >"$dir/out"
        headers=() # the inner answer's headers are not printed by the client
    else
        got=$(curl "${curl_args[@]}" "$url$path") || got="curl-error-$?"
    fi
    local bad=0
    if [ "$got" != "$status" ]; then
        echo "  status: got $got, expected $status"
        bad=1
    fi
    if ((expect_set)); then
        local out
        out=$(cat "$dir/out"; printf x)
        out=${out%x}
        if [ "$out" != "$expect" ]; then
            echo "  body:     $out"
            echo "  expected: $expect"
            bad=1
        fi
    fi
    local h
    for h in "${headers[@]}"; do
        if ! tr -d '\r' <"$dir/headers" | grep -qixF -- "$h"; then
            echo "  header '$h' missing; got:"
            sed 's/^/    /' "$dir/headers"
            bad=1
        fi
    done
    sts_stop "$SRV_PID"
    # Row counts: every table not named by the case must be empty.
    if ! "$COLLECTOR" audit --db "$db" --key "$STS_TMP/key" --format json >"$dir/audit.json" \
        2>"$dir/audit.err"; then
        echo "  audit failed: $(cat "$dir/audit.err")"
        bad=1
    fi
    local -a counts=()
    mapfile -t counts < <(jq -r "$AUDIT_COUNTS" "$dir/audit.json" 2>&1)
    local i
    for i in "${!TABLES[@]}"; do
        t=${TABLES[$i]}
        local want=${rows[$t]:-0} have=${counts[$i]:-none}
        if [ "$have" != "$want" ]; then
            echo "  rows: $t has $have (audit ${AUDIT_KEY[$t]}), expected $want"
            bad=1
        fi
    done
    local c
    for c in "${checks[@]}"; do
        check_stored "$c" "$db" "$dir" || bad=1
    done
    if grep -q 'runtime error\|AddressSanitizer\|LeakSanitizer' "$dir/err"; then
        echo "  the collector reported:"
        sed 's/^/    /' "$dir/err"
        bad=1
    fi
    return $bad
}

for f in "${CASES[@]}"; do
    [ -f "$f" ] || sts_die "no case file $f"
    ran=$((ran + 1))
    if ! run_case "$f"; then
        echo "FAILED: $(basename "$f")"
        failures=$((failures + 1))
    fi
done

[ "$BACKEND" = postgresql ] && pg_stop pg
echo "$ran cases ($VIA, $BACKEND), $failures failed, $skipped skipped"
((ran - skipped >= 1)) || sts_die "no cases ran"
exit $((failures > 0))
