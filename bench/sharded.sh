#!/usr/bin/env bash
# bench/sharded.sh [CUSTOMERS]: riskpipe on one PostgreSQL and on a sharded
# one (scripts/sharded-cluster.sh: a coordinator and two shards on this
# machine, postgres_fdw) holding the same data (issue 8).
#
#   bash bench/sharded.sh 1000000          # RUNS=3 for medians of three
#
# Generates the data once into the single node, copies each shard's share
# straight into the shards (sharded-cluster.sh load-from), ANALYZEs both,
# then measures on each, RUNS times in alternation, with /usr/bin/time:
#   train            riskpipe -v train (stage times from its log)
#   predict          riskpipe -v predict (the C path: rows to riskpipe, back by COPY)
#   predict-in-db    riskpipe -v predict --in-database (the server scores)
#   feature floor    the model's feature query sent to /dev/null by psql
#   as-of, categories, orphans   the three other queries train and predict run
# and prints a Markdown table (wall seconds, peak RSS of the client).
# All servers get the same settings (PG_OPTS below).  The servers run in a
# temporary folder under /var/tmp and are stopped and removed at exit
# (BENCH_KEEP=1 keeps them).  Timings are reported, never asserted.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
N=${1:-1000000}
RUNS=${RUNS:-1}
PG_OPTS="-c shared_buffers=2GB -c work_mem=256MB -c max_parallel_workers_per_gather=2"

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $(date -u +%H:%M:%S) $*" >&2; }
[ -x "$ROOT/riskpipe" ] || die "$ROOT/riskpipe not found: run make first"

TMP=$(mktemp -d /var/tmp/riskpipe-sharded.XXXXXX)
chmod 755 "$TMP"
RP=$TMP/riskpipe
cp "$ROOT/riskpipe" "$RP"   # others may rebuild ./riskpipe meanwhile
export RISKPIPE="$RP" RISKPIPE_PG_OPTS="$PG_OPTS"
SC=$TMP/sc
cleanup() {
    local rc=$?
    bash "$ROOT/scripts/sharded-cluster.sh" stop "$SC" >/dev/null 2>&1 || true
    RISKPIPE_HOME=$TMP/single "$RP" -q db stop >/dev/null 2>&1 || true
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT

log "starting the single node and the sharded cluster ($PG_OPTS)"
RISKPIPE_HOME=$TMP/single "$RP" -q db start
SINGLE=$(RISKPIPE_HOME=$TMP/single "$RP" db url)
CO=$(bash "$ROOT/scripts/sharded-cluster.sh" start "$SC" | tail -1)

log "generating $N customers into the single node"
"$RP" -q init --db "$SINGLE"
t0=$(date +%s.%N)
"$RP" -q generate --db "$SINGLE" --customers "$N" --seed 42
t1=$(date +%s.%N)
psql -X -q -d "$SINGLE" -c "VACUUM ANALYZE"
log "copying each shard's share into the shards"
bash "$ROOT/scripts/sharded-cluster.sh" load-from "$SC" "$SINGLE"
t2=$(date +%s.%N)
psql -X -q -d "$(RISKPIPE_HOME=$SC/shard1 "$RP" db url)" -c "VACUUM"
psql -X -q -d "$(RISKPIPE_HOME=$SC/shard2 "$RP" db url)" -c "VACUUM"
counts=$(psql -X -A -t -F ' ' -d "$SINGLE" -c "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM accounts), (SELECT count(*) FROM transactions)")
log "rows (customers accounts transactions): $counts; generate $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, load-from $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.1f", b-a}') s"

# One training on each, for the model whose feature query and scoring the
# other measurements use (the two models are equal: the test says so).
"$RP" -q train --db "$SINGLE" --model "$TMP/single.json" --no-register
"$RP" -q train --db "$CO" --model "$TMP/sharded.json" --no-register
FSQL=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['features']['sql'])" "$TMP/single.json")
ASOF_SQL="SELECT max(transaction_date)::text FROM transactions WHERE transaction_date < 'infinity'::date"
CAT_SQL="SELECT category FROM transactions WHERE transaction_date <= current_date + 10000 AND transaction_date > '-infinity'::date AND category IS NOT NULL GROUP BY category ORDER BY count(*) DESC, category COLLATE \"C\" LIMIT 10"
ORPH_SQL="SELECT (SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = a.customer_id)), (SELECT count(*) FROM transactions t WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id))"

# measure NAME TARGET CMD...: wall seconds and peak RSS into runs.tsv.
measure() {
    local name=$1 target=$2 base=$TMP/log-$1-$2-$run
    shift 2
    /usr/bin/time -f "%e %M" -o "$base.time" "$@" >"$base.out" 2>"$base.err" ||
        { tail -5 "$base.err" >&2; die "$name on $target failed"; }
    printf '%s\t%s\t%s\n' "$name" "$target" "$(tail -1 "$base.time" | tr ' ' '\t')" >>"$TMP/runs.tsv"
    grep -E '^riskpipe: stage ' "$base.err" | sed "s/^/  [$name $target] /" >&2 || true
}
# floor URL SQL: the query's rows sent to /dev/null, with riskpipe's
# session settings (a script, so that /usr/bin/time can run it)
cat >"$TMP/floor" <<'EOT'
#!/bin/sh
PGOPTIONS="-c enable_partitionwise_aggregate=on -c enable_partitionwise_join=on" \
    exec psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "COPY ($2) TO STDOUT" >/dev/null
EOT
chmod 755 "$TMP/floor"

for run in $(seq 1 "$RUNS"); do
    for target in single sharded; do
        if [ $target = single ]; then url=$SINGLE; else url=$CO; fi
        log "run $run, $target"
        measure train $target "$RP" -v train --db "$url" --model "$TMP/m-$target.json" --no-register
        measure predict $target "$RP" -v predict --db "$url" --model "$TMP/$target.json" --csv "$TMP/p-$target.csv"
        measure predict-in-db $target "$RP" -v predict --db "$url" --model "$TMP/$target.json" --in-database
        measure feature-floor $target "$TMP/floor" "$url" "$FSQL"
        measure as-of $target "$TMP/floor" "$url" "$ASOF_SQL"
        measure categories $target "$TMP/floor" "$url" "$CAT_SQL"
        measure orphans $target "$TMP/floor" "$url" "$ORPH_SQL"
    done
done

echo "customers accounts transactions: $counts"
echo
echo "| step | single node: s (client peak MiB) | sharded, 2 shards: s (client peak MiB) |"
echo "|---|---|---|"
python3 - "$TMP/runs.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
order = []
for r in rows:
    if r[0] not in order:
        order.append(r[0])
def cell(step, target):
    w = [float(r[2]) for r in rows if r[0] == step and r[1] == target]
    m = [float(r[3]) for r in rows if r[0] == step and r[1] == target]
    return "%.1f (%.0f)" % (statistics.median(w), statistics.median(m) / 1024)
for s in order:
    print("| %s | %s | %s |" % (s, cell(s, "single"), cell(s, "sharded")))
PY
