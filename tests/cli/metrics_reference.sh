#!/bin/bash
# metrics.c against scikit-learn.  Python + numpy generate "y,score" files
# (most with heavily rounded scores, so ties are everywhere, plus exact 0 and
# 1 scores for the log-loss clipping, tiny and one-sided cases); the
# met_eval driver prints every metric; a second Python step recomputes them
# with sklearn.metrics (and plain numpy for the threshold, calibration and
# lift rules) and reports any difference above 1e-12.
. "$(dirname "$0")/../lib.sh"

MET_EVAL="${TOOL_DIR:?TOOL_DIR must name build/tests/tools}/met_eval"
if [ ! -x "$MET_EVAL" ]; then
    not_ok "met_eval is built" "$MET_EVAL is missing (make build/tests/tools/met_eval)"
    exit 0
fi
if ! "$PYTHON" -c 'import numpy, sklearn' 2>/dev/null; then
    ok "metrics_reference # SKIP $PYTHON lacks numpy or scikit-learn"
    exit 0
fi

# --- the data: one CSV per case, and "name threshold nbins" in cases.txt ---
cat >"$WORK/gen.py" <<'PY'
import sys, numpy as np
out = sys.argv[1]
cases = []

def case(name, y, s, thr=0.5, nbins=10):
    with open(f"{out}/{name}.csv", "w") as f:
        f.write("y,score\n")
        for a, b in zip(y, s):
            f.write(f"{int(a)},{float(b)!r}\n")
    cases.append(f"{name} {thr!r} {nbins}")

def labels(rng, p):
    return (rng.random(len(p)) < p).astype(int)

rng = np.random.default_rng(20240611)
for i, (n, dec) in enumerate([(1000, 2), (500, 1), (3000, 3), (200, 1)]):
    s = np.round(rng.beta(2, 5, n), dec)          # many ties
    case(f"rounded{i}", labels(rng, s), s, thr=float(np.median(s)))
s = np.round(rng.random(400), 1)                  # includes exact 0 and 1
s[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]
y = labels(rng, s); y[:4] = [1, 0, 0, 1]          # clipped both ways
case("clipped", y, s)
s = rng.random(2000)                              # continuous, few ties
case("continuous", labels(rng, s), s, thr=0.3)
s = np.round(rng.random(300), 1)                  # anti-correlated: AUC < .5
case("inverted", labels(rng, 1 - s), s)
s = np.round(rng.random(60), 2)                   # rare positives
y = np.zeros(60, int); y[[3, 17, 41]] = 1
case("rare", y, s, thr=0.9)
case("alltied", labels(rng, np.full(40, .3)) | (np.arange(40) == 0), np.full(40, .3))
case("tiny", [1, 0, 1, 1, 0, 0, 1], [.2, .2, .7, .2, .9, .1, .7], nbins=10)
s = np.round(rng.random(97), 1)
case("bins7", labels(rng, s), s, nbins=7)
with open(f"{out}/cases.txt", "w") as f:
    f.write("\n".join(cases) + "\n")
PY

# --- the reference: exits 1 and lists every mismatch ---
cat >"$WORK/cmp.py" <<'PY'
import sys, warnings, numpy as np
import sklearn.metrics as M
warnings.filterwarnings("ignore")
csv, got_file, thr, nb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
d = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
y, s = d[:, 0].astype(int), d[:, 1]
n, P = len(y), int(y.sum()); N = n - P

got, calib, lift = {}, {}, {}
for line in open(got_file):
    f = line.split()
    if f[0] == "calib":
        calib[int(f[1])] = (float(f[2]), float(f[3]), int(f[4]))
    elif f[0] == "lift":
        lift[int(f[1])] = (float(f[2]), float(f[3]))
    else:
        got[f[0]] = float(f[1])

