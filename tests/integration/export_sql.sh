#!/bin/bash
# In-database scoring: `riskpipe export-sql` and `riskpipe predict
# --in-database` against the C path (probabilities to 1e-12, the same
# decisions and reason codes) and against an independent Python scorer
# that reads the model file; hostile text in levels and categories; the
# SQL needs no server to be written and means the same with
# standard_conforming_strings off; the in-database write is atomic.
source "$(dirname "$0")/../lib.sh"
new_db export_sql
cd "$WORK"

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 3000 customers" generate --db "$DB" --customers 3000 --seed 21
# Hostile text that must stay data: quotes, a backslash, a double quote, a
# comment, and the dollar-quote tag the function body is wrapped in.
BAD_CITY="O'Brien\\\"; DROP TABLE customers; --\$rp\$"
BAD_CAT="it's a \\ test\$rp\$'"
sql "UPDATE customers SET city = \$q\$$BAD_CITY\$q\$ WHERE customer_id % 50 = 3" >/dev/null
sql "UPDATE transactions SET category = \$q\$$BAD_CAT\$q\$ WHERE transaction_id % 5 = 0" >/dev/null
eq "hostile city stored as given" "$(sql "SELECT DISTINCT city FROM customers WHERE customer_id = 3")" "$BAD_CITY"

expect_exit 0 "train" train --db "$DB" --model m.json --no-register --top-categories 12
grep -q "city=O'Brien" m.json && ok "the hostile city is a level of the model" || not_ok "the hostile city is a level of the model"
grep -q 'test\$rp\$' m.json && ok "the hostile category is a feature" || not_ok "the hostile category is a feature"
# values the model has never seen, for the unseen count
sql "UPDATE customers SET city = 'Atlantis' WHERE customer_id % 97 = 5" >/dev/null
ASOF=$(sql "SELECT max(transaction_date) FROM transactions")
N=$(sql "SELECT count(*) FROM customers")

expect_exit 0 "predict (C path)" predict --db "$DB" --model m.json --csv c.csv
sql "CREATE TABLE cpath AS SELECT * FROM predictions" >/dev/null
C_UNSEEN=$(sql "SELECT unseen_categories FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")

# compare TABLE: rows of TABLE equal to the C path's (1e-12, same decision
# and reasons), and a diagnostic line with the largest difference.
compare() {
    sql "SELECT count(*) FROM cpath c JOIN $1 p USING (customer_id)
         WHERE abs(c.probability - p.probability) <= 1e-12
           AND c.high_risk_prediction = p.high_risk_prediction
           AND c.reason_1 IS NOT DISTINCT FROM p.reason_1
           AND c.reason_2 IS NOT DISTINCT FROM p.reason_2
           AND c.reason_3 IS NOT DISTINCT FROM p.reason_3"
}
diag() {
    echo "# $1: max |p_sql - p_C| = $(sql "SELECT max(abs(c.probability - p.probability)) FROM cpath c JOIN $2 p USING (customer_id)"),\
 bit-identical $(sql "SELECT count(*) FILTER (WHERE c.probability = p.probability) FROM cpath c JOIN $2 p USING (customer_id)") of $N"
}

# export-sql needs no server: a --db that cannot work is never used.
expect_exit 0 "export-sql without a database" export-sql --model m.json --db "host=/nonexistent dbname=x"
cp "$OUT" score.sql
grep -q "E'" score.sql && not_ok "no E'' literals" "$(grep -o "E'[^ ]*" score.sql | head -3)" || ok "no E'' literals"
grep -q 'chr(92)' score.sql && ok "a backslash is written as chr(92)" || not_ok "a backslash is written as chr(92)"
expect_exit 0 "export-sql is deterministic" export-sql --model m.json
eq "the same SQL twice" "$(md5sum < "$OUT")" "$(md5sum < score.sql)"
check "the script installs" psql -X -q -v ON_ERROR_STOP=1 "$DB" -f score.sql
eq "customers table survived the hostile city" "$(sql "SELECT count(*) FROM customers")" "$N"
sql "CREATE TABLE fn AS SELECT * FROM riskpipe_score('$ASOF')" >/dev/null
eq "the function scores every customer" "$(sql "SELECT count(*) FROM fn")" "$N"
eq "function = C path (1e-12, decisions, reasons)" "$(compare fn)" "$N"
diag "function" fn
eq "the function names the model" "$(sql "SELECT DISTINCT model_id FROM fn")" "$(sql "SELECT DISTINCT model_id FROM cpath")"
# A session with standard_conforming_strings off parses the body again:
# with E'' or bare backslashes the levels would change, here they cannot.
eq "same results with standard_conforming_strings off" \
   "$(PGOPTIONS="-c standard_conforming_strings=off -c escape_string_warning=off" sql "SELECT md5(string_agg(f::text, ',' ORDER BY customer_id)) FROM riskpipe_score('$ASOF') f")" \
   "$(sql "SELECT md5(string_agg(f::text, ',' ORDER BY customer_id)) FROM fn f")"
expect_exit 2 "export-sql with a missing model file" export-sql --model no-such.json
expect_exit 1 "export-sql --function with no name" export-sql --model m.json --function ""
expect_exit 1 "export-sql refuses extra arguments" export-sql --model m.json extra
expect_exit 0 "export-sql --function --schema" export-sql --model m.json --function "Score Me" --schema public
grep -q 'FUNCTION "public"."Score Me"(as_of date)' "$OUT" && ok "function name quoted" || not_ok "function name quoted" "$(grep FUNCTION "$OUT")"

