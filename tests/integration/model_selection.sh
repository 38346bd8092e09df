#!/bin/bash
# Model selection and threshold policies (issue 4, items 4-6): --cv K,
# --C auto, --threshold-policy, --weight-column, against scikit-learn on
# the same folds (the folds' standardised matrices come from --dump-cv),
# and the policies against a brute-force search on the held-out scores.
source "$(dirname "$0")/../lib.sh"
new_db model_selection

expect_exit 0 "init" init --db "$DB"
expect_exit 0 "generate 4000 customers" generate --customers 4000 --seed 11 --db "$DB"

# ---- the reference: every fold and every C with scikit-learn ----------
# cvref.py DUMPDIR MODEL: refits each fold's training matrix (with its
# weights) for each C the model records, and compares the per-fold and
# mean/sd metrics; exits 1 listing every difference above 1e-4.
cat >"$WORK/cvref.py" <<'PY'
import sys, json, math, numpy as np, warnings
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score, average_precision_score, brier_score_loss, roc_curve
warnings.filterwarnings("ignore")
d, m = sys.argv[1], json.load(open(sys.argv[2]))
cv, cs = m["cross_validation"], m["C_selection"]
k = cv["folds"]
grid = [r["C"] for r in cs["grid"]] if cs else [cv["C"]]
met = {x: np.zeros((len(grid), k)) for x in ("roc_auc", "pr_auc", "log_loss", "brier", "ks")}
for f in range(k):
    tr = np.loadtxt(f"{d}/fold{f}_train.csv", delimiter=",", ndmin=2)
    va = np.loadtxt(f"{d}/fold{f}_valid.csv", delimiter=",", ndmin=2)
    for i, C in enumerate(grid):
        lr = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        lr.fit(tr[:, :-2], tr[:, -2], sample_weight=tr[:, -1])
        y, p = va[:, -2], lr.predict_proba(va[:, :-2])[:, 1]
        fpr, tpr, _ = roc_curve(y, p)
        for x, v in (("roc_auc", roc_auc_score(y, p)), ("pr_auc", average_precision_score(y, p)),
                     ("log_loss", log_loss(y, p)), ("brier", brier_score_loss(y, p)),
                     ("ks", max(tpr - fpr))):
            met[x][i, f] = v
bad, worst = [], 0.0
def near(what, got, want):
    global worst
    worst = max(worst, abs(got - want))
    if abs(got - want) > 1e-4: bad.append(f"{what}: riskpipe {got} sklearn {want}")
ci = grid.index(cv["C"])
for x in met:
    for f in range(k):
        near(f"{x} fold {f}", cv["metrics"][x]["folds"][f], met[x][ci, f])
    near(f"{x} mean", cv["metrics"][x]["mean"], met[x][ci].mean())
    near(f"{x} sd", cv["metrics"][x]["sd"], met[x][ci].std(ddof=1))
if cs:
    for i, r in enumerate(cs["grid"]):
        near(f"grid C={r['C']} log loss", r["log_loss_mean"], met["log_loss"][i].mean())
        near(f"grid C={r['C']} log loss sd", r["log_loss_sd"], met["log_loss"][i].std(ddof=1))
        near(f"grid C={r['C']} AUC", r["roc_auc_mean"], met["roc_auc"][i].mean())
    best = int(np.argmin(met["log_loss"].mean(axis=1)))
    if cs["chosen"] != best: bad.append(f"chosen {cs['chosen']}, sklearn's best {best}")
    if m["hyperparameters"]["C"] != grid[best]: bad.append("hyperparameters.C is not the chosen C")
print(f"largest difference from scikit-learn: {worst:.2e}")
if bad: print("\n".join(bad[:20])); sys.exit(1)
PY

# folds.py DUMPDIR MODEL: the folds are a stratified partition of the
# labelled customers, and each fold's scaler was fitted on its training part.
cat >"$WORK/folds.py" <<'PY'
import sys, json, numpy as np, pandas as pd
d, m = sys.argv[1], json.load(open(sys.argv[2]))
k = m["cross_validation"]["folds"]
F = pd.read_csv(f"{d}/folds.csv")
assert len(F) == m["data"]["n_labelled"] == F.customer_id.nunique(), "not every labelled customer once"
assert (F.customer_id.diff().dropna() > 0).all(), "not in customer_id order"
assert sorted(F.fold.unique()) == list(range(k))
for c in (0, 1):
    cnt = F[F.label == c].groupby("fold").size()
    assert cnt.max() - cnt.min() <= 1, f"class {c} counts per fold {cnt.tolist()}"
