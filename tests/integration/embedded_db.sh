#!/bin/bash
# embedded_db: `riskpipe db start|stop|status|url` on a second, private
# cluster in its own RISKPIPE_HOME under $WORK (the shared test cluster is
# left alone).  Checks idempotent start, status codes, that psql can use
# `riskpipe db url`, that nothing listens on TCP, that the socket folder is
# private, restart after the postmaster was killed, and stop.
. "$(dirname "$0")/../lib.sh"

export RISKPIPE_HOME="$WORK/home"
# Stop our server before lib.sh's cleanup removes its folder.
trap '"$RISKPIPE" db stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT

psql_at() { psql -X -q -At "$URL" -c "$1" 2>&1; }

expect_exit 3 "status before the first start" db status
expect_err "no cluster" "status says there is no cluster yet"
expect_exit 0 "stop before the first start is fine" db stop

expect_exit 0 "first start creates and starts the cluster" db start
expect_exit 0 "second start is a no-op" db start
expect_exit 0 "status exits 0 while running" db status

rp db url
URL="$(cat "$OUT")"
case "$URL" in
    "host=$RISKPIPE_HOME port=5432 dbname=riskpipe user="?*) ok "url names the home folder" ;;
    *) not_ok "url names the home folder" "got '$URL'" ;;
esac

eq "psql \"\$(riskpipe db url)\" -c 'select 1'" "$(psql_at 'select 1')" "1"
eq "the database riskpipe exists" "$(psql_at 'select current_database()')" "riskpipe"
eq "no TCP listener (listen_addresses is empty)" "$(psql_at 'show listen_addresses')" ""
eq "the socket lives in the home folder" "$(psql_at 'show unix_socket_directories')" \
   "\"$RISKPIPE_HOME\""
eq "socket mode 0700" "$(psql_at 'show unix_socket_permissions')" "0700"
eq "UTF8 and the C locale" "$(psql_at "select pg_encoding_to_char(encoding) || ' ' || datcollate from pg_database where datname = 'riskpipe'")" "UTF8 C"
check "the socket file exists" test -S "$RISKPIPE_HOME/.s.PGSQL.5432"

mode="$(stat -c %a "$RISKPIPE_HOME")"
if (( (8#$mode & 8#022) == 0 )); then ok "home folder not writable by others ($mode)"
else not_ok "home folder not writable by others" "mode $mode"; fi

pid="$(head -1 "$RISKPIPE_HOME/data/postmaster.pid" 2>/dev/null)"
if [ "$(id -u)" = 0 ]; then
    owner="$(stat -c %U "$RISKPIPE_HOME/data")"
    if [ "$owner" != root ]; then ok "as root the cluster is run by an unprivileged account ($owner)"
    else not_ok "as root the cluster is run by an unprivileged account" "data owned by root"; fi
fi
if command -v ss >/dev/null && [ -n "$pid" ]; then
    if ss -ltnp 2>/dev/null | grep -q "pid=$pid,"; then
        not_ok "the postmaster has no TCP socket" "$(ss -ltnp | grep "pid=$pid,")"
    else ok "the postmaster has no TCP socket"; fi
fi

# A server killed hard leaves postmaster.pid behind; start must cope.
if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        psql -X -q -At "$URL" -c 'select 1' >/dev/null 2>&1 || break
        sleep 0.2
    done
    expect_exit 0 "start after kill -9 of the postmaster" db start
    expect_exit 0 "status after the restart" db status
    eq "data survived the restart" "$(psql_at 'select 1')" "1"
else
    not_ok "start after kill -9 of the postmaster" "no postmaster pid ($pid)"
fi

expect_exit 0 "stop" db stop
expect_exit 3 "status exits 3 after stop" db status
expect_err "not running" "status says the server is not running"
expect_exit 0 "stop again is a no-op" db stop
expect_exit 0 "start again after stop" db start
expect_exit 0 "stop once more" db stop

# Unix socket paths are limited to 107 bytes: a clear refusal, not a hang.
long="$WORK/$(printf 'x%.0s' $(seq 1 100))"
RISKPIPE_HOME="$long" expect_exit 3 "a home path too long for a socket is refused" db start
expect_err "too long" "the message says the path is too long"
expect_err "RISKPIPE_HOME=" "the hint suggests RISKPIPE_HOME"
