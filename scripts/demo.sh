#!/bin/bash
# `make demo`: the whole pipeline on the embedded PostgreSQL with 100k
# generated customers, then where to find the results.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${DEMO_CUSTOMERS:-100000}"
RP=./riskpipe
export RISKPIPE_HOME="${RISKPIPE_HOME:-$PWD/.riskpipe}"

# As root the cluster is run by the postgres account, which must be able
# to reach RISKPIPE_HOME; a folder under /root is private to root.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$(dirname "$RISKPIPE_HOME")" 2>/dev/null; then
    echo "riskpipe: $(dirname "$RISKPIPE_HOME") is not reachable by the postgres account;" \
         "using RISKPIPE_HOME=/var/tmp/riskpipe-demo" >&2
    export RISKPIPE_HOME=/var/tmp/riskpipe-demo
fi

$RP db start
$RP init
$RP generate --customers "$N" --seed 42 --truth demo-truth.csv
$RP run --model riskpipe-model.json --csv predictions.csv
url="$($RP db url)"
cat <<EOT

Done.  Results:
  predictions table   $url  (table public.predictions)
  predictions CSV     $PWD/predictions.csv
  model file          $PWD/riskpipe-model.json   (riskpipe explain --model riskpipe-model.json)
  planted truth       $PWD/demo-truth.csv

Look at the riskiest customers:
  psql "$url" -c "SELECT * FROM predictions ORDER BY probability DESC LIMIT 10"

Stop the embedded database with:  RISKPIPE_HOME=$RISKPIPE_HOME ./riskpipe db stop
EOT
