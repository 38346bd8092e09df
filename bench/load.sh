#!/usr/bin/env bash
# bench/load.sh [CUSTOMERS]: `riskpipe load` against psql's \copy of the
# same CSV files (issue 7: the loader must be at least as fast).
#
#   bash bench/load.sh            # 100000 customers: about 2M transactions
#   RUNS=7 bash bench/load.sh 100000
#
# Generates the data once in a temporary embedded cluster (riskpipe's
# defaults), exports the three tables with \copy ... CSV HEADER, then
# alternates the two contenders RUNS times, each loading all three files
# into the `riskpipe init` tables (primary keys and customer_id indexes) in
# one transaction after a TRUNCATE, followed by ANALYZE (riskpipe load
# --replace does the same).  Wall time, client CPU and peak RSS of the
# client from /usr/bin/time; the server backend's CPU from its own
# accounting (log_statement_stats, set through PGOPTIONS for both), which
# a busy machine disturbs far less than wall time.  Medians printed.
# Never part of `make test`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-100000}; RUNS=${RUNS:-5}
RP="$ROOT/riskpipe"
[ -x "$RP" ] || { echo "bench: run make first" >&2; exit 1; }
TMP=$(mktemp -d /var/tmp/riskpipe-load.XXXXXX); chmod 755 "$TMP"
export RISKPIPE_HOME="$TMP/pg"
trap '"$RP" db stop >/dev/null 2>&1; rm -rf "$TMP"' EXIT
"$RP" -q db start
DB=$("$RP" db url)
"$RP" -q init --db "$DB"
"$RP" -q generate --db "$DB" --customers "$N" --seed 42
cd "$TMP"
for t in customers accounts transactions; do
    psql -X -q "$DB" -c "\\copy $t TO '$t.csv' CSV HEADER"
done
cat > psql.sql <<'SQL'
BEGIN;
TRUNCATE customers, accounts, transactions;
\copy customers FROM 'customers.csv' CSV HEADER
\copy accounts FROM 'accounts.csv' CSV HEADER
\copy transactions FROM 'transactions.csv' CSV HEADER
ANALYZE customers; ANALYZE accounts; ANALYZE transactions;
COMMIT;
SQL
echo "rows: $(wc -l < customers.csv) customers, $(wc -l < accounts.csv) accounts, $(wc -l < transactions.csv) transactions (with headers); $(du -ch ./*.csv | tail -1 | cut -f1) of CSV" >&2
LOG="$RISKPIPE_HOME/server.log"
# server CPU of the session that ran since byte offset $1 of the log
server_cpu() {
    tail -c +"$(($1 + 1))" "$LOG" | sed -n 's/.*\[\([0-9.]*\) s user, \([0-9.]*\) s system total\].*/\1 \2/p' |
        tail -1 | awk '{ printf "%.3f", $1 + $2 }'
}
export PGOPTIONS="-c log_statement_stats=on"
for i in $(seq "$RUNS"); do
    o=$(stat -c %s "$LOG")
    /usr/bin/time -f "psql %e %U %M" -a -o times.txt psql -X -q "$DB" -f psql.sql
    sed -i "\$s/\$/ $(server_cpu "$o")/" times.txt
    o=$(stat -c %s "$LOG")
    /usr/bin/time -f "riskpipe %e %U %M" -a -o times.txt "$RP" -q load --db "$DB" --replace \
        --customers customers.csv --accounts accounts.csv --transactions transactions.csv >/dev/null
    sed -i "\$s/\$/ $(server_cpu "$o")/" times.txt
done
unset PGOPTIONS
/usr/bin/python3 - <<'PY'
import collections, statistics
d = collections.defaultdict(list)
for l in open("times.txt"):
    k, e, u, m, s = l.split(); d[k].append((float(e), float(u), int(m), float(s)))
for k, v in d.items():
    print("%-9s wall median %.2f s (runs: %s); server CPU median %.2f s (runs: %s); "
          "client CPU median %.2f s; peak RSS %d MB" % (
        k, statistics.median(x[0] for x in v), " ".join("%.2f" % x[0] for x in v),
        statistics.median(x[3] for x in v), " ".join("%.2f" % x[3] for x in v),
        statistics.median(x[1] for x in v), max(x[2] for x in v) // 1024))
PY
