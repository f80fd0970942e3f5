#!/usr/bin/env bash
# Breadth benchmark: one training iteration of four workloads (resnet18, transformer, mlp,
# lstm) for Apus (eager and graph) and PyTorch (eager and torch.compile), one process at a
# time, 2 threads each, in rounds: each round runs every framework and mode once, so a slow
# spell of the machine falls on all of them rather than on one. The report takes each one's
# median over the rounds; ratios are row ÷ PyTorch eager.
#
#   Benchmarks/breadth/run.sh
#
# Environment: BREADTH_WORKLOADS (default "resnet18 transformer mlp lstm"), BREADTH_PEER_MODES
# (default "eager compile"), BREADTH_ROUNDS (default 3), BREADTH_TIMEOUT (seconds per run,
# 1800), BREADTH_NO_BUILD=1 (use the apus-bench already in .build/release). The PyTorch models
# are in peer_step.py.
# Writes Benchmarks/results/breadth-<date>.md and .json (via Benchmarks/breadth/report.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}/torch/bin/python"
workloads="${BREADTH_WORKLOADS:-resnet18 transformer mlp lstm}"
peer_modes="${BREADTH_PEER_MODES:-eager compile}"
rounds="${BREADTH_ROUNDS:-3}"
limit="${BREADTH_TIMEOUT:-1800}"
dir="$(mktemp -d)"; errlog="$dir/stderr.log"
trap 'rm -rf "$dir"' EXIT

./Benchmarks/peers/install.sh torch
[ -n "${BREADTH_NO_BUILD:-}" ] || swift build -c release --product apus-bench

# measure FRAMEWORK MODE WORKLOAD OUT COMMAND...: one run; on failure OUT records the error.
measure() {
  local framework="$1" mode="$2" workload="$3" out="$4" status=0; shift 4
  echo "== round $round: $framework $mode, $workload" >&2
  timeout "$limit" "$@" 2> "$errlog" || status=$?
  if [ "$status" != 0 ] || [ ! -s "$out" ]; then
    python3 -c 'import json, sys; json.dump(dict(zip(("framework", "mode", "workload", "error"), sys.argv[2:])), open(sys.argv[1], "w"))' \
      "$out" "$framework" "$mode" "$workload" "exit status $status: $(tail -n 3 "$errlog" | tr '\n' ' ')"
  fi
}

for round in $(seq "$rounds"); do
  for w in $workloads; do
    for mode in eager graph; do
      out="$dir/r$round-apus-$mode-$w.json"
      measure apus "$mode" "$w" "$out" .build/release/apus-bench breadth --workload "$w" --mode "$mode" --json "$out"
    done
    for mode in $peer_modes; do
      out="$dir/r$round-pytorch-$mode-$w.json"
      measure pytorch "$mode" "$w" "$out" env -u OPENBLAS_CORETYPE "$python" Benchmarks/breadth/peer_step.py \
        --workload "$w" --mode "$mode" --threads 2 --out "$out"
    done
  done
done

date="$(date +%Y-%m-%d)"
python3 Benchmarks/breadth/report.py "$dir" --date "$date" \
  --out-md "Benchmarks/results/breadth-$date.md" --out-json "Benchmarks/results/breadth-$date.json"