sizes = F.groupby("fold").size()
assert sizes.tolist() == m["cross_validation"]["fold_n"], "fold_n"
assert F[F.label == 1].groupby("fold").size().tolist() == m["cross_validation"]["fold_events"]
for f in range(k):
    tr = np.loadtxt(f"{d}/fold{f}_train.csv", delimiter=",", ndmin=2)
    va = np.loadtxt(f"{d}/fold{f}_valid.csv", delimiter=",", ndmin=2)
    assert len(va) == sizes[f] and len(tr) == len(F) - sizes[f]
    assert (va[:, -2] == F[F.fold == f].label.values).all(), "validation labels/order"
    assert np.abs(tr[:, :-2].mean(axis=0)).max() < 1e-9, "training part not centred"
    assert np.abs(va[:, :-2].mean(axis=0)).max() > 1e-6, "validation part centred: scaler saw it?"
PY

# ---- --cv 5 ----------------------------------------------------------
M1="$WORK/cv5.json"; D1="$WORK/cv5"; mkdir -p "$D1"
expect_exit 0 "train --cv 5" train --db "$DB" --model "$M1" --no-register --cv 5 --dump-cv "$D1"
cp "$OUT" "$WORK/cv5.out"
grep -q "^5-fold cross-validation (C = 1), mean +/- sd over folds:" "$WORK/cv5.out" \
    && ok "the summary prints the CV results" || not_ok "the summary prints the CV results" "$(cat "$WORK/cv5.out")"
check "folds: a stratified partition, scaler fitted per fold" $PYTHON "$WORK/folds.py" "$D1" "$M1"
check "--cv 5: every fold's metrics match scikit-learn to 1e-4" $PYTHON "$WORK/cvref.py" "$D1" "$M1"
sed 's/^/# /' "$WORK/check.out"
eq "no C grid without --C auto" "$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["C_selection"])' "$M1")" "None"

# ---- --C auto --------------------------------------------------------
M2="$WORK/auto.json"; D2="$WORK/auto"; mkdir -p "$D2"
expect_exit 0 "train --C auto" train --db "$DB" --model "$M2" --no-register --C auto --dump-cv "$D2"
cp "$OUT" "$WORK/auto.out"
grep -q "^C chosen by 5-fold cross-validated log loss:" "$WORK/auto.out" && grep -q "<- chosen" "$WORK/auto.out" \
    && ok "the summary prints the grid and the choice" || not_ok "the summary prints the grid" "$(cat "$WORK/auto.out")"
check "--C auto: 13 values 1e-3..1e3, 5 folds by default" $PYTHON - "$M2" <<'PY'
import json, sys, math
m = json.load(open(sys.argv[1])); g = m["C_selection"]
assert g["folds"] == 5 and m["cross_validation"]["folds"] == 5
cs = [r["C"] for r in g["grid"]]
assert len(cs) == 13 and all(abs(math.log10(c) - (-3 + 0.5 * i)) < 1e-12 for i, c in enumerate(cs)), cs
assert m["cross_validation"]["C"] == cs[g["chosen"]] == m["hyperparameters"]["C"]
PY
check "--C auto: grid log loss and the choice match scikit-learn to 1e-4" $PYTHON "$WORK/cvref.py" "$D2" "$M2"
sed 's/^/# /' "$WORK/check.out"
again expect_exit 0 "train --C auto again" train --db "$DB" --model "$WORK/auto2.json" --no-register --C auto
check "model selection is reproducible bit for bit" $PYTHON - "$M2" "$WORK/auto2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("C_selection", "cross_validation", "coefficients", "evaluation"):
    assert a[k] == b[k], k
PY
expect_exit 0 "train --C auto --cv 3" train --db "$DB" --model "$WORK/auto3.json" --no-register --C auto --cv 3
eq "--cv sets the grid's folds" "$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["C_selection"]["folds"])' "$WORK/auto3.json")" "3"

