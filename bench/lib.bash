# bench/lib.bash: what the benchmark scripts share (sourced, not run).

# stop_pid PID [SIGNAL [TENTHS]]: signals PID, waits for it to end (TENTHS
# tenths of a second at most, default 100), then kills it.
stop_pid() {
    local pid=$1 sig=${2:-TERM} tenths=${3:-100}
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 "$tenths"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# port_in_use PORT: whether something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
