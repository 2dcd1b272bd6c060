# Shared by the agent's end-to-end tests (sourced, not run): a collector on
# 127.0.0.1 with a throw-away SQLite database, and small helpers.
# Needs: bin (the build directory), tmp (a scratch directory), fail().

collector_pid=""
url=""

# start_collector PORT: starts it on 127.0.0.1:PORT (0 = any), waits (bounded)
# for its "listening" line and sets collector_pid and url. The environment
# variable COLLECTOR_TODAY, when set, fixes the collector's today. The agent
# runs on its own injected clock, months away from the collector's, so the
# collector keeps every report on its own day and month (backfill) instead of
# moving those of closed periods to its first open one (docs/at-rest.md),
# and keeps device rows until erased: the agent's months are years before
# the collector's today, past the default retention (docs/PRIVACY.md).
start_collector() {
  local port=$1 log="$tmp/collector.log" tries
  printf 'backfill = 1\nretention_months = 0\n' >"$tmp/collector.conf"
  [ -f "$tmp/key" ] || "$bin/sts-collector" keygen --out "$tmp/key" 2>/dev/null
  [ -f "$tmp/token" ] || "$bin/sts-collector" keygen --token --out "$tmp/token" 2>/dev/null
  for tries in 1 2 3 4 5; do
    : >"$log"
    STS_NOW_DAY=${COLLECTOR_TODAY:-} "$bin/sts-collector" serve --config "$tmp/collector.conf" --listen "127.0.0.1:$port" \
      --db "sqlite:$tmp/sts.db" --key "$tmp/key" --token-file "$tmp/token" 2>"$log" &
    collector_pid=$!
    for _ in $(seq 100); do
      url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" || true)
      [ -n "$url" ] && return 0
      kill -0 "$collector_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -9 "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
    collector_pid=""
    sleep 0.2
  done
  cat "$log" >&2
  fail "the collector did not start on port $port"
}

stop_collector() {
  [ -n "$collector_pid" ] || return 0
  kill -TERM "$collector_pid" 2>/dev/null || true
  wait "$collector_pid" 2>/dev/null || true
  collector_pid=""
}

# sql QUERY: one value from the collector's database.
sql() { sqlite3 "$tmp/sts.db" "$1"; }

# month_of YYYY-MM: the collector's month number (year*12 + month-1).
month_of() { local y=${1%-*} m=${1#*-}; echo $((10#$y * 12 + 10#$m - 1)); }

# pings PERIOD: lifetime pings counted for PERIOD (YYYY-MM).
pings() { sql "SELECT coalesce(sum(count),0) FROM lifetime_count WHERE period=$(month_of "$1")"; }

# epoch 'YYYY-MM-DD HH:MM:SS': seconds since the epoch, UTC.
epoch() { date -u -d "$1" +%s; }
