#!/bin/bash
# Runs the whole suite and prints "N passed, N failed" as its last line.
#   unit tests   build/tests/test_*   (cmocka, TAP output)
#   cli tests    tests/cli/*.sh       (no server needed)
#   integration  tests/integration/*.sh against one throwaway cluster
# Every test prints TAP lines ("ok - name" / "not ok - name"); this script
# counts them.  Environment: RISKPIPE (binary), UNIT_DIR, RISKPIPE_WRAP
# (e.g. valgrind ...), TESTS (a filter: only scripts whose name contains it).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
export RISKPIPE="${RISKPIPE:-$here/../riskpipe}"
UNIT_DIR="${UNIT_DIR:-$here/../build/tests}"
export TOOL_DIR="${TOOL_DIR:-$UNIT_DIR/tools}"
filter="${TESTS:-}"
pass=0; fail=0
log="$(mktemp)"

count() {   # count TAP lines of one test program's output (file $1), named $2
    local p f
    p=$(grep -c '^ok ' "$1"); f=$(grep -c '^not ok ' "$1")
    grep -E '^(not ok|# )' "$1" | sed "s|^|[$2] |"
    if [ "$3" != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $2 exited with status $3"; tail -20 "$1" | sed 's/^/    /'
        f=1
    fi
    pass=$((pass + p)); fail=$((fail + f))
}

for t in "$UNIT_DIR"/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue;; esac
    name=$(basename "$t")
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1; rc=$?
    count "$log" "$name" "$rc"
done

for t in "$here"/cli/*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
    bash "$t" >"$log" 2>&1; rc=$?
    count "$log" "cli/$name" "$rc"
done

# One throwaway cluster for all integration tests; each test makes its own
# database in it.  The folder must be traversable by the postgres account
# when we run as root.
tmp="$(mktemp -d /tmp/riskpipe-test.XXXXXX)"; chmod 755 "$tmp"
export RISKPIPE_TEST_HOME="$tmp/pg"
cleanup() { RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" db stop >/dev/null 2>&1; rm -rf "$tmp" "$log"; }
trap cleanup EXIT
if ls "$here"/integration/*.sh >/dev/null 2>&1; then
    if RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" -q db start >"$log" 2>&1; then
        export RISKPIPE_TEST_DB="$(RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" db url)"
        for t in "$here"/integration/*.sh; do
            name=$(basename "$t" .sh)
            [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
            bash "$t" >"$log" 2>&1; rc=$?
            count "$log" "integration/$name" "$rc"
        done
    else
        echo "not ok - could not start the test cluster"; sed 's/^/    /' "$log"
        fail=$((fail + 1))
    fi
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
