#!/bin/bash
# riskpipe explain and reason codes on generated data: the coefficient
# table against statsmodels (unpenalised) and against an independent numpy
# inverse of the penalised Hessian; VIFs against statsmodels'
# variance_inflation_factor; the warnings; one customer's explanation
# against the predictions table, bit for bit; reason codes in the table.
source "$(dirname "$0")/../lib.sh"
new_db explain

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 4000 customers" generate --customers 4000 --seed 11 --db "$DB"

# --- unpenalised: statsmodels is the reference ------------------------------
expect_exit 0 "unpenalised train (seed features)" train --db "$DB" --C inf --features seed \
    --model "$WORK/inf.json" --no-register --dump-matrix "$WORK/Xinf.csv"
expect_exit 0 "explain an unpenalised model" explain --model "$WORK/inf.json"
grep -q "inverse Hessian (unpenalised" "$OUT" && ok "says the SEs are unpenalised" \
    || not_ok "says the SEs are unpenalised" "$(head -c 400 "$OUT")"
expect_exit 0 "explain --json" explain --model "$WORK/inf.json" --json
cp "$OUT" "$WORK/inf.out"
check "estimates, SE, z, p, 95% CI, LL, pseudo R2, AIC, BIC match statsmodels Logit (1e-4)" \
    $PYTHON - "$WORK/inf.out" "$WORK/Xinf.csv" <<'PY'
import json, sys, numpy as np
import statsmodels.api as sm
e = json.load(open(sys.argv[1]))
D = np.loadtxt(sys.argv[2], delimiter=",")
X, y = sm.add_constant(D[:, :-1], has_constant="add"), D[:, -1]
r = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
c = e["coefficients"]
def close(name, ours, ref, tol=1e-4, floor=1e-8):
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), floor)
    assert rel.max() < tol, (name, rel.max(), int(np.argmax(rel)), ours, ref)
close("estimate", [k["estimate"] for k in c], r.params, floor=1e-3)
close("std_error", [k["std_error"] for k in c], r.bse)
close("z", [k["z"] for k in c], r.tvalues, floor=1e-3)
# p-values below 1e-300 are "<1e-300" in the text; compare the rest
p = np.array([k["p_value"] for k in c]); ok = r.pvalues > 1e-290
close("p_value", p[ok], r.pvalues[ok], floor=1e-300)
ci = r.conf_int()
close("ci_low", [k["ci_low"] for k in c], ci[:, 0], floor=1e-2)
close("ci_high", [k["ci_high"] for k in c], ci[:, 1], floor=1e-2)
close("odds_ratio", [k["odds_ratio"] for k in c], np.exp(r.params))
f = e["fit"]
close("loglik", f["loglik"], r.llf, 1e-8)
close("loglik_null", f["loglik_null"], r.llnull, 1e-8)
close("pseudo R2", f["pseudo_r2_mcfadden"], r.prsquared, 1e-6)
close("AIC", f["aic"], r.aic, 1e-8)
close("BIC", f["bic"], r.bic, 1e-8)
assert f["observations"] == len(y) and f["events"] == int(y.sum()), f
assert abs(f["effective_df"] - X.shape[1]) < 1e-12, f
PY
check "VIFs match statsmodels' variance_inflation_factor (1e-6)" \
    $PYTHON - "$WORK/inf.out" "$WORK/Xinf.csv" <<'PY'
import json, sys, numpy as np
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor as vif
e = json.load(open(sys.argv[1]))
X = sm.add_constant(np.loadtxt(sys.argv[2], delimiter=",")[:, :-1], has_constant="add")
ours = [k["vif"] for k in e["coefficients"][1:]]
for j, v in enumerate(ours):
    ref = vif(X, j + 1)
    assert abs(v - ref) / ref < 1e-6, (j, v, ref)
print("VIFs", ["%.3f" % v for v in ours])
PY

# --- penalised: an independent inverse of the penalised Hessian -------------
expect_exit 0 "penalised train (default features, C = 0.05)" train --db "$DB" --C 0.05 \
    --model "$WORK/pen.json" --no-register --dump-matrix "$WORK/Xpen.csv"
expect_exit 0 "explain a penalised model" explain --model "$WORK/pen.json"
cp "$OUT" "$WORK/pen.txt"
grep -q "inverse of the penalised Hessian" "$WORK/pen.txt" && ok "says the SEs are penalised" \
    || not_ok "says the SEs are penalised" "$(head -c 400 "$WORK/pen.txt")"
