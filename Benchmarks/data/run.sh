#!/usr/bin/env bash
# Data loading: Apus DataLoader vs PyTorch DataLoader + Pillow on the real easy-VQA training set,
# measured in this run. Writes Benchmarks/results/data-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
./scripts/fetch-easy-vqa.sh
./Benchmarks/peers/install.sh torch
"$peers_dir/torch/bin/python" -m pip install --quiet pillow
peers_json="$(mktemp)"
"$peers_dir/torch/bin/python" Benchmarks/data/peers_loader.py > "$peers_json"
swift build -c release --product apus-bench
out="Benchmarks/results/data-$(date +%Y-%m-%d).md"
.build/release/apus-bench data --peers "$peers_json" --output "$out"
rm -f "$peers_json"
echo "wrote $out"
