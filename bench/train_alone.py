#!/usr/bin/python3
"""bench/train_alone.py - the Python side of bench/train_alone.sh.

    train_alone.py prep MATRIX.csv DIR      MATRIX -> DIR/X.npy, DIR/y.npy
    train_alone.py fit DIR NAME SOLVER TOL MAX_ITER OUT.json
                                            one timed scikit-learn fit
    train_alone.py liblinear MODEL OUT.json a liblinear model file -> JSON
    train_alone.py record OUT.json SOLUTION.json KEY=VALUE...
                                            one run's record: the solution
                                            (intercept, beta, ...) and keys
    train_alone.py report DIR               the markdown table of DIR/runs

MATRIX is what `riskpipe train --dump-matrix` writes: no header, p
standardised feature columns, then the 0/1 label; every number printed with
%.17g, so it is parsed back exactly (pandas' default float parser is not
correctly rounded: float_precision="round_trip" is).

Every solution is evaluated with one objective, riskpipe's and
scikit-learn's:

    f(b0, b) = sum_i logloss(y_i, b0 + x_i'b) + ||b||^2 / (2C),   C = 1,

the intercept b0 not penalised, in float64 with the stable
logloss = log1p(exp(-|s|)) + max(-s, 0), s = +-margin.  f itself is summed
with math.fsum; the gap f(b) - f(b_best) is summed from the per-row
differences of the loss (so it is not lost in the rounding of two numbers
near 3.5e5: its error is about 1e-13 absolute).
"""
import glob
import json
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np

C = 1.0
BLOCK = 131072  # rows per block when forming X'DX (keeps temporaries small)


def load(d):
    return np.load(os.path.join(d, "X.npy")), np.load(os.path.join(d, "y.npy"))


# ---------------------------------------------------------------- prep
def prep(csv, d):
    import pandas as pd

    with open(csv, "rb") as f:
        n = sum(1 for line in f if line.strip())
        f.seek(0)
        first = f.readline().decode()
    cols = first.count(",") + 1
    p = cols - 1
    X = np.empty((n, p), dtype=np.float64)  # C order: sklearn takes it as is
    y = np.empty(n, dtype=np.float64)
    i = 0
    for chunk in pd.read_csv(csv, header=None, dtype=np.float64, engine="c",
                             float_precision="round_trip", chunksize=100000):
        a = chunk.to_numpy()
        X[i:i + len(a)] = a[:, :p]
        y[i:i + len(a)] = a[:, p]
        i += len(a)
    assert i == n, (i, n)
    # spot check: the first 2000 lines, parsed by Python's float (correctly
    # rounded), must be bit-identical
    with open(csv) as f:
        for r, line in zip(range(2000), f):
            v = [float(t) for t in line.split(",")]
            if v[:p] != X[r].tolist() or v[p] != y[r]:
                sys.exit(f"train_alone.py: row {r}: parsed values differ")
    if not np.isin(y, (0.0, 1.0)).all():
        sys.exit("train_alone.py: the last column is not 0/1")
    np.save(os.path.join(d, "X.npy"), X)
    np.save(os.path.join(d, "y.npy"), y)
    print(f"{n} rows, {p} features, {int(y.sum())} positives")


# ---------------------------------------------------------------- fit
def fit(d, name, solver, tol, max_iter, out):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, y = load(d)
    m = LogisticRegression(C=C, solver=solver, tol=float(tol),
                           max_iter=int(max_iter))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always", ConvergenceWarning)
        t0 = time.perf_counter()  # CLOCK_MONOTONIC on Linux
        m.fit(X, y)
        t = time.perf_counter() - t0
    conv = not any(issubclass(x.category, ConvergenceWarning) for x in w)
    json.dump({"name": name, "seconds": t, "iterations": int(m.n_iter_[0]),
               "converged": conv, "intercept": float(m.intercept_[0]),
               "beta": m.coef_[0].tolist()}, open(out, "w"))