want = {"n": n}
want["roc_auc"] = M.roc_auc_score(y, s)
want["pr_auc"] = M.average_precision_score(y, s)
# Clip here so the reference does not depend on sklearn's eps default
# (1e-15 in old releases, machine epsilon in newer ones).
want["log_loss"] = M.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15), labels=[0, 1])
want["brier"] = M.brier_score_loss(y, s)
fpr, tpr, th = M.roc_curve(y, s, drop_intermediate=False)
want["ks"] = np.max(tpr - fpr)
# Threshold of the maximum, ties to the highest threshold, decided exactly
# on integer counts (th[0] is sklearn's artificial "above everything").
tps, fps = np.rint(tpr * P).astype(np.int64), np.rint(fpr * N).astype(np.int64)
want["ks_at"] = th[1 + np.argmax((tps * N - fps * P)[1:])]
# Best F1 over distinct scores, rule s >= t, first maximum from the top.
u = np.unique(s)[::-1]
tp = np.array([y[s >= t].sum() for t in u]); k = np.array([(s >= t).sum() for t in u])
want["best_f1_thr"] = u[np.argmax(2 * tp / (k + P))] if P else 0.5
pred = (s >= thr).astype(int)
tn_, fp_, fn_, tp_ = M.confusion_matrix(y, pred, labels=[0, 1]).ravel()
want.update(tp=tp_, fp=fp_, tn=tn_, fn=fn_,
            accuracy=M.accuracy_score(y, pred),
            precision=M.precision_score(y, pred, zero_division=0),
            recall=M.recall_score(y, pred, zero_division=0),
            f1=M.f1_score(y, pred, zero_division=0))

bad = []
def cmp(name, g, w):
    same = (np.isnan(g) and np.isnan(w)) or abs(g - w) <= 1e-12 * max(1.0, abs(w))
    if not same:
        bad.append(f"{name}: got {g!r}, sklearn/numpy {w!r}")

for key, w in want.items():
    cmp(key, got.get(key, np.nan), float(w))

# Calibration / lift: stable sort by score (ties by row), bins of equal
# rank width floor(k n / nb).
order = np.argsort(s, kind="stable")
edges = (np.arange(nb + 1) * n) // nb
rate = P / n
for b in range(nb):
    idx = order[edges[b]:edges[b + 1]]
    c = calib.get(b, (np.nan, np.nan, -1))
    m = s[idx].mean() if len(idx) else np.nan
    r = y[idx].mean() if len(idx) else np.nan
    cmp(f"calib{b}.mean", c[0], m); cmp(f"calib{b}.rate", c[1], r)
    cmp(f"calib{b}.count", c[2], len(idx))
cum = 0
for k in range(nb):
    idx = order[edges[nb - 1 - k]:edges[nb - k]]
    cum += y[idx].sum()
    l = lift.get(k, (np.nan, np.nan))
    w = y[idx].mean() / rate if len(idx) and P else np.nan
    cmp(f"lift{k}", l[0], w); cmp(f"capture{k}", l[1], cum / P if P else np.nan)

if bad:
    print("\n".join(bad)); sys.exit(1)
PY

if ! "$PYTHON" "$WORK/gen.py" "$WORK" >"$WORK/gen.log" 2>&1; then
    not_ok "reference data generated" "$(head -c 600 "$WORK/gen.log")"
    exit 0
fi
ok "reference data generated"

while read -r name thr nbins; do
    ${RISKPIPE_WRAP:-} "$MET_EVAL" "$WORK/$name.csv" "$thr" "$nbins" >"$WORK/$name.out" 2>"$ERR"
    rc=$?
    if [ "$rc" != 0 ]; then
        not_ok "met_eval $name" "exit $rc: $(head -c 600 "$ERR")"
        continue
    fi
    check "metrics match sklearn: $name" \
        "$PYTHON" "$WORK/cmp.py" "$WORK/$name.csv" "$WORK/$name.out" "$thr" "$nbins"
done <"$WORK/cases.txt"

# A one-class file: AUC and KS are undefined, AP is 0 (as sklearn).
printf 'y,score\n0,0.2\n0,0.7\n' >"$WORK/oneclass.csv"
${RISKPIPE_WRAP:-} "$MET_EVAL" "$WORK/oneclass.csv" >"$OUT" 2>"$ERR"
eq "one class: roc_auc nan" "$(awk '$1=="roc_auc"{print $2}' "$OUT")" "nan"
eq "one class: ks nan" "$(awk '$1=="ks"{print $2}' "$OUT")" "nan"
eq "one class: pr_auc 0" "$(awk '$1=="pr_auc"{print $2}' "$OUT")" "0"

# Bad input is refused with a line number.
printf 'y,score\n1,0.3\n1;0.4\n' >"$WORK/bad.csv"
${RISKPIPE_WRAP:-} "$MET_EVAL" "$WORK/bad.csv" >"$OUT" 2>"$ERR"; rc=$?
eq "bad line: exit 2" "$rc" "2"
if grep -q 'line 3' "$ERR"; then ok "bad line: message names line 3"
else not_ok "bad line: message names line 3" "$(head -c 300 "$ERR")"; fi
