#!/usr/bin/env bash
# Fuzzes every reader of outside input (safetensors, optimizer state, state.json, YAML configs,
# easy-VQA questions, IDX, CIFAR, PNG, JPEG, gzip, vocabularies) with libFuzzer and
# AddressSanitizer, one target at a time, from the seeds in Fuzz/corpus/<target>/ (see Fuzz/README.md).
#
#   scripts/fuzz.sh [target ...]    fuzz the targets named (default: all), then print a summary
#   scripts/fuzz.sh --seeds         rewrite Fuzz/corpus/ from the harness's seed generators
#
# Environment: FUZZ_RUNS inputs per target (default 1000000), FUZZ_TIMEOUT seconds one input
# may take before it counts as a hang (10), FUZZ_MEMORY_MB the RSS and single-allocation limit
# (2048), FUZZ_MAX_LEN the largest input in bytes (default: libFuzzer's choice from the seeds),
# FUZZ_WORK where new corpus entries, crash inputs and logs go (default: a new folder in /tmp).
# Exits 1 when any target crashed, hung or ran out of memory.
set -uo pipefail
cd "$(cd "$(dirname "$0")/.." && pwd -P)"   # the path SwiftPM saw before, or it rebuilds everything
./scripts/install-system-deps.sh || exit 1

# Release mode (overflow checks stay on) with AddressSanitizer and libFuzzer's coverage.
# SwiftPM's --sanitize flags instrument the C code and keep libFuzzer's `main` (SwiftPM renames
# executables' entry points otherwise); swiftc keeps only the last -sanitize= it is given, so
# the one naming both comes last for the Swift code.
build=.build-fuzz
APUS_FUZZ=1 nice -n 10 swift build --build-path "$build" -c release --product apus-fuzz \
    --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address || exit 1
binary="$build/release/apus-fuzz"

if [ "${1:-}" = "--seeds" ]; then
    rm -rf Fuzz/corpus
    # (Foundation.Process, which runs gzip for some seeds, leaks a little: not our concern here.)
    ASAN_OPTIONS=detect_leaks=0 APUS_FUZZ_WRITE_SEEDS=Fuzz/corpus "$binary"
    exit
fi

runs=${FUZZ_RUNS:-1000000} timeout=${FUZZ_TIMEOUT:-10} memory=${FUZZ_MEMORY_MB:-2048}
work=${FUZZ_WORK:-$(mktemp -d /tmp/apus-fuzz.XXXXXX)}
if [ $# -gt 0 ]; then targets=("$@"); else targets=($(ls Fuzz/corpus)); fi
failed=0
summary=$(printf '%-16s %10s %8s %8s %8s %7s %7s %7s' target inputs seconds exec/s peakMB crashes hangs oom)
for target in "${targets[@]}"; do
    [ -d "Fuzz/corpus/$target" ] || { echo "no seeds for target '$target' in Fuzz/corpus/"; exit 2; }
    mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
    log="$work/$target/log"
    echo "== $target: $runs inputs (log: $log)"
    flags=(-runs="$runs" -timeout="$timeout" -rss_limit_mb="$memory" -malloc_limit_mb="$memory"
           -print_final_stats=1 -artifact_prefix="$work/$target/artifacts/")
    [ -n "${FUZZ_MAX_LEN:-}" ] && flags+=(-max_len="$FUZZ_MAX_LEN")
    start=$(date +%s)
    # New corpus entries go to the first folder (temporary); the committed seeds are only read.
    # SWIFT_BACKTRACE off: libFuzzer reports a Swift trap itself (the backtracer's own memory
    # reads would show up as an AddressSanitizer error of their own).
    APUS_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no nice -n 10 "$binary" "${flags[@]}" "$work/$target/corpus" "Fuzz/corpus/$target" > "$log" 2>&1
    status=$?
    seconds=$(( $(date +%s) - start ))
    inputs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    peak=$(awk '/stat::peak_rss_mb/ {print $2}' "$log" | tail -1)
    crashes=$(find "$work/$target/artifacts" -name 'crash-*' -o -name 'leak-*' -o -name 'deadly-*' | wc -l)
    hangs=$(find "$work/$target/artifacts" -name 'timeout-*' | wc -l)
    ooms=$(find "$work/$target/artifacts" -name 'oom-*' | wc -l)
    if [ "$status" -ne 0 ] && [ $((crashes + hangs + ooms)) -eq 0 ]; then crashes=1; fi   # died without an artifact
    if [ $((crashes + hangs + ooms)) -gt 0 ]; then
        failed=1
        grep -m2 -E "ERROR: |Swift runtime failure|Fatal error" "$log" | sed 's/^/   /'
        ls "$work/$target/artifacts" | sed "s|^|   input: $work/$target/artifacts/|"
    fi
    summary+=$'\n'$(printf '%-16s %10s %8s %8s %8s %7s %7s %7s' "$target" "${inputs:-?}" "$seconds" \
        "$(( ${inputs:-0} / (seconds > 0 ? seconds : 1) ))" "${peak:-?}" "$crashes" "$hangs" "$ooms")
done
echo
echo "$summary"
echo "(work folder: $work)"
exit $failed
