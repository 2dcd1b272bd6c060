# Retention: device rows not seen for retention_months are folded (deleted,
# only the counters remain) by `purge` and by the collector's own scheduled
# job; a dry run deletes nothing and says what would go; the published
# figures (stats sales, lifetime, versions as JSON) are byte-identical before
# and after folding, with the release seed and the day fixed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20 STS_TEST_RELEASE_SEED=retention
dir=$STS_TMP
C=$COLLECTOR
db=$dir/sts.db
fail=0

post()
{
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$url/v1/reports")
    [ "$code" = "$2" ] || sts_die "post: status $code, expected $2 for $1"
}
ping()
{
    printf '{"v":1,"type":"lifetime","report_id":"%s","brand":"acme-eu","model":"%s","sw":"%s-V12","cohort":"%s","period":"%s","first":false}' \
        "$1" "$2" "$2" "$3" "$4"
}
rows() { sqlite3 "$db" "SELECT (SELECT count(*) FROM activation) || ' ' || (SELECT count(*) FROM reactivation)"; }

"$C" keygen --out "$dir/key" 2>/dev/null || sts_die keygen
printf 'backfill = 1\n' >"$dir/conf"
# History: 10 devices a month from 2024-01 to 2026-10, on two models; the
# devices of 2024-01..2024-03 re-activate in 2026-06 (kept: seen since), and
# those of 2024-04 re-activated in 2024-08 (folded with it). Pings for the
# lifetime and versions figures.
sts_start "$dir/serve.err" --config "$dir/conf" --db "sqlite:$db" --key "$dir/key" --rho 5 --retention-months 0
url=http://127.0.0.1:$SRV_PORT
n=0
for ((m = 0; m < 34; m++)); do
    y=$((2024 + m / 12)) mo=$((m % 12 + 1))
    month=$(printf '%d-%02d' "$y" "$mo")
    for ((i = 0; i < 10; i++)); do
        n=$((n + 1))
        model=K400
        ((i % 3 == 0)) && model=K500
        post "$(sts_activation "$(sts_rid "$n")" "$(sts_imei "$n")" "$model" FR "$month-$(printf '%02d' $((i % 28 + 1)))")" 202
        if ((m < 3)); then
            post "$(sts_activation "$(sts_rid "$n" 1)" "$(sts_imei "$n")" "$model" FR 2026-06-15)" 202
        elif ((m == 3)); then
            post "$(sts_activation "$(sts_rid "$n" 1)" "$(sts_imei "$n")" "$model" FR 2024-08-15)" 202
        fi
        ((i < 4)) && post "$(ping "$(sts_rid "$n" 2)" "$model" "$month" 2026-10)" 202
    done
done
sts_stop "$SRV_PID"
[ "$(rows)" = "340 40" ] || { echo "FAIL loaded rows: $(rows)"; fail=1; }

# The figures on 2026-12-10 (November closed), before any fold.
export STS_NOW_DAY=2026-12-10
figures()
{
    "$C" stats sales --db "sqlite:$db" --by model --period month --format json --k 2 &&
        "$C" stats sales --db "sqlite:$db" --by model,country --format json &&
        "$C" stats lifetime --db "sqlite:$db" --format json &&
        "$C" stats versions --db "sqlite:$db" --format json
}
figures >"$dir/before" || sts_die "stats before the fold"
grep -q '"activations"' "$dir/before" || { echo "FAIL no figures to compare: $(head -c 300 "$dir/before")"; fail=1; }

# Retention 24 months on 2026-12: months before 2024-12 go, except devices
# seen since (the re-activations of 2026-06).
"$C" purge --db "sqlite:$db" --retention-months 24 --dry-run >"$dir/out" || fail=1
grep -qx 'would purge 136 report id(s) past their window' "$dir/out" || { echo "FAIL dry run of the report ids: $(cat "$dir/out")"; fail=1; }
grep -q '^would fold 80 device row(s) and 10 re-activation row(s) not seen since before 2024-12 (retention 24 months)' "$dir/out" ||
    { echo "FAIL dry run: $(cat "$dir/out")"; fail=1; }
[ "$(rows)" = "340 40" ] || { echo "FAIL the dry run deleted rows: $(rows)"; fail=1; }
"$C" purge --db "sqlite:$db" --retention-months 24 >"$dir/out" || fail=1
grep -q '^folded 80 device row(s) and 10 re-activation row(s)' "$dir/out" || { echo "FAIL purge: $(cat "$dir/out")"; fail=1; }
[ "$(rows)" = "260 30" ] || { echo "FAIL rows after the fold: $(rows)"; fail=1; }
[ "$(sqlite3 "$db" 'SELECT count(*) FROM activation WHERE month < 2024*12+11 AND pseudonym NOT IN (SELECT pseudonym FROM reactivation)')" = 0 ] ||
    { echo "FAIL a device not seen since the retention is kept"; fail=1; }
figures >"$dir/after" || sts_die "stats after the fold"
cmp -s "$dir/before" "$dir/after" || { echo "FAIL the figures changed:"; diff "$dir/before" "$dir/after" | head; fail=1; }
"$C" purge --db "sqlite:$db" --retention-months 24 >"$dir/out" || fail=1
grep -q '^folded 0 device row(s) and 0 re-activation row(s)' "$dir/out" || { echo "FAIL second purge: $(cat "$dir/out")"; fail=1; }

# The collector folds by itself (the writer's scheduled purge, at its first
# commit): 12 months keep only what was seen from 2025-12 on.
sts_start "$dir/serve.err" --db "sqlite:$db" --key "$dir/key" --retention-months 12
url=http://127.0.0.1:$SRV_PORT
post "$(sts_activation "$(sts_rid 99999)" "$(sts_imei 99999)" K400 FR 2026-12-09)" 202
sts_stop "$SRV_PID"
[ "$(sqlite3 "$db" 'SELECT count(*) FROM activation WHERE month < 2025*12+11 AND pseudonym NOT IN (SELECT pseudonym FROM reactivation WHERE month >= 2025*12+11)')" = 0 ] ||
    { echo "FAIL serve did not fold: $(rows)"; fail=1; }
[ "$(rows)" = "141 30" ] || { echo "FAIL rows after serve's fold: $(rows)"; fail=1; }

grep -q 'runtime error\|Sanitizer' "$dir/serve.err" && { echo "FAIL serve: $(cat "$dir/serve.err")"; fail=1; }
[ "$fail" -eq 0 ] || sts_die "retention"
echo "retention: all checks passed"
