# Storage faults under a running collector, each ending with every
# acknowledged report stored:
#  - the database file deleted (with its -wal and -shm) while serving: the
#    writer notices before its next commit and restores the file from its
#    open handle; later reports are stored in it, none acknowledged is lost;
#  - the database file replaced by another: every report is answered 503
#    with Retry-After and /healthz answers 503, nothing is acknowledged;
#  - the disk full (a 1 MiB tmpfs, when this user may mount one): 503 and
#    /healthz 503 while full, health back by itself within seconds of space
#    coming back, every 202 stored;
#  - the WAL's fdatasync failing (a preloaded shim): 503 for what was
#    committed but not synced, /healthz 503, back by itself, and the same
#    reports sent again stored once each;
#  - every write to the database's files failing with EROFS (the same shim):
#    503 and /healthz 503, back by itself, every 202 stored;
#  - the -shm unable to grow (its writes failing): 503 for the batches that
#    need it, back by itself, every 202 stored, the failure logged once,
#    not at every batch;
#  - the -shm truncated under load: the collector exits 75 saying why, and
#    after a restart every acknowledged report is stored;
#  - after a burst of 20,000 reports the WAL is truncated once writes stop.
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/storage_faults.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
SEND="python3 $STS_SRC/tests/e2e/lib/send_reports.py"
sts_keygen

# count OUTPUT STATUS: how many answers of STATUS a send printed.
count()
{
    local n
    n=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2:\([0-9]*\)$/\1/p")
    echo "${n:-0}"
}

rows()
{
    sqlite3 "$1" "SELECT count(*) FROM activation"
}

health()
{
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SRV_PORT/healthz"
}

# --- deleted ---------------------------------------------------------------
db=$STS_TMP/deleted.db
sts_start "$STS_TMP/err1" --db "sqlite:$db" --key "$STS_TMP/key"
a=$($SEND "$SRV_PORT" 200 0 4)
rm -f "$db" "$db-wal" "$db-shm"
b=$($SEND "$SRV_PORT" 200 1000 4)
[ "$(health)" = 200 ] || sts_die "deleted: /healthz not ok after the restore"
sts_stop "$SRV_PID"
acked=$(($(count "$a" 202) + $(count "$b" 202)))
[ "$acked" = 400 ] || sts_die "deleted: $acked of 400 acknowledged ($a / $b)"
[ "$(rows "$db")" = 400 ] || sts_die "deleted: $(rows "$db") rows stored, $acked acknowledged"
grep -q "was deleted while serving: restored" "$STS_TMP/err1" || sts_die "deleted: no restore logged"
echo "deleted: 400 of 400 acknowledged reports stored, file restored"

# --- replaced --------------------------------------------------------------
db=$STS_TMP/replaced.db
sts_start "$STS_TMP/err2" --db "sqlite:$db" --key "$STS_TMP/key"
a=$($SEND "$SRV_PORT" 50 0 2)
sqlite3 "$STS_TMP/other.db" "CREATE TABLE other(x); INSERT INTO other VALUES (1)"
mv "$STS_TMP/other.db" "$db"
b=$($SEND "$SRV_PORT" 50 1000 2)
[ "$(count "$a" 202)" = 50 ] || sts_die "replaced: before, $a"
[ "$(count "$b" 503)" = 50 ] || sts_die "replaced: after, $b (want 50 x 503 with Retry-After)"
[ "$(health)" = 503 ] || sts_die "replaced: /healthz answered $(health), not 503"
sts_stop "$SRV_PID"
grep -q "was replaced while serving" "$STS_TMP/err2" || sts_die "replaced: not logged"
echo "replaced: 50 x 503 with Retry-After, /healthz 503"

