#!/bin/bash
# riskpipe generate: shares and counts of the planted model
# (docs/synthetic-data.md), determinism, --append, --truth, atomicity.
source "$(dirname "$0")/../lib.sh"
new_db generate

# md5 of the three tables' contents in id order: equal iff byte-identical.
tables_md5() {
    for q in "customers ORDER BY customer_id" "accounts ORDER BY account_id" \
             "transactions ORDER BY transaction_id"; do
        psql -X -q "$DB" -c "COPY (SELECT * FROM $q) TO STDOUT" | md5sum
    done | md5sum | cut -d' ' -f1
}

# in_range NAME VALUE LO HI: LO <= VALUE <= HI (decimals allowed).
in_range() {
    if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v <= hi) }'; then
        ok "$1 ($2)"
    else
        not_ok "$1" "got $2, wanted $3..$4"
    fi
}

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 20000 customers" generate --customers 20000 --seed 7 \
    --truth "$WORK/truth.csv" --db "$DB"

eq "customers count" "$(sql "SELECT count(*) FROM customers")" "20000"
in_range "accounts per customer about 1.5" \
    "$(sql "SELECT round((SELECT count(*) FROM accounts) / 20000.0, 3)")" 1.4 1.65
in_range "transactions per customer about 20" \
    "$(sql "SELECT round((SELECT count(*) FROM transactions) / 20000.0, 2)")" 18 22

# The label as riskpipe defines it: max(risk_score) > 0.7, NULL = unlabelled.
LABELS="SELECT c.customer_id, max(a.risk_score) AS m
        FROM customers c LEFT JOIN accounts a USING (customer_id) GROUP BY 1"
in_range "high-risk share among labelled customers in 15-25%" \
    "$(sql "SELECT round(avg((m > 0.7)::int), 4) FROM ($LABELS) s WHERE m IS NOT NULL")" 0.15 0.25
in_range "unlabelled share in 3-6%" \
    "$(sql "SELECT round(avg((m IS NULL)::int), 4) FROM ($LABELS) s")" 0.03 0.06
in_range "customers without accounts about 2%" \
    "$(sql "SELECT round(avg((NOT EXISTS (SELECT 1 FROM accounts a WHERE a.customer_id = c.customer_id))::int), 4) FROM customers c")" 0.012 0.03
in_range "customers without transactions about 3%" \
    "$(sql "SELECT round(avg((NOT EXISTS (SELECT 1 FROM transactions t WHERE t.customer_id = c.customer_id))::int), 4) FROM customers c")" 0.02 0.04
in_range "a few ages are NULL" "$(sql "SELECT count(*) FROM customers WHERE age IS NULL")" 40 200
eq "ten categories" "$(sql "SELECT count(DISTINCT category) FROM transactions")" "10"
eq "twenty cities" "$(sql "SELECT count(DISTINCT city) FROM customers")" "20"
eq "account types" "$(sql "SELECT string_agg(DISTINCT account_type, ',') FROM customers")" \
   "business,checking,savings"
eq "fixed two-year date window" \
   "$(sql "SELECT min(transaction_date) || ' ' || max(transaction_date) FROM transactions")" \
   "2024-01-01 2025-12-31"
eq "risk_score within 0..1" \
   "$(sql "SELECT count(*) FROM accounts WHERE risk_score < 0 OR risk_score > 1")" "0"
eq "no transaction of an unknown customer" \
   "$(sql "SELECT count(*) FROM transactions t LEFT JOIN customers c USING (customer_id) WHERE c.customer_id IS NULL")" "0"
eq "no NULL amounts or dates" \
   "$(sql "SELECT count(*) FROM transactions WHERE amount IS NULL OR transaction_date IS NULL OR amount <= 0")" "0"
in_range "some overdrawn accounts" "$(sql "SELECT count(*) FROM accounts WHERE balance < 0")" 100 2000
eq "statistics are fresh (ANALYZE ran)" \
   "$(sql "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN ('customers','accounts','transactions') AND last_analyze IS NOT NULL")" "3"

# --truth: one row per customer, header, probabilities in (0,1) that
# explain the labels about as well as the documentation says.
eq "truth header" "$(head -1 "$WORK/truth.csv")" "customer_id,probability"
eq "truth has one row per customer" "$(($(wc -l < "$WORK/truth.csv") - 1))" "20000"
psql -X -q "$DB" -c "COPY ($LABELS ORDER BY 1) TO STDOUT WITH CSV" >"$WORK/labels.csv"
check "truth ids match, p in (0,1), mean p near the share, AUC of p about 0.89" \
    $PYTHON - "$WORK/truth.csv" "$WORK/labels.csv" <<'PY'
