# The command line: help and version, usage errors (exit 2), runtime
# failures (exit 1) with a message that says what to do, key handling, and
# the outputs of stats (table, CSV, JSON from the differentially private
# release: closed periods only, thresholds, intervals), export, erase and
# audit on known data.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
dir=$STS_TMP
fail=0

check() { sts_check "$@"; }

# same NAME FILE EXPECTED: FILE's content must be exactly EXPECTED.
same()
{
    local got
    got=$(cat "$2"; printf x)
    got=${got%x}
    if [ "$got" != "$3" ]; then
        echo "FAIL $1:"
        diff <(printf '%s' "$3") <(printf '%s' "$got") | sed 's/^/    /'
        fail=1
    else
        echo "ok   $1"
    fi
}

C=$COLLECTOR

# Help, version, usage errors.
check "--help" 0 "" "$C" --help
grep -q '^usage: sts-collector' "$dir/out" || { echo "FAIL --help: no usage on stdout"; fail=1; }
check "serve --help" 0 "" "$C" serve --help
check "--version" 0 "" "$C" --version
grep -qx 'sts-collector [0-9][0-9.]*' "$dir/out" || { echo "FAIL --version: $(cat "$dir/out")"; fail=1; }
check "no command" 2 "missing command" "$C"
check "unknown command" 2 "unknown command 'frobnicate'" "$C" frobnicate
check "unknown flag" 2 "Try 'sts-collector --help'" "$C" audit --db "sqlite:$dir/x.db" --frobnicate
grep -qF -- "--frobnicate" "$dir/err" || { echo "FAIL unknown flag: the flag is not named"; fail=1; }
check "stray argument" 2 "unexpected argument 'extra'" "$C" audit --db "sqlite:$dir/x.db" extra
check "serve without --db" 2 "serve needs --db" "$C" serve --key "$dir/key"
check "bad --k" 2 "bad value '1' for k" "$C" stats sales --db "sqlite:$dir/x.db" --k 1
check "stats without statistic" 2 "stats needs a statistic" "$C" stats --db "sqlite:$dir/x.db"

# Keys.
check "keygen" 0 "wrote pseudonym key" "$C" keygen --out "$dir/key"
[ "$(stat -c %a "$dir/key")" = 600 ] || { echo "FAIL keygen: mode $(stat -c %a "$dir/key")"; fail=1; }
cp "$dir/key" "$dir/key.orig"
check "keygen refuses to overwrite" 1 "already exists" "$C" keygen --out "$dir/key"
cmp -s "$dir/key" "$dir/key.orig" || { echo "FAIL keygen: the key changed"; fail=1; }
check "keygen --token" 0 "wrote API token" "$C" keygen --token --out "$dir/token"
[ "$(stat -c %a "$dir/token")" = 600 ] || { echo "FAIL keygen --token: mode"; fail=1; }
check "keygen --token refuses to overwrite" 1 "$dir/token" "$C" keygen --token --out "$dir/token"
check "keygen without --out" 2 "keygen needs --out" "$C" keygen

cp "$dir/key" "$dir/key644"
chmod 644 "$dir/key644"
check "serve with a world-readable key" 1 "readable by others; chmod 600 it" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key644"
[ ! -e "$dir/never.db" ] || { echo "FAIL serve with a bad key created the database"; fail=1; }
check "serve with a missing key" 1 "keygen --out" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/nokey"
cp "$dir/token" "$dir/token644"
chmod 644 "$dir/token644"
check "serve with a world-readable token" 1 "chmod 600 it" \
    "$C" serve --listen 127.0.0.1:0 --db "sqlite:$dir/never.db" --key "$dir/key" \
    --token-file "$dir/token644"
check "stats on a missing database" 1 "no database at '$dir/missing.db'" \
    "$C" stats sales --db "sqlite:$dir/missing.db"
[ ! -e "$dir/missing.db" ] || { echo "FAIL stats created the missing database"; fail=1; }
check "audit on a missing database" 1 "no database at" "$C" audit --db "sqlite:$dir/missing.db"
check "unknown database scheme" 1 "unknown database URI scheme" "$C" audit --db "mysql://x/y"

