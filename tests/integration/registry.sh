#!/bin/bash
# The model registry: list, show, activate (and roll back), export, and
# predict using the active model when no --model is given.
source "$(dirname "$0")/../lib.sh"
new_db registry
cd "$WORK"

expect_exit 0 "generate" generate --db "$DB" --customers 3000 --seed 11
expect_exit 0 "run registers and activates its model" run --db "$DB" --model a.json --csv a.csv
A=$(sql "SELECT model_id FROM riskpipe_models WHERE active")
eq "exactly one active model" "$(sql "SELECT count(*) FROM riskpipe_models WHERE active")" "1"
sleep 1   # model ids carry the second they were made
expect_exit 0 "train registers without activating" train --db "$DB" --model b.json --C 0.1
B=$(sql "SELECT model_id FROM riskpipe_models WHERE NOT active")
eq "train did not change the active model" "$(sql "SELECT model_id FROM riskpipe_models WHERE active")" "$A"

expect_exit 0 "models lists" models --db "$DB"
grep -q "^\* $A" "$OUT" && ok "list marks the active model" || not_ok "list marks the active model" "$(cat "$OUT")"
grep -q "$B" "$OUT" && ok "list shows every model" || not_ok "list shows every model" "$(cat "$OUT")"

expect_exit 0 "activate B" models --db "$DB" activate "$B"
expect_exit 0 "predict without --model" predict --db "$DB" --csv p.csv
eq "predict used the active model" "$(sql "SELECT DISTINCT model_id FROM predictions")" "$B"
expect_exit 0 "roll back to A" models --db "$DB" activate "$A"
expect_exit 0 "predict after rollback" predict --db "$DB" --csv p.csv
eq "predict used the rolled-back model" "$(sql "SELECT DISTINCT model_id FROM predictions")" "$A"

expect_exit 0 "show" models --db "$DB" show "$A"
grep -q "ROC AUC" "$OUT" && ok "show prints the evaluation" || not_ok "show prints the evaluation"
expect_exit 0 "export" models --db "$DB" export "$A" -o exported.json
eq "exported file equals the original model file" "$(md5sum < exported.json)" "$(md5sum < a.json)"
expect_exit 0 "the exported file loads" explain --model exported.json

expect_exit 2 "activate an unknown id" models --db "$DB" activate no-such-model
expect_err 'no model "no-such-model"' "unknown id is named"
eq "a failed activate changes nothing" "$(sql "SELECT model_id FROM riskpipe_models WHERE active")" "$A"
expect_exit 1 "export without -o" models --db "$DB" export "$A"
expect_exit 1 "unknown action" models --db "$DB" frob

eq "every scoring run is logged as ok" "$(sql "SELECT count(*) FROM riskpipe_runs WHERE status = 'ok'")" "3"
eq "runs carry their model" "$(sql "SELECT string_agg(model_id, ',' ORDER BY run_id) FROM riskpipe_runs")" "$A,$B,$A"