# --- disk full -------------------------------------------------------------
mnt=$STS_TMP/small
mkdir -p "$mnt"
if mount -t tmpfs -o size=1m tmpfs "$mnt" 2>/dev/null; then
    db=$mnt/full.db
    sts_start "$STS_TMP/err3" --db "sqlite:$db" --key "$STS_TMP/key"
    a=$($SEND "$SRV_PORT" 3000 0 4)
    full=$(health)
    mount -o remount,size=16m "$mnt"
    ok=""
    for ((i = 0; i < 50; i++)); do
        [ "$(health)" = 200 ] && { ok=1; break; }
        sleep 0.1
    done
    b=$($SEND "$SRV_PORT" 100 5000 4)
    sts_stop "$SRV_PID"
    stored=$(rows "$db")
    umount "$mnt"
    [ "$(count "$a" 503)" -gt 0 ] || sts_die "disk full: no 503 while full ($a)"
    [ "$full" = 503 ] || sts_die "disk full: /healthz answered $full while full"
    [ -n "$ok" ] || sts_die "disk full: /healthz not back within 5 s of space coming back"
    acked=$(($(count "$a" 202) + $(count "$b" 202)))
    [ "$(count "$b" 202)" = 100 ] || sts_die "disk full: after space came back, $b"
    [ "$stored" = "$acked" ] || sts_die "disk full: $stored rows stored, $acked acknowledged"
    echo "disk full: $(count "$a" 503) x 503 while full, health back, $acked of $acked acknowledged stored"
else
    echo "disk full: skipped (cannot mount a tmpfs here)"
fi

# --- a disk failing on demand ---------------------------------------------
# tests/lib/fail_sync.c, preloaded, fails the calls its settings name while
# a flag file exists.
shim=$STS_BIN/tests/libsts_fail_sync.so
[ -f "$shim" ] || sts_die "no $shim: build the tests"

# fault_run ERR DB FLAG FIRST NAME=VALUE...: a collector on DB with the shim
# preloaded and its settings; 200 reports, then 100 (or $MID) while FLAG
# exists, then 100 more from report FIRST once /healthz is back. Sets a, b and c (what
# each send printed), during (/healthz while failing) and back (1 if
# /healthz came back within 5 s).
fault_run()
{
    local err=$1 db=$2 flag=$3 first=$4 asan=${ASAN_OPTIONS-} v i
    shift 4
    for v in "$@"; do export "${v?}"; done
    # The sanitizers' runtime must come first among the preloaded
    # libraries, which is what their check of the link order checks.
    export LD_PRELOAD=$shim ASAN_OPTIONS=${asan:+$asan:}verify_asan_link_order=0
    sts_start "$err" --db "sqlite:$db" --key "$STS_TMP/key"
    unset LD_PRELOAD
    for v in "$@"; do unset "${v%%=*}"; done
    if [ -n "$asan" ]; then export ASAN_OPTIONS=$asan; else unset ASAN_OPTIONS; fi
    a=$($SEND "$SRV_PORT" 200 0 4)
    touch "$flag"
    b=$($SEND "$SRV_PORT" "${MID:-100}" 1000 4)
    during=$(health)
    rm -f "$flag"
    back=""
    for ((i = 0; i < 50; i++)); do
        [ "$(health)" = 200 ] && { back=1; break; }
        sleep 0.1
    done
    c=$($SEND "$SRV_PORT" 100 "$first" 4)
    sts_stop "$SRV_PID"
}