# Known data: 25 K400/FR, 12 K500/DE, 3 K500/IT, one re-activation of a
# K400/FR device, one lifetime ping.
db=$dir/sts.db
# A fixed release seed and a budget so large that the noise is almost nil
# (sigma under 0.3 device): the figures below are exact, the formats are
# what is checked here (the noise itself is tested in tests/unit and the
# attack and fleet tests, at the default budget).
export STS_TEST_RELEASE_SEED=cli
sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key" --token-file "$dir/token" --rho 100
url=http://127.0.0.1:$SRV_PORT
post()
{
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$url/v1/reports")
    [ "$code" = "$2" ] || sts_die "post: status $code, expected $2 for $1"
}
n=0
for spec in K400:FR:25 K500:DE:12 K500:IT:3; do
    IFS=: read -r model country count <<<"$spec"
    for ((i = 0; i < count; i++)); do
        n=$((n + 1))
        post "$(sts_activation "$(sts_rid "$n")" "$(sts_imei "$n")" "$model" "$country")" 202
    done
done
post "$(sts_activation "$(sts_rid 1 1)" "$(sts_imei 1)" K400 FR 2026-11-21)" 202
post '{"v":1,"type":"lifetime","report_id":"fedcba9876543210fedcba9876543210","brand":"acme-eu","model":"K400","sw":"K400-V13","cohort":"2026-01","period":"2026-11","first":false,"country":"FR"}' 202

# Nothing is published while the period is open: on 2026-11-20 neither the
# day nor the month is closed.
check "stats of an open period" 0 "" "$C" stats sales --db "sqlite:$db" --by model --format csv
same "stats of an open period output" "$dir/out" $'model,activations,activations_low,activations_high,reactivations,reactivations_low,reactivations_high\r\n'

# On 2026-12-10 November and its days are closed (grace: 7 days). k = 10: the
# IT cell (3) is not shown, and nothing says it exists; the total comes from
# the monthly table and what the rows do not show is one remainder. The
# single re-activation is under k.
export STS_NOW_DAY=2026-12-10
RELJSON='"release":{"rho_per_month":100.0,"through_day":"2026-12-02","through_month":"2026-11","tables":[{"table":"sales.month.brand.model.country","sigma":0.158113883,"rho":20.0,"threshold":10},{"table":"sales.month","sigma":0.4082486987,"rho":3.0,"threshold":10}]}'
JSON='{"stat":"sales","by":["model","country"],"period":null,"k":10,"rows":[{"model":"K400","country":"FR","activations":25,"activations_ci":[25,25]},{"model":"K500","country":"DE","activations":12,"activations_ci":[12,12]}],"total":{"activations":40,"activations_ci":[39,41],"not_shown":3},'"$RELJSON"'}'
check "stats json" 0 "" "$C" stats sales --db "sqlite:$db" --by model,country --format json
same "stats json output" "$dir/out" "$JSON"$'\n'
grep -q '"IT"' "$dir/out" && { echo "FAIL a cell under k is named"; fail=1; }

check "stats csv" 0 "" "$C" stats sales --db "sqlite:$db" --by model,country --format csv
same "stats csv output" "$dir/out" $'model,country,activations,activations_low,activations_high\r\nK400,FR,25,25,25\r\nK500,DE,12,12,12\r\n'

check "stats table" 0 "" "$C" stats sales --db "sqlite:$db" --by model,country --format table
same "stats table output" "$dir/out" "Figures from the differentially private release (rho = 100 per device and month), closed periods through 2026-12-02; only figures of at least 10 are shown. 95%: the interval that holds the true figure 19 times out of 20.
model  country  activations    95%
----------------------------------
K400   FR                25  25-25
K500   DE                12  12-12
----------------------------------
total                    40  39-41
3 of the total are in figures too small to show.
"

