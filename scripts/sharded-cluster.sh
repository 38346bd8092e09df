#!/bin/bash
# sharded-cluster.sh - a sharded PostgreSQL on one machine, built from
# PostgreSQL's own parts: a coordinator and N shards (default 2), each an
# embedded riskpipe cluster with its own data folder and unix socket (no TCP).
#
#   scripts/sharded-cluster.sh start DIR          start (and on first use create)
#                                                 DIR/coord, DIR/shard1..N; prints
#                                                 the coordinator's conninfo
#   scripts/sharded-cluster.sh url DIR            the coordinator's conninfo again
#   scripts/sharded-cluster.sh load-from DIR SRC  copies customers, accounts and
#                                                 transactions from database SRC
#                                                 straight into the shards
#   scripts/sharded-cluster.sh analyze DIR        ANALYZE on every instance
#   scripts/sharded-cluster.sh stop DIR           stops the N+1 servers
#
# Layout.  On each shard, customers, accounts and transactions are ordinary
# tables (riskpipe's DDL: primary keys, customer_id indexes).  On the
# coordinator the three are tables PARTITION BY HASH (customer_id) with the
# same MODULUS N and REMAINDERs 0..N-1, and partition r is a postgres_fdw
# foreign table on shard r+1.  Equal bounds for the three tables put all of
# one customer's rows on one shard, which is what lets the planner run each
# GROUP BY customer_id on the shards (partitionwise aggregation).  riskpipe
# connects to the coordinator like to any PostgreSQL (--db "$(... url DIR)");
# its own tables (predictions, riskpipe_models, riskpipe_runs) are created
# there as ordinary local tables.
#
# Foreign-server options, and why:
#   async_capable 'true'  the shards work at the same time (Async Foreign Scan)
#   fetch_size 50000      rows per round trip (default 100): fewer round trips
#   fdw_tuple_cost 0.25   the default 0.01 prices a row from a shard like a row
#                         read locally; at that price the planner prefers to
#                         fetch the raw accounts sorted and group them here,
#                         since grouping saves only ~1.5 rows per customer.
#                         Measured (bench/RESULTS.md, 1M customers): 0.1 still
#                         did that once the tables were ANALYZEd, 0.2 and up
#                         grouped on the shards, and the feature query took
#                         21 s instead of 29 s.  A row that crosses a
#                         connection (text out, text in) costs far more than
#                         a local one; 0.25 says so with a margin.
#
# Loading.  `riskpipe generate --db <coordinator>` works: COPY into the
# partitioned tables routes each row to its shard.  PostgreSQL 15 sends those
# rows one INSERT at a time (batched COPY to foreign tables is PG16), about
# 25k rows/s here, fine for tests.  For millions of rows generate into an
# ordinary database and use load-from, which streams each shard's share with
# COPY (the share is chosen by satisfies_hash_partition, the function the
# partitions' constraints use, so rows land where the coordinator looks).
#
# The servers are riskpipe's embedded clusters (`RISKPIPE_HOME=DIR/x riskpipe
# db start`): initdb on first use, socket-only, and run by the postgres
# account when this script runs as root (then DIR must be reachable by it).
# The coordinator reaches the shards through their sockets as the same
# superuser, with no password (trust on a socket only that account can open).
# RISKPIPE names the riskpipe binary (default: ./riskpipe next to scripts/,
# else riskpipe on PATH); SHARDS the number of shards (fixed at creation).
set -euo pipefail

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 1
}

