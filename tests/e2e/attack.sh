#!/usr/bin/env bash
# The attack suite of the differentially private release (tests/attack/attack.py):
# an analyst with the API token differences answers, sweeps k, divides counts
# by shares, polls over time and injects reports of their own, against a real
# collector holding a fleet database. Four phases, "today" moved between them:
#   A  2026-07-20  the fleet has sent; the plan of queries is asked
#   B  2026-08-25  a month later, nothing sent: the plan again
#      then late reports into closed periods, victims and the attacker's own
#      reports into the open month (August)
#   C  2026-08-25  the plan again
#   D  2026-09-15  August closed: the plan again
# Then every attack runs on the kept answers against the truth of SQLite copies.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export LC_ALL=C
export STS_TEST_RELEASE_SEED=attack-suite-seed
dir=$STS_TMP
db=$dir/sts.db
py="python3 $STS_SRC/tests/attack/attack.py"
"$COLLECTOR" keygen --out "$dir/key" 2>/dev/null || sts_die "keygen failed"
"$COLLECTOR" keygen --token --out "$dir/token" 2>/dev/null || sts_die "keygen --token failed"

serve() # DAY [--config FILE]
{
    local day=$1
    shift
    STS_NOW_DAY=$day sts_start "$dir/log.$day" --db "sqlite:$db" --key "$dir/key" \
        --token-file "$dir/token" "$@"
    url=http://127.0.0.1:$SRV_PORT
}

# The fleet's history goes in as history (each report on its own day, before
# anything was released); live traffic afterwards follows the late-report
# rule, which phase B attacks.
echo "backfill = 1" >"$dir/backfill.conf"
serve 2026-07-20 --config "$dir/backfill.conf"
STS_NOW_DAY=2026-07-20 timeout 120 "$STS_BIN/sts-fleet" --collector "$url" --devices 3000 \
    --seed 11 --months 7 --concurrency 4 --no-verify >"$dir/fleet.out" 2>&1 ||
    { cat "$dir/fleet.out"; sts_die "sts-fleet failed"; }
grep '^answers:' "$dir/fleet.out"
$py plan "$url" "$dir/token" "$dir/A.json" || sts_die "plan A"
sts_stop "$SRV_PID"
cp "$db" "$dir/truthA.db"

serve 2026-08-25
$py plan "$url" "$dir/token" "$dir/B.json" || sts_die "plan B"
$py inject "$url" "$db" "$dir/inject.json" || sts_die "inject"
$py plan "$url" "$dir/token" "$dir/C.json" || sts_die "plan C"
sts_stop "$SRV_PID"

serve 2026-09-15
$py plan "$url" "$dir/token" "$dir/D.json" || sts_die "plan D"
sts_stop "$SRV_PID"
cp "$db" "$dir/truthD.db"

$py analyze "$dir" || sts_die "the release gave away more than its noise allows"