# The HTTP API gives the same figures as the CLI (a collector started on the
# later day).
sts_stop "$SRV_PID"
sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key" --token-file "$dir/token" --rho 100
url=http://127.0.0.1:$SRV_PORT
api=$(curl -sS --max-time 10 -H "Authorization: Bearer $(head -n1 "$dir/token")" \
    "$url/v1/stats/sales?by=model,country")
[ "$api" = "$JSON" ] || { echo "FAIL api: $api"; fail=1; }

# By model: re-activations are released per month, brand and model (under k here).
check "stats by model" 0 "" "$C" stats sales --db "sqlite:$db" --by model --format csv
same "stats by model output" "$dir/out" $'model,activations,activations_low,activations_high,reactivations,reactivations_low,reactivations_high\r\nK400,25,25,25,,,\r\nK500,15,15,15,,,\r\n'

# A lower floor set by whoever holds the database still cannot go under a
# table's threshold (here 2: what keeps a one-device cell hidden).
check "stats --k 3" 0 "" "$C" stats sales --db "sqlite:$db" --by model,country --format csv --k 3
same "stats --k 3 output" "$dir/out" $'model,country,activations,activations_low,activations_high\r\nK400,FR,25,25,25\r\nK500,DE,12,12,12\r\nK500,IT,3,3,3\r\n'
check "stats, no country" 0 "" "$C" stats sales --db "sqlite:$db" --by country --format csv --k 2 --model K400
same "stats, no country output" "$dir/out" $'country,activations,activations_low,activations_high\r\nFR,25,25,25\r\n'

# Periods: daily and weekly figures come from the daily table.
check "stats by day" 0 "" "$C" stats sales --db "sqlite:$db" --period day --format csv
# A row says how many of its parts (here the two models, and for a week
# its seven days of each) have no figure shown: none is missing from the
# day; the week shows one day of seven.
same "stats by day output" "$dir/out" $'period,activations,activations_low,activations_high,parts_not_shown\r\n2026-11-20,40,39,41,0\r\n'
check "stats by week" 0 "" "$C" stats sales --db "sqlite:$db" --period week --format csv
same "stats by week output" "$dir/out" $'period,activations,activations_low,activations_high,parts_not_shown\r\n2026-W47,40,39,41,12\r\n'
check "stats from/to" 0 "" "$C" stats sales --db "sqlite:$db" --from 2026-11-21 --to 2026-11-30 --format csv
same "stats from/to output" "$dir/out" $'activations,activations_low,activations_high\r\n'
check "stats by day and country" 2 "--period: daily and weekly sales are released by brand and model only" \
    "$C" stats sales --db "sqlite:$db" --period day --by country
check "stats sw and country" 2 "--by: sales by software version and country together are not released" \
    "$C" stats sales --db "sqlite:$db" --by sw,country
check "stats unknown model" 2 "--model: no published figure has model 'NOPE'" \
    "$C" stats sales --db "sqlite:$db" --model NOPE
check "stats unknown country" 2 "--country: no published figure has country 'ZZ'" \
    "$C" stats sales --db "sqlite:$db" --country ZZ
check "stats bad --format" 2 "must be table, csv or json" "$C" stats sales --db "sqlite:$db" --format xml
check "stats bad --by" 2 "--by:" "$C" stats sales --db "sqlite:$db" --by imei
check "stats bad --from" 2 "--from:" "$C" stats sales --db "sqlite:$db" --from 2026-02-30

# Export, erase and audit on the day the reports came.
export STS_NOW_DAY=2026-11-20
# Export, erase, export.
imei1=$(sts_imei 1)
check "export" 0 "" "$C" export --imei "$imei1" --db "sqlite:$db" --key "$dir/key"
# All that is held about a device: its month, not its day; nothing of what it
# is and no report id (docs/at-rest.md).
for want in '"held": true' '"month": "2026-11"' '"reactivations": 1' \
    "\"key_id\": \"$(sed -n 's/^current //p' "$dir/key")\"" '"not_linked"' '"not_stored"'; do
    grep -qF -- "$want" "$dir/out" || { echo "FAIL export lacks $want: $(cat "$dir/out")"; fail=1; }