for what in "observations" "log-likelihood" "null log-likelihood" "McFadden" "AIC" \
            "condition number of Hessian" "Newton iterations" "gradient norm" \
            "largest variance inflation factors" "odds ratio" "95% CI"; do
    grep -q "$what" "$WORK/pen.txt" && ok "the text shows $what" \
        || not_ok "the text shows $what" "$(head -c 300 "$WORK/pen.txt")"
done
grep -q "total gambling amount  *cat_gambling_[0-9]*_sum" "$WORK/pen.txt" \
    && ok "features in plain words beside the column name" \
    || not_ok "features in plain words beside the column name" "$(grep -i gambl "$WORK/pen.txt" | head -3)"
# the default set holds a total and its parts (txn_count = the category
# counts + other): exactly collinear, which the warning must say
grep -q "near-collinearity: [0-9]* columns" "$WORK/pen.txt" && grep -q "exact collinearity" "$WORK/pen.txt" \
    && ok "warns about (exact) collinearity" || not_ok "warns about (exact) collinearity" \
    "$(sed -n '/^Warnings/,/^Coeff/p' "$WORK/pen.txt")"
expect_exit 0 "explain --json (penalised)" explain --model "$WORK/pen.json" --json
cp "$OUT" "$WORK/pen.out"
check "SE, z, p, CI, effective df match numpy's inverse of the penalised Hessian (1e-6)" \
    $PYTHON - "$WORK/pen.out" "$WORK/Xpen.csv" <<'PY'
import json, math, sys, numpy as np
e = json.load(open(sys.argv[1]))
D = np.loadtxt(sys.argv[2], delimiter=",")
X1, y = np.column_stack([np.ones(len(D)), D[:, :-1]]), D[:, -1]
c = e["coefficients"]
b = np.array([k["estimate"] for k in c])
C = 0.05
pr = 1 / (1 + np.exp(-(X1 @ b)))
H = (X1 * (pr * (1 - pr))[:, None]).T @ X1          # X'WX
P = np.eye(len(b)) / C; P[0, 0] = 0                  # intercept unpenalised
grad = X1.T @ (pr - y) + P @ b
assert np.abs(grad).max() < 1e-6, np.abs(grad).max()   # b is the optimum
V = np.linalg.inv(H + P)
se = np.sqrt(np.diag(V))
def close(name, ours, ref, tol=1e-6, floor=1e-12):
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), floor)
    assert rel.max() < tol, (name, rel.max(), int(np.argmax(rel)))
close("std_error", [k["std_error"] for k in c], se)
z = b / se
close("z", [k["z"] for k in c], z, floor=1e-6)
p = np.array([math.erfc(abs(v) / math.sqrt(2)) for v in z]); ok = p > 1e-290
close("p_value", np.array([k["p_value"] for k in c])[ok], p[ok], 1e-5, 1e-300)
close("ci_low", [k["ci_low"] for k in c], b - 1.959963984540054 * se, floor=1e-3)
close("ci_high", [k["ci_high"] for k in c], b + 1.959963984540054 * se, floor=1e-3)
edf = np.trace(V @ H)
close("effective df", e["fit"]["effective_df"], edf)
ll = float(np.sum(y * np.log(pr) + (1 - y) * np.log1p(-pr)))
close("AIC with the effective df", e["fit"]["aic_effective_df"], 2 * edf - 2 * ll, 1e-8)
print("effective df %.3f of %d parameters" % (edf, len(b)))
PY
check "VIFs of the default design match statsmodels (1e-6; exact collinearity >= 1e12)" \
    $PYTHON - "$WORK/pen.out" "$WORK/Xpen.csv" <<'PY'
import json, sys, numpy as np
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor as vif
e = json.load(open(sys.argv[1]))
X = sm.add_constant(np.loadtxt(sys.argv[2], delimiter=",")[:, :-1], has_constant="add")
n_exact = n_checked = 0
import warnings; warnings.simplefilter("ignore")
for j, k in enumerate(e["coefficients"][1:]):
    ours = k["vif"]
    if np.ptp(X[:, j + 1]) == 0:           # constant column: no VIF
        assert ours is None, (k["name"], ours); continue
    ref = vif(X, j + 1)
    if ours >= 1e12:                        # exactly collinear
        assert not np.isfinite(ref) or ref > 1e6, (k["name"], ours, ref); n_exact += 1
    elif ref < 1e5:
        assert abs(ours - ref) / ref < 1e-6, (k["name"], ours, ref); n_checked += 1
assert n_checked > 20 and n_exact > 0, (n_checked, n_exact)
print("checked %d VIFs, %d exactly collinear" % (n_checked, n_exact))
PY

