#!/bin/bash
# The client-side feature path (src/fastfeat.c) against the SQL path: the
# same datasets byte for byte (--dump-features prints every double with 17
# digits, so equal dumps mean equal doubles), the same coefficients and the
# same predictions, on generated data and on hand-made tables full of edge
# cases; and the fallbacks: data or column types the client path cannot
# take exactly go to the SQL path under --features-path auto, and are an
# error naming the cause under --features-path client.
source "$(dirname "$0")/../lib.sh"
new_db fastfeat
cd "$WORK"

# same_dataset NAME ARGS...: train with the SQL path and with the client
# path (ARGS added to both), then compare the dumps and the coefficients.
same_dataset() {
    local name="$1"; shift
    rp -v train --db "$DB" --no-register --features-path sql --model sql.json \
       --dump-features sql.tsv "$@"
    if [ "$RC" != 0 ]; then not_ok "$name: SQL path trains" "$(head -c 400 "$ERR")"; return; fi
    rp -v train --db "$DB" --no-register --features-path client --model client.json \
       --dump-features client.tsv "$@"
    if [ "$RC" != 0 ]; then not_ok "$name: client path trains" "$(head -c 400 "$ERR")"; return; fi
    grep -q "features: client path" "$ERR" || { not_ok "$name: client path ran" "$(grep features "$ERR")"; return; }
    if cmp -s sql.tsv client.tsv; then ok "$name: identical datasets ($(($(wc -l < sql.tsv) - 1)) customers)"
    else not_ok "$name: identical datasets" "$(diff sql.tsv client.tsv | head -6)"; fi
    check "$name: bit-identical coefficients" $PYTHON - sql.json client.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["coefficients"] == b["coefficients"], "coefficients differ"
PY
}

# ---- generated data ------------------------------------------------------
expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 3000 customers" generate --db "$DB" --customers 3000 --seed 5
same_dataset "generated"
for n in 1 3 7; do
    rp train --db "$DB" --no-register --features-path client --feature-connections $n \
       --model c$n.json --dump-features c$n.tsv
    if [ "$RC" = 0 ] && cmp -s sql.tsv c$n.tsv; then ok "generated: $n connections give the same dataset"
    else not_ok "generated: $n connections give the same dataset" "exit $RC $(head -c 300 "$ERR")"; fi
done
same_dataset "generated, --features seed" --features seed
same_dataset "generated, --as-of before the last transaction" --as-of 2025-09-15 --top-categories 3

# predict and run: the same predictions from either path
expect_exit 0 "predict, SQL path" predict --db "$DB" --model sql.json --features-path sql --csv p_sql.csv
expect_exit 0 "predict, client path" predict --db "$DB" --model sql.json --features-path client --csv p_client.csv
strip() { cut -d, -f1-3,6- "$1"; }   # without model_id and scored_at
eq "predict: identical predictions" "$(strip p_sql.csv | md5sum)" "$(strip p_client.csv | md5sum)"
expect_exit 0 "run, auto path" -v run --db "$DB" --model r.json --csv p_run.csv --no-activate
grep -q "features: client path" "$ERR" && ok "auto takes the client path on local tables" \
    || not_ok "auto takes the client path on local tables" "$(grep features "$ERR")"

# orphans are counted by the streams, not by another scan
sql "INSERT INTO transactions (transaction_id, customer_id, amount, transaction_date, category)
     VALUES (999999001, 987654321, 5, '2025-01-01', 'x')"
sql "INSERT INTO accounts (account_id, customer_id, balance, risk_score) VALUES (999999001, 987654321, 1, 0.1)"
rp train --db "$DB" --no-register --features-path client --model o.json
expect_err "1 accounts and 1 transactions belong to no customer" "client path warns about orphan rows"

# ---- hand-made edge cases --------------------------------------------------
# e1: riskpipe's own column types (smallint ids in accounts).  Negative,
# zero, NULL and huge amounts; NULL, -infinity, infinity and late dates;
# NULL and hostile categories; customers with no, one, two transactions,
# only NULL amounts, only undated rows; no accounts, NULL balances, NULL
# and NaN risk scores; transactions and accounts of unknown or NULL
# customers.
sql "CREATE SCHEMA e1;
CREATE TABLE e1.customers (customer_id int PRIMARY KEY, age int, city text, account_type text);
CREATE TABLE e1.accounts (account_id int, customer_id smallint, balance numeric(14,2), risk_score numeric(6,4));
CREATE TABLE e1.transactions (transaction_id int, customer_id int, amount numeric(14,2),
                              transaction_date date, category text);