# ---------------------------------------------------------------- liblinear
def liblinear(model, out):
    """liblinear's model file (-B 1) -> intercept and beta for class 1."""
    lines = open(model).read().split("\n")
    head, k = {}, 0
    while lines[k].strip() != "w":
        key, _, val = lines[k].partition(" ")
        head[key] = val.split()
        k += 1
    w = [float(s) for s in lines[k + 1:] if s.strip()]
    nf, bias = int(head["nr_feature"][0]), float(head["bias"][0])
    if head["solver_type"] != ["L2R_LR"] or bias <= 0 or len(w) != nf + 1:
        sys.exit(f"train_alone.py: {model}: unexpected model file")
    # w is for the first label of the "label" line (the +1 class when the
    # labels are +1/-1): flip it if that is the negative class.
    sign = 1.0 if float(head["label"][0]) > 0 else -1.0
    json.dump({"intercept": sign * w[nf] * bias,
               "beta": [sign * v for v in w[:nf]]}, open(out, "w"))


# ---------------------------------------------------------------- record
def record(out, solution, kvs):
    j = json.load(open(solution))
    for kv in kvs:
        k, _, v = kv.partition("=")
        try:
            j[k] = int(v)
        except ValueError:
            try:
                j[k] = float(v)
            except ValueError:
                j[k] = v
    json.dump(j, open(out, "w"))


# ---------------------------------------------------------------- objective
def losses(X, y, b0, b):
    m = X @ b + b0
    s = np.where(y > 0.5, m, -m)
    return np.log1p(np.exp(-np.abs(s))) + np.maximum(-s, 0.0)


def objective(X, y, b0, b):
    return math.fsum(losses(X, y, b0, b)) + float(b @ b) / (2 * C)


def gap(X, y, sol, ref):
    """f(sol) - f(ref), summed from per-row differences."""
    d = losses(X, y, sol[0], sol[1]) - losses(X, y, ref[0], ref[1])
    return math.fsum(d) + (float(sol[1] @ sol[1]) - float(ref[1] @ ref[1])) / (2 * C)


def liblinear_optimum(X, y, b0, b, bias):
    """The exact minimiser of liblinear's -s 0 -B bias objective, where the
    bias feature's weight is penalised like the others: with the intercept
    b0 = bias * w_b, sum logloss + (||b||^2 + (b0/bias)^2) / (2C).
    Newton's method from (b0, b), X'DX formed in blocks."""
    n, p = X.shape
    w = np.concatenate(([b0], b))
    pen = np.full(p + 1, 1 / C)
    pen[0] = 1 / (C * bias * bias)
    for _ in range(50):
        g = w * pen
        H = np.diag(pen)
        for i in range(0, n, BLOCK):
            Xb = np.hstack((np.ones((min(BLOCK, n - i), 1)), X[i:i + BLOCK]))
            pr = 1 / (1 + np.exp(-(Xb @ w)))
            g += Xb.T @ (pr - y[i:i + BLOCK])
            Xh = Xb * np.sqrt(pr * (1 - pr))[:, None]
            H += Xh.T @ Xh
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(g).max() < 1e-11 * n:
            break
    return w[0], w[1:]


# ---------------------------------------------------------------- report
NOISE = 1e-10  # |gap| below this is rounding in the evaluation (3e-16 of f)


def fmt_gap(g):
    if g == 0:
        return "0 (best)"
    if abs(g) < NOISE:
        return f"< {NOISE:.0e}"
    return f"{g:.3g}"


