# Throwaway PostgreSQL clusters for the end-to-end tests, sourced by them
# after common.bash's sts_setup. Each cluster lives in a directory under
# $STS_TMP, listens on its own Unix socket there (named by a port number;
# with PG_TCP=1 also on 127.0.0.1 at that port), trusts local connections as
# the superuser "sts", and is stopped by the test by its postmaster's PID (the
# exit trap kills what is left).
#
# initdb and postgres refuse to run as root: as root (CI) they run as the
# "postgres" system user of the Debian package, with the directory chowned to
# it. The binaries are Debian's (/usr/lib/postgresql/<version>/bin).

PG_BIN=""
PG_PIDS=()

# pg_available: sets PG_BIN, or returns 1 when the server is not installed.
pg_available()
{
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && PG_BIN=$d
    done
    [ -n "$PG_BIN" ]
}

# pg_skip_unless_available: prints why and exits 0 when there is no server.
pg_skip_unless_available()
{
    if ! pg_available; then
        echo "skipped: no PostgreSQL server binaries under /usr/lib/postgresql (scripts/deps.sh installs them)"
        exit 0
    fi
}

# Runs a PostgreSQL program as the cluster's owner.
pg_as_owner()
{
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_cleanup()
{
    local pid
    for pid in ${PG_PIDS[@]+"${PG_PIDS[@]}"}; do
        kill -9 "$pid" 2>/dev/null || true # stopped already: nothing to kill
    done
    PG_PIDS=()
    sts_cleanup
}

# pg_forget NAME: drops the postmaster of NAME from the PIDs killed on exit
# (it has stopped: its PID may be another process's soon).
pg_forget()
{
    local pid keep=() p
    pid=$(cat "$STS_TMP/$1/pid" 2>/dev/null || true)
    for p in ${PG_PIDS[@]+"${PG_PIDS[@]}"}; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    PG_PIDS=(${keep[@]+"${keep[@]}"})
}

# pg_setup: replaces common.bash's exit trap with one that also kills every
# cluster left running. Call once, after sts_setup.
pg_setup()
{
    trap pg_cleanup EXIT
    if [ "$(id -u)" -eq 0 ]; then
        chmod 755 "$STS_TMP"
    fi
}

# pg_init NAME: makes an empty cluster in $STS_TMP/NAME (data in NAME/data).
pg_init()
{
    local dir=$STS_TMP/$1
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U sts -A trust -N >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; sts_die "initdb failed"; }
}

# pg_free_port: prints a TCP port nothing listens on at 127.0.0.1.
pg_free_port()
{
    local i port
    for ((i = 0; i < 50; i++)); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# pg_start NAME [PORT] [postgres -c options...]: starts the cluster of NAME
# (on PORT, or the one it had, or a free one), waits until it accepts
# connections (at most 30 s), and sets PG_PID, PG_PORT, PG_DIR; the port is
# remembered in NAME/port.
pg_start()
{
    local name=$1 port=${2:-}
    shift $(($# < 2 ? $# : 2))
    PG_DIR=$STS_TMP/$name
    [ -n "$port" ] || port=$(cat "$PG_DIR/port" 2>/dev/null || pg_free_port)
    echo "$port" >"$PG_DIR/port"
    # Unix socket only unless PG_TCP=1: a port of 127.0.0.1 free when
    # checked may be taken by any client's ephemeral port when bound.
    local opts="-p $port -k $PG_DIR -c listen_addresses='${PG_TCP:+127.0.0.1}'"
    local o
    for o in "$@"; do opts+=" -c $o"; done
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -o "$opts" \
        -w -t 30 start >/dev/null ||
        { tail -20 "$PG_DIR/server.log" >&2; sts_die "PostgreSQL $name did not start"; }
    PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
    echo "$PG_PID" >"$PG_DIR/pid"
    PG_PORT=$port
    PG_PIDS+=("$PG_PID")
}

# pg_stop NAME: a fast shutdown, waited for (at most 30 s).
pg_stop()
{
    pg_as_owner "$PG_BIN/pg_ctl" -D "$STS_TMP/$1/data" -m fast -w -t 30 stop >/dev/null
    pg_forget "$1"
}

# pg_sql NAME DB SQL: runs SQL through the cluster's socket, prints the
# unaligned result.
pg_sql()
{
    local dir=$STS_TMP/$1
    psql -X -q -At -h "$dir" -p "$(cat "$dir/port")" -U sts -d "$2" -c "$3"
}

# pg_createdb NAME DB: creates database DB in the cluster.
pg_createdb()
{
    pg_sql "$1" postgres "CREATE DATABASE $2" >/dev/null || sts_die "cannot create database $2"
}

# pg_uri NAME DB: the libpq URI of DB through the cluster's socket.
pg_uri()
{
    local dir=$STS_TMP/$1
    echo "postgresql://sts@/$2?host=$dir&port=$(cat "$dir/port")"
}

# pg_kill9 NAME: SIGKILL to the cluster's postmaster and to each of its
# processes (found by their parent's PID), as a machine that dies would.
pg_kill9()
{
    local pid children
    pid=$(head -1 "$STS_TMP/$1/data/postmaster.pid")
    children=$(pgrep -P "$pid" || true)
    kill -9 "$pid" $children 2>/dev/null || true
    pg_forget "$1"
}

# pg_wait_sql NAME DB SQL EXPECTED SECONDS: polls SQL until it prints
# EXPECTED (at most SECONDS, 10 polls a second); returns 1 on timeout.
pg_wait_sql()
{
    local i
    for ((i = 0; i < $5 * 10; i++)); do
        [ "$(pg_sql "$1" "$2" "$3" 2>/dev/null || true)" = "$4" ] && return 0
        sleep 0.1
    done
    return 1
}
