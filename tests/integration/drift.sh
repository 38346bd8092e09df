#!/bin/bash
# Drift monitoring: the model's reference distributions (decile edges and
# shares) and every PSI that predict stores are recomputed independently
# in Python from the feature query's rows; a data set built to shift one
# feature (age + 30 years) flags that feature (PSI > 0.25) and not an
# unshifted one (PSI < 0.1); `riskpipe drift` prints the table worst first.
source "$(dirname "$0")/../lib.sh"
new_db drift
cd "$WORK"

expect_exit 0 "generate data set A" generate --db "$DB" --customers 6000 --seed 1
expect_exit 0 "train on A" train --db "$DB" --model m.json --no-register
expect_exit 0 "predict on A itself" predict --db "$DB" --model m.json --csv a.csv
eq "the same data: every PSI is exactly 0" \
   "$(sql "SELECT max((f->>'psi')::float8) FROM riskpipe_runs r, jsonb_array_elements(jsonb_build_array(r.details->'drift'->'score') || (r.details->'drift'->'features')) f WHERE run_id = 1")" "0"
grep -q 'population drift' "$ERR" && not_ok "no drift warning on the training data" "$(cat "$ERR")" || ok "no drift warning on the training data"

# The feature rows of the current data, as the model's query computes them.
features() {
    $PYTHON -c 'import json,sys; print(json.load(open("m.json"))["features"]["sql"].replace("\n", " "))' > q.sql
    psql -X -q -v ON_ERROR_STOP=1 "$DB" -c "\\copy ($(cat q.sql)) TO '$1' CSV HEADER"
}
features feat_a.csv
psql -X -q "$DB" -c "\\copy (SELECT customer_id, probability FROM predictions ORDER BY customer_id) TO 'score_a.csv' CSV HEADER"

# Shared Python: reading the rows and binning them like drift.h says.
cat > ref.py <<'PY'
import json, math, sys
import numpy as np, pandas as pd
EPS = 1e-4
def load(feat_csv, score_csv):
    df = pd.read_csv(feat_csv, keep_default_na=False, na_values=[""], float_precision="round_trip")
    sc = pd.read_csv(score_csv, float_precision="round_trip")
    df = df.merge(sc, on="customer_id", how="left")
    return df