INSERT INTO e1.customers SELECT i, CASE WHEN i % 9 = 0 THEN NULL ELSE 20 + i % 50 END,
    CASE WHEN i % 3 = 0 THEN 'Leeds' WHEN i % 7 = 0 THEN NULL ELSE E'Y\\\\ork\\t' END, 'savings'
    FROM generate_series(1, 64) i;
INSERT INTO e1.accounts SELECT i, i, CASE WHEN i % 10 = 0 THEN NULL
        ELSE (i * 7919 % 2000001 - 1000000) / 100.0 END,
    CASE WHEN i % 11 = 0 THEN NULL WHEN i % 3 = 0 THEN 0.9 ELSE 0.1 END
    FROM generate_series(1, 58) i;
INSERT INTO e1.accounts VALUES (1001, 1, 999999999999.99, 'NaN'), (1002, 2, NULL, 0.95),
    (1003, 4, -999999999999.99, 'NaN'), (1004, 5, 0, 0.7), (1005, 30000, 3, 0.2),
    (1006, NULL, 4, 0.9);
INSERT INTO e1.transactions SELECT g, 1 + g % 56,
    CASE WHEN g % 13 = 0 THEN NULL WHEN g % 29 = 0 THEN 0 WHEN g % 31 = 0 THEN 999999999999.99
         WHEN g % 37 = 0 THEN -999999999999.99 ELSE (g * 7919 % 200001 - 100000) / 100.0 END,
    CASE WHEN g % 17 = 0 THEN NULL WHEN g % 41 = 0 THEN '-infinity'::date
         WHEN g % 43 = 0 THEN 'infinity'::date ELSE date '2025-12-31' - (g * 31) % 400 END,
    CASE WHEN g % 19 = 0 THEN NULL
         ELSE (ARRAY[E'quote''s', E'back\\\\slash', E'tab\\there', E'new\\nline', 'naïve ☃', '',
                     ' padded ', 'x''); DROP TABLE e1.customers; --', 'UPPER', 'upper', 'food'])[1 + g % 11]
    END
    FROM generate_series(1, 3000) g;
INSERT INTO e1.transactions VALUES
    (5001, 57, 12.34, '2025-06-01', 'food'), (5002, 57, -12.35, '2025-12-30', 'food'),
    (5003, 58, NULL, '2025-06-01', 'food'), (5004, 58, NULL, '2025-06-02', NULL),
    (5005, 59, 0.01, '2025-12-31', E'quote''s'),
    (5006, 60, 100, NULL, 'food'), (5007, 60, 100, '-infinity', 'food'),
    (5008, 61, 5, '2026-03-01', 'food'),
    (5009, 123456, 7, '2025-01-01', 'food'), (5010, NULL, 8, '2025-01-01', 'food')"
