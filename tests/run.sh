#!/bin/bash
# Runs the whole suite and prints "N passed, N failed" as its last line.
#   unit tests   build/tests/test_*   (cmocka, TAP output)
#   cli tests    tests/cli/*.sh       (no server needed)
#   integration  tests/integration/*.sh against one throwaway cluster
# Every test prints TAP lines ("ok - name" / "not ok - name"); this script
# counts them.  Environment: RISKPIPE (binary), UNIT_DIR, RISKPIPE_WRAP
# (a prefix for every riskpipe process of the cli and integration tests,
# e.g. tests/valgrind.sh), UNIT_WRAP (the same for the unit tests), TESTS
# (a filter: only tests whose name contains it), SKIP_TESTS (names, space
# separated, of tests not to run).
# Valgrind: tests/valgrind.sh writes each process's report to
# $VALGRIND_LOG_DIR (a folder of this run's); when it ran at all, one more
# TAP line at the end says how many processes it checked, and every
# process with an error or a leak is a "not ok" with its report.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
export RISKPIPE="${RISKPIPE:-$here/../riskpipe}"
UNIT_DIR="${UNIT_DIR:-$here/../build/tests}"
export TOOL_DIR="${TOOL_DIR:-$UNIT_DIR/tools}"
filter="${TESTS:-}"
skip=" ${SKIP_TESTS:-} "
pass=0; fail=0
log="$(mktemp)"
# The throwaway cluster (below) and valgrind's reports live here.  The
# folder must be traversable by the postgres account when we run as root.
tmp="$(mktemp -d /tmp/riskpipe-test.XXXXXX)"; chmod 755 "$tmp"
export RISKPIPE_TEST_HOME="$tmp/pg"
cleanup() { RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" db stop >/dev/null 2>&1; rm -rf "$tmp" "$log"; }
trap cleanup EXIT
export VALGRIND_LOG_DIR="$tmp/valgrind"; mkdir -p "$VALGRIND_LOG_DIR"

# selected NAME: the test NAME passes TESTS and SKIP_TESTS.
selected() {
    [ -n "$filter" ] && [[ "$1" != *"$filter"* ]] && return 1
    [[ "$skip" == *" $1 "* ]] && return 1
    return 0
}

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
    selected "$name" || continue
    RISKPIPE_TEST_NAME="$name" CMOCKA_MESSAGE_OUTPUT=TAP ${UNIT_WRAP:-} "$t" >"$log" 2>&1; rc=$?
    count "$log" "$name" "$rc"
done

for t in "$here"/cli/*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    selected "$name" || continue
    bash "$t" >"$log" 2>&1; rc=$?
    count "$log" "cli/$name" "$rc"
done

# One throwaway cluster for all integration tests; each test makes its own
# database in it.
if ls "$here"/integration/*.sh >/dev/null 2>&1; then
    if RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" -q db start >"$log" 2>&1; then
        export RISKPIPE_TEST_DB="$(RISKPIPE_HOME="$RISKPIPE_TEST_HOME" "$RISKPIPE" db url)"
        for t in "$here"/integration/*.sh; do
            name=$(basename "$t" .sh)
            selected "$name" || continue
            bash "$t" >"$log" 2>&1; rc=$?
            count "$log" "integration/$name" "$rc"
        done
    else
        echo "not ok - could not start the test cluster"; sed 's/^/    /' "$log"
        fail=$((fail + 1))
    fi
fi

# valgrind's verdict on every process tests/valgrind.sh ran: a non-empty
# ID.PID.log (ID.PID.cmd names its test and command line) means errors or
# leaks.  Processes that riskpipe forks (db start) have a log but no .cmd.
if ls "$VALGRIND_LOG_DIR"/*.cmd >/dev/null 2>&1; then
    nproc=$(ls "$VALGRIND_LOG_DIR"/*.cmd | wc -l); nbad=0
    : > "$log"
    for f in "$VALGRIND_LOG_DIR"/*.log; do
        [ -s "$f" ] || continue
        nbad=$((nbad + 1)); c="${f%.log}.cmd"
        [ -f "$c" ] || c=$(ls "${f%.*.log}".*.cmd 2>/dev/null | head -1)
        echo "not ok - valgrind: $([ "$c" = "${f%.log}.cmd" ] || echo "a child of ")$(head -c 400 "$c" 2>/dev/null | tr '\n' ' ')" >>"$log"
        head -100 "$f" | sed 's/^/#   /' >>"$log"
    done
    [ "$nbad" = 0 ] && echo "ok - valgrind: $nproc processes, no memcheck errors, no definite or indirect leaks" >>"$log"
    echo "# valgrind: $nproc processes checked, $nbad with errors or leaks$(n=$(ls "$VALGRIND_LOG_DIR" | grep -c '\.again$'); [ "$n" = 0 ] || echo "; $n repeated commands run without valgrind (VALGRIND_CI)")" >>"$log"
    count "$log" "valgrind" 0
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
