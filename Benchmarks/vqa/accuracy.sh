#!/usr/bin/env bash
# Accuracy parity on real easy-VQA: Apus against the PyTorch reference (Benchmarks/vqa/pytorch_reference.py),
# same model and settings, ACCURACY_EPOCHS epochs (default 3), one run after the other:
#  1. PyTorch, 2 threads; it first writes its starting weights and every epoch's example order;
#  2. Apus from that same start (`apus-bench vqa-parity`, hybridized): any difference to 1 comes from
#     the arithmetic alone; the step losses show how closely the two runs track each other;
#  3. PyTorch again from the same start on 1 thread: the reference's own reproducibility (only the
#     summation order changes), the yardstick for the difference between 1 and 2;
#  4. Apus as a user runs it: `apus train Examples/easy-vqa/vqa.yaml` (its own initialisation and shuffling).
# ACCURACY_SEED (default 0) seeds PyTorch's start and Apus's own. Writes
# Benchmarks/results/vqa-accuracy-<date>.md (-<N>-epochs for other epoch counts, -seed<S> for
# other seeds). Also reached as `Benchmarks/vqa/run.sh --accuracy`.
#
# ACCURACY_SEEDS="0 1 2 3 4" instead repeats 1, 2 and 4 from each of those seeds (no control run)
# and writes Benchmarks/results/vqa-accuracy-seeds-<date>.md: every seed's accuracies and their
# means, because one run's accuracy after 3 epochs swings by several points with the summation
# order alone (run 3 shows it).
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs="${ACCURACY_EPOCHS:-3}"
seeds="${ACCURACY_SEEDS:-${ACCURACY_SEED:-0}}"
peers_dir="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
./scripts/fetch-easy-vqa.sh
./Benchmarks/peers/install.sh torch
swift build -c release --product apus && swift build -c release --product apus-bench
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
torch() { env -u OPENBLAS_CORETYPE "$peers_dir/torch/bin/python" Benchmarks/vqa/pytorch_reference.py --epochs "$epochs" --seed "$seed" "$@"; }
timed() { local start=$SECONDS; "$@"; echo $((SECONDS - start)) >> "$run/seconds"; }

for seed in $seeds; do
  run="$work/seed$seed"; mkdir -p "$run"
  timed torch --export-start "$run/start" | tee "$run/torch.txt"
  timed .build/release/apus-bench vqa-parity --start "$run/start" | tee "$run/parity.txt"
  if [ "$seeds" = "$seed" ]; then timed torch --threads 1 | tee "$run/torch-1-thread.txt"; fi
  sed -e "s/epochs: [0-9]*/epochs: $epochs/" -e "s/seed: [0-9]*/seed: $seed/" -e "s|folder: runs/easy-vqa-config|folder: $run/run|" Examples/easy-vqa/vqa.yaml > "$run/vqa.yaml"
  timed .build/release/apus train "$run/vqa.yaml" --overwrite | tee "$run/apus.txt"
done

date="$(date +%Y-%m-%d)"
if [ "$seeds" != "${seeds%% *}" ]; then
  python3 Benchmarks/vqa/accuracy_seeds.py "$work" "Benchmarks/results/vqa-accuracy-seeds$([ "$epochs" = 3 ] || echo "-$epochs-epochs")-$date.md"
  exit
fi
work="$work/seed$seeds"; seed="$seeds"
suffix=$([ "$epochs" = 3 ] && echo "" || echo "-$epochs-epochs")$([ "$seed" = 0 ] && echo "" || echo "-seed$seed")
python3 - "$work" "Benchmarks/results/vqa-accuracy$suffix-$date.md" <<'PY'
import csv, datetime, json, os, sys
work, out = sys.argv[1:]
def run(name):
    return next(json.loads(l) for l in open(os.path.join(work, name)) if l.startswith("{"))
torch, parity, control = run("torch.txt"), run("parity.txt"), run("torch-1-thread.txt")
own = [float(r["val_accuracy"]) * 100 for r in csv.DictReader(open(os.path.join(work, "run", "log.csv")))]
seconds = [int(s) for s in open(os.path.join(work, "seconds"))]
acc = lambda r: [e["test_accuracy"] * 100 for e in r["epochs"]]
t, p, c = acc(torch), acc(parity), acc(control)
lines = [f"# easy-VQA accuracy: Apus against the PyTorch reference ({datetime.date.today()})", "",
         "Model and settings of BENCHMARK.md (64×64, batch 32, Adam 1e-3, vocabulary from the training questions, "
         "questions padded to 12 before the words), one run after the other on this machine. PyTorch "
         f"{torch.get('torch_version', '')}: `Benchmarks/vqa/pytorch_reference.py`. Command: `Benchmarks/vqa/run.sh --accuracy`.", "",
         f"- **PyTorch**: the reference, 2 threads, seed {torch.get('seed', 0)}. Before training it writes its initial weights and every epoch's example order.",
         "- **Apus, same start**: `apus-bench vqa-parity` (hybridized) from those weights and that order: what differs from PyTorch is the arithmetic alone.",
         "- **PyTorch, 1 thread**: the reference again from the same start, only its summation order changed: its own reproducibility.",
         f"- **Apus, own start**: `apus train Examples/easy-vqa/vqa.yaml`, as a user runs it (Apus's initialisation and shuffling, seed {torch.get('seed', 0)}).", "",
         "| epoch | PyTorch | Apus, same start | difference | PyTorch, 1 thread | difference | Apus, own start |", "|---|---|---|---|---|---|---|"]
for i in range(len(t)):
    lines.append(f"| {i + 1} | {t[i]:.2f} % | {p[i]:.2f} % | {p[i] - t[i]:+.2f} | {c[i]:.2f} % | {c[i] - t[i]:+.2f} | {own[i]:.2f} % |")
def divergence(a, b, n):
    d = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a[:n], b[:n])]
    return max(d)
tl, pl, cl = torch["step_losses"], parity["step_losses"], control["step_losses"]
lines += ["", "How closely each run tracks the PyTorch reference step by step (largest relative difference of the training loss over the first n steps):", "",
          "| steps | Apus, same start | PyTorch, 1 thread |", "|---|---|---|"]
for n in (1, 10, 50, 100, 300, len(tl)):
    lines.append(f"| {n} | {divergence(pl, tl, n):.2e} | {divergence(cl, tl, n):.2e} |")
mean = lambda xs: sum(xs) / len(xs)
lines += ["", "Mean training loss per epoch: " + "; ".join(
    f"epoch {i + 1}: PyTorch {torch['epochs'][i]['train_loss']:.4f}, Apus {parity['epochs'][i]['train_loss']:.4f}, "
    f"PyTorch 1 thread {control['epochs'][i]['train_loss']:.4f}" for i in range(len(t))) + ".",
          "", f"Wall time of each whole run (training, evaluation, checkpoints), in the order above: PyTorch {seconds[0]} s, "
          f"Apus same start {seconds[1]} s, PyTorch 1 thread {seconds[2]} s, Apus own start {seconds[3]} s."]
open(out + ".tmp", "w").write("\n".join(lines) + "\n")
os.replace(out + ".tmp", out)
print("\n".join(lines))
PY