same_dataset "edge cases" --schema e1 --top-categories 12 --min-count 1
eq "the hostile category names were among the learned ones" \
   "$($PYTHON -c "import json; m = json.load(open('client.json')); print(sum(1 for c in m['features']['categories'] if '\\\\' in c or '\\n' in c or \"'\" in c))")" "4"
grep -q "2 accounts and 2 transactions belong to no customer" "$ERR" \
    && ok "edge cases: orphan counts (unknown and NULL customer_id)" \
    || not_ok "edge cases: orphan counts (unknown and NULL customer_id)" "$(grep -i belong "$ERR")"
same_dataset "edge cases, --as-of 2025-10-01" --schema e1 --top-categories 12 --min-count 1 --as-of 2025-10-01
same_dataset "edge cases, seed set" --schema e1 --features seed --min-count 1
for n in 2 5; do
    rp train --db "$DB" --schema e1 --no-register --features-path client --feature-connections $n \
       --top-categories 12 --min-count 1 --model c.json --dump-features c$n.tsv
    rp train --db "$DB" --schema e1 --no-register --features-path sql \
       --top-categories 12 --min-count 1 --model s.json --dump-features s$n.tsv
    cmp -s s$n.tsv c$n.tsv && ok "edge cases: $n connections" || not_ok "edge cases: $n connections" "$(diff s$n.tsv c$n.tsv | head -4)"
done

# e2: other column types the client path takes exactly: bigint ids far
# apart (binary search, not the dense index), unconstrained NUMERIC with
# 0 to 9 decimals mixed within one customer, integer balances, float8
# risk scores with NaN and Infinity, varchar categories, NUMERIC ages.
sql "CREATE SCHEMA e2;
CREATE TABLE e2.customers (customer_id bigint PRIMARY KEY, age numeric, city varchar(20), account_type text);
CREATE TABLE e2.accounts (customer_id bigint, balance integer, risk_score float8);
CREATE TABLE e2.transactions (customer_id bigint, amount numeric, transaction_date date, category varchar(40));
INSERT INTO e2.customers SELECT i::bigint * 1000000007, 30.5 + i % 40, 'c' || i % 4, 'a' || i % 2
    FROM generate_series(1, 60) i;
INSERT INTO e2.accounts SELECT (1 + i % 60)::bigint * 1000000007, i * 37 % 5000 - 2500,
    CASE WHEN i % 13 = 0 THEN 'NaN'::float8 WHEN i % 17 = 0 THEN 'Infinity'::float8
         WHEN i % 5 = 0 THEN 0.8 ELSE 0.2 END FROM generate_series(1, 100) i;
INSERT INTO e2.transactions SELECT (1 + g % 58)::bigint * 1000000007,
    CASE g % 6 WHEN 0 THEN (g % 1000)::numeric WHEN 1 THEN round(g / 7.0, 1)
         WHEN 2 THEN -round(g / 3.0, 6) WHEN 3 THEN round(g / 11000.0, 9)
         WHEN 4 THEN 123456.789 ELSE -0.000000001 END,
    date '2025-12-31' - g % 200, 'k' || g % 5 FROM generate_series(1, 2000) g"
same_dataset "mixed scales, sparse bigint ids" --schema e2 --min-count 1

# e3: a NaN amount: auto falls back to the SQL path, client refuses.
sql "CREATE SCHEMA e3;
CREATE TABLE e3.customers AS SELECT * FROM e2.customers;
CREATE TABLE e3.accounts AS SELECT * FROM e2.accounts;
CREATE TABLE e3.transactions AS SELECT * FROM e2.transactions;
INSERT INTO e3.transactions VALUES (2000000014, 'NaN', '2025-01-01', 'k1')"
expect_exit 2 "a NaN amount: --features-path client refuses" \
    train --db "$DB" --schema e3 --no-register --features-path client --model x.json --min-count 1
expect_err "transactions.amount holds NaN or Infinity" "the message names the column and the cause"
expect_err "features-path sql" "the hint names the other paths"
rp -v train --db "$DB" --schema e3 --no-register --model x.json --min-count 1 --dump-features a.tsv
grep -q "SQL path (the client-side path does not apply: transactions.amount holds NaN" "$ERR" \
    && ok "a NaN amount: auto falls back to the SQL path and says why" \
    || not_ok "a NaN amount: auto falls back to the SQL path and says why" "exit $RC; $(grep -i 'path' "$ERR" | head -3)"
sql "UPDATE e3.transactions SET amount = 0.0000000000000000001 WHERE amount = 'NaN'"
expect_exit 2 "19 decimals: --features-path client refuses" \
    train --db "$DB" --schema e3 --no-register --features-path client --model x.json --min-count 1
expect_err "more than 18 decimals" "the message says why"

# e4: float8 money cannot be summed exactly as NUMERIC on the client.
sql "CREATE SCHEMA e4;
CREATE TABLE e4.customers AS SELECT * FROM e2.customers;
CREATE TABLE e4.accounts AS SELECT * FROM e2.accounts;
CREATE TABLE e4.transactions AS SELECT customer_id, amount::float8 AS amount, transaction_date, category FROM e2.transactions"
rp -v train --db "$DB" --schema e4 --no-register --model x.json --min-count 1
grep -q "cannot read transactions.amount: its type" "$ERR" \
    && ok "float8 amounts: auto takes the SQL path and says why" \
    || not_ok "float8 amounts: auto takes the SQL path and says why" "exit $RC; $(grep -i 'path' "$ERR" | head -3)"
expect_exit 2 "float8 amounts: --features-path client refuses" \
    train --db "$DB" --schema e4 --no-register --features-path client --model x.json --min-count 1

# Views: auto leaves them to the SQL path; client may be forced on them.
sql "CREATE SCHEMA e5;
CREATE VIEW e5.customers AS SELECT * FROM e2.customers;
CREATE VIEW e5.accounts AS SELECT * FROM e2.accounts;
CREATE VIEW e5.transactions AS SELECT * FROM e2.transactions"
rp -v train --db "$DB" --schema e5 --no-register --model x.json --min-count 1
grep -q "not an ordinary table" "$ERR" && ok "views: auto takes the SQL path" \
    || not_ok "views: auto takes the SQL path" "exit $RC; $(grep -i 'path' "$ERR" | head -3)"
same_dataset "views, forced client path" --schema e5 --min-count 1

expect_exit 1 "--features-path checks its value" train --db "$DB" --features-path fast
expect_err 'invalid value "fast" for --features-path' "the message names the option"
expect_exit 1 "--feature-connections checks its range" train --db "$DB" --feature-connections 0