done
for unwanted in report_id K400 FR brand country '"day"' 2026-11-2; do
    grep -qF -- "$unwanted" "$dir/out" && { echo "FAIL export holds $unwanted: $(cat "$dir/out")"; fail=1; }
done
grep -qF "$imei1" "$dir/out" && { echo "FAIL export prints the raw IMEI"; fail=1; }
check "export of an unknown device" 0 "" "$C" export --imei "$(sts_imei 999)" --db "sqlite:$db" --key "$dir/key"
[ "$(jq -c '[.held, (.keys_searched | length)]' "$dir/out")" = '[false,1]' ] ||
    { echo "FAIL export of an unknown device output: $(cat "$dir/out")"; fail=1; }
check "export with a bad IMEI" 2 "--imei: check digit does not match" \
    "$C" export --imei 352099001761482 --db "sqlite:$db" --key "$dir/key"
check "erase" 0 "" "$C" erase --imei "$imei1" --db "sqlite:$db" --key "$dir/key"
same "erase output" "$dir/out" $'erased 2 row(s) naming this device: 1 activation row(s), 1 re-activation row(s), looked up under 1 key(s); anonymous counters are kept\n'
check "export after erase" 0 "" "$C" export --imei "$imei1" --db "sqlite:$db" --key "$dir/key"
[ "$(jq -c .held "$dir/out")" = false ] || { echo "FAIL export after erase: $(cat "$dir/out")"; fail=1; }
check "erase again" 0 "" "$C" erase --imei "$imei1" --db "sqlite:$db" --key "$dir/key"
same "erase again output" "$dir/out" $'erased 0 row(s) naming this device: 0 activation row(s), 0 re-activation row(s), looked up under 1 key(s); anonymous counters are kept\n'

check "audit" 0 "" "$C" audit --db "sqlite:$db" --key "$dir/key"
# The counts, classes and budget come first; the inventory follows.
cp "$dir/out" "$dir/audit.txt"
head -n 29 "$dir/out" >"$dir/out.head"
same "audit output" "$dir/out.head" "devices (one row each: pseudonym, key id, month): 39
re-activations (one row per device and month):    0
pseudonym key ids in use:                         1
report ids kept for de-duplication:               42 (0 past their window)
sales counter cells:                              4
lifetime counter cells (no device identifier):    1
version counter cells (no device identifier):     1
smallest classes, k = 10:
  sales (day, brand, model, sw, country)       2 of 4 under k (1 of one), smallest 1
  sales (month, brand, model, sw, country)     1 of 3 under k (0 of one), smallest 3
  lifetime classes (cohort, brand, model)      0 of 2 under k (0 of one), smallest 15
  lifetime pings (period, cohort, brand, model, first) 1 of 1 under k (1 of one), smallest 1
  version pings (period, brand, model, sw)     1 of 1 under k (1 of one), smallest 1
privacy budget: rho = 100 zCDP per device and month (epsilon 174.34 at delta 1e-6);
  months released so far: 0, through 2026-10, so a device that reported in every one
  of them has spent at most rho = 0 in all
  sales.month                                share 0.03  sigma   0.41  shown from 10
  sales.month.brand.model                    share 0.20  sigma   0.16  shown from 10
  sales.month.brand.model.country            share 0.20  sigma   0.16  shown from 10
  sales.month.country                        share 0.06  sigma   0.29  shown from 10
  sales.month.brand.model.sw                 share 0.05  sigma   0.32  shown from 10
  sales.day.brand.model                      share 0.04  sigma   0.35  shown from 10
  reactivations.month.brand.model            share 0.06  sigma   0.29  shown from 10
  lifetime.month.brand.model.age0            share 0.20  sigma   0.16  every cell released, never shown alone
  lifetime.month.brand.model.cohort.first    share 0.78  sigma   0.08  every cell released, never shown alone
  versions.month.model.sw                    share 0.16  sigma   0.18  shown from 10