# --- near-separation: age decides the label ---------------------------------
S=sep
expect_exit 0 "init a schema where age decides the label" init --db "$DB" --schema $S
sql "INSERT INTO $S.customers SELECT g, 20 + g % 60, 'Oslo', 'savings' FROM generate_series(1, 400) g;
     INSERT INTO $S.accounts SELECT g, g, 100 + g, CASE WHEN 20 + g % 60 >= 50 THEN 0.9 ELSE 0.1 END
       FROM generate_series(1, 400) g;
     INSERT INTO $S.transactions SELECT g, g, 10 + g % 7, date '2024-01-01' + g % 30, 'groceries'
       FROM generate_series(1, 400) g;"
expect_exit 0 "train on separable data with a weak penalty" train --db "$DB" --schema $S \
    --features seed --C 1000 --model "$WORK/sep.json" --no-register
expect_exit 0 "explain it" explain --model "$WORK/sep.json"
grep -q "near-separation" "$OUT" && ok "warns about near-separation" \
    || not_ok "warns about near-separation" "$(sed -n '/^Warnings/,/^Coeff/p' "$OUT")"
rp explain --model "$WORK/inf.json"
sed -n '/^Warnings/,/^Coeff/p' "$OUT" | grep -q "near-separation" \
    && not_ok "no separation warning for an ordinary model" || ok "no separation warning for an ordinary model"

# --- one customer, against the predictions table ----------------------------
expect_exit 0 "predict with the penalised model" predict --db "$DB" --model "$WORK/pen.json" \
    --csv "$WORK/pred.csv"
eq "low-risk customers have no reason codes" \
   "$(sql "SELECT count(*) FROM predictions WHERE high_risk_prediction = 0 AND
           num_nonnulls(reason_1, reason_2, reason_3, reason_4) > 0")" "0"
eq "high-risk customers have reason codes, reason_4 included" \
   "$(sql "SELECT count(*) > 0 FROM predictions WHERE high_risk_prediction = 1 AND reason_4 IS NOT NULL")" "t"
sql "SELECT DISTINCT r FROM predictions, unnest(array[reason_1, reason_2, reason_3, reason_4]) r
     WHERE r IS NOT NULL" > "$WORK/texts"
check "every reason text names a factor of the model, in plain words" \
    $PYTHON - "$WORK/pen.json" "$WORK/texts" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
cols = m["encoding"]["columns"]; beta = [c["estimate"] for c in m["coefficients"][1:]]
allowed = set()
for c, b in zip(cols, beta):
    lab = c["label"] or c["name"]
    if c["kind"] == "numeric":
        allowed.add(lab + (": high" if b > 0 else ": low"))
    elif b > 0:
        allowed.add(lab)
    elif c["kind"] == "missing":
        allowed.add("has " + lab[3:] if lab.startswith("no ") else lab[:-8] + " known")
    else:
        k = lab.find(": "); allowed.add(lab[:k] + ": not " + lab[k + 2:])
got = set(open(sys.argv[2]).read().splitlines())
assert got and got <= allowed, sorted(got - allowed)
print("%d distinct reason texts, e.g. %s" % (len(got), sorted(got)[:4]))
PY

hi=$(sql "SELECT customer_id FROM predictions WHERE high_risk_prediction = 1 ORDER BY probability DESC, customer_id LIMIT 1 OFFSET 7")
lo=$(sql "SELECT customer_id FROM predictions WHERE high_risk_prediction = 0 ORDER BY customer_id LIMIT 1")
for id in $hi $lo; do
    expect_exit 0 "explain --customer $id --json" explain --db "$DB" --model "$WORK/pen.json" --customer "$id" --json
    cp "$OUT" "$WORK/c$id.json"
    sql "SELECT probability, high_risk_prediction, coalesce(reason_1, ''), coalesce(reason_2, ''),
                coalesce(reason_3, ''), coalesce(reason_4, ''), c.age, c.city
         FROM predictions JOIN customers c USING (customer_id) WHERE customer_id = $id" > "$WORK/row$id"
    check "customer $id: probability bit for bit, decision, reasons and values as predict wrote" \
        $PYTHON - "$WORK/c$id.json" "$WORK/row$id" "$WORK/pen.json" <<'PY'