# ---- threshold policies ----------------------------------------------
# policy.py HELDOUT MODEL POLICY: brute force over every distinct held-out
# score gives the same threshold and confusion matrix as the model records.
cat >"$WORK/policy.py" <<'PY'
import sys, json, math, numpy as np
h = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1); m = json.load(open(sys.argv[2])); pol = sys.argv[3]
y, s = h[:, 0], h[:, 1]; n, P = len(y), y.sum()
cand = sorted(set(s), reverse=True)
def c(t): f = s >= t; return (f & (y == 1)).sum(), (f & (y == 0)).sum()
kind, _, a = pol.partition("=")
if kind == "f1": t = max(cand, key=lambda t: (2 * c(t)[0] / (sum(c(t)) + P), t))
elif kind == "recall": t = max(x for x in cand if c(x)[0] >= float(a) * P - 1e-9)
elif kind == "precision": t = min(x for x in cand if c(x)[0] >= float(a) * sum(c(x)) - 1e-9)
elif kind == "top": t = sorted(s, reverse=True)[max(1, math.ceil(float(a.rstrip("%")) / 100 * n - 1e-9)) - 1]
elif kind == "cost":
    A, B = map(float, a.split(":"))
    t = -min([(A * P, -1.0)] + [(A * (P - c(x)[0]) + B * c(x)[1], -x) for x in cand])[1]
tp, fp = c(t)
assert m["threshold"]["policy"] == pol, m["threshold"]
assert m["threshold"]["value"] == t == m["test_metrics"]["threshold"], (m["threshold"], t)
e = m["evaluation"]["policy"]
assert e["name"] == pol and e["threshold"] == t
assert [e["tp"], e["fp"], e["tn"], e["fn"]] == [tp, fp, n - P - fp, P - tp], e
assert m["test_metrics"]["tp"] == tp and m["test_metrics"]["fp"] == fp
assert abs(e["flagged_share"] - (tp + fp) / n) < 1e-15
if kind == "top": assert (tp + fp) / n >= float(a.rstrip("%")) / 100 - 1e-12
PY
for pol in f1 recall=0.8 precision=0.5 top=5% cost=10:1; do
    D="$WORK/pol"; rm -rf "$D"; mkdir -p "$D"
    if [ "$pol" = f1 ]; then set -- ; else set -- --threshold-policy "$pol"; fi
    expect_exit 0 "train with policy $pol" train --db "$DB" --model "$WORK/p.json" --no-register --dump-cv "$D" "$@"
    grep -q "policy $pol:" "$OUT" && ok "summary names policy $pol" || not_ok "summary names policy $pol" "$(grep threshold "$OUT")"
    check "policy $pol: threshold and confusion match a brute-force search" \
        $PYTHON "$WORK/policy.py" "$D/heldout.csv" "$WORK/p.json" "$pol"
done
expect_exit 0 "--threshold overrides the policy" train --db "$DB" --model "$WORK/fx.json" --no-register \
    --threshold-policy top=5% --threshold 0.3
eq "policy fixed, threshold 0.3" "$($PYTHON -c 'import json,sys; t=json.load(open(sys.argv[1]))["threshold"]; print(t["policy"], t["value"])' "$WORK/fx.json")" "fixed 0.3"
expect_exit 2 "an unreachable precision is refused" train --db "$DB" --model "$WORK/x.json" --no-register \
    --threshold-policy precision=0.999
expect_err "no threshold reaches precision 0.999 on the held-out split" "the message says why"
[ ! -e "$WORK/x.json" ] && ok "no model file is written" || not_ok "no model file is written"
expect_exit 1 "a bad policy is a usage error" train --db "$DB" --threshold-policy recall=1.5
expect_err 'invalid value "recall=1.5" for --threshold-policy' "the message names the option"
expect_exit 1 "--cv 1 is refused" train --db "$DB" --cv 1
expect_err "--cv" "the message names --cv"
expect_exit 1 "--cv 21 is refused" train --db "$DB" --cv 21

# ---- --weight-column ---------------------------------------------------
sql 'ALTER TABLE customers ADD COLUMN "Weight col" float8, ADD COLUMN wtext text'
sql 'UPDATE customers SET "Weight col" = 1 + (customer_id % 4) * 0.5, wtext = $$x$$'
MW="$WORK/w.json"; DW="$WORK/w"; mkdir -p "$DW"
expect_exit 0 "train --weight-column (a name that needs quoting)" train --db "$DB" --model "$MW" \
    --no-register --weight-column "Weight col" --cv 3 --dump-cv "$DW" --dump-matrix "$WORK/wX.csv"