# The WAL's sync failing: what was committed but not synced is answered
# 503, not acknowledged; health goes 503 and comes back by itself once syncs
# succeed again; the same reports sent again are then stored once each.
db=$STS_TMP/sync.db
fault_run "$STS_TMP/err5" "$db" "$STS_TMP/fail-sync" 1000 STS_FAIL_SYNC_FLAG="$STS_TMP/fail-sync"
[ "$(count "$a" 202)" = 200 ] || sts_die "sync failing: before, $a"
[ "$(count "$b" 503)" = 100 ] || sts_die "sync failing: $b while every WAL sync failed (want 100 x 503)"
[ "$during" = 503 ] || sts_die "sync failing: /healthz answered $during while syncs failed"
[ -n "$back" ] || sts_die "sync failing: /healthz not back within 5 s of syncs succeeding"
again=$(($(count "$c" 202) + $(count "$c" 200)))
[ "$again" = 100 ] || sts_die "sync failing: the 100 sent again: $c"
[ "$(count "$c" 200)" -gt 0 ] || sts_die "sync failing: none of the 503s had been committed ($c): the failure was not after the commit"
[ "$(rows "$db")" = 300 ] || sts_die "sync failing: $(rows "$db") rows stored, want 300 (200 + the 100 once each)"
grep -q "syncing the WAL .* failed" "$STS_TMP/err5" || sts_die "sync failing: not logged"
grep -q "synced again after a failed WAL sync" "$STS_TMP/err5" || sts_die "sync failing: recovery not logged"
echo "sync failing: 100 x 503 and /healthz 503 while the WAL's syncs failed, back by itself; sent again, $(count "$c" 200) duplicates + $(count "$c" 202) new, 300 rows"

# Read-only: every write to the database's files failing with EROFS, as when
# the file system goes read-only after an error: 503 and /healthz 503
# meanwhile, nothing acknowledged, health back by itself once writes go
# through again, every 202 stored.
mkdir -p "$STS_TMP/ro"
db=$STS_TMP/ro/ro.db
fault_run "$STS_TMP/err6" "$db" "$STS_TMP/read-only" 2000 \
    STS_FAIL_WRITE_FLAG="$STS_TMP/read-only" STS_FAIL_PREFIX="$STS_TMP/ro/"
[ "$(count "$a" 202)" = 200 ] || sts_die "read-only: before, $a"
[ "$(count "$b" 503)" = 100 ] || sts_die "read-only: $b while every write failed (want 100 x 503)"
[ "$during" = 503 ] || sts_die "read-only: /healthz answered $during while writes failed"
[ -n "$back" ] || sts_die "read-only: /healthz not back within 5 s of writes going through"
[ "$(count "$c" 202)" = 100 ] || sts_die "read-only: after, $c"
[ "$(rows "$db")" = 300 ] || sts_die "read-only: $(rows "$db") rows stored, 300 acknowledged"
echo "read-only: 100 x 503 and /healthz 503 while writes failed with EROFS, back by itself, 300 of 300 acknowledged stored"

# A -shm that cannot grow: every write to it failing, as on a full or
# read-only file system. SQLite extends it by a write per page once the WAL
# outgrows the first 32 KiB region (some 4,000 frames), so the load runs
# past that: the batches that need the next region fail and are answered
# 503, nothing crashes, and once writes go through the collector is back by
# itself. The log names the failure when writes start failing (again, after
# a batch that committed), not at every failed batch: there were thousands
# of lines a second.
db=$STS_TMP/shm-grow.db
MID=6000 fault_run "$STS_TMP/err9" "$db" "$STS_TMP/shm-full" 20000 \
    STS_FAIL_WRITE_FLAG="$STS_TMP/shm-full" STS_FAIL_PREFIX="$db-shm"
[ "$(count "$a" 202)" = 200 ] || sts_die "shm cannot grow: before, $a"
failed=$(count "$b" 503)
((failed >= 100)) || sts_die "shm cannot grow: $b (want the batches past the first region to fail)"
[ $(($(count "$b" 202) + failed)) = 6000 ] || sts_die "shm cannot grow: $b (only 202 and 503 with Retry-After)"
[ -n "$back" ] || sts_die "shm cannot grow: /healthz not back within 5 s of writes going through"
[ "$(count "$c" 202)" = 100 ] || sts_die "shm cannot grow: after, $c"
acked=$((200 + $(count "$b" 202) + 100))
[ "$(rows "$db")" = "$acked" ] || sts_die "shm cannot grow: $(rows "$db") rows stored, $acked acknowledged"
lines=$(grep -c 'database write failed' "$STS_TMP/err9" || true)
episodes=$(grep -c 'storage failing' "$STS_TMP/err9" || true)
((lines >= 1 && lines <= 20)) ||
    sts_die "shm cannot grow: $lines 'database write failed' lines for $failed failed reports"