def report(d):
    X, y = load(d)
    runs = sorted(glob.glob(os.path.join(d, "runs", "*.json")))
    meta = json.load(open(os.path.join(d, "configs.json")))
    by = {}
    for r in runs:
        j = json.load(open(r))
        by.setdefault(j["config"], []).append(j)
    sols, stats = {}, {}
    for c in meta:
        rs = by.get(c["id"], [])
        if not rs:
            continue
        sol = [(float(j["intercept"]), np.array(j["beta"], dtype=np.float64)) for j in rs]
        # the solvers are deterministic up to BLAS threading: record how far
        # apart the runs' solutions are, evaluate the first
        spread = max(max(abs(s[0] - sol[0][0]), float(np.abs(s[1] - sol[0][1]).max()))
                     for s in sol)
        sols[c["id"]] = sol[0]
        ts = sorted(j["seconds"] for j in rs)
        ws = sorted(j["wall"] for j in rs if "wall" in j)
        its = sorted({str(j.get("iterations", "")) for j in rs})
        stats[c["id"]] = dict(n=len(rs), med=statistics.median(ts), lo=ts[0], hi=ts[-1],
                              wall=statistics.median(ws) if ws else None,
                              its="/".join(its), spread=spread,
                              conv=all(j.get("converged", True) for j in rs))
    # the floor of liblinear's objective (its bias is penalised), for each
    # -B of the liblinear runs
    ref_id = meta[0]["id"]  # riskpipe's Newton solution: the coefficient reference
    biases = sorted({float(j["bias"]) for c in meta for j in by.get(c["id"], []) if "bias" in j})
    for bias in biases:
        sols[f"liblinear-exact-B{bias:g}"] = liblinear_optimum(X, y, *sols[ref_id], bias)
    fs = {k: objective(X, y, *s) for k, s in sols.items()}
    best = min(fs, key=fs.get)
    gaps = {k: (0.0 if k == best else gap(X, y, s, sols[best])) for k, s in sols.items()}
    r0 = sols[ref_id]

    def dcoef(s):
        return abs(s[0] - r0[0]), float(np.abs(s[1] - r0[1]).max())

    near = [k for k in sols if abs(gaps[k]) < NOISE]
    print(f"n = {X.shape[0]}, p = {X.shape[1]}, positives = {int(y.sum())}; "
          f"f_min = {fs[best]:.17g} (the lowest f: {best}; within {NOISE:.0e} of it: "
          f"{', '.join(near)})\n")
    print("| solver | settings | solve time, median (s) | min-max (s) | "
          "process wall, median (s) | iterations | f - f_min | "
          "abs. intercept diff | max abs. coef diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in meta:
        if c["id"] not in stats:
            continue
        s = stats[c["id"]]
        di, db = dcoef(sols[c["id"]])
        its = s["its"] + ("" if s["conv"] else " (not converged)")
        wall = f"{s['wall']:.2f}" if s["wall"] is not None else ""
        print(f"| {c['solver']} | {c['settings']} | **{s['med']:.2f}** | "
              f"{s['lo']:.2f}-{s['hi']:.2f} | {wall} | {its} | {fmt_gap(gaps[c['id']])} | "
              f"{di:.2g} | {db:.2g} |")
    for bias in biases:
        k = f"liblinear-exact-B{bias:g}"
        di, db = dcoef(sols[k])
        print(f"| (liblinear's exact optimum) | -B {bias:g}: the minimiser of liblinear's "
              f"objective (bias penalised), numpy Newton | | | | | {fmt_gap(gaps[k])} | "
              f"{di:.2g} | {db:.2g} |")
    print()
    sp = {k: v["spread"] for k, v in stats.items() if v["spread"] > 0}
    print("Runs per configuration: " + ", ".join(sorted({str(v['n']) for v in stats.values()}))
          + ". Largest coefficient difference between the runs of one configuration: "
          + (", ".join(f"{k} {v:.1e}" for k, v in sp.items()) if sp else "none (all identical)")
          + ".")


def main(a):
    if len(a) == 3 and a[0] == "prep":
        prep(a[1], a[2])
    elif len(a) == 7 and a[0] == "fit":
        fit(*a[1:])
    elif len(a) == 3 and a[0] == "liblinear":
        liblinear(a[1], a[2])
    elif len(a) >= 3 and a[0] == "record":
        record(a[1], a[2], a[3:])
    elif len(a) == 2 and a[0] == "report":
        report(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
