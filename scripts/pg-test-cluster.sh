#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests and benchmarks: own data dir under a temp dir, own port,
# listening on 127.0.0.1 only, trust auth. Works as root (runs the server as `postgres`).
#
#   scripts/pg-test-cluster.sh start      prints PGDIR=… PGPID=… PGPORT=… PGURL=… (one per line)
#   scripts/pg-test-cluster.sh stop DIR   stops the cluster in DIR (immediate) and deletes DIR
#
# Callers that keep the PID may instead stop it themselves (SIGQUIT = immediate shutdown),
# wait for the PID to go, then delete PGDIR.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    [ -x "$PGBIN/initdb" ] || { echo "no initdb in $PGBIN" >&2; exit 2; }
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/frontdoor-pg.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
    local port tries=0
    while :; do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=50" start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            cat "$dir/server.log" >&2 || true
            rm -rf "$dir"
            exit 1
        fi
    done
    local pid
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    echo "PGDIR=$dir"
    echo "PGPID=$pid"
    echo "PGPORT=$port"
    echo "PGURL=host=127.0.0.1 port=$port user=postgres dbname=postgres"
}

stop() {
    local dir=${1:?usage: $0 stop DIR}
    [ -d "$dir/data" ] || { echo "no cluster in $dir" >&2; exit 2; }
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
