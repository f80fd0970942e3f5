#!/usr/bin/env bash
# Graph mode against eager mode on the reference VQA model (batch 32, 64×64 and 224×224):
#  - time per iteration and activation memory with the two modes' steps interleaved in one
#    process (both see the same machine load), plus the graph's arena size;
#  - each mode's process peak RSS, one process per mode and size.
# Writes Benchmarks/results/graph-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="${GRAPH_SIZES:-64 224}"
[ -n "${VQA_NO_BUILD:-}" ] || swift build -c release --product apus-bench
out="Benchmarks/results/graph-$(date +%Y-%m-%d).md"
{
  APUS_VQA_COMPARE=1 APUS_VQA_SIZES="${sizes// /,}" .build/release/apus-bench vqa
  echo
  echo "Process peak RSS, one process per mode and size (s/iter from that process too):"
  echo
  echo "| mode | image size | s/iter | peak RSS MiB | activation MiB | arena MiB |"
  echo "|---|---|---|---|---|---|"
  for mode in 0 1; do
    for size in $sizes; do
      APUS_HYBRIDIZE=$mode APUS_VQA_SIZES=$size .build/release/apus-bench vqa | tail -n 1 \
        | sed "s/^|/| $([ $mode = 1 ] && echo graph || echo eager) |/"
    done
  done
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(git rev-parse --short HEAD)."
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
