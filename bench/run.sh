#!/usr/bin/env bash
# bench/run.sh [SCALE...]: riskpipe against the Python pipelines it replaces
# and against the database's own floor (SPEC section 6, issue 5).
#
#   bash bench/run.sh                  # 100k and 1M customers
#   RUNS=5 bash bench/run.sh 100000    # or: make bench SCALES=100000
#
# For each scale (number of customers) it generates the data once, then runs
# every contender RUNS times in alternation (round-robin, so a slow drift of
# the machine spreads over all of them instead of favouring one), measures
# wall time and peak RSS with /usr/bin/time, prints a table and appends a
# dated section to bench/RESULTS.md (earlier sections are kept).
#
# Contenders: `riskpipe -v run`; bench/classic.py (the classic pandas script
# with its fan-out JOIN and row INSERTs); bench/wellwritten.py (SQL
# aggregation + scikit-learn + COPY); and the floors: (a) riskpipe's own
# feature query with its rows sent to /dev/null, (b) a parallel count(*) of
# the transactions, (c) a binary COPY of the raw transaction columns the
# features need, (d) the predictions COPY'd out to /dev/null and back into
# an empty copy of the table.  The "DB floor" is (a) + (d, in): the least
# time PostgreSQL alone needs to compute the features and take the results.
#
# It runs its own PostgreSQL (riskpipe's embedded cluster, in a temporary
# folder under /var/tmp) with fixed settings, stopped and removed at exit.
# Environment: RUNS (default 3); BENCH_RISKPIPE (the binary to measure,
# default ./riskpipe); BENCH_RESULTS (default bench/RESULTS.md;
# "-" appends nowhere); BENCH_KEEP=1 keeps the temporary folder (logs,
# cluster) for inspection.  Never part of `make test`: timings are reported,
# not asserted.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-3}
RESULTS=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
PY=/usr/bin/python3
# The fixed server settings of the benchmark (issue 5); everything else is
# riskpipe's embedded default, and all of it is recorded in the results.
PG_OPTS="-c shared_buffers=2GB -c work_mem=256MB -c max_parallel_workers_per_gather=2"
PY_PKGS=(python3-pandas python3-sklearn python3-psycopg2 python3-sqlalchemy)
CLASSIC_KIB_PER_CUSTOMER=4   # an upper bound: its aggregated JOIN holds one row per customer

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

if [ $# -gt 0 ]; then scales=("$@"); else scales=(100000 1000000); fi
for n in "${scales[@]}"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "scale \"$n\" is not a positive number of customers"
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS=\"$RUNS\" is not a positive number"
RP_SRC=${BENCH_RISKPIPE:-$ROOT/riskpipe}
[ -x "$RP_SRC" ] || die "$RP_SRC not found: run make first"
command -v psql >/dev/null || die "psql not found (Debian package postgresql-client-15)"
[ -x "$PY" ] || die "$PY not found: the report is computed with Python (Debian package python3)"

# Installs Debian packages when we are root; returns 1 otherwise.
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; }
}

# GNU time, not the shell keyword: it reports the peak RSS.
if [ ! -x /usr/bin/time ]; then
    apt_install time || die "/usr/bin/time missing: apt-get install time"
fi

# The Python contenders are skipped, with a note in the results, when their
# libraries are missing and cannot be installed.
py_check() { "$PY" -c 'import pandas, sklearn, psycopg2, sqlalchemy' 2>/dev/null; }
py_note=""
if ! py_check; then
    apt_install "${PY_PKGS[@]}" || true
    if ! py_check; then
        py_note="classic and well-written Python skipped: ${PY_PKGS[*]} not installed (apt-get install -y ${PY_PKGS[*]})"
        log "$py_note"
    fi
fi

# A temporary folder the server's account (postgres, when we are root) can
# reach: /var/tmp rather than /tmp (often a small tmpfs), parents 755.
TMP=$(mktemp -d /var/tmp/riskpipe-bench.XXXXXX)
chmod 755 "$TMP"
export RISKPIPE_HOME=$TMP/pg
# A private copy of the binary: others may rebuild ./riskpipe during a long run.
RP=$TMP/riskpipe
cp "$RP_SRC" "$RP"
server_up=0
child=""   # the /usr/bin/time of the measurement in progress