# An independent scorer: Python reads the model file and the feature rows
# (the model's own feature query) and applies the encoding and the
# logistic function; no riskpipe code involved.
psql -X -q "$DB" -c "COPY (SELECT * FROM fn ORDER BY customer_id) TO STDOUT CSV HEADER" > fn.csv
FSQL=$($PYTHON -c "import json,sys; print(json.load(open('m.json'))['features']['sql'])")
psql -X -q "$DB" -c "COPY ($FSQL) TO STDOUT CSV HEADER" > feat.csv
check "function = Python scorer from the model file (1e-12)" $PYTHON - m.json feat.csv fn.csv <<'PY'
import csv, json, math, sys
m = json.load(open(sys.argv[1]))
enc, coef = m["encoding"], m["coefficients"]
beta = {c["name"]: c["estimate"] for c in coef}
b0 = beta.pop("(intercept)")
cols = enc["columns"]
known = {}
for r in enc["reference_levels"]:
    known.setdefault(r["source"], set()).add(r["level"])
for c in cols:
    if c["kind"] == "level":
        known.setdefault(c["source"], set()).add(c["level"])
# the missing-value groups of features.c: a group is missing when its
# columns are NULL (no accounts, no transactions, no age)
group_cols = {"accounts": ["balance_sum", "balance_mean", "balance_min", "balance_max", "balance"],
              "transactions": ["txn_mean", "txn_std", "txn_min", "txn_max",
                               "days_since_last", "days_since_first", "txn_sum"],
              "age": ["age"]}
def num(v):
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None
feat = list(csv.DictReader(open(sys.argv[2])))
got = {r["customer_id"]: float(r["probability"]) for r in csv.DictReader(open(sys.argv[3]))}
assert len(feat) == len(got), (len(feat), len(got))
worst = 0.0
for r in feat:
    z = b0
    for c in cols:
        k = c["kind"]
        if k == "numeric":
            x = num(r[c["source"]])
            v = x if x is not None else c["impute"]
        elif k == "level":
            v = 1.0 if r[c["source"]] == c["level"] else 0.0
        elif k == "other":
            s = r[c["source"]]
            v = 1.0 if s == "" or s not in known[c["source"]] else 0.0
        else:
            members = [d["source"] for d in cols if d["kind"] == "numeric"
                       and d["source"] in group_cols[c["group"]]]
            v = 1.0 if any(num(r[n]) is None for n in members) else 0.0
        z += beta[c["name"]] * (v - c["mean"]) / c["sd"]
    p = 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    worst = max(worst, abs(p - got[r["customer_id"]]))
print("max difference", worst)
assert worst < 1e-12, worst
PY

# predict --in-database: the same rows, written by the server.
expect_exit 1 "--in-database refuses --csv" predict --db "$DB" --model m.json --in-database --csv x.csv
expect_err "cannot be combined with --csv" "the message names --csv"
rm -f p.csv
expect_exit 0 "predict --in-database" predict --db "$DB" --model m.json --in-database
[ -e predictions.csv ] && not_ok "no CSV written" || ok "no CSV written"
eq "in-database = C path (1e-12, decisions, reasons)" "$(compare predictions)" "$N"
diag "predict --in-database" predictions
eq "the run is logged like the C path's" \
   "$(sql "SELECT status || ':' || rows_scored || ':' || high_risk || ':' || unseen_categories FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")" \
   "$(sql "SELECT 'ok:' || count(*) || ':' || sum(high_risk_prediction) FROM cpath"):$C_UNSEEN"
[ "$C_UNSEEN" -gt 0 ] && ok "unseen values were counted ($C_UNSEEN)" || not_ok "unseen values were counted" "$C_UNSEEN"
eq "scored_at and model_id set" "$(sql "SELECT count(*) FROM predictions WHERE scored_at IS NOT NULL AND model_id = (SELECT DISTINCT model_id FROM cpath)")" "$N"

# Atomic: a connection killed before COMMIT leaves the previous rows.
sql "UPDATE predictions SET probability = 0.5 WHERE customer_id = 1" >/dev/null
before=$(sql "SELECT md5(string_agg(customer_id || ':' || probability, ',' ORDER BY customer_id)) FROM predictions")
RISKPIPE_TEST_PAUSE_BEFORE_COMMIT=3 "$RISKPIPE" predict --db "$DB" --model m.json --in-database >"$OUT" 2>"$ERR" &
pid=$!
for i in $(seq 1 100); do
    n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'riskpipe' AND state = 'idle in transaction'")
    [ "$n" -gt 0 ] && break; sleep 0.1
done
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'riskpipe' AND state = 'idle in transaction'" >/dev/null
wait $pid; rc=$?
eq "a killed in-database write fails with a database error" "$rc" "3"
eq "previous predictions survive it" "$(sql "SELECT md5(string_agg(customer_id || ':' || probability, ',' ORDER BY customer_id)) FROM predictions")" "$before"

# An empty customers table: refused, nothing replaced.
sql "CREATE TABLE no_customers (LIKE customers)" >/dev/null
expect_exit 2 "in-database with no customers" predict --db "$DB" --model m.json --in-database --customers-table no_customers
expect_err "has no rows" "the empty table is named"
eq "predictions unchanged after the refusal" "$(sql "SELECT md5(string_agg(customer_id || ':' || probability, ',' ORDER BY customer_id)) FROM predictions")" "$before"
