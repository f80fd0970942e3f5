#!/usr/bin/env bash
# nn benchmarks: Apus LSTM and conv stack next to PyTorch eager, measured in this run.
# Writes Benchmarks/results/nn-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
./Benchmarks/peers/install.sh torch
peers_json="$(mktemp)"
"$peers_dir/torch/bin/python" Benchmarks/nn/peers.py > "$peers_json"
swift build -c release --product apus-bench
out="Benchmarks/results/nn-$(date +%Y-%m-%d).md"
.build/release/apus-bench nn --peers "$peers_json" --output "$out"
rm -f "$peers_json"
echo "wrote $out"