import json, math, sys
x = json.load(open(sys.argv[1]))
row = open(sys.argv[2]).read().rstrip("\n").split("|")
m = json.load(open(sys.argv[3]))
assert x["probability"] == float(row[0]), (x["probability"], row[0])
assert int(x["high_risk"]) == int(row[1])
assert [r["text"] for r in x["reasons"]] == [t for t in row[2:6] if t], (x["reasons"], row[2:6])
t = x["contributions"]
assert abs(x["intercept"] + sum(k["contribution"] for k in t) - x["log_odds"]) < 1e-12
assert abs(1 / (1 + math.exp(-x["log_odds"])) - x["probability"]) < 1e-15
assert all(t[i]["contribution"] >= t[i + 1]["contribution"] for i in range(len(t) - 1))
# the reasons are the (up to) four largest positive excesses over the average
exc = sorted(((k["contribution"] - k["average_contribution"], k["column"]) for k in t), reverse=True)
want = [c for e, c in exc if e > 0][:4] if x["high_risk"] else []
assert [r["column"] for r in x["reasons"]] == want, (x["reasons"], want[:4])
by = {k["column"]: k for k in t}
cols = {c["name"]: c for c in m["encoding"]["columns"]}
if row[6]:
    assert by["age"]["value"] == float(row[6]) and not by["age"]["missing"]
assert by["age"]["population_average"] == cols["age"]["mean"]
city = [k for k in t if k["column"].startswith("city=")]
assert all(k["text"] == row[7] for k in city), (city[:1], row[7])
PY
done
expect_exit 0 "explain --customer (text)" explain --db "$DB" --model "$WORK/pen.json" --customer "$hi"
grep -q "HIGH RISK" "$OUT" && grep -q "Principal reasons" "$OUT" && grep -q "Contributions to the log-odds" "$OUT" \
    && ok "the text shows the decision, the reasons and the contributions" \
    || not_ok "the text shows the decision, the reasons and the contributions" "$(head -c 600 "$OUT")"
expect_exit 0 "explain a low-risk customer" explain --db "$DB" --model "$WORK/pen.json" --customer "$lo"
grep -q "No reasons" "$OUT" && ok "no reasons for a low-risk decision" || not_ok "no reasons for a low-risk decision" "$(head -c 400 "$OUT")"
expect_exit 2 "an unknown customer" explain --db "$DB" --model "$WORK/pen.json" --customer 987654321
expect_err 'customer 987654321 is not in table "public"."customers"' "the message names the customer and table"
expect_exit 1 "--customer must be an integer" explain --model "$WORK/pen.json" --customer abc
expect_err '--customer' "the message names the option"
expect_exit 1 "--as-of needs --customer" explain --model "$WORK/pen.json" --as-of 2024-01-01

# --- a predictions table from before reason_4 gains the column ---------------
sql "CREATE TABLE old_predictions (customer_id BIGINT PRIMARY KEY,
     high_risk_prediction INT NOT NULL, probability FLOAT8 NOT NULL, model_id TEXT NOT NULL,
     scored_at TIMESTAMPTZ NOT NULL, reason_1 TEXT, reason_2 TEXT, reason_3 TEXT)"
expect_exit 0 "predict into a table with three reason columns" predict --db "$DB" \
    --model "$WORK/pen.json" --predictions-table old_predictions --csv "$WORK/old.csv"
eq "it gained reason_4, filled" "$(sql "SELECT count(reason_4) > 0 FROM old_predictions")" "t"

# --- a predictions table of the user's own types: through the stage --------
# riskpipe's own table takes the rows in binary, straight in; a table whose
# columns have other types (NUMERIC probability, SMALLINT flag, VARCHAR
# reasons) is filled through a stage and INSERT ... SELECT, which converts.
sql "CREATE TABLE custom_predictions (customer_id BIGINT PRIMARY KEY,
     high_risk_prediction SMALLINT NOT NULL, probability NUMERIC NOT NULL,
     model_id VARCHAR(100) NOT NULL, scored_at TIMESTAMP NOT NULL, reason_1 VARCHAR(200),
     reason_2 TEXT, reason_3 TEXT, reason_4 TEXT, note TEXT DEFAULT 'kept')"
expect_exit 0 "predict into a table of other column types" predict --db "$DB" \
    --model "$WORK/pen.json" --predictions-table custom_predictions --csv "$WORK/custom.csv"
expect_exit 0 "predict into riskpipe's own table" predict --db "$DB" \
    --model "$WORK/pen.json" --predictions-table native_predictions --csv "$WORK/native.csv"
eq "both tables hold the same predictions" "$(sql "SELECT count(*) FROM custom_predictions c
    JOIN native_predictions n USING (customer_id) WHERE c.high_risk_prediction = n.high_risk_prediction
    AND abs(c.probability::float8 - n.probability) <= 1e-14
    AND c.reason_1 IS NOT DISTINCT FROM n.reason_1 AND c.reason_4 IS NOT DISTINCT FROM n.reason_4
    AND c.note = 'kept'")" "$(sql "SELECT count(*) FROM customers")"
eq "riskpipe's own table: scored_at is the CSV's, to the microsecond" \
    "$(sql "SELECT to_char(min(scored_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM native_predictions")" \
    "$(sed -n 2p "$WORK/native.csv" | cut -d, -f5)"
