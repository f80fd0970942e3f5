#!/usr/bin/env bash
# Accuracy parity on real easy-VQA: Apus (the configuration-file demo, Examples/easy-vqa/vqa.yaml)
# and the PyTorch reference (Benchmarks/vqa/pytorch_reference.py), same model and settings,
# ACCURACY_EPOCHS epochs (default 3), one after the other, 2 threads each.
# Writes Benchmarks/results/vqa-accuracy-<date>.md (vqa-accuracy-<N>-epochs-<date>.md for other
# epoch counts). Also reached as `Benchmarks/vqa/run.sh --accuracy`.
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs="${ACCURACY_EPOCHS:-3}"
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
./scripts/fetch-easy-vqa.sh
./Benchmarks/peers/install.sh torch
swift build -c release --product apus
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
sed -e "s/epochs: [0-9]*/epochs: $epochs/" -e "s|folder: runs/easy-vqa-config|folder: $work/run|" Examples/easy-vqa/vqa.yaml > "$work/vqa.yaml"
start=$(date +%s)
.build/release/apus train "$work/vqa.yaml" | tee "$work/apus.txt"
apus_seconds=$(( $(date +%s) - start ))
start=$(date +%s)
env -u OPENBLAS_CORETYPE "$peers_dir/torch/bin/python" Benchmarks/vqa/pytorch_reference.py --epochs "$epochs" | tee "$work/torch.txt"
torch_seconds=$(( $(date +%s) - start ))
suffix=$([ "$epochs" = 3 ] && echo "" || echo "-$epochs-epochs")
python3 - "$work/run/log.csv" "$work/torch.txt" "$apus_seconds" "$torch_seconds" "Benchmarks/results/vqa-accuracy$suffix-$(date +%Y-%m-%d).md" <<'PY'
import csv, datetime, json, sys
log, torch_out, apus_s, torch_s, out = sys.argv[1:]
apus = [float(r["val_accuracy"]) * 100 for r in csv.DictReader(open(log))]
torch = next(json.loads(l) for l in open(torch_out) if l.startswith("{"))
ref = [e["test_accuracy"] * (100 if e["test_accuracy"] <= 1 else 1) for e in torch["epochs"]]
lines = [f"# easy-VQA accuracy: Apus against the PyTorch reference ({datetime.date.today()})", "",
         "Model and settings of BENCHMARK.md (64×64, batch 32, Adam 1e-3, vocabulary from the training questions, "
         "questions padded to 12), trained one after the other on this machine, 2 threads each. Apus: "
         "`apus train Examples/easy-vqa/vqa.yaml` (PNG decoding during training, evaluation after each epoch); "
         f"PyTorch {torch.get('torch_version', '')}: `Benchmarks/vqa/pytorch_reference.py` (images decoded up front).", "",
         "| epoch | Apus test accuracy | PyTorch test accuracy | difference (points) |", "|---|---|---|---|"]
for i, (a, p) in enumerate(zip(apus, ref)):
    lines.append(f"| {i + 1} | {a:.2f} % | {p:.2f} % | {a - p:+.2f} |")
lines += ["", f"Wall time of the whole run: Apus {apus_s} s (train + evaluation + checkpoints), PyTorch {torch_s} s.",
          "Command: `Benchmarks/vqa/run.sh --accuracy` (or `Benchmarks/vqa/accuracy.sh`)."]
open(out + ".tmp", "w").write("\n".join(lines) + "\n")
import os; os.replace(out + ".tmp", out)
print("\n".join(lines))
PY
