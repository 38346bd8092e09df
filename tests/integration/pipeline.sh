#!/bin/bash
# The main job end to end on 20k generated customers: run, predict,
# numbers against scikit-learn and statsmodels, atomic writes.
source "$(dirname "$0")/../lib.sh"
new_db pipeline
M="$WORK/model.json"; C="$WORK/pred.csv"

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 20k customers" generate --customers 20000 --seed 7 --truth "$WORK/truth.csv" --db "$DB"
expect_exit 0 "run" run --db "$DB" --model "$M" --csv "$C" --dump-matrix "$WORK/X.csv"
cp "$OUT" "$WORK/run.out"
grep -q "ROC AUC" "$OUT" && ok "run prints the evaluation" || not_ok "run prints the evaluation" "$(head -5 "$OUT")"

n_cust=$(sql "SELECT count(*) FROM customers")
eq "one prediction per customer in the table" "$(sql "SELECT count(DISTINCT customer_id) FROM predictions")" "$n_cust"
eq "one prediction per customer in the CSV" "$(($(wc -l < "$C") - 1))" "$n_cust"
eq "every customer has a prediction" "$(sql "SELECT count(*) FROM customers c LEFT JOIN predictions p USING (customer_id) WHERE p.customer_id IS NULL")" "0"
eq "CSV header" "$(head -1 "$C")" "customer_id,high_risk_prediction,probability,model_id,scored_at,reason_1,reason_2,reason_3,reason_4"
eq "the run is logged" "$(sql "SELECT status || ':' || rows_scored FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")" "ok:$n_cust"
eq "the model is registered" "$(sql "SELECT count(*) FROM riskpipe_models WHERE model_id = (SELECT max(model_id) FROM predictions)")" "1"

# Table and CSV hold the same doubles.
psql -X -q "$DB" -c "\copy (SELECT customer_id, high_risk_prediction, probability, model_id, reason_1, reason_2, reason_3, reason_4 FROM predictions ORDER BY customer_id) TO '$WORK/table.csv' CSV" 
check "table and CSV are identical" $PYTHON - "$C" "$WORK/table.csv" <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1])))[1:]
b = list(csv.reader(open(sys.argv[2])))
assert len(a) == len(b), (len(a), len(b))
for x, y in zip(a, b):
    assert x[0] == y[0] and x[1] == y[1] and x[3] == y[3], (x, y)
    assert float(x[2]) == float(y[2]), (x, y)
    assert x[5:9] == y[4:8], (x, y)
PY

# predict with the saved model reproduces the probabilities exactly.
sql "CREATE TABLE first_run AS SELECT * FROM predictions"
expect_exit 0 "predict with the saved model" predict --db "$DB" --model "$M" --csv "$WORK/pred2.csv"
eq "predict reproduces run's probabilities bit for bit" \
   "$(sql "SELECT count(*) FROM first_run f JOIN predictions p USING (customer_id) WHERE f.probability = p.probability AND f.high_risk_prediction = p.high_risk_prediction")" "$n_cust"

# The same data and options give the same coefficients, bit for bit, also
# when OpenBLAS is told to use another number of threads (riskpipe fixes
# it at one, so the core count cannot change the sums).
again expect_exit 0 "train again" train --db "$DB" --model "$WORK/model2.json" --no-register
OPENBLAS_NUM_THREADS=4 again expect_exit 0 "train again, OPENBLAS_NUM_THREADS=4" train --db "$DB" \
    --model "$WORK/model3.json" --no-register
check "retraining gives identical coefficients" $PYTHON - "$M" "$WORK/model2.json" "$WORK/model3.json" <<'PY'
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
assert a["coefficients"] == b["coefficients"], "coefficients differ"
assert a["coefficients"] == c["coefficients"], "coefficients differ with OPENBLAS_NUM_THREADS=4"
PY

# Coefficients equal scikit-learn's on the same standardised matrix.
check "coefficients match scikit-learn (1e-5 relative)" $PYTHON - "$M" "$WORK/X.csv" <<'PY'
import json, sys, numpy as np
from sklearn.linear_model import LogisticRegression
m = json.load(open(sys.argv[1]))
D = np.loadtxt(sys.argv[2], delimiter=",")
X, y = D[:, :-1], D[:, -1]
# lbfgs stops about 1e-2 relative short on these collinear columns even
# with tol=1e-12; newton-cholesky reaches the optimum.
ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=1000, solver="newton-cholesky").fit(X, y)
ours = np.array([c["estimate"] for c in m["coefficients"]])
theirs = np.concatenate([ref.intercept_, ref.coef_[0]])
rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-6)
assert rel.max() < 1e-5, (rel.max(), np.argmax(rel))
PY

