#!/usr/bin/env bash
# Distributed benchmarks (issue 20): Apus' all-reduce next to a raw MPI_Allreduce loop in the
# same job, 1–100 MB on loopback, and one easy-VQA training step on 1 process and on 2 (each
# rank one compute thread on this 2-core machine), with the communication the overlap hides.
# Writes Benchmarks/results/distributed-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product apus-distributed-check
binary=.build/release/apus-distributed-check
mpirun=(mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none)
out="Benchmarks/results/distributed-$(date +%Y-%m-%d).md"
{
    echo "# Distributed training on this machine ($(date +%Y-%m-%d))"
    echo
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), Open MPI $(mpirun --version | head -1 | awk '{print $NF}'), shared memory (vader) between 2 ranks on one machine."
    echo "Command: \`make bench-distributed\` (Benchmarks/distributed/run.sh; the code is Sources/ApusDistributedCheck/DistributedBenchmark.swift)."
    echo
    echo "## All-reduce (sum, Float32), 2 ranks, median of 21 (up to 4 MB) or 7 runs, alternating Apus and raw and which goes first"
    echo
    "${mpirun[@]}" -np 2 -x APUS_NUM_THREADS=1 "$binary" bench | grep '^|'
    echo
    echo "## One easy-VQA training step"
    echo
    APUS_NUM_THREADS=2 "$binary" bench | grep -v ' ok$'
    echo
    APUS_NUM_THREADS=1 "$binary" bench | grep -v ' ok$'
    echo
    "${mpirun[@]}" -np 2 -x APUS_NUM_THREADS=1 "$binary" bench | grep -v '^|' | grep -v ' ok$'
} > "$out"
cat "$out"
echo "wrote $out"
