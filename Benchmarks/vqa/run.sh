#!/usr/bin/env bash
# VQA training-iteration benchmark: Apus (eager and hybridized) next to PyTorch (eager and
# torch.compile), Keras 3 on TensorFlow, JAX + Flax and MXNet Gluon, one process at a time, on
# this machine. Ratios in the table are peer ÷ Apus hybridized.
#
#   Benchmarks/vqa/run.sh ["NAME=COMMAND"]...
#   Benchmarks/vqa/run.sh --accuracy      (accuracy parity on real easy-VQA: see accuracy.sh)
#
# Each extra "NAME=COMMAND" (e.g. "Apus graph=.build/release/apus-bench vqa-graph") is run like
# `apus-bench vqa`: it gets APUS_VQA_SIZES=<one size> and prints the same Markdown table.
# Apus and every extra command run once per size, so each peak RSS belongs to one size, as
# for the peers. Environment: VQA_SIZES (default "50 64 224"), VQA_ITERATIONS (20),
# VQA_WARMUP (5), VQA_FRAMEWORKS (default all peers), VQA_TIMEOUT (seconds per run, 1800),
# VQA_NO_BUILD=1 (use the apus-bench already in .build/release).
# Writes Benchmarks/results/vqa-<date>.md and .json (via Benchmarks/vqa/report.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = "--accuracy" ]; then exec ./Benchmarks/vqa/accuracy.sh; fi
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
sizes="${VQA_SIZES:-50 64 224}"
iterations="${VQA_ITERATIONS:-20}"
warmup="${VQA_WARMUP:-5}"
frameworks="${VQA_FRAMEWORKS:-pytorch pytorch-compile keras jax mxnet}"
limit="${VQA_TIMEOUT:-1800}"
results="$(mktemp)"; errlog="$(mktemp)"
trap 'rm -f "$results" "$errlog"' EXIT

# Install only the peers asked for (pytorch and pytorch-compile share torch, keras is tensorflow).
peers=$(for f in $frameworks; do case "$f" in pytorch|pytorch-compile) echo torch ;; keras) echo tensorflow ;; *) echo "$f" ;; esac; done | sort -u)
[ -z "$peers" ] || ./Benchmarks/peers/install.sh $peers
[ -n "${VQA_NO_BUILD:-}" ] || swift build -c release --product apus-bench

# failure FRAMEWORK SIZE REASON: one JSON failure line.
failure() {
  python3 -c 'import json, sys; print(json.dumps({"framework": sys.argv[1], "size": int(sys.argv[2] or 0) or None, "error": sys.argv[3]}))' "$@" >> "$results"
}

# apus_like NAME VERSION COMMAND...: an apus-bench style command, one process per size;
# an empty VERSION is this checkout's commit.
apus_like() {
  local name="$1" version="$2"; shift 2
  for size in $sizes; do
    echo "== $name, ${size}×${size}" >&2
    if out=$(APUS_VQA_SIZES="$size" timeout "$limit" "$@" 2> "$errlog"); then
      python3 Benchmarks/vqa/report.py apus "$name" ${version:+"$version"} <<< "$out" | tee -a "$results"
    else
      failure "$name" "$size" "exit $?: $(tail -n 3 "$errlog")"
    fi
  done
}

apus_like "Apus eager" "" .build/release/apus-bench vqa
apus_like "Apus hybridized" "" env APUS_HYBRIDIZE=1 .build/release/apus-bench vqa
for extra in "$@"; do
  apus_like "${extra%%=*}" "command: ${extra#*=}" bash -c "${extra#*=}"
done

for framework in $frameworks; do
  case "$framework" in
    pytorch|pytorch-compile) peer=torch ;;
    keras) peer=tensorflow ;;
    *) peer="$framework" ;;
  esac
  if [ -f "$peers_dir/$peer.failed" ] || [ ! -x "$peers_dir/$peer/bin/python" ]; then
    reason=$(grep -m1 -E 'ERROR|Error' "$peers_dir/$peer.failed" 2>/dev/null || echo "not installed")
    failure "$framework" "" "install failed: $reason"
    continue
  fi
  for size in $sizes; do
    echo "== $framework, ${size}×${size}" >&2
    if ! env -u OPENBLAS_CORETYPE timeout "$limit" "$peers_dir/$peer/bin/python" Benchmarks/vqa/peer_step.py \
        --framework "$framework" --size "$size" --iterations "$iterations" --warmup "$warmup" \
        2> "$errlog" | tee -a "$results"; then
      failure "$framework" "$size" "$(tail -n 3 "$errlog")"
    fi
  done
done

python3 Benchmarks/vqa/report.py write "$results" "Benchmarks/results/vqa-$(date +%Y-%m-%d)" --baseline "Apus hybridized"
