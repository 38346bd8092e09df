#!/usr/bin/env bash
# bench/train_alone.sh [MATRIX.csv]: training alone on the real design
# matrix -- riskpipe's Newton solver (lr_train) against Debian's liblinear
# (liblinear-tools, `train -s 0`) and scikit-learn (lbfgs, newton-cholesky).
#
#   RISKPIPE_HOME=/var/tmp/rp1m bash bench/train_alone.sh
#   bash bench/train_alone.sh /var/tmp/x/matrix.csv      # skip the dump
#
# 1. The matrix: `riskpipe train --no-register --dump-matrix` writes the
#    full labelled design matrix of the database riskpipe reaches (the usual
#    --db / $RISKPIPE_DB / $RISKPIPE_HOME rules) as CSV: no header, p
#    standardised feature columns, the 0/1 label last.  An existing file
#    (argument or $MATRIX) skips this step.
# 2. Conversions, done once (redone when the matrix is newer): libsvm text
#    for liblinear (awk; the numbers' text is copied, so liblinear reads the
#    very same doubles; exact zeros are left out, as the sparse format
#    allows), and X.npy / y.npy for scikit-learn (bench/train_alone.py prep,
#    which checks that it parses the CSV bit-exactly).
# 3. Every configuration RUNS times (default 3), round-robin.  Solve time:
#    - riskpipe: the lr_train call alone, timed inside the driver
#      build/tests/tools/lr_fit -t (CLOCK_MONOTONIC).  lr_train also
#      computes the inverse Hessian, the standard errors, the condition
#      number and the null log-likelihood: they are in its time.
#    - liblinear: its train() library call alone, timed by a small
#      LD_PRELOAD shim built here (dlsym(RTLD_NEXT, "train")): this leaves
#      out reading the libsvm text and writing the model, which
#      liblinear-train does itself.  The whole command's wall time is
#      reported too (column "process wall").
#    - scikit-learn: LogisticRegression.fit alone (time.perf_counter, which
#      is CLOCK_MONOTONIC), after the matrix is loaded; fit includes
#      sklearn's own input validation.
#    riskpipe and scikit-learn use OpenBLAS with its default threads (one
#    per core); liblinear's solver is single-threaded, so riskpipe is also
#    run with OPENBLAS_NUM_THREADS=1.
#    The configurations (CONFIGS below): riskpipe's defaults (C = 1, tol
#    1e-10); liblinear -s 0 -c 1 -B 1 at -e 0.01 (its default), 1e-4 and
#    1e-6, plus -B 100 -e 1e-8 (a bias feature of 100 makes the intercept's
#    penalty 1e4 times smaller: the closest liblinear gets to f's optimum);
#    scikit-learn LogisticRegression(C=1) with lbfgs (defaults, then
#    tol=1e-10, max_iter=10000) and newton-cholesky (tol 1e-4, 1e-10).
# 4. bench/train_alone.py report: every solution evaluated with riskpipe's
#    objective f = sum logloss + ||b||^2/(2C), C = 1, intercept unpenalised
#    (liblinear's -B 1 bias is penalised like a weight, so its optimum is
#    not f's: the table adds the exact minimiser of liblinear's objective
#    as the floor of its gap), f - f_min against the best solution found,
#    and the coefficient differences from riskpipe's solution.  The table
#    is printed and written to $BENCH_WORK/table.md.
#
# Environment: RUNS (3); MATRIX (existing CSV); BENCH_WORK (work folder,
# default /var/tmp/riskpipe-train-alone; kept: about 3 GB with the matrix,
# its conversions and every run's output); BENCH_RISKPIPE (binary for the
# dump, default ./riskpipe); LR_FIT (a prebuilt lr_fit driver to measure,
# e.g. one linked with another version of src/logreg.c; default: build the
# tree's build/tests/tools/lr_fit).  Never part of `make test`: timings are
# reported, not asserted.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-3}
WORK=${BENCH_WORK:-/var/tmp/riskpipe-train-alone}
MATRIX=${1:-${MATRIX:-}}
RP=${BENCH_RISKPIPE:-$ROOT/riskpipe}
PY=/usr/bin/python3
PYTOOL=$BENCH_DIR/train_alone.py
LL=liblinear-train   # Debian's name for liblinear's `train`