[ $# -ge 2 ] || usage
action="$1"
DIR="$2"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${RISKPIPE:-}" ]; then
    if [ -x "$here/../riskpipe" ]; then RISKPIPE="$here/../riskpipe"; else RISKPIPE=riskpipe; fi
fi
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac

# The shard count is fixed when the coordinator is set up; later calls read
# it back from the data folders.
count_shards() {
    local n=0
    while [ -d "$DIR/shard$((n + 1))" ]; do n=$((n + 1)); done
    echo "$n"
}
N="$(count_shards)"
[ "$N" -gt 0 ] || N="${SHARDS:-2}"

rp_at() {   # rp_at INSTANCE ARGS...: riskpipe against one instance's home
    local inst="$1"; shift
    RISKPIPE_HOME="$DIR/$inst" "$RISKPIPE" "$@"
}
url() { rp_at "$1" db url; }
psql_at() {  # psql_at INSTANCE ARGS...  (no "already exists" notices)
    local inst="$1"; shift
    PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -X -q -v ON_ERROR_STOP=1 "$(url "$inst")" "$@"
}

# An SQL string literal: quotes doubled (standard_conforming_strings is on).
lit() { printf "'%s'" "${1//\'/\'\'}"; }

# The input tables as riskpipe's `init` creates them.
TABLES_DDL="
CREATE TABLE IF NOT EXISTS customers (customer_id INT PRIMARY KEY, age INT, city TEXT, account_type TEXT);
CREATE TABLE IF NOT EXISTS accounts (account_id INT PRIMARY KEY, customer_id INT NOT NULL,
    balance NUMERIC(14,2), risk_score NUMERIC(6,4));
CREATE TABLE IF NOT EXISTS transactions (transaction_id BIGINT PRIMARY KEY, customer_id INT NOT NULL,
    amount NUMERIC(14,2), transaction_date DATE, category TEXT);
CREATE INDEX IF NOT EXISTS accounts_customer_id_idx ON accounts (customer_id);
CREATE INDEX IF NOT EXISTS transactions_customer_id_idx ON transactions (customer_id);"

# The coordinator: the extension, one foreign server per shard, and the
# partitioned tables.  No primary keys there: a unique index cannot span
# foreign partitions (each shard enforces its own).
coordinator_ddl() {
    local me="$1" i r
    echo "CREATE EXTENSION IF NOT EXISTS postgres_fdw;"
    for i in $(seq 1 "$N"); do
        echo "CREATE SERVER IF NOT EXISTS shard$i FOREIGN DATA WRAPPER postgres_fdw OPTIONS (
    host $(lit "$DIR/shard$i"), port '5432', dbname 'riskpipe',
    async_capable 'true', fetch_size '50000', fdw_tuple_cost '0.25');"
        echo "CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER shard$i OPTIONS (user $(lit "$me"));"
    done
    cat <<'EOT'
CREATE TABLE IF NOT EXISTS customers (customer_id INT NOT NULL, age INT, city TEXT, account_type TEXT)
    PARTITION BY HASH (customer_id);
CREATE TABLE IF NOT EXISTS accounts (account_id INT NOT NULL, customer_id INT NOT NULL,
    balance NUMERIC(14,2), risk_score NUMERIC(6,4)) PARTITION BY HASH (customer_id);
CREATE TABLE IF NOT EXISTS transactions (transaction_id BIGINT NOT NULL, customer_id INT NOT NULL,
    amount NUMERIC(14,2), transaction_date DATE, category TEXT) PARTITION BY HASH (customer_id);
EOT
    for t in customers accounts transactions; do
        for i in $(seq 1 "$N"); do
            r=$((i - 1))
            echo "CREATE FOREIGN TABLE IF NOT EXISTS ${t}_shard$i PARTITION OF $t
    FOR VALUES WITH (MODULUS $N, REMAINDER $r) SERVER shard$i OPTIONS (table_name '$t');"
        done
    done
}

start() {
    local i me
    mkdir -p "$DIR"
    # as root the servers run as postgres, which must reach DIR
    chmod 755 "$DIR"
    for i in coord $(seq -f 'shard%g' 1 "$N"); do
        rp_at "$i" -q db start
    done
    for i in $(seq 1 "$N"); do
        psql_at "shard$i" -c "$TABLES_DDL"
    done
    me="$(psql_at coord -At -c 'SELECT current_user')"
    coordinator_ddl "$me" | psql_at coord
    url coord
}

stop() {
    local i rc=0
    for i in coord $(seq -f 'shard%g' 1 "$N"); do
        [ -d "$DIR/$i" ] || continue
        rp_at "$i" -q db stop || rc=1
    done
    return $rc
}

analyze() {
    local i
    for i in $(seq 1 "$N"); do psql_at "shard$i" -c "ANALYZE customers, accounts, transactions"; done
    psql_at coord -c "ANALYZE customers, accounts, transactions"
}

# Each shard's share of SRC's rows, streamed with COPY.  satisfies_hash_partition
# needs a partitioned table with the same key type to hash like the
# coordinator: a temporary one in SRC's session.
load_from() {
    local src="$1" t cols i
    for t in customers accounts transactions; do
        case "$t" in
            customers) cols="customer_id, age, city, account_type" ;;
            accounts) cols="account_id, customer_id, balance, risk_score" ;;
            transactions) cols="transaction_id, customer_id, amount, transaction_date, category" ;;
        esac
        for i in $(seq 1 "$N"); do
            psql -X -q -v ON_ERROR_STOP=1 "$src" \
                -c "CREATE TEMP TABLE rp_hash_probe (customer_id INT) PARTITION BY HASH (customer_id)" \
                -c "COPY (SELECT $cols FROM $t WHERE satisfies_hash_partition('rp_hash_probe'::regclass, $N, $((i - 1)), customer_id::int)) TO STDOUT" |
                psql_at "shard$i" -c "COPY $t ($cols) FROM STDIN"
        done
    done
    analyze
}

case "$action" in
    start) start ;;
    stop) stop ;;
    url) url coord ;;
    analyze) analyze ;;
    load-from) [ $# -ge 3 ] || usage; load_from "$3" ;;
    *) usage ;;
esac
