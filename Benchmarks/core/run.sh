#!/usr/bin/env bash
# Core micro-benchmarks: Apus next to numpy (sgemm), PyTorch (conv2d) and memcpy (bandwidth),
# all measured in this run on this machine. Writes Benchmarks/results/core-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
./Benchmarks/peers/install.sh numpy torch
python="$peers_dir/torch/bin/python"
[ -x "$python" ] || python="$peers_dir/numpy/bin/python"
peers_json="$(mktemp)"
# numpy's bundled OpenBLAS picks slower kernels when these are set (see peers.py).
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" Benchmarks/core/peers.py > "$peers_json"
swift build -c release --product apus-bench
out="Benchmarks/results/core-$(date +%Y-%m-%d).md"
.build/release/apus-bench core --peers "$peers_json" --output "$out"
rm -f "$peers_json"
echo "wrote $out"
