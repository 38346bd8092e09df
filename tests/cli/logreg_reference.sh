#!/bin/bash
# Cross-checks the Newton solver (src/logreg.c, through the driver
# $TOOL_DIR/lr_fit) against scikit-learn and statsmodels on random data:
#   - C = 1: coefficients within 1e-5 relative of sklearn's LogisticRegression
#   - no penalty: coefficients and standard errors within 1e-4 relative of
#     statsmodels' Logit, and the same log-likelihoods
#   - C = 0.1 with "balanced" class weights as sample weights vs sklearn
#   - separable data: an error without a penalty, a fit with one
# The references come from Debian's /usr/bin/python3 (python3-sklearn,
# python3-statsmodels, python3-numpy), which CI installs; if they are missing
# the checks fail rather than skip.  RISKPIPE_WRAP (e.g. valgrind) prefixes
# every lr_fit run, as it does riskpipe in the other tests.
#
# sklearn is run with solver="newton-cholesky" and tol=1e-12.  Its default
# lbfgs solver also has a relative function-decrease stop (ftol = 64 eps)
# that fires first: on this data lbfgs with tol=1e-12 stops with a gradient
# near 1e-3 and small coefficients off by up to 3e-4 relative, so it cannot
# serve as a 1e-5 reference.  newton-cholesky reaches a gradient near 1e-13.
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
LR_FIT="${TOOL_DIR:-$here/../../build/tests/tools}/lr_fit"

if [ ! -x "$LR_FIT" ]; then
    not_ok "lr_fit driver built" "$LR_FIT is missing (make unit)"
    exit 0
fi
if ! "$PYTHON" -c 'import numpy, sklearn, statsmodels' 2>"$WORK/py.err"; then
    not_ok "python references available" "$(head -c 300 "$WORK/py.err")"
    exit 0
fi

cat >"$WORK/ref.py" <<'EOF'
import json, sys, warnings
import numpy as np

warnings.simplefilter("ignore")

def gen(d):
    """n x p, some columns correlated, standardised; y from a known model.
    n = 6000 spans two of the solver's 4096-row Hessian blocks."""
    from sklearn.linear_model import LogisticRegression
    import statsmodels.api as sm
    rng = np.random.default_rng(20240611)
    n, p = 6000, 8
    Z = rng.standard_normal((n, p))
    Z[:, 1] = 0.8 * Z[:, 0] + 0.6 * Z[:, 1]
    Z[:, 3] = 0.7 * Z[:, 2] - 0.7 * Z[:, 3]
    Z[:, 6] = 0.95 * Z[:, 5] + 0.3 * Z[:, 6]
    X = (Z - Z.mean(0)) / Z.std(0)
    b = np.array([1.0, -0.5, 0.3, 0.0, 0.8, -1.2, 0.02, 0.4])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.3 + X @ b)))).astype(float)
    fmt = "%.17g"
    np.savetxt(d + "/d.csv", np.column_stack([X, y]), delimiter=",", fmt=fmt)
    # "balanced" class weights, n / (2 * n_class), as sample weights
    w = np.where(y == 1, n / (2 * y.sum()), n / (2 * (n - y.sum())))
    np.savetxt(d + "/dw.csv", np.column_stack([X, w, y]), delimiter=",",
               fmt=fmt)

    def sk(C, sw=None):
        m = LogisticRegression(C=C, tol=1e-12, max_iter=10000,
                               solver="newton-cholesky")
        m.fit(X, y, sample_weight=sw)
        return {"intercept": m.intercept_[0], "beta": list(m.coef_[0])}

    r = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton",
                                            tol=1e-14, maxiter=100)
    ref = {"l2": sk(1.0), "weighted": sk(0.1, w),
           "mle": {"intercept": r.params[0], "beta": list(r.params[1:]),
                   "se": list(r.bse), "loglik": r.llf,
                   "loglik_null": r.llnull}}
    json.dump(ref, open(d + "/ref.json", "w"))

def cmp(d, case, fitfile, tol, fields):
    """Largest relative difference over the fields, with an absolute floor
    of 1e-8 so that a coefficient near 0 is not judged relatively."""
    ref = json.load(open(d + "/ref.json"))[case]
    got = json.load(open(fitfile))
    worst, where = 0.0, ""
    for f in fields.split(","):
        a = np.atleast_1d(np.asarray(got[f], float))
        b = np.atleast_1d(np.asarray(ref[f], float))
        if a.shape != b.shape:
            print("%s: %d values, reference has %d" % (f, a.size, b.size))
            return 1
        rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-8)
        k = int(np.argmax(rel))
        if rel[k] > worst:
            worst, where = rel[k], "%s[%d]: %.17g vs %.17g" % (f, k, a[k], b[k])
    print("worst relative difference %.3g at %s" % (worst, where))
    return 0 if worst <= tol else 1

if sys.argv[1] == "gen":
    gen(sys.argv[2])
else:
    sys.exit(cmp(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]),
                 sys.argv[6]))
EOF

if ! "$PYTHON" "$WORK/ref.py" gen "$WORK" 2>"$WORK/gen.err"; then
    not_ok "reference fits" "$(tail -c 600 "$WORK/gen.err")"
    exit 0
fi

# fit NAME ARGS...: runs lr_fit into $WORK/NAME.json and checks it exits 0.
fit() {
    local name="$1"; shift
    if ${RISKPIPE_WRAP:-} "$LR_FIT" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"; then
        ok "lr_fit $name"
    else
        not_ok "lr_fit $name" "exit $?: $(head -c 600 "$WORK/$name.err")"
    fi
}
compare() {   # compare NAME CASE TOL FIELDS
    check "$1" "$PYTHON" "$WORK/ref.py" cmp "$WORK" "$2" "$WORK/$2.json" "$3" "$4"
}

fit l2 1.0 "$WORK/d.csv"
compare "C=1 coefficients match sklearn to 1e-5" l2 1e-5 intercept,beta

fit mle inf "$WORK/d.csv"
compare "C=inf coefficients match statsmodels Logit to 1e-4" mle 1e-4 intercept,beta
compare "C=inf standard errors match statsmodels Logit to 1e-4" mle 1e-4 se
compare "C=inf log-likelihoods match statsmodels to 1e-9" mle 1e-9 loglik,loglik_null

fit weighted -w 0.1 "$WORK/dw.csv"
compare "C=0.1 balanced weights match sklearn sample_weight to 1e-5" weighted 1e-5 intercept,beta

# Perfectly separable data: no unpenalised optimum, a penalised one.
printf '%s\n' -2,0 -1,0 -0.5,0 0.5,1 1,1 3,1 >"$WORK/sep.csv"
${RISKPIPE_WRAP:-} "$LR_FIT" inf "$WORK/sep.csv" >/dev/null 2>"$WORK/sep.err"
eq "separable data without a penalty exits 2" "$?" 2
if grep -q "perfectly separable" "$WORK/sep.err"; then
    ok "separable data: message says so"
else
    not_ok "separable data: message says so" "$(head -c 300 "$WORK/sep.err")"
fi
fit separable_c1 1 "$WORK/sep.csv"
