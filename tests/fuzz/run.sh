#!/bin/bash
# Runs every libFuzzer target in DIR (fuzz_*) for SECONDS each, one after
# the other, and prints one line per target: executions, coverage (cov:
# edges, ft: features) and the corpus size.  Exit 1 when a target found
# something (the input is kept under DIR/findings/).
#   usage: tests/fuzz/run.sh DIR SECONDS [TARGET...]
# Each target starts from its seed corpus tests/fuzz/corpus/NAME (read
# only) plus the inputs earlier runs kept in DIR/corpus/NAME, and a
# dictionary tests/fuzz/NAME.dict when there is one.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(cd "${1:?usage: run.sh DIR SECONDS [TARGET...]}" && pwd)"
secs="${2:?usage: run.sh DIR SECONDS [TARGET...]}"
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && for b in "$dir"/fuzz_*; do
    [ -x "$b" ] && [ -f "$b" ] && targets+=("$(basename "$b" | sed 's/^fuzz_//')")
done
mkdir -p "$dir/findings" "$dir/logs"
failed=0
for t in "${targets[@]}"; do
    bin="$dir/fuzz_$t"; log="$dir/logs/$t.log"
    mkdir -p "$dir/corpus/$t"
    dict=(); [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    # -rss_limit_mb: the model loader reads files up to 256 MB by design,
    # but a fuzz input stays far below; -timeout catches hangs.
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$dir/findings/$t-" "${dict[@]}" \
        "$dir/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
    if [ "$rc" = 0 ]; then
        printf 'fuzz %-9s %ss: %s executions, cov: %s ft: %s corp: %s, no findings\n' \
            "$t" "$secs" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    else
        failed=1
        printf 'fuzz %-9s FOUND A PROBLEM (exit %s) after %s executions; log %s\n' \
            "$t" "$rc" "${execs:-?}" "$log"
        grep -E 'ERROR|SUMMARY|runtime error|^[a-z ]+: ' "$log" | head -5 | sed 's/^/    /'
        ls "$dir"/findings/"$t"-* 2>/dev/null | sed 's/^/    input: /'
    fi
done
exit $failed