die() { echo "train_alone: error: $*" >&2; exit 1; }
log() { echo "train_alone: $*" >&2; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=\"$RUNS\" is not a positive number"
[ -x "$PY" ] || die "$PY not found (Debian packages python3 python3-numpy python3-pandas python3-sklearn)"
"$PY" -c 'import numpy, pandas, sklearn' 2>/dev/null ||
    die "$PY lacks numpy/pandas/scikit-learn: apt-get install -y python3-numpy python3-pandas python3-sklearn"
if ! command -v "$LL" >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "liblinear-train not found: installing liblinear-tools"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblinear-tools >&2 || true
    fi
    command -v "$LL" >/dev/null ||
        die "liblinear-train not found: install Debian's liblinear with
    apt-get install -y liblinear-tools
(as root; the package provides /usr/bin/liblinear-train, liblinear's \`train\`)"
fi
command -v cc >/dev/null || die "cc not found (needed for lr_fit and the liblinear timing shim)"

mkdir -p "$WORK/runs"
rm -f "$WORK"/runs/*

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
SRC_STATE="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
    git -C "$ROOT" diff --quiet HEAD -- src/logreg.c src/logreg.h 2>/dev/null ||
    echo ' with uncommitted changes to src/logreg.[ch]')"

# --- the riskpipe driver: built from the tree, then a private copy (others
# may rebuild the tree while this runs)
if [ -n "${LR_FIT:-}" ]; then
    [ -x "$LR_FIT" ] || die "LR_FIT=$LR_FIT is not an executable"
    cp "$LR_FIT" "$WORK/lr_fit"
else
    log "building build/tests/tools/lr_fit"
    make -C "$ROOT" -s -j2 build/tests/tools/lr_fit >&2 ||
        die "could not build build/tests/tools/lr_fit (if src/ is being edited, retry in a minute)"
    cp "$ROOT/build/tests/tools/lr_fit" "$WORK/lr_fit"
fi

# --- the liblinear timing shim: wraps liblinear.so's train()
cat >"$WORK/lltime.c" <<'EOF'
/* LD_PRELOAD shim: times liblinear's train() (the solve alone). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void *train(const void *prob, const void *param)
{
    void *(*real)(const void *, const void *);
    struct timespec a, b;
    void *m;

    *(void **)&real = dlsym(RTLD_NEXT, "train");
    if (!real) {
        fprintf(stderr, "lltime: %s\n", dlerror());
        abort();
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    m = real(prob, param);
    clock_gettime(CLOCK_MONOTONIC, &b);
    fprintf(stderr, "liblinear_train_seconds %.6f\n",
            (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    return m;
}
EOF
cc -O2 -shared -fPIC -o "$WORK/lltime.so" "$WORK/lltime.c" -ldl || die "could not build the liblinear timing shim"

# --- the matrix
if [ -z "$MATRIX" ]; then
    [ -x "$RP" ] || die "$RP not found: run make first, or pass an existing matrix"
    MATRIX=$WORK/matrix.csv
    log "dumping the design matrix to $MATRIX (riskpipe train --no-register --dump-matrix)"
    "$RP" -q train --model "$WORK/model.json" --no-register --dump-matrix "$MATRIX" >"$WORK/dump.log" ||
        die "riskpipe train failed (is the database up? RISKPIPE_HOME / --db); see $WORK/dump.log"
fi
[ -s "$MATRIX" ] || die "$MATRIX: no such file or empty"

if [ ! "$WORK/matrix.libsvm" -nt "$MATRIX" ]; then
    log "converting to libsvm format"
    # label +1/-1 (liblinear then keeps +1 as its first class); exact zeros
    # (a constant column standardises to 0) are left out
    awk -F, '{ printf "%s", ($NF == 1 ? "+1" : "-1")
               for (j = 1; j < NF; j++) if ($j + 0 != 0) printf " %d:%s", j, $j
               printf "\n" }' "$MATRIX" >"$WORK/matrix.libsvm.tmp"
    mv "$WORK/matrix.libsvm.tmp" "$WORK/matrix.libsvm"
fi
if [ ! "$WORK/X.npy" -nt "$MATRIX" ] || [ ! "$WORK/y.npy" -nt "$MATRIX" ]; then
    log "converting to numpy"
    "$PY" "$PYTOOL" prep "$MATRIX" "$WORK" >&2
fi

# --- the configurations: id|solver|settings (the first is the reference)
NCORES=$(nproc)
CONFIGS=(
    "rp|riskpipe lr_train (Newton)|C=1, tol 1e-10 (defaults); OpenBLAS default threads ($NCORES)"
    "rp1t|riskpipe lr_train (Newton)|same, OPENBLAS_NUM_THREADS=1"
    "ll2|liblinear -s 0 (TRON)|-c 1 -B 1 -e 0.01 (default)"
    "ll4|liblinear -s 0 (TRON)|-c 1 -B 1 -e 1e-4"
    "ll6|liblinear -s 0 (TRON)|-c 1 -B 1 -e 1e-6"
    "llb8|liblinear -s 0 (TRON)|-c 1 -B 100 -e 1e-8 (bias penalty 1e-4 of -B 1's)"
    "sklbfgs|sklearn lbfgs|C=1, tol=1e-4, max_iter=100 (defaults)"
    "sklbfgs10|sklearn lbfgs|C=1, tol=1e-10, max_iter=10000"
    "sknc|sklearn newton-cholesky|C=1, tol=1e-4 (default), max_iter=100"
    "sknc10|sklearn newton-cholesky|C=1, tol=1e-10, max_iter=100"
)
"$PY" - "$WORK/configs.json" "${CONFIGS[@]}" <<'EOF'
import json, sys
json.dump([dict(zip(("id", "solver", "settings"), c.split("|", 2))) for c in sys.argv[2:]],
          open(sys.argv[1], "w"), indent=1)
EOF

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# run ID R: one measurement, recorded as $WORK/runs/ID.R.json
run() {
    local id=$1 r=$2 out=$WORK/runs/$1.$2 t0 t1 secs its
    t0=$EPOCHREALTIME
    case $id in
    rp|rp1t)
        if [ "$id" = rp1t ]; then
            OPENBLAS_NUM_THREADS=1 "$WORK/lr_fit" -t 1 "$MATRIX" >"$out.sol" 2>"$out.err"
        else
            "$WORK/lr_fit" -t 1 "$MATRIX" >"$out.sol" 2>"$out.err"
        fi || die "lr_fit failed: $(cat "$out.err")"
        t1=$EPOCHREALTIME
        secs=$(awk '$1 == "lr_train_seconds" { print $2 }' "$out.err")
        "$PY" "$PYTOOL" record "$out.json" "$out.sol" config=$id seconds="$secs" \
            wall="$(elapsed "$t0" "$t1")"
        ;;
    ll*)
        local e b=1
        case $id in ll2) e=0.01 ;; ll4) e=1e-4 ;; ll6) e=1e-6 ;; llb8) e=1e-8 b=100 ;; esac
        LD_PRELOAD=$WORK/lltime.so "$LL" -s 0 -c 1 -B "$b" -e "$e" "$WORK/matrix.libsvm" \
            "$out.model" >"$out.log" 2>"$out.err" || die "liblinear-train failed: $(cat "$out.err")"
        t1=$EPOCHREALTIME
        secs=$(awk '$1 == "liblinear_train_seconds" { print $2 }' "$out.err")
        [ -n "$secs" ] || die "the liblinear timing shim printed nothing (is liblinear-train dynamically linked?)"
        # TRON's outer iterations and their conjugate-gradient steps
        its=$(awk '/^iter/ { n++; cg += $NF } END { printf "%d (CG %d)", n, cg }' "$out.log")
        "$PY" "$PYTOOL" liblinear "$out.model" "$out.sol"
        "$PY" "$PYTOOL" record "$out.json" "$out.sol" config=$id seconds="$secs" \
            wall="$(elapsed "$t0" "$t1")" iterations="$its" bias="$b"
        ;;
    sk*)
        local solver tol maxit
        case $id in
        sklbfgs) solver=lbfgs tol=1e-4 maxit=100 ;;
        sklbfgs10) solver=lbfgs tol=1e-10 maxit=10000 ;;
        sknc) solver=newton-cholesky tol=1e-4 maxit=100 ;;
        sknc10) solver=newton-cholesky tol=1e-10 maxit=100 ;;
        esac
        "$PY" "$PYTOOL" fit "$WORK" "$id" "$solver" "$tol" "$maxit" "$out.sol" 2>"$out.err" ||
            die "scikit-learn fit failed: $(tail -5 "$out.err")"
        t1=$EPOCHREALTIME
        "$PY" "$PYTOOL" record "$out.json" "$out.sol" config=$id \
            wall="$(elapsed "$t0" "$t1")"
        ;;
    esac
    log "run $r $id: $("$PY" -c 'import json, sys; print("%.2f s" % json.load(open(sys.argv[1]))["seconds"])' "$out.json")"
}

log "$RUNS runs of ${#CONFIGS[@]} configurations, round-robin"
for ((r = 1; r <= RUNS; r++)); do
    for c in "${CONFIGS[@]}"; do
        run "${c%%|*}" "$r"
    done
done

# --- the report
{
    echo "Training alone: $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)," \
        "load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo
    echo "- matrix: \`$MATRIX\` ($(wc -l <"$MATRIX") rows)"
    if [ -n "${LR_FIT:-}" ]; then
        echo "- riskpipe: lr_train via $LR_FIT -t"
    else
        echo "- riskpipe: $SRC_STATE (when built), lr_train via build/tests/tools/lr_fit -t"
    fi
    echo "- liblinear-tools $(dpkg-query -W -f '${Version}' liblinear-tools 2>/dev/null || echo '?');" \
        "$("$PY" -c 'import sklearn, numpy, scipy; print(f"scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}")')"
    echo "- $RUNS runs per configuration, round-robin; times: median and min-max"
    echo
    "$PY" "$PYTOOL" report "$WORK"
} | tee "$WORK/table.md"