echo "shm cannot grow: $failed x 503, back by itself, $acked of $acked acknowledged stored; $lines failure line(s), $episodes 'storage failing' episode(s)"

# --- -shm shrunk under load ----------------------------------------------
# SQLite maps the -shm: once it is truncated, the next read of the wal-index
# past its end is a SIGBUS. The collector says so and exits 75 (going on
# with a wal-index of zeros could lose committed reports); a restart rebuilds
# the index from the WAL, and every acknowledged report is there.
db=$STS_TMP/shm.db
sts_start "$STS_TMP/err7" --db "sqlite:$db" --key "$STS_TMP/key"
pid=$SRV_PID port=$SRV_PORT
a=$($SEND "$port" 200 0 4)
$SEND "$port" 3000 1000 8 >"$STS_TMP/shm.send" &
send_pid=$!
sleep 0.3
truncate -s 0 "$db-shm"
wait "$send_pid"
b=$(cat "$STS_TMP/shm.send")
for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
rc=0
wait "$pid" || rc=$?
sts_forget "$pid"
[ "$rc" = 75 ] || { tail -5 "$STS_TMP/err7" >&2; sts_die "shm: the collector exited $rc, not 75"; }
grep -q "SIGBUS in SQLite's wal-index $db-shm: the file shrank, or its file system failed" "$STS_TMP/err7" ||
    sts_die "shm: the exit was not explained: $(tail -2 "$STS_TMP/err7")"
acked=$(($(count "$a" 202) + $(count "$b" 202)))
[ "$(count "$a" 202)" = 200 ] || sts_die "shm: before, $a"
[ "$(count "$b" 202)" -lt 3000 ] || sts_die "shm: every report of the load acknowledged: the fault came after it ($b)"
sts_start "$STS_TMP/err8" --db "sqlite:$db" --key "$STS_TMP/key"
c=$($SEND "$SRV_PORT" 100 10000 4)
sts_stop "$SRV_PID"
[ "$(count "$c" 202)" = 100 ] || sts_die "shm: after the restart, $c"
stored=$(rows "$db")
((stored >= acked + 100 && stored <= 200 + 3000 + 100)) ||
    sts_die "shm: $stored rows stored, $acked acknowledged before the exit and 100 after"
[ "$(sqlite3 "$db" "PRAGMA integrity_check")" = ok ] || sts_die "shm: integrity_check failed"
echo "shm: truncated under load: exit 75 with the reason, $acked acknowledged before it, $stored stored after the restart (every one)"

# --- WAL after a burst -----------------------------------------------------
db=$STS_TMP/burst.db
sts_start "$STS_TMP/err4" --db "sqlite:$db" --key "$STS_TMP/key"
a=$($SEND "$SRV_PORT" 20000 0 16)
during=$(stat -c %s "$db-wal")
after=""
for ((i = 0; i < 50; i++)); do
    after=$(stat -c %s "$db-wal")
    [ "$after" = 0 ] && break
    sleep 0.1
done
sts_stop "$SRV_PID"
[ "$(count "$a" 202)" = 20000 ] || sts_die "burst: $a"
[ "$(rows "$db")" = 20000 ] || sts_die "burst: $(rows "$db") rows stored"
# Under a steady load no commit is quiet: the WAL grows to the 64 MiB bound,
# past which the writer truncates it, so at most a batch over it.
((during <= 72 * 1024 * 1024)) || sts_die "burst: WAL at $during bytes, over the 64 MiB bound and a batch"
[ "$after" = 0 ] || sts_die "burst: WAL still $after bytes 5 s after the burst"
echo "burst: WAL $during bytes at the end of 20,000 reports, 0 once idle"
