#!/bin/bash
# predict --from-csv DIR: the rows of three CSV files, loaded into
# temporary tables and scored with the same feature query, give exactly
# (bit for bit) the predictions that scoring the same rows from the tables
# gives; the input tables are not touched, nothing is left behind, rejected
# rows are counted in the run log.
source "$(dirname "$0")/../lib.sh"
new_db from_csv
cd "$WORK"

expect_exit 0 "generate" generate --db "$DB" --customers 2500 --seed 9
expect_exit 0 "train" train --db "$DB" --model m.json --no-register
expect_exit 0 "predict from the tables" predict --db "$DB" --model m.json --csv tables.csv
sql "CREATE TABLE from_tables AS TABLE predictions" >/dev/null
mkdir in
for t in customers accounts transactions; do
    psql -X -q "$DB" -c "\\copy $t TO 'in/$t.csv' CSV HEADER"
done
tables_before=$(sql "SELECT count(*) FROM pg_class WHERE relkind = 'r'")
rows_before=$(sql "SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM transactions)")

expect_exit 0 "predict --from-csv" predict --db "$DB" --model m.json --from-csv in --csv files.csv
expect_err 'read 2500 customers' "the summary says what was read"
n=$(sql "SELECT count(*) FROM customers")
eq "every customer scored from the files" "$(sql "SELECT count(*) FROM predictions")" "$n"
eq "probabilities, decisions and reasons equal scoring the tables, bit for bit" \
   "$(sql "SELECT count(*) FROM from_tables a JOIN predictions b USING (customer_id)
           WHERE a.probability = b.probability AND a.high_risk_prediction = b.high_risk_prediction
             AND a.reason_1 IS NOT DISTINCT FROM b.reason_1 AND a.reason_2 IS NOT DISTINCT FROM b.reason_2
             AND a.reason_3 IS NOT DISTINCT FROM b.reason_3")" "$n"
check "the CSV equals the tables' CSV except for scored_at" $PYTHON - <<'PY'
import csv
a = [r[:4] + r[5:] for r in csv.reader(open("tables.csv", newline=""))]
b = [r[:4] + r[5:] for r in csv.reader(open("files.csv", newline=""))]
assert len(a) == len(b) and a == b, (len(a), len(b))
PY
eq "the input tables are untouched" "$(sql "SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM transactions)")" "$rows_before"
eq "no table is left behind" "$(sql "SELECT count(*) FROM pg_class WHERE relkind = 'r'")" "$tables_before"
eq "the run is logged with 0 rejected rows" "$(sql "SELECT status || ':' || rows_scored || ':' || rows_rejected FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")" "ok:$n:0"
eq "the table run has no rejected count" "$(sql "SELECT coalesce(rows_rejected::text, 'null') FROM riskpipe_runs ORDER BY run_id LIMIT 1")" "null"
check "the drift of the same rows is 0" test "$(sql "SELECT max((f->>'psi')::float8) FROM riskpipe_runs r, jsonb_array_elements(r.details->'drift'->'features') f WHERE run_id = (SELECT max(run_id) FROM riskpipe_runs)")" = 0

# --no-db-write: only the CSV
sql "TRUNCATE predictions" >/dev/null
expect_exit 0 "predict --from-csv --no-db-write" predict --db "$DB" --model m.json --from-csv in --csv nodb.csv --no-db-write
eq "--no-db-write leaves the table alone" "$(sql "SELECT count(*) FROM predictions")" "0"
eq "--no-db-write writes the CSV" "$(($(wc -l < nodb.csv) - 1))" "$n"

# New customers with a bad row: scored without it, the reject counted.
mkdir new
head -1 in/customers.csv > new/customers.csv
printf '900001,44,"Leeds",savings\n900002,old,Leeds,savings\n900003,29,York,checking\n' >> new/customers.csv
printf 'account_id,customer_id,balance\n900001,900001,1200.50\n900002,900003,-30\n' > new/accounts.csv
printf 'transaction_id,customer_id,amount,transaction_date,category\n900001,900001,12.5,2025-12-30,groceries\n900002,900003,900,2025-12-01,gambling\n' > new/transactions.csv
expect_exit 0 "predict new customers from files" predict --db "$DB" --model m.json --from-csv new --csv new.csv --predictions-table new_predictions
expect_err '1 rows rejected .* not scored' "the rejected row is reported"
eq "the good new customers are scored" "$(sql "SELECT string_agg(customer_id::text, ',' ORDER BY customer_id) FROM new_predictions")" "900001,900003"
eq "the reject file names the line" "$(tail -1 new/customers.csv.rejects.csv)" '3,"age: ""old"" is not an integer"'
eq "the run records the rejected row" "$(sql "SELECT rows_rejected FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")" "1"
eq "the main predictions table is untouched" "$(sql "SELECT count(*) FROM predictions")" "0"

expect_exit 2 "a missing file" predict --db "$DB" --model m.json --from-csv no_such_dir --csv x.csv
expect_err 'could not open "no_such_dir/customers.csv"' "the missing file is named"
expect_exit 1 "--from-csv with --in-database" predict --db "$DB" --model m.json --from-csv in --in-database
