#!/bin/bash
# Command-line behaviour that needs no server: help, version, and bad
# arguments, each with its documented exit status and a one-line message.
source "$(dirname "$0")/../lib.sh"

expect_exit 0 "--version exits 0" --version
if grep -Eq '^riskpipe [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"; then ok "--version prints the version"
else not_ok "--version prints the version" "$(cat "$OUT")"; fi
expect_exit 0 "--help exits 0" --help
grep -q "Exit status" "$OUT" && ok "--help documents exit codes" || not_ok "--help documents exit codes"
expect_exit 1 "no command is a usage error"

for cmd in db init generate load train predict run explain report models drift; do
    expect_exit 0 "$cmd --help exits 0" $cmd --help
    grep -q "Usage: riskpipe $cmd" "$OUT" && ok "$cmd --help shows its usage" \
        || not_ok "$cmd --help shows its usage" "$(head -3 "$OUT")"
done

expect_exit 1 "unknown command" frobnicate
expect_err 'unknown command "frobnicate"' "unknown command is named"
expect_exit 1 "unknown option" train --no-such-option
expect_err 'invalid option "--no-such-option"' "unknown option is named"
expect_exit 1 "unknown global option" --bogus train
expect_exit 1 "bad number" generate --customers abc
expect_err 'invalid value "abc" for --customers' "bad number names the option"
expect_exit 1 "an empty --csv is refused before anything is written" predict --csv ''
expect_err '--csv needs a file name' "the empty --csv message names the option"
expect_exit 1 "number out of range" generate --customers 0
expect_err 'must be between' "range error says the range"
expect_exit 1 "missing required option" generate
expect_exit 1 "bad C" train --C -1
expect_exit 1 "bad date" train --as-of 2024-13-45
expect_err 'expected a date YYYY-MM-DD' "bad date explained"
expect_exit 1 "bad feature set" train --features fancy
expect_exit 1 "bad class weight" train --class-weight heavy
expect_exit 1 "stray argument" init extra
expect_exit 1 "db without action" db
expect_exit 1 "db with unknown action" db explode
expect_exit 1 "load without a file" load
expect_err 'no file to load' "load without a file says so"
expect_exit 1 "load --replace needs the three files" load --replace --customers c.csv
expect_exit 1 "load --max-rejects must be a number" load --customers c.csv --max-rejects -1
expect_exit 1 "drift with a run id that is not a number" drift last

# An unreachable database: exit 3, one-line error, password masked.
expect_exit 3 "unreachable database" init --db "host=/nonexistent-dir port=1 dbname=x user=u password=s3cret"
expect_err '^riskpipe: error: could not connect' "unreachable database message"
if grep -q s3cret "$ERR"; then not_ok "password is masked" "$(cat "$ERR")"; else ok "password is masked"; fi
expect_exit 3 "unreachable database (URI)" init --db "postgresql://u:s3cret@/x?host=/nonexistent-dir&port=1"
if grep -q s3cret "$ERR"; then not_ok "URI password is masked" "$(cat "$ERR")"; else ok "URI password is masked"; fi

# Model files that cannot be used: exit 2 before any database work.
expect_exit 2 "missing model file" explain --model "$WORK/none.json"
expect_err 'none.json' "missing model file is named"
echo '{"format": "riskpipe-model"' > "$WORK/trunc.json"
expect_exit 2 "truncated model file" explain --model "$WORK/trunc.json"
echo 'hello' > "$WORK/notjson.json"
expect_exit 2 "model file that is not JSON" predict --model "$WORK/notjson.json" --db "host=/nonexistent-dir"
