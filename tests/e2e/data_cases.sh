# Runs the declarative collector cases of tests/data/*.case (format in
# tests/data/README.md): one collector with a fresh database per case, the
# setup requests, then the request, whose status, exact body, headers and the
# database row counts are compared with what the case expects.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/data_cases.sh [CASE-FILE...]
#
# With STS_CASES_VIA=ohttp, every case whose request is a plain report (POST
# /v1/reports, application/json, no token, not chunked) is sent instead sealed
# in Oblivious HTTP to /v1/ohttp, and must get the same inner status, the same
# body and leave the same rows: the gateway handles the inner request exactly
# as POST /v1/reports would. Other cases are skipped in that mode.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup

TABLES=(activation reactivation sales_day lifetime_count version_count report_id)
NOW_DAY=2026-11-20
export STS_NOW_DAY=$NOW_DAY

"$COLLECTOR" keygen --out "$STS_TMP/key" 2>/dev/null || sts_die "keygen failed"
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

# run_case FILE: prints what differs and returns 1 on failure.
run_case()
{
    local file=$1
    local title="" method=POST path=/v1/reports ctype=application/json auth=none
    local body="" body_set=0 printf_body=0 pad="" chunked=0
    local status="" expect="" expect_set=0
    local -a serve_args=() setups=() headers=() sqls=()
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
        sql) sqls+=("$rest") ;;
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
    local db=$dir/sts.db
    sts_start "$dir/err" --db "sqlite:$db" --key "$STS_TMP/key" --token-file "$STS_TMP/token" \
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
    # Row counts: every table not named by the case must be empty.
    for t in "${TABLES[@]}"; do
        local want=${rows[$t]:-0} have
        have=$(sqlite3 "$db" "SELECT count(*) FROM $t" 2>&1)
        if [ "$have" != "$want" ]; then
            echo "  rows: $t has $have, expected $want"
            bad=1
        fi
    done
    local q
    for q in "${sqls[@]}"; do
        local query=${q% => *} want=${q##* => } have
        have=$(sqlite3 "$db" "$query" 2>&1 | tr '\n' ' ' | sed 's/ $//')
        if [ "$have" != "$want" ]; then
            echo "  sql: $query -> '$have', expected '$want'"
            bad=1
        fi
    done
    sts_stop "$SRV_PID"
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

echo "$ran cases ($VIA), $failures failed, $skipped skipped"
((ran - skipped >= 1)) || sts_die "no cases ran"
exit $((failures > 0))
