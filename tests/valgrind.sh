#!/bin/bash
# valgrind.sh PROGRAM ARGS...: runs PROGRAM under memcheck.  `make
# valgrind` and `make valgrind-ci` put it in RISKPIPE_WRAP (every riskpipe
# process of the CLI and integration tests) and in UNIT_WRAP (the unit
# tests).
#
# Errors: any memcheck error, and definitely or indirectly lost memory
# (leaks that are only "possibly lost" or "still reachable" are not).  A
# process with errors exits 99 (tests that check the exit status fail on
# the spot), and with VALGRIND_LOG_DIR set (tests/run.sh sets it) the
# report goes to a file in VALGRIND_LOG_DIR, next to one that names the
# test and the command line, instead of stderr, so that stderr checks are
# not disturbed and errors in processes whose exit status a test does not
# look at are still counted: run.sh fails the run on any non-empty log.
#
# Speed: OpenBLAS picks its Haswell kernels on this machine, whose FMA
# instructions memcheck runs about ten times slower than the AVX kernels
# of OPENBLAS_CORETYPE=Sandybridge (run --C auto --cv 3 on 4000
# customers: 95 s against 10 s).  Other kernels round differently in the
# last bits, so the commands this script runs without valgrind (see
# again in tests/lib.sh) get the same kernels; no test compares bits
# between its direct "$RISKPIPE" calls and wrapped ones.  Prescott's kernels are out: their
# dsymv reads past the end of LAPACKE_dsyev's workspace (an OpenBLAS false
# positive).  Set OPENBLAS_CORETYPE yourself for other kernels, e.g.
# OPENBLAS_CORETYPE=Haswell for the ones riskpipe uses here otherwise.
set -u
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$(uname -m)" = x86_64 ]; then
    if grep -qw avx /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=Sandybridge
    else export OPENBLAS_CORETYPE=Nehalem; fi
fi

# A command a test marks as a repeat (tests/lib.sh, again) runs natively
# under `make valgrind-ci`; run.sh counts them.
if [ -n "${VALGRIND_AGAIN:-}" ] && [ -n "${VALGRIND_CI:-}" ]; then
    [ -n "${VALGRIND_LOG_DIR:-}" ] && printf '%s: %s\n' "${RISKPIPE_TEST_NAME:-?}" "$*" \
        > "$VALGRIND_LOG_DIR/$(date +%s%N).$$.again"
    exec "$@"
fi

opts=(-q --leak-check=full --show-leak-kinds=definite,indirect
      --errors-for-leak-kinds=definite,indirect --error-exitcode=99
      ${VALGRIND_OPTS_EXTRA:-})
if [ -n "${VALGRIND_LOG_DIR:-}" ]; then
    # ID.PID.cmd names the process that valgrind logs to ID.PID.log (exec
    # keeps the PID; ID keeps a reused PID from overwriting an older log).
    # Children that riskpipe forks log to ID.THEIRPID.log.
    id="$(date +%s%N)"
    printf '%s: %s\n' "${RISKPIPE_TEST_NAME:-?}" "$*" > "$VALGRIND_LOG_DIR/$id.$$.cmd"
    opts+=(--log-file="$VALGRIND_LOG_DIR/$id.%p.log")
fi
exec valgrind "${opts[@]}" "$@"