never stored: raw IMEI, phone number, IMSI/ICCID, serial number, location,
client IP address, installed apps, usage; with a device row: brand, model,
sw, country, day, report id
"
check "audit json" 0 "" "$C" audit --db "sqlite:$db" --format json --k 20
jq -c 'del(.release, .inventory, .undocumented, .keys, .bounds, .never_collected)' "$dir/out" >"$dir/out.norel"
[ "$(jq -c '[.release.rho_per_month, .release.months_released, (.release.tables | length)]' "$dir/out")" = "[100,0,10]" ] ||
    { echo "FAIL audit json: the release's budget: $(jq -c .release "$dir/out")"; fail=1; }
same "audit json output" "$dir/out.norel" '{"devices":39,"reactivations":0,"key_ids":1,"report_ids":42,"report_ids_expired":0,"sales_cells":4,"lifetime_cells":1,"version_cells":1,"k":20,"classes":{"sales_day":{"total":4,"under_k":3,"single":1,"smallest":1},"sales_month":{"total":3,"under_k":2,"single":0,"smallest":3},"lifetime_cells":{"total":1,"under_k":1,"single":1,"smallest":1},"version_cells":{"total":1,"under_k":1,"single":1,"smallest":1},"lifetime_classes":{"total":2,"under_k":1,"single":0,"smallest":15}}}
'
# The inventory, from the live schema: every table, its columns, the key
# file's ids, every bound; a column without an entry fails the audit.
for want in 'data inventory (from the live schema, 9 tables):' \
    '    pseudonym      HMAC-SHA256 of the IMEI under the key key_id [personal (pseudonymous)]' \
    "  $(sed -n 's/^current //p' "$dir/key")  current  needed by 39 device row(s), 0 re-activation row(s)" \
    '  device rows: folded 36 months after the device was last seen (rows of months before 2023-11 go), or when erased' \
    '  activation report ids: 30 days after receipt'; do
    grep -qxF -- "$want" "$dir/audit.txt" || { echo "FAIL audit lacks '$want'"; fail=1; }
done
check "audit json inventory" 0 "" "$C" audit --db "sqlite:$db" --format json --retention-months 12
[ "$(jq -c '[(.inventory | length), (.inventory[0].columns | map(.column)), .undocumented, .bounds.retention_months, .bounds.device_rows_kept_from, .keys.file, (.keys.not_in_file | length)]' "$dir/out")" = \
    '[9,["pseudonym","key_id","month"],[],12,"2025-11",null,1]' ] ||
    { echo "FAIL audit json inventory: $(jq -c '[.inventory[0], .undocumented, .bounds, .keys]' "$dir/out")"; fail=1; }
cp "$db" "$dir/extra.db"
sqlite3 "$dir/extra.db" 'ALTER TABLE activation ADD COLUMN model TEXT'
check "audit of an undocumented column" 1 "1 table(s) or column(s) without an inventory entry" \
    "$C" audit --db "sqlite:$dir/extra.db"
grep -qxF '    model          UNDOCUMENTED: no inventory entry' "$dir/out" || { echo "FAIL the column is not named"; fail=1; }
check "audit bad format" 2 "--format must be text or json" "$C" audit --db "sqlite:$db" --format csv
check "purge" 0 "" "$C" purge --db "sqlite:$db"
same "purge output" "$dir/out" $'purged 0 report id(s) past their window\nfolded 0 device row(s) and 0 re-activation row(s) not seen since before 2023-11 (retention 36 months); the counters are kept\n'
# Counters are anonymous and stay after an erase: the released figures too.
export STS_NOW_DAY=2026-12-10
check "stats after erase" 0 "" "$C" stats sales --db "sqlite:$db" --by model --format csv
same "stats after erase output" "$dir/out" $'model,activations,activations_low,activations_high,reactivations,reactivations_low,reactivations_high\r\nK400,25,25,25,,,\r\nK500,15,15,15,,,\r\n'

sts_stop "$SRV_PID"
grep -q 'runtime error\|Sanitizer' "$dir/serve.err" && { echo "FAIL serve: $(cat "$dir/serve.err")"; fail=1; }
[ "$fail" -eq 0 ] || sts_die "cli"
echo "cli: all checks passed"