import csv, sys
from sklearn.metrics import roc_auc_score
t = list(csv.reader(open(sys.argv[1])))[1:]
lab = list(csv.reader(open(sys.argv[2])))
assert [r[0] for r in t] == [r[0] for r in lab], "ids differ"
assert len(set(r[0] for r in t)) == len(t), "duplicate ids"
p = [float(r[1]) for r in t]
assert all(0 < x < 1 for x in p)
y, q = zip(*[(float(l[1]) > 0.7, x) for l, x in zip(lab, p) if l[1] != ""])
share, mean_p = sum(y) / len(y), sum(q) / len(q)
assert abs(share - mean_p) < 0.015, (share, mean_p)
auc = roc_auc_score(y, q)
assert 0.86 <= auc <= 0.92, auc
PY

# Determinism: same seed, same bytes; another seed, other bytes.
h1=$(tables_md5)
again expect_exit 0 "generate again with the same seed" generate --customers 20000 --seed 7 --db "$DB"
eq "same seed gives identical tables" "$(tables_md5)" "$h1"
again expect_exit 0 "generate with another seed" generate --customers 20000 --seed 8 --db "$DB"
h3=$(tables_md5)
[ "$h3" != "$h1" ] && ok "another seed gives other data" || not_ok "another seed gives other data" "same md5 $h1"

# --append adds customers after the current maximum ids.
expect_exit 0 "generate --append" generate --customers 1000 --seed 9 --append --db "$DB"
eq "append adds customers" "$(sql "SELECT count(*) || ' ' || count(DISTINCT customer_id) || ' ' || max(customer_id) FROM customers")" \
   "21000 21000 21000"
eq "appended customers have new ids" "$(sql "SELECT count(*) FROM customers WHERE customer_id > 20000")" "1000"
eq "appended accounts and transactions come after the old ids" \
   "$(sql "SELECT (SELECT min(account_id) FROM accounts WHERE customer_id > 20000) > (SELECT max(account_id) FROM accounts WHERE customer_id <= 20000) AND (SELECT min(transaction_id) FROM transactions WHERE customer_id > 20000) > (SELECT max(transaction_id) FROM transactions WHERE customer_id <= 20000)")" "t"

# Streams are keyed by customer id: N then M appended with the same seed
# is exactly a fresh run of N + M.
expect_exit 0 "generate 300" generate --customers 300 --seed 5 --db "$DB"
expect_exit 0 "append 200 with the same seed" generate --customers 200 --seed 5 --append --db "$DB"
h_app=$(tables_md5)
expect_exit 0 "generate 500" generate --customers 500 --seed 5 --db "$DB"
eq "300 + appended 200 equals a fresh 500" "$(tables_md5)" "$h_app"

# Bad --customers values are usage errors.
expect_exit 1 "--customers 0 is refused" generate --customers 0 --db "$DB"
expect_exit 1 "--customers -5 is refused" generate --customers -5 --db "$DB"
expect_exit 1 "--customers abc is refused" generate --customers abc --db "$DB"
expect_exit 1 "--customers is required" generate --db "$DB"

# All or nothing: a failure after the TRUNCATE and the first two COPYs
# (a constraint that the transactions COPY violates) leaves the tables as
# they were and no truth file behind.
h_before=$(tables_md5)
sql "ALTER TABLE transactions ADD CONSTRAINT t_no_gambling CHECK (category <> 'gambling') NOT VALID" >/dev/null
expect_exit 3 "a COPY failure is a database error" \
    generate --customers 2000 --seed 3 --truth "$WORK/t2.csv" --db "$DB"
expect_err 't_no_gambling' "the message names the violated constraint"
sql "ALTER TABLE transactions DROP CONSTRAINT t_no_gambling" >/dev/null
eq "a failed generate changes no table" "$(tables_md5)" "$h_before"
[ ! -e "$WORK/t2.csv" ] && [ -z "$(ls "$WORK" | grep 't2.csv')" ] \
    && ok "a failed generate leaves no truth file" \
    || not_ok "a failed generate leaves no truth file" "$(ls "$WORK")"
rp generate --customers 2000 --seed 3 --truth "$WORK/no/such/dir/t.csv" --db "$DB"
[ "$RC" != 0 ] && ok "an unwritable --truth fails (exit $RC)" || not_ok "an unwritable --truth fails" "exit 0"
eq "and changes nothing" "$(tables_md5)" "$h_before"
