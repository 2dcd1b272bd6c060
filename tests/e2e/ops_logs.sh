# The collector's log as an operator reads it (journalctl): one line per
# event — start with the settings, rate limits engaged, storage failing and
# recovering, the periodic summary, stop — each line a single event, with
# the "<N>" priority prefix when asked for, and never a client address, a
# report id, an IMEI or a pseudonym, although the reports come from
# 127.0.0.2-5 (the only "127.0.0" allowed is the collector's own listen
# address).
#
#   STS_BIN=build STS_SRC=. bash tests/e2e/ops_logs.sh
set -u
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
sts_setup
export STS_NOW_DAY=2026-11-20
FROM="python3 $STS_SRC/tests/e2e/lib/send_from.py"
sts_keygen

count()
{
    local n
    n=$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2:\([0-9]*\)$/\1/p")
    echo "${n:-0}"
}

mnt=$STS_TMP/small
mkdir -p "$mnt"
full=""
if mount -t tmpfs -o size=16m tmpfs "$mnt" 2>/dev/null; then
    trap 'for p in "${STS_PIDS[@]}"; do kill -9 "$p"; wait "$p"; done 2>/dev/null
          umount "$mnt" 2>/dev/null; sts_cleanup' EXIT
    full=1
    db=$mnt/l.db
else
    db=$STS_TMP/l.db
fi
log=$STS_TMP/log
sts_start "$log" --db "sqlite:$db" --key "$STS_TMP/key" --summary-interval 1 \
    --rate-limit 50 --rate-burst 50
a=$($FROM "$SRV_PORT" 40 0 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5)
[ "$(count "$a" 202)" = 160 ] || sts_die "from four addresses: $a"
# One address over its rate.
r=$($FROM "$SRV_PORT" 200 1000 127.0.0.2)
[ "$(count "$r" 429)" -gt 0 ] || sts_die "no 429 from one address at 200 requests: $r"
sleep 1.5
if [ -n "$full" ]; then
    # The disk filled by something else, then freed.
    dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
    f=$($FROM "$SRV_PORT" 20 5000 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9 127.0.0.10)
    [ "$(count "$f" 503)" -gt 0 ] || sts_die "disk full: no 503 ($f)"
    rm -f "$mnt/filler"
    for ((i = 0; i < 60; i++)); do
        grep -q "storage recovered" "$log" && break
        sleep 0.1
    done
fi
sleep 1.2
sts_stop "$SRV_PID"
[ -n "$full" ] && umount "$mnt"

grep -q '^sts-collector: starting .*: db sqlite, http (loopback), .*threads .*rate_limit 50/s' "$log" ||
    sts_die "no start line with the settings: $(head -3 "$log")"
grep -q '^sts-collector: rate limits engaged: ' "$log" || sts_die "rate limits engaged not logged"
grep -q '^sts-collector: summary of the last 1s: [0-9]* reports (' "$log" || sts_die "no summary"
grep -q '^sts-collector: signal 15 (Terminated), stopping' "$log" || sts_die "no stop line"
[ "$(tail -n 1 "$log")" = "sts-collector: stopped" ] || sts_die "last line: $(tail -n 1 "$log")"
if [ -n "$full" ]; then
    grep -q '^sts-collector: storage failing: ' "$log" || sts_die "storage failing not logged"
    grep -q "^sts-collector: storage recovered after [0-9]*s; $(count "$f" 503) reports were answered 503" "$log" ||
        sts_die "storage recovered not logged"
else
    echo "storage failing/recovering: skipped (cannot mount a tmpfs here)"
fi
# Every line one event of this program.
! grep -v '^sts-collector: ' "$log" || sts_die "lines not of the form 'sts-collector: ...' (above)"
# No client address; the collector's own listen address only where it says so.
! grep '127\.0\.0\.[2-9]' "$log" || sts_die "a client address in the log (above)"
! grep '127\.0\.0' "$log" | grep -v '^sts-collector: listening on http://127\.0\.0\.1:[0-9]*$' ||
    sts_die "an address in the log outside the listen lines (above)"
# No report id, IMEI or pseudonym: no run of 15 or more digits or hex digits.
! grep -E '[0-9a-f]{15,}' "$log" || sts_die "an identifier-like string in the log (above)"
lines=$(wc -l <"$log")
echo "log: $lines lines, start/rate/summary/stop${full:+/storage failing and recovered}, no address or identifier"

# The priority prefix journald reads.
log2=$STS_TMP/log2
: >"$log2"
STS_LOG_PRIORITY=1 "$COLLECTOR" serve --listen 127.0.0.1:0 --db "sqlite:$STS_TMP/p.db" \
    --key "$STS_TMP/key" 2>"$log2" &
PID=$!
STS_PIDS+=("$PID")
STS_ERRS[$PID]=$log2
for ((i = 0; i < 100; i++)); do
    grep -q 'listening on' "$log2" && break
    sleep 0.05
done
sts_stop "$PID"
grep -q '^<5>sts-collector: listening on http://127\.0\.0\.1:' "$log2" || sts_die "no <5> prefix: $(cat "$log2")"
! grep -v '^<[0-7]>sts-collector: ' "$log2" || sts_die "lines without a priority prefix (above)"
echo "prefix: every line '<N>sts-collector: ' with STS_LOG_PRIORITY=1 (as under JOURNAL_STREAM)"
echo "ops_logs: ok"