def edges_of(x):
    v = np.sort(x[np.isfinite(x)]); m = len(v); e = []
    for k in range(1, 10):
        if m == 0: break
        q = v[(k * m + 9) // 10 - 1]
        if not e or q > e[-1]: e.append(float(q))
    return e
def shares(col, ref, df):
    n = len(df)
    if ref["kind"] == "numeric":
        x = df[col].to_numpy(dtype=float)
        ok = np.isfinite(x)
        b = np.searchsorted(np.array(ref["edges"], dtype=float), x[ok], side="left")
        cnt = np.bincount(b, minlength=len(ref["edges"]) + 1)
        return cnt / n, (n - ok.sum()) / n
    s = df[col]
    miss = s.isna()
    lv = {l: i for i, l in enumerate(ref["levels"])}
    cnt = np.zeros(len(ref["levels"]) + 1)
    for v in s[~miss]:
        cnt[lv.get(v, len(ref["levels"]))] += 1
    return cnt / n, miss.sum() / n
def psi(e, a):
    return sum((max(y, EPS) - max(x, EPS)) * math.log(max(y, EPS) / max(x, EPS)) for x, y in zip(e, a))
PY

check "reference: decile edges and shares of every column equal an independent computation" $PYTHON - <<'PY'
import json
exec(open("ref.py").read())
m = json.load(open("m.json")); R = m["drift_reference"]
df = load("feat_a.csv", "score_a.csv")
assert R["n"] == len(df), (R["n"], len(df))
cols = [c for c in df.columns if c not in ("customer_id", "label", "probability")]
assert [f["name"] for f in R["features"]] == cols, "reference columns differ from the query's"
for f in R["features"] + [dict(R["score"], name="probability")]:
    if f["kind"] == "numeric":
        want = edges_of(df[f["name"]].to_numpy(dtype=float))
        assert f["edges"] == want, (f["name"], f["edges"], want)
    else:
        s = df[f["name"]].dropna()
        vc = sorted(s.value_counts().items(), key=lambda kv: (-kv[1], kv[0].encode()))
        assert f["levels"] == [k for k, _ in vc[:50]], f["name"]
    a, miss = shares(f["name"], f, df)
    assert np.allclose(a, f["proportions"], rtol=0, atol=1e-12), (f["name"], a, f["proportions"])
    assert abs(miss - f["missing"]) < 1e-12, f["name"]
# deciles: a continuous column has ten bins of about a tenth each
age = next(f for f in R["features"] if f["name"] == "balance_sum")
assert len(age["proportions"]) == 10 and max(age["proportions"]) < 0.12, age
PY

# --- data set B: same generator, another seed, everyone 30 years older --
expect_exit 0 "generate data set B" generate --db "$DB" --customers 6000 --seed 2
sql "UPDATE customers SET age = age + 30" >/dev/null
sql "UPDATE customers SET city = 'Atlantis' WHERE customer_id % 50 = 0" >/dev/null
expect_exit 0 "predict on B" predict --db "$DB" --model m.json --csv b.csv --as-of "$($PYTHON -c 'import json; print(json.load(open("m.json"))["data"]["as_of"])')"
expect_err 'population drift: [0-9]+ columns? with PSI > 0.25 \(act\).*age' "predict warns about the shifted column"
RUN=$(sql "SELECT max(run_id) FROM riskpipe_runs")
psi() { sql "SELECT f->>'psi' FROM riskpipe_runs r, jsonb_array_elements(r.details->'drift'->'features') f WHERE run_id = $RUN AND f->>'name' = '$1'"; }
A=$(psi age); B=$(psi balance_sum); T=$(psi txn_count)
check "the shifted feature (age + 30): PSI $A > 0.25" $PYTHON -c "assert float('$A') > 0.25"
check "an unshifted feature (balance_sum): PSI $B < 0.1" $PYTHON -c "assert float('$B') < 0.1"
check "an unshifted feature (txn_count): PSI $T < 0.1" $PYTHON -c "assert float('$T') < 0.1"
eq "the shifted feature is at level act" "$(sql "SELECT f->>'level' FROM riskpipe_runs r, jsonb_array_elements(r.details->'drift'->'features') f WHERE run_id = $RUN AND f->>'name' = 'age'")" "act"

features feat_b.csv
psql -X -q "$DB" -c "\\copy (SELECT customer_id, probability FROM predictions ORDER BY customer_id) TO 'score_b.csv' CSV HEADER"
sql "SELECT details FROM riskpipe_runs WHERE run_id = $RUN" > details.json
check "every stored PSI (score and features) equals an independent computation" $PYTHON - <<'PY'
import json
exec(open("ref.py").read())
R = json.load(open("m.json"))["drift_reference"]
D = json.load(open("details.json"))["drift"]
df = load("feat_b.csv", "score_b.csv")
assert D["n"] == len(df) and D["reference_n"] == R["n"]
refs = {f["name"]: f for f in R["features"]}
refs["probability"] = R["score"]
got = {f["name"]: f for f in D["features"]}
got["probability"] = D["score"]
assert len(got) == len(refs)
for name, ref in refs.items():
    a, miss = shares(name, ref, df)
    want = psi(list(ref["proportions"]) + [ref["missing"]], list(a) + [miss])
    g = got[name]["psi"]
    assert abs(g - want) <= 1e-8 * max(1, abs(want)), (name, g, want)
    assert np.allclose(a, got[name]["actual"], atol=1e-9), name
PY
eq "unseen categories per column add up to the run's count" \
   "$(sql "SELECT (details->'unseen'->>'city')::int + (details->'unseen'->>'account_type')::int || '/' || unseen_categories FROM riskpipe_runs WHERE run_id = $RUN")" \
   "120/120"

# --- riskpipe drift -------------------------------------------------------
expect_exit 0 "drift (latest run)" drift --db "$DB"
grep -q "^run $RUN " "$OUT" && ok "drift shows the latest run" || not_ok "drift shows the latest run" "$(head -2 "$OUT")"
check "drift prints the table worst first" $PYTHON - "$OUT" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1].isalpha() and l.split()[1:2] and l.split()[1] in ("numeric", "categorical")]
psis = [float(r[2]) for r in rows]
assert len(rows) > 10 and psis == sorted(psis, reverse=True), psis
assert rows[0][0] == "age" and rows[0][3] == "act", rows[0]
PY
grep -q 'not seen at training.*city 120' "$OUT" && ok "drift prints the unseen categories" || not_ok "drift prints the unseen categories" "$(tail -2 "$OUT")"
expect_exit 0 "drift for run 1" drift --db "$DB" 1
grep -Eq '^age +numeric +0.0000 +ok' "$OUT" && ok "run 1 is stable" || not_ok "run 1 is stable" "$(cat "$OUT")"
expect_exit 2 "drift for a run that does not exist" drift --db "$DB" 999
expect_err 'no run 999' "the missing run is named"
expect_exit 1 "drift with a bad run id" drift --db "$DB" latest