cleanup() {
    local rc=$?
    if [ -n "$child" ]; then
        # The measured program first (time itself would leave it orphaned).
        pkill -TERM -P "$child" 2>/dev/null || true
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    if [ "$server_up" = 1 ]; then
        "$RP" -q db stop || log "warning: could not stop the benchmark server in $RISKPIPE_HOME"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

log "starting PostgreSQL in $RISKPIPE_HOME ($PG_OPTS)"
RISKPIPE_PG_OPTS=$PG_OPTS "$RP" -q db start || die "could not start the benchmark server (riskpipe db start)"
server_up=1
URL=$("$RP" db url)

sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$URL" "$@"; }

# ---- what the results are measured on -------------------------------------
meta=$TMP/meta.txt
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command=bash bench/run.sh ${scales[*]} (RUNS=$RUNS)"
    echo "runs=$RUNS"
    echo "riskpipe=$("$RP" --version 2>&1 | head -n 1)"
    if git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
        dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | head -c 1)
        echo "git=$(git -C "$ROOT" rev-parse --short HEAD)${dirty:+ + uncommitted changes}"
    fi
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "nproc=$(nproc)"
    echo "mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    # Other work on the machine skews the figures: say how busy it was.
    echo "load=$(cut -d ' ' -f 1-3 /proc/loadavg)"
    echo "blas=$(ldd "$RP" | awk '/blas|lapack/ {print $3}' | xargs -r readlink -f | tr '\n' ' ')"
    echo "pg_version=$(sql -c 'SHOW server_version')"
    echo "pg_settings=$(sql -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
        FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather',
        'max_parallel_workers', 'max_worker_processes', 'effective_cache_size', 'maintenance_work_mem',
        'jit', 'wal_level', 'synchronous_commit', 'fsync', 'random_page_cost', 'max_wal_size')")"
    echo "pg_opts=$PG_OPTS"
    if [ -z "$py_note" ]; then
        echo "python=$("$PY" -c 'import sys, pandas, sklearn, psycopg2, sqlalchemy, numpy
print("Python %s, pandas %s, numpy %s, scikit-learn %s, psycopg2 %s, SQLAlchemy %s" % (
    sys.version.split()[0], pandas.__version__, numpy.__version__, sklearn.__version__,
    psycopg2.__version__.split()[0], sqlalchemy.__version__))')"
    else
        echo "python_note=$py_note"
    fi
} >"$meta"

# Loads the libraries once so that the first Python run is not the only one
# to read them from disk.
[ -n "$py_note" ] || "$PY" -c 'import pandas, sklearn.linear_model, sqlalchemy, psycopg2'

# ---- one measurement ---------------------------------------------------------
# measure SCALE CONTENDER RUN STDIN STDOUT CMD...: runs CMD under
# /usr/bin/time with stderr (and stdout when STDOUT is "log") kept in
# $TMP/logs, and appends "scale contender run wall rss_kib" to runs.tsv.
# A failure stops the benchmark with the end of the contender's stderr: a
# number from a broken run is worse than none.
LOGS=$TMP/logs
mkdir -p "$LOGS"
measure() {
    local scale=$1 who=$2 run=$3 in=$4 out=$5 base
    shift 5
    base=$LOGS/$scale-$who-$run
    [ "$out" = log ] && out=$base.out
    # In the background so that a TERM reaches the trap at once, not after
    # a minutes-long run; cleanup() stops the child.
    /usr/bin/time -f "%e %M" -o "$base.time" "$@" <"$in" >"$out" 2>"$base.err" &
    child=$!
    if ! wait "$child"; then
        tail -n 15 "$base.err" >&2
        die "$who failed at $scale customers (run $run): $(head -n 1 "$base.time")" \
            "(BENCH_KEEP=1 keeps the logs)"
    fi
    child=""
    printf '%s\t%s\t%s\t%s\n' "$scale" "$who" "$run" "$(tail -n 1 "$base.time" | tr ' ' '\t')" >>"$TMP/runs.tsv"
}

