#!/usr/bin/env bash
# Every collector command on both backends, with the same answers: the same
# fleet (sts-fleet, same seed) and the same reports go to a collector on
# SQLite and to one on PostgreSQL, with the release's noise seed and today
# fixed; then stats (sales, lifetime, versions), audit, export, erase and
# purge are run on each database and their outputs compared (but for
# audit's statement on deleted rows, which each backend makes of its own and
# which is checked on both). Then the
# data-protection tools on a second pair of databases: a key rotation (a
# known device re-activating is never a new sale, and moves to the new key),
# export and erase under every key, retirement refused while rows need the
# key, purge --dry-run and purge with a retention (the figures unchanged),
# serve's own fold, and audit's inventory listing every column of the live
# PostgreSQL schema.
set -euo pipefail
. "$STS_SRC/tests/e2e/common.bash"
. "$STS_SRC/tests/e2e/lib/pg.sh"
pg_skip_unless_available
sts_setup
pg_setup
export STS_NOW_DAY=2026-03-18 STS_TEST_RELEASE_SEED=pg_commands

pg_init pg
pg_start pg
pg_createdb pg sts
dbs=("sqlite:$STS_TMP/sts.db" "$(pg_uri pg sts)")
names=(sqlite postgresql)
sts_keygen
echo "backfill = 1" >"$STS_TMP/collector.conf"
for b in 0 1; do
    sts_start "$STS_TMP/${names[$b]}.err" --config "$STS_TMP/collector.conf" --db "${dbs[$b]}" \
        --key "$STS_TMP/key"
    timeout 120 "$STS_BIN/sts-fleet" --collector "http://127.0.0.1:$SRV_PORT" --devices 500 \
        --seed 3 --months 6 --concurrency 8 --no-verify >"$STS_TMP/${names[$b]}.fleet" 2>&1 ||
        { cat "$STS_TMP/${names[$b]}.fleet" >&2; sts_die "sts-fleet on ${names[$b]}"; }
    PG_LOAD_DAY=2026-02-10 python3 "$STS_SRC/tests/e2e/lib/pg_load.py" load "$SRV_PORT" 20 1 2 0 30 \
        "$STS_TMP/${names[$b]}.acked" >/dev/null
    sts_stop "$SRV_PID"
    echo "${names[$b]}: $(grep '^answers' "$STS_TMP/${names[$b]}.fleet")"
done

imei=$(sts_luhn 35209901000005)
run()
{
    local b=$1 out=$STS_TMP/${names[$1]}.out db=${dbs[$1]}
    : >"$out"
    {
        "$COLLECTOR" stats sales --db "$db" --by model,country --format csv
        "$COLLECTOR" stats sales --db "$db" --period day --format csv
        "$COLLECTOR" stats lifetime --db "$db" --format csv
        "$COLLECTOR" stats versions --db "$db" --format csv
        "$COLLECTOR" audit --db "$db" --format json
        "$COLLECTOR" export --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" erase --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" export --imei "$imei" --db "$db" --key "$STS_TMP/key"
        "$COLLECTOR" audit --db "$db" --format json
        STS_NOW_DAY=2026-06-30 "$COLLECTOR" purge --db "$db"
        STS_NOW_DAY=2026-06-30 "$COLLECTOR" audit --db "$db" --format json
    } >>"$out" 2>&1
}
run 0
run 1
echo "outputs: sqlite $(wc -l <"$STS_TMP/sqlite.out") lines, postgresql $(wc -l <"$STS_TMP/postgresql.out") lines"
# audit's one backend-specific statement: what becomes of deleted rows. Each
# says what is true of its backend (and only of it), in both formats; the
# rest of the outputs must be the same.
for b in 0 1; do
    "$COLLECTOR" audit --db "${dbs[$b]}" --format json | jq -r .bounds.deleted_rows >"$STS_TMP/${names[$b]}.deleted"
    "$COLLECTOR" audit --db "${dbs[$b]}" | grep '^  deleted rows ' >"$STS_TMP/${names[$b]}.deleted.text" ||
        sts_die "${names[$b]}: no statement on deleted rows in audit's text"
    [ "$(sed 's/^  //' "$STS_TMP/${names[$b]}.deleted.text")" = "$(cat "$STS_TMP/${names[$b]}.deleted")" ] ||
        sts_die "${names[$b]}: audit's text and JSON say different things of deleted rows"