# Standard errors equal statsmodels' on an unpenalised fit.
expect_exit 0 "unpenalised train" train --db "$DB" --C inf --features seed --model "$WORK/m_inf.json" --no-register --dump-matrix "$WORK/Xinf.csv"
check "standard errors match statsmodels (1e-4 relative)" $PYTHON - "$WORK/m_inf.json" "$WORK/Xinf.csv" <<'PY'
import json, sys, numpy as np
import statsmodels.api as sm
m = json.load(open(sys.argv[1]))
D = np.loadtxt(sys.argv[2], delimiter=",")
X, y = sm.add_constant(D[:, :-1], has_constant="add"), D[:, -1]
r = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
est = np.array([c["estimate"] for c in m["coefficients"]])
se = np.array([c["std_error"] for c in m["coefficients"]])
assert np.max(np.abs(est - r.params) / np.maximum(np.abs(r.params), 1e-3)) < 1e-4
assert np.max(np.abs(se - r.bse) / r.bse) < 1e-4, (se, r.bse)
PY

# Held-out AUC next to the planted truth's AUC on the same customers.
auc=$(sed -n 's/^  ROC AUC *\([0-9.]*\).*/\1/p' "$WORK/run.out" | head -1)
truth_auc=$($PYTHON - "$WORK/truth.csv" "$DB" <<'PY'
import csv, subprocess, sys
from sklearn.metrics import roc_auc_score
t = {r["customer_id"]: float(r["probability"]) for r in csv.DictReader(open(sys.argv[1]))}
rows = subprocess.run(["psql", "-X", "-At", sys.argv[2], "-c",
    "SELECT customer_id, (max(risk_score) > 0.7)::int FROM accounts GROUP BY customer_id HAVING max(risk_score) IS NOT NULL"],
    capture_output=True, text=True, check=True).stdout.split()
ids, y = zip(*(r.split("|") for r in rows))
print("%.4f" % roc_auc_score([int(v) for v in y], [t[i] for i in ids]))
PY
)
echo "# held-out ROC AUC $auc; planted truth's AUC on all labelled customers $truth_auc"
# The truth sees the latent risk itself; the features see it through ~20
# noisy transactions, so a gap of a few points is expected.
check "AUC is within 0.07 of the planted truth's" $PYTHON -c "import sys; sys.exit(0 if float('$auc') > float('$truth_auc') - 0.07 else 1)"

# A predict that dies during the write leaves the previous predictions
# and CSV intact: the connection is terminated while the transaction is
# open, after the rows were COPYed (into the table, or into the stage
# for a table of other column types).
before=$(sql "SELECT md5(string_agg(customer_id || ':' || probability || ':' || model_id, ',' ORDER BY customer_id)) FROM predictions")
csv_before=$(md5sum < "$WORK/pred2.csv")
RISKPIPE_TEST_PAUSE_BEFORE_COMMIT=3 "$RISKPIPE" predict --db "$DB" --model "$M" --csv "$WORK/pred2.csv" >"$OUT" 2>"$ERR" &
pid=$!
for i in $(seq 1 100); do
    n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'riskpipe' AND state = 'idle in transaction' AND (query LIKE '%riskpipe_stage%' OR query LIKE 'COPY %FROM STDIN%')")
    [ "$n" -gt 0 ] && break; sleep 0.1
done
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'riskpipe' AND state = 'idle in transaction' AND (query LIKE '%riskpipe_stage%' OR query LIKE 'COPY %FROM STDIN%')" >/dev/null
wait $pid; rc=$?
eq "predict fails with a database error when the connection dies" "$rc" "3"
eq "previous predictions survive a failed write" "$(sql "SELECT md5(string_agg(customer_id || ':' || probability || ':' || model_id, ',' ORDER BY customer_id)) FROM predictions")" "$before"
eq "previous CSV survives a failed write" "$(md5sum < "$WORK/pred2.csv")" "$csv_before"
ls "$WORK"/pred2.csv.tmp.* >/dev/null 2>&1 && not_ok "no temporary CSV left behind" || ok "no temporary CSV left behind"

# The classic script's seven features, for comparison.
expect_exit 0 "train with --features seed" train --db "$DB" --features seed --model "$WORK/seed.json" --no-register
seed_auc=$(sed -n 's/^  ROC AUC *\([0-9.]*\).*/\1/p' "$OUT" | head -1)
echo "# held-out ROC AUC: default features $auc, seed features $seed_auc"

# Table names that need quoting, in a schema whose name has a quote.
S='we"ird Schema'
expect_exit 0 "init in a schema that needs quoting" init --db "$DB" --schema "$S" --customers-table "Cust omers"
expect_exit 0 "generate into quoted names" generate --db "$DB" --schema "$S" --customers-table "Cust omers" --customers 500 --seed 3
expect_exit 0 "run on quoted names" run --db "$DB" --schema "$S" --customers-table "Cust omers" --model "$WORK/q.json" --csv "$WORK/q.csv" --min-count 5
eq "predictions in the quoted schema" "$(sql "SELECT count(*) FROM \"we\"\"ird Schema\".predictions")" "500"