# Fails when a contender's output lacks the held-out AUC the report needs
# (a changed output format should not leave a silent blank in the table).
expect_auc() {
    grep -q 'ROC AUC' "$LOGS/$1.out" || die "no \"ROC AUC\" line in the output of $1 ($LOGS/$1.out)"
}

# ---- the scales --------------------------------------------------------------
header_done=""
for n in "${scales[@]}"; do
    log "== $n customers: init, generate, VACUUM ANALYZE, warm-up"
    "$RP" -q init --db "$URL" || die "riskpipe init failed"
    t0=$(date +%s.%N)
    "$RP" -q generate --db "$URL" --customers "$n" --seed 42 ||
        die "riskpipe generate --customers $n failed"
    gen_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    sql -c 'VACUUM ANALYZE'
    counts=$(sql -F ' ' -c 'SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM accounts),
                                   (SELECT count(*) FROM transactions)')
    # Warm cache for every contender alike: pg_prewarm loads the tables into
    # shared_buffers (a plain scan of a table larger than a quarter of it
    # would only go through a small ring buffer); a count(*) otherwise.
    if sql -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' 2>/dev/null; then
        sql -c "SELECT pg_prewarm(c.oid) FROM pg_class c
                WHERE c.relname IN ('customers', 'accounts', 'transactions') AND c.relkind = 'r'
                  AND c.relnamespace = 'public'::regnamespace" >/dev/null
        warm="pg_prewarm of the three tables"
    else
        warm="count(*) of the three tables"
    fi
    sql -c 'SELECT count(*) FROM customers' -c 'SELECT count(*) FROM accounts' \
        -c 'SELECT count(*) FROM transactions' >/dev/null

    # An untimed riskpipe run: warms riskpipe's path, logs the feature query
    # that floor (a) replays, and fills the predictions table for floor (d).
    (cd "$TMP" && "$RP" -v run --db "$URL" --model "$TMP/warmup-model.json" \
        --csv "$TMP/warmup.csv" --no-register >"$LOGS/$n-warmup.out" 2>"$LOGS/$n-warmup.err") ||
        { tail -n 15 "$LOGS/$n-warmup.err" >&2; die "the warm-up riskpipe run failed at $n customers"; }
    # The SQL is on the lines after "feature query:", up to the next log line.
    feature_sql=$(awk '/^riskpipe: feature query:/ {on = 1; next}
                       on && /^riskpipe: / {exit}
                       on {print}' "$LOGS/$n-warmup.err")
    [ -n "$feature_sql" ] || die "riskpipe -v did not log its feature query ($LOGS/$n-warmup.err)"
    printf '%s\n' "$feature_sql" >"$LOGS/$n-feature.sql"
    sql -c 'COPY predictions TO STDOUT' >"$TMP/predictions.copy"
    sql -c 'SET client_min_messages = warning' -c 'DROP TABLE IF EXISTS bench_floor_predictions' \
        -c 'CREATE TABLE bench_floor_predictions (LIKE predictions INCLUDING ALL)'

    echo "scale_$n=$counts $gen_secs $warm" >>"$meta"

    # The classic script's fan-out JOIN is grouped in SQL (bench/classic.py),
    # so pandas holds one row per customer: a few KiB each with the
    # interpreter.  Where even that cannot fit, skip it with a note rather
    # than let the kernel's OOM killer end the benchmark.
    run_classic=""
    [ -n "$py_note" ] || run_classic=1
    if [ -n "$run_classic" ]; then
        need_kib=$(( n * CLASSIC_KIB_PER_CUSTOMER + 262144 ))
        avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
        if [ $(( need_kib * 10 )) -gt $(( avail_kib * 8 )) ]; then
            run_classic=""
            note="classic script skipped: about $(( need_kib / 1048576 )) GiB for $n customers, more than 80% of the $(( avail_kib / 1048576 )) GiB available"
            log "$note"
            echo "note_$n=$note" >>"$meta"
        fi
    fi
    P=(psql -X -q -v ON_ERROR_STOP=1 -d "$URL")
    mid_id=$(sql -c 'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY customer_id) FROM customers')
    for run in $(seq 1 "$RUNS"); do
        log "$n customers, round $run of $RUNS"
        measure "$n" riskpipe "$run" /dev/null log \
            "$RP" -v run --db "$URL" --model "$TMP/model.json" --csv "$TMP/riskpipe.csv"
        expect_auc "$n-riskpipe-$run"
        # the same job with the features computed by the feature query
        measure "$n" riskpipe_sql "$run" /dev/null log \
            "$RP" -v run --db "$URL" --model "$TMP/model.json" --csv "$TMP/riskpipe.csv" \
            --features-path sql
        expect_auc "$n-riskpipe_sql-$run"
        if [ -z "$py_note" ]; then
            if [ -n "$run_classic" ]; then
                measure "$n" classic "$run" /dev/null log \
                    "$PY" "$BENCH_DIR/classic.py" "$URL" "$TMP/classic.csv"
                expect_auc "$n-classic-$run"
            fi
            measure "$n" wellwritten "$run" /dev/null log \
                "$PY" "$BENCH_DIR/wellwritten.py" "$URL" "$TMP/wellwritten.csv"
            expect_auc "$n-wellwritten-$run"
        fi
        # The floors: psql with the rows sent nowhere (not even to a log file).
        measure "$n" floor_features "$run" /dev/null /dev/null \
            "${P[@]}" -c "COPY ($feature_sql) TO STDOUT"
        measure "$n" floor_count "$run" /dev/null /dev/null \
            "${P[@]}" -c 'SELECT count(*) FROM transactions'
        measure "$n" floor_rawcopy "$run" /dev/null /dev/null \
            "${P[@]}" -c 'COPY (SELECT customer_id, amount::float8, transaction_date, category
                               FROM transactions) TO STDOUT (FORMAT binary)'
        # (c) as riskpipe's client-side path reads it: NUMERIC amounts as
        # they are, two connections over the two halves of the customers
        measure "$n" floor_rawcopy2 "$run" /dev/null /dev/null bash -c "
            ${P[*]@Q} -c 'COPY (SELECT customer_id, amount::numeric, transaction_date,
                category::text FROM transactions WHERE customer_id < $mid_id) TO STDOUT (FORMAT binary)' &
            ${P[*]@Q} -c 'COPY (SELECT customer_id, amount::numeric, transaction_date,
                category::text FROM transactions WHERE customer_id >= $mid_id) TO STDOUT (FORMAT binary)' ||
                exit 1
            wait \$!"
        measure "$n" floor_pred_out "$run" /dev/null /dev/null \
            "${P[@]}" -c 'COPY predictions TO STDOUT'
        # Into a table emptied in the same transaction, as riskpipe's own swap
        # does; with wal_level=minimal such a COPY can skip the WAL.
        measure "$n" floor_pred_in "$run" "$TMP/predictions.copy" /dev/null \
            "${P[@]}" -c 'BEGIN' -c 'TRUNCATE bench_floor_predictions' \
            -c 'COPY bench_floor_predictions FROM STDIN' -c 'COMMIT'
    done

    block=$("$PY" "$BENCH_DIR/report.py" "$meta" "$TMP/runs.tsv" "$LOGS" "$n") ||
        die "bench/report.py could not summarise the $n-customer runs"
    printf '%s\n\n' "$block"
    if [ "$RESULTS" != "-" ]; then
        # Append only (another process may append its own section), header
        # once per invocation, in one write per block.
        if [ -z "$header_done" ]; then
            [ -s "$RESULTS" ] || printf '# riskpipe benchmark results\n' >>"$RESULTS"
            block="$("$PY" "$BENCH_DIR/report.py" --header "$meta")"$'\n\n'"$block"
            header_done=1
        fi
        printf '\n%s\n' "$block" >>"$RESULTS"
        log "appended the $n-customer table to $RESULTS"
    fi
done
