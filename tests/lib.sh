# Shared helpers for the shell tests (sourced).  Each check prints one TAP
# line.  RISKPIPE is the binary; RISKPIPE_WRAP may prefix it (valgrind).
set -u
: "${RISKPIPE:?RISKPIPE must name the riskpipe binary}"
TEST_NAME="$(basename "$0" .sh)"
export RISKPIPE_TEST_NAME="$TEST_NAME"   # for tests/valgrind.sh's reports
WORK="$(mktemp -d /tmp/riskpipe-t.XXXXXX)"; chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/out"; ERR="$WORK/err"

ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $1"; shift; [ $# -gt 0 ] && echo "#   $*"; return 0; }

# rp ARGS...: runs riskpipe with stdout in $OUT and stderr in $ERR; sets RC.
rp() {
    ${RISKPIPE_WRAP:-} "$RISKPIPE" "$@" >"$OUT" 2>"$ERR"; RC=$?
    return 0
}

# again CHECK ARGS...: runs CHECK (expect_exit, rp, ...) for a riskpipe
# command that repeats one this test has already run, through the same
# code (the same command again, or on other data of the same shape).
# Under `make valgrind-ci` (VALGRIND_CI=1) tests/valgrind.sh runs such a
# command without valgrind, with the same OpenBLAS kernels, so bit-for-bit
# comparisons still hold; `make valgrind` and every other run check it
# like any other.
again() { VALGRIND_AGAIN=1 "$@"; }

# expect_exit CODE NAME ARGS...: runs riskpipe and checks its exit status.
expect_exit() {
    local want="$1" name="$2"; shift 2
    rp "$@"
    if [ "$RC" = "$want" ]; then ok "$name"
    else not_ok "$name" "exit $RC, wanted $want; stderr: $(head -c 600 "$ERR")"; fi
}

# expect_err PATTERN NAME: checks that the last stderr matches an ERE.
expect_err() {
    if grep -Eq -- "$1" "$ERR"; then ok "$2"
    else not_ok "$2" "stderr does not match /$1/: $(head -c 600 "$ERR")"; fi
}

# check NAME COMMAND...: passes when the command exits 0.
check() {
    local name="$1"; shift
    if "$@" >"$WORK/check.out" 2>&1; then ok "$name"
    else not_ok "$name" "$(head -c 600 "$WORK/check.out")"; fi
}

# eq NAME GOT WANT
eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', wanted '$3'"; fi
}

# new_db NAME: creates a fresh database in the test cluster; sets DB.
new_db() {
    : "${RISKPIPE_TEST_DB:?integration tests need the test cluster}"
    local name="t_${1}"
    psql -X -q "$RISKPIPE_TEST_DB" -c "DROP DATABASE IF EXISTS $name" >/dev/null 2>&1
    psql -X -q "$RISKPIPE_TEST_DB" -c "CREATE DATABASE $name" >/dev/null
    DB="$(echo "$RISKPIPE_TEST_DB" | sed "s/dbname=[^ ]*/dbname=$name/")"
    export DB
}

# sql QUERY: one query against $DB, unaligned, tuples only.
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DB" -c "$1"; }

PYTHON=/usr/bin/python3
