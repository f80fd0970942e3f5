#!/usr/bin/env bash
# The whole test suite (swift-testing) under AddressSanitizer (with LeakSanitizer) and under
# ThreadSanitizer, each built in its own folder (.build-asan, .build-tsan) so `.build` is left
# alone. SwiftPM hands `--sanitize` to clang as well, so the C targets (CApusKernels,
# CApusCodecs) are instrumented too; the `apus` binary that the CLI tests run is built the same
# way, so its reports fail those tests.
#
#   scripts/sanitize.sh           # both, ASan first (what `make sanitize` runs)
#   scripts/sanitize.sh asan      # one of them
#   scripts/sanitize.sh tsan
#
# Prints one summary line per sanitizer and exits non-zero when a build fails, a test fails or
# a sanitizer reports anything. The full output of a run is in .build-<name>/sanitize.log.
# On 2 cores: ASan ≈ 2 min to build and 2 min to test; TSan ≈ 2 min to build and 4–6 min to test.
#
# What TSan must see run concurrently, and does: the CPU worker pool
# (Sources/Apus/Backends/CPU/WorkerPool.swift, through CPUThreads.forParts / forChunks and the
# split GEMMs) and the DataLoader's prefetching worker threads (LoaderTests).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

sanitizers=("$@")
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(asan tsan)
for name in "${sanitizers[@]}"; do
    case "$name" in
        asan|tsan) ;;
        *) echo "usage: $0 [asan] [tsan]   (default: both)" >&2; exit 64 ;;
    esac
done

# The worker pool needs a second thread to run anything concurrently, even on a 1-core machine.
if [ -z "${APUS_NUM_THREADS:-}" ] && [ "$(nproc)" -lt 2 ]; then export APUS_NUM_THREADS=2; fi

summaries=()
status=0
for name in "${sanitizers[@]}"; do
    case "$name" in
        asan)
            sanitize=address
            # Stop at the first memory error: what follows a corrupted heap is noise. Leak
            # checking stays on; lsan.supp holds the one leak that is the toolchain's own
            # (swift-corelibs-foundation's Process.run), explained there.
            export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
            export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
            ;;
        tsan)
            sanitize=thread
            # Report every race of the run rather than only the first (one TSan run of the
            # suite takes minutes); TSan still exits non-zero (66) at the end when it reported.
            # No suppressions: OpenBLAS runs single-threaded inside Apus' own pool
            # (BLASSetup), and TSan reports nothing from it.
            export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
            ;;
    esac
    buildPath=".build-$name"
    mkdir -p "$buildPath"
    log="$buildPath/sanitize.log"
    echo "== $name: building into $buildPath"
    start=$SECONDS
    swift build --build-tests --sanitize="$sanitize" --build-path "$buildPath" 2>&1 | tee "$log"
    buildStatus=${PIPESTATUS[0]}
    buildTime=$((SECONDS - start))
    if [ "$buildStatus" -ne 0 ]; then
        summaries+=("$name: FAILED — the build failed (exit $buildStatus) after ${buildTime} s; see $log")
        status=1
        continue
    fi
    echo "== $name: running the tests"
    start=$SECONDS
    swift test --skip-build --sanitize="$sanitize" --build-path "$buildPath" --disable-xctest --no-parallel 2>&1 | tee -a "$log"
    testStatus=${PIPESTATUS[0]}
    testTime=$((SECONDS - start))
    # Reports of the test process and of the `apus` processes that the CLI tests start.
    reports=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer" "$log")
    result=$(grep -oE "Test run with [0-9]+ tests? in [0-9]+ suites? (passed|failed) after [0-9.]+ seconds( with [0-9]+ issues?)?" "$log" | tail -n 1)
    [ -z "$result" ] && result="no test summary (the test process stopped early)"
    times="build ${buildTime} s, tests ${testTime} s"
    if [ "$testStatus" -eq 0 ] && [ "$reports" -eq 0 ]; then
        summaries+=("$name: ok — $result; no sanitizer reports ($times)")
    else
        summaries+=("$name: FAILED — $result; $reports sanitizer report(s), exit $testStatus ($times); see $log")
        status=1
    fi
done

echo
for line in "${summaries[@]}"; do echo "$line"; done
exit $status
