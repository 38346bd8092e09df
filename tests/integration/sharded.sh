#!/bin/bash
# riskpipe on a sharded PostgreSQL (scripts/sharded-cluster.sh: a
# coordinator and two shards, hash partitions on postgres_fdw foreign
# tables): the feature query's GROUP BYs run on the shards, and the model
# and predictions equal those of a single node holding the same data.
source "$(dirname "$0")/../lib.sh"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SCRIPT="$ROOT/scripts/sharded-cluster.sh"
SC="$WORK/sc"
trap 'bash "$SCRIPT" stop "$SC" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
cd "$WORK"

# The single node: the test cluster, 2000 generated customers.
new_db sharded_single
SINGLE="$DB"
expect_exit 0 "generate on the single node" generate --db "$SINGLE" --customers 2000 --seed 13

if bash "$SCRIPT" start "$SC" >start.out 2>&1; then ok "sharded cluster starts"
else not_ok "sharded cluster starts" "$(tail -5 start.out)"; exit 1; fi
CO="$(tail -1 start.out)"
eq "start prints the coordinator's conninfo" "$CO" "$(bash "$SCRIPT" url "$SC")"
check "start is idempotent" bash "$SCRIPT" start "$SC"
co() { psql -X -q -At -v ON_ERROR_STOP=1 "$CO" -c "$1"; }
shard() { psql -X -q -At "$(RISKPIPE_HOME="$SC/shard$1" "$RISKPIPE" db url)" -c "$2"; }
eq "coordinator tables are hash-partitioned on customer_id" \
   "$(co "SELECT string_agg(c.relname || ':' || pg_get_partkeydef(c.oid), ',' ORDER BY c.relname) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid")" \
   "accounts:HASH (customer_id),customers:HASH (customer_id),transactions:HASH (customer_id)"
eq "six foreign partitions, async and with a large fetch_size" \
   "$(co "SELECT count(*) FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE 'async_capable=true' = ANY (s.srvoptions) AND 'fetch_size=50000' = ANY (s.srvoptions)")" "6"

# Same data: each shard gets its share straight from the single node.
check "load-from copies the single node into the shards" bash "$SCRIPT" load-from "$SC" "$SINGLE"
digest="SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY customer_id)) FROM customers t)
         || (SELECT md5(string_agg(t::text, ',' ORDER BY account_id)) FROM accounts t)
         || (SELECT md5(string_agg(t::text, ',' ORDER BY transaction_id)) FROM transactions t)"
eq "the coordinator sees exactly the single node's rows" "$(co "$digest")" "$(sql "$digest")"
n1=$(shard 1 "SELECT count(*) FROM customers"); n2=$(shard 2 "SELECT count(*) FROM customers")
[ "$n1" -gt 500 ] && [ "$n2" -gt 500 ] && ok "both shards hold customers ($n1 + $n2)" || not_ok "both shards hold customers" "$n1 + $n2"
eq "a customer's accounts live on the customer's shard" \
   "$(shard 1 "SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = a.customer_id)")" "0"

# Pushdown: each shard runs the GROUP BY customer_id of both aggregates.
expect_exit 0 "train --explain" train --db "$CO" --explain
cp "$OUT" plan.txt
eq "accounts grouped on each shard" "$(grep -cE 'Remote SQL: SELECT customer_id, count\(\*\).* FROM public\.accounts GROUP BY 1$' plan.txt)" "2"
eq "transactions grouped on each shard" "$(grep -cE 'Remote SQL: SELECT customer_id, count\(\*\).* FROM public\.transactions WHERE .* GROUP BY 1$' plan.txt)" "2"
eq "no raw transaction rows fetched" "$(grep -E 'Remote SQL:' plan.txt | grep 'FROM public.transactions' | grep -vc 'GROUP BY')" "0"
grep -q "Async Foreign Scan" plan.txt && ok "the shards are scanned concurrently" || not_ok "the shards are scanned concurrently" "$(grep -m3 'Foreign Scan' plan.txt)"
eq "--explain trains nothing and creates no table" "$(co "SELECT to_regclass('riskpipe_models') IS NULL")" "t"

# The same model and predictions from both.
expect_exit 0 "run on the single node" run --db "$SINGLE" --model single.json --csv single.csv --no-activate
expect_exit 0 "run on the sharded cluster" run --db "$CO" --model sharded.json --csv sharded.csv --no-activate
d=$($PYTHON - single.json sharded.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert [c["name"] for c in a["coefficients"]] == [c["name"] for c in b["coefficients"]]
print(max(abs(x["estimate"] - y["estimate"]) for x, y in zip(a["coefficients"], b["coefficients"])))
PY
)
echo "# largest |coefficient difference|, single node vs sharded: $d"
check "coefficients equal to 1e-9" $PYTHON -c "import sys; sys.exit(0 if float('$d') <= 1e-9 else 1)"
strip() { cut -d, -f1-3,6- "$1"; }   # without model_id and scored_at
eq "identical predictions (CSV)" "$(strip single.csv | md5sum)" "$(strip sharded.csv | md5sum)"
eq "predictions table on the coordinator is a local table" \
   "$(co "SELECT relkind FROM pg_class WHERE relname = 'predictions'")" "r"

# In-database scoring on the coordinator: the shards aggregate, the
# coordinator scores; the same rows as the C path.
co "CREATE TABLE cpath AS SELECT * FROM predictions"
expect_exit 0 "predict --in-database on the sharded cluster" predict --db "$CO" --model sharded.json --in-database
eq "in-database = C path on the sharded cluster (1e-12, decisions, reasons)" \
   "$(co "SELECT count(*) FROM cpath c JOIN predictions p USING (customer_id) WHERE abs(c.probability - p.probability) <= 1e-12 AND c.high_risk_prediction = p.high_risk_prediction AND c.reason_1 IS NOT DISTINCT FROM p.reason_1 AND c.reason_2 IS NOT DISTINCT FROM p.reason_2 AND c.reason_3 IS NOT DISTINCT FROM p.reason_3")" \
   "$(co "SELECT count(*) FROM customers")"

# riskpipe generate through the coordinator routes rows to the shards.
co "TRUNCATE customers, accounts, transactions"
expect_exit 0 "generate through the coordinator" generate --db "$CO" --customers 2000 --seed 13
eq "routed rows equal the single node's" "$(co "$digest")" "$(sql "$digest")"

check "stop" bash "$SCRIPT" stop "$SC"
RISKPIPE_HOME="$SC/shard1" "$RISKPIPE" db status >/dev/null 2>&1 && not_ok "the shards are down after stop" || ok "the shards are down after stop"
