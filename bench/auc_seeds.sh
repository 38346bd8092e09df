#!/usr/bin/env bash
# bench/auc_seeds.sh [SEED...]: how much of an AUC difference between
# riskpipe and the well-written Python pipeline is the split.
#
# Each contender evaluates on its own stratified 80/20 split, so with one
# seed the two held-out sets differ and so do their AUCs, by chance alone.
# This trains both with several split seeds on the same data (the database
# riskpipe connects to: --db resolution as usual, e.g. RISKPIPE_HOME or
# RISKPIPE_DB) and prints each held-out ROC AUC, then mean and standard
# deviation per contender.  Default seeds: 1 to 10.  Writes nothing to the
# predictions table (riskpipe train --no-register; the Python pipeline
# writes its predictions into its own table as in the benchmark, so use a
# scratch database).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RP=${BENCH_RISKPIPE:-$BENCH_DIR/../riskpipe}
PY=/usr/bin/python3
[ $# -gt 0 ] && seeds=("$@") || seeds=(1 2 3 4 5 6 7 8 9 10)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url=$("$RP" db url 2>/dev/null || true)
db=${RISKPIPE_DB:-$url}
[ -n "$db" ] || { echo "auc_seeds: no database (start one: riskpipe db start)" >&2; exit 1; }

printf 'seed,riskpipe,wellwritten\n' >"$work/auc.csv"
for s in "${seeds[@]}"; do
    "$RP" train -q --db "$db" --no-register --seed "$s" --model "$work/m.json" >/dev/null
    a=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["test_metrics"]["roc_auc"])' "$work/m.json")
    b=$(BENCH_SPLIT_SEED=$s "$PY" "$BENCH_DIR/wellwritten.py" "$db" "$work/p.csv" 2>/dev/null |
        sed -n 's/^held-out ROC AUC //p')
    printf '%s,%s,%s\n' "$s" "$a" "$b" | tee -a "$work/auc.csv"
done
"$PY" - "$work/auc.csv" <<'PY'
import sys, pandas as pd
d = pd.read_csv(sys.argv[1])
for c in ("riskpipe", "wellwritten"):
    print(f"{c}: mean {d[c].mean():.4f}, sd {d[c].std():.4f} over {len(d)} split seeds")
print(f"difference of the means: {d.riskpipe.mean() - d.wellwritten.mean():+.4f}")
PY