done
sq=$(cat "$STS_TMP/sqlite.deleted") pq=$(cat "$STS_TMP/postgresql.deleted")
for w in secure_delete "WAL is truncated"; do
    [[ "$sq" == *"$w"* ]] || sts_die "SQLite audit: no '$w' in: $sq"
    [[ "$pq" != *"$w"* ]] || sts_die "PostgreSQL audit claims '$w': $pq"
done
for w in "not overwritten" "dead tuples" "until VACUUM, which STS does not run" "VACUUM activation, reactivation" \
    "autovacuum_vacuum_scale_factor" "VACUUM FULL" "WAL until its segments are recycled" "archived WAL" \
    standbys "base backups"; do
    [[ "$pq" == *"$w"* ]] || sts_die "PostgreSQL audit: no '$w' in: $pq"
done
[[ "$sq" != *VACUUM* ]] || sts_die "SQLite audit speaks of VACUUM: $sq"
sq=${sq#*) } pq=${pq#*) }
echo "audit on deleted rows: sqlite '${sq:0:70}...', postgresql '${pq:0:70}...'"
for b in 0 1; do
    sed -i 's/, "deleted_rows": "[^"]*"//' "$STS_TMP/${names[$b]}.out"
done
grep -q deleted_rows "$STS_TMP/sqlite.out" "$STS_TMP/postgresql.out" && sts_die "deleted_rows not stripped"
if ! diff -u "$STS_TMP/sqlite.out" "$STS_TMP/postgresql.out"; then
    sts_die "the commands answer differently on SQLite and PostgreSQL"
fi
grep -q '"devices": *5[0-9][0-9]' "$STS_TMP/sqlite.out" || sts_die "audit did not count the devices"
grep -q '"held": true' "$STS_TMP/sqlite.out" || sts_die "export did not find the device"
grep -q '^{"held": *false' "$STS_TMP/sqlite.out" || sts_die "the device was still there after erase"
[ "$(grep -c '^[0-9]\{4\}-[0-9][0-9],' "$STS_TMP/sqlite.out")" -gt 10 ] || sts_die "too few released figures"
sed -n '1,6p' "$STS_TMP/postgresql.out"
grep -i '^purged\|^erased\|"held"' "$STS_TMP/postgresql.out"

# ---- The data-protection tools on both backends ----
export STS_NOW_DAY=2026-11-20
pg_createdb pg sts_dpo
dbs=("sqlite:$STS_TMP/dpo.db" "$(pg_uri pg sts_dpo)")
key=$STS_TMP/dpo.key
"$COLLECTOR" keygen --out "$key" 2>/dev/null
old_id=$(sed -n 's/^current //p' "$key")
post()
{
    local code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$1" "http://127.0.0.1:$SRV_PORT/v1/reports")
    [ "$code" = "$2" ] || sts_die "post: status $code, expected $2 for $1"
}
# Before the rotation: devices 1..3 now; 10..14 in 2024-02, never seen again;
# 15 in 2024-02, seen again in 2026-06; 16 in 2024-02, seen again in 2024-05;
# 17 in 2025-03.
for b in 0 1; do
    sts_start "$STS_TMP/${names[$b]}.dpo.err" --config "$STS_TMP/collector.conf" --db "${dbs[$b]}" \
        --key "$key" --retention-months 0
    for n in 1 2 3; do post "$(sts_activation "$(sts_rid "$n")" "$(sts_imei "$n")")" 202; done
    for n in 10 11 12 13 14 15 16; do
        post "$(sts_activation "$(sts_rid "$n")" "$(sts_imei "$n")" K400 FR 2024-02-10)" 202
    done
    post "$(sts_activation "$(sts_rid 15 1)" "$(sts_imei 15)" K400 FR 2026-06-15)" 202
    post "$(sts_activation "$(sts_rid 16 1)" "$(sts_imei 16)" K400 FR 2024-05-10)" 202
    post "$(sts_activation "$(sts_rid 17)" "$(sts_imei 17)" K400 FR 2025-03-10)" 202
    sts_stop "$SRV_PID"
done
"$COLLECTOR" keygen --rotate "$key" 2>/dev/null || sts_die "keygen --rotate"
new_id=$(sed -n 's/^current //p' "$key")
[ -n "$new_id" ] && [ "$new_id" != "$old_id" ] || sts_die "keygen --rotate: current '$new_id'"
dpo()
{
    local b=$1 db=${dbs[$1]} out=$STS_TMP/${names[$1]}.dpo
    sts_start "$STS_TMP/${names[$b]}.dpo.err" --config "$STS_TMP/collector.conf" --db "$db" \
        --key "$key" --retention-months 0
    post "$(sts_activation "$(sts_rid 1 2)" "$(sts_imei 1)" K400 FR 2026-11-21)" 202
    post "$(sts_activation "$(sts_rid 4)" "$(sts_imei 4)")" 202
    post "$(sts_activation "$(sts_rid 1 2)" "$(sts_imei 1)" K400 FR 2026-11-21)" 200
    post "$(sts_activation "$(sts_rid 15 2)" "$(sts_imei 15)" K400 FR 2026-11-21)" 202
    sts_stop "$SRV_PID"
    grep -q '1 accepted, 2 re-activations, 1 duplicates' "$STS_TMP/${names[$b]}.dpo.err" ||
        sts_die "${names[$b]}: counters after the rotation: $(tail -n 2 "$STS_TMP/${names[$b]}.dpo.err")"
    "$COLLECTOR" stats sales --db "$db" --by model --period month --format json --k 2 >"$out.before"
    {
        "$COLLECTOR" stats sales --db "$db" --period day --format csv --k 2
        for n in 1 2 15; do
            "$COLLECTOR" export --imei "$(sts_imei "$n")" --db "$db" --key "$key" | tee "$out.e$n"
        done
        "$COLLECTOR" erase --imei "$(sts_imei 2)" --db "$db" --key "$key"
        "$COLLECTOR" erase --imei "$(sts_imei 2)" --db "$db" --key "$key"
        "$COLLECTOR" export --imei "$(sts_imei 2)" --db "$db" --key "$key"
        "$COLLECTOR" rekey --retire "$old_id" --db "$db" --key "$key" 2>&1 && echo "retired"
        "$COLLECTOR" purge --db "$db" --retention-months 24 --dry-run
        "$COLLECTOR" purge --db "$db" --retention-months 24
        "$COLLECTOR" purge --db "$db" --retention-months 24
        "$COLLECTOR" audit --db "$db" --key "$key" --format json
    } >"$out" 2>&1
    "$COLLECTOR" stats sales --db "$db" --by model --period month --format json --k 2 >"$out.after"
    cmp -s "$out.before" "$out.after" ||
        { diff "$out.before" "$out.after" | head; sts_die "${names[$b]}: erase and fold changed the figures"; }
    # serve folds by itself past its retention: 12 months keep device 17 no longer.
    sts_start "$STS_TMP/${names[$b]}.dpo.err" --db "$db" --key "$key" --retention-months 12
    post "$(sts_activation "$(sts_rid 18)" "$(sts_imei 18)")" 202
    sts_stop "$SRV_PID"
    "$COLLECTOR" export --imei "$(sts_imei 17)" --db "$db" --key "$key" | tee "$out.e17" >>"$out"
    "$COLLECTOR" audit --db "$db" --format json | jq -c '[.devices, .reactivations]' >>"$out"
}
dpo 0
dpo 1
sed -i 's/, "deleted_rows": "[^"]*"//' "$STS_TMP/sqlite.dpo" "$STS_TMP/postgresql.dpo"
if ! diff -u "$STS_TMP/sqlite.dpo" "$STS_TMP/postgresql.dpo"; then
    sts_die "the data-protection commands answer differently on SQLite and PostgreSQL"
fi
out=$STS_TMP/postgresql.dpo
exports=$(for n in 1 2 15; do jq -c '[.key_id, .month, .reactivations]' "$out.e$n"; done | tr '\n' ' ')
[ "$exports" = "[\"$new_id\",\"2026-11\",1] [\"$old_id\",\"2026-11\",0] [\"$new_id\",\"2024-02\",2] " ] ||
    sts_die "export after the rotation: $exports"
grep -q '^erased 1 row(s) naming this device: 1 activation row(s), 0 re-activation row(s), looked up under 2 key(s)' "$out" ||
    sts_die "erase under the old key: $(grep '^erased' "$out")"
grep -q '^erased 0 row(s)' "$out" || sts_die "a second erase did not erase 0 rows"
grep -q '^{"held": *false' "$out" || sts_die "the device was still there after erase"
grep -q "still needed by 8 device row(s)" "$out" && ! grep -q '^retired' "$out" ||
    sts_die "rekey --retire of a key rows still need: $(grep -i 'needed\|retired' "$out")"
grep -q '^would fold 6 device row(s) and 1 re-activation row(s) not seen since before 2024-11' "$out" &&
    grep -q '^folded 6 device row(s) and 1 re-activation row(s)' "$out" &&
    grep -q '^folded 0 device row(s) and 0 re-activation row(s)' "$out" ||
    sts_die "purge with retention: $(grep 'fold' "$out")"
[ "$(jq -c .held "$out.e17")" = false ] && [ "$(tail -n 1 "$out")" = '[5,3]' ] ||
    sts_die "serve's fold on PostgreSQL: $(tail -n 2 "$out")"
# The audit's inventory is the live catalogue, every column documented.
audit=$(grep '^{"devices"' "$out")
listed=$(jq -r '.inventory[] | .table as $t | .columns[] | "\($t).\(.column)"' <<<"$audit" | sort)
live=$(pg_sql pg sts_dpo "SELECT table_name || '.' || column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name <> 'sts_schema'" | sort)
[ -n "$live" ] && [ "$listed" = "$live" ] || sts_die "audit's inventory is not the live schema"
[ "$(jq -c '[.undocumented, [.inventory[] | select(.documented == false)], [.inventory[].columns[] | select(.documented == false)]]' <<<"$audit")" = '[[],[],[]]' ] ||
    sts_die "audit found undocumented columns: $(jq -c .undocumented <<<"$audit")"
# Device 3 is the last row under the old key: erased, the key can retire.
"$COLLECTOR" erase --imei "$(sts_imei 3)" --db "${dbs[1]}" --key "$key" >/dev/null || sts_die "erase 3"
"$COLLECTOR" rekey --retire "$old_id" --db "${dbs[1]}" --key "$key" >"$STS_TMP/retire" 2>&1 ||
    sts_die "rekey --retire once no row needs the key: $(cat "$STS_TMP/retire")"
grep -q "^key $old_id " "$key" && sts_die "the retired key is still in the key file"
[ "$(jq -c '[.held, .key_id]' <("$COLLECTOR" export --imei "$(sts_imei 1)" --db "${dbs[1]}" --key "$key"))" = \
    "[true,\"$new_id\"]" ] || sts_die "export after the retirement"
echo "data protection on PostgreSQL: $(wc -l <<<"$live") columns in the inventory; $(grep -c . "$out") output lines identical to SQLite's"
pg_stop pg
echo "pg_commands: ok (identical on both backends)"