eq "the model records the weight column" "$($PYTHON -c 'import json,sys; print(json.load(open(sys.argv[1]))["hyperparameters"]["weight_column"])' "$MW")" "Weight col"
sql 'COPY (SELECT customer_id, "Weight col" FROM customers ORDER BY customer_id) TO STDOUT WITH CSV' >"$WORK/weights.csv"
check "weighted refit: coefficients match scikit-learn with sample_weight" $PYTHON - "$MW" "$WORK/wX.csv" "$DW/folds.csv" "$WORK/weights.csv" <<'PY'
import json, sys, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
m = json.load(open(sys.argv[1])); D = np.loadtxt(sys.argv[2], delimiter=",")
ids = pd.read_csv(sys.argv[3]).customer_id          # the labelled rows, in order
w = pd.read_csv(sys.argv[4], header=None, index_col=0)[1].loc[ids].values
ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000)
ref.fit(D[:, :-1], D[:, -1], sample_weight=w)
ours = np.array([c["estimate"] for c in m["coefficients"]])
theirs = np.r_[ref.intercept_, ref.coef_[0]]
err = np.max(np.abs(ours - theirs) / np.maximum(1, np.abs(theirs)))
assert err < 1e-6, err
unweighted = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(D[:, :-1], D[:, -1])
assert np.max(np.abs(np.r_[unweighted.intercept_, unweighted.coef_[0]] - theirs)) > 1e-3, "weights changed nothing"
PY
check "weighted CV: the folds' weights are the column's, metrics match scikit-learn" $PYTHON - "$DW" "$WORK/weights.csv" <<'PY'
import sys, numpy as np, pandas as pd
d = sys.argv[1]; F = pd.read_csv(f"{d}/folds.csv")
w = pd.read_csv(sys.argv[2], header=None, index_col=0)[1]
tr = np.loadtxt(f"{d}/fold0_train.csv", delimiter=",")
assert (tr[:, -1] == w.loc[F[F.fold != 0].customer_id].values).all()
PY
check "weighted CV metrics match scikit-learn" $PYTHON "$WORK/cvref.py" "$DW" "$MW"
expect_exit 0 "run --weight-column scores everyone" run --db "$DB" --model "$WORK/wr.json" \
    --csv "$WORK/wr.csv" --weight-column "Weight col"
eq "one prediction per customer" "$(sql "SELECT count(*) FROM predictions")" "$(sql "SELECT count(*) FROM customers")"

labelled=$(sql "SELECT min(customer_id) FROM accounts WHERE risk_score IS NOT NULL")
unlabelled=$(sql "SELECT min(c.customer_id) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.customer_id = c.customer_id AND a.risk_score IS NOT NULL)")
[ -n "$labelled" ] && [ -n "$unlabelled" ] && ok "the data have labelled and unlabelled customers" \
    || not_ok "the data have labelled and unlabelled customers" "'$labelled' '$unlabelled'"
sql "UPDATE customers SET \"Weight col\" = NULL WHERE customer_id = $unlabelled"
expect_exit 0 "a NULL weight of an unlabelled customer is fine" train --db "$DB" --model "$WORK/x.json" \
    --no-register --weight-column "Weight col"
sql "UPDATE customers SET \"Weight col\" = NULL WHERE customer_id = $labelled"
expect_exit 2 "a NULL weight of a labelled customer is refused" train --db "$DB" --model "$WORK/x2.json" \
    --no-register --weight-column "Weight col"
expect_err "customer $labelled has a NULL .*weight in column \"Weight col\"" "the message names the customer"
sql "UPDATE customers SET \"Weight col\" = -2 WHERE customer_id = $labelled"
expect_exit 2 "a negative weight is refused" train --db "$DB" --no-register --weight-column "Weight col"
expect_err "customer $labelled has a negative weight" "the message names the customer"
expect_exit 2 "a text weight column is refused" train --db "$DB" --no-register --weight-column wtext
expect_err 'column "wtext" of table "public"."customers" has type text' "the message names the type"
expect_exit 2 "a missing weight column is refused" train --db "$DB" --no-register \
    --weight-column 'x"; DROP TABLE customers; --'
expect_err 'has no column "x"; DROP TABLE customers; --"' "the message names the column"
eq "the customers table survived" "$(sql "SELECT count(*) > 0 FROM customers")" "t"

# ---- too many folds for the data ----------------------------------------
new_db model_selection_small
expect_exit 0 "generate 60 customers" generate --customers 60 --seed 5 --db "$DB"
expect_exit 2 "--cv 20 on a few high-risk customers" train --db "$DB" --no-register \
    --model "$WORK/s.json" --cv 20
expect_err "too few labelled customers for 20-fold cross-validation" "the message says why"
