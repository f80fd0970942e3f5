"""Summarises `ACCURACY_SEEDS="…" Benchmarks/vqa/accuracy.sh`: for each seed, the test accuracy of
the PyTorch reference, of Apus from the reference's start and example order, and of Apus as a user
runs it (its own start); then their means and spreads over the seeds.

    python3 accuracy_seeds.py WORK OUT.md     (WORK holds one seed<S>/ folder per seed)
"""
import csv, datetime, json, os, statistics, sys

work, out = sys.argv[1:]


def result(folder, name):
    return next(json.loads(l) for l in open(os.path.join(folder, name)) if l.startswith("{"))


runs = []
for name in sorted(os.listdir(work), key=lambda n: int(n.removeprefix("seed"))):
    folder = os.path.join(work, name)
    torch, parity = result(folder, "torch.txt"), result(folder, "parity.txt")
    own = [float(r["val_accuracy"]) * 100 for r in csv.DictReader(open(os.path.join(folder, "run", "log.csv")))]
    tracking = max(abs(a - b) / abs(b) for a, b in zip(parity["step_losses"][:10], torch["step_losses"][:10]))
    runs.append(dict(seed=int(name.removeprefix("seed")), version=torch.get("torch_version", ""),
                     torch=[e["test_accuracy"] * 100 for e in torch["epochs"]],
                     parity=[e["test_accuracy"] * 100 for e in parity["epochs"]], own=own, tracking=tracking))

epochs = len(runs[0]["torch"])
columns = ("torch", "parity", "own")


def spread(values):
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


lines = [f"# easy-VQA accuracy over {len(runs)} seeds: Apus against the PyTorch reference ({datetime.date.today()})", "",
         "Model and settings of BENCHMARK.md (64×64, batch 32, Adam 1e-3), one run after the other on this machine, "
         f"2 threads each. PyTorch {runs[0]['version']}: `Benchmarks/vqa/pytorch_reference.py --seed S`; Apus, same start: "
         "`apus-bench vqa-parity` (hybridized) from that run's initial weights and example order; Apus, own start: "
         "`apus train Examples/easy-vqa/vqa.yaml` with `seed: S`. "
         f"Command: `ACCURACY_SEEDS=\"{' '.join(str(r['seed']) for r in runs)}\" Benchmarks/vqa/accuracy.sh`.", "",
         f"Test accuracy after epoch {epochs}; the last column is how closely Apus tracks PyTorch from the same start "
         "(largest relative difference of the training loss over the first 10 steps):", "",
         "| seed | PyTorch | Apus, same start | difference | Apus, own start | difference | loss tracking, 10 steps |",
         "|---|---|---|---|---|---|---|"]
for r in runs:
    t, p, o = r["torch"][-1], r["parity"][-1], r["own"][-1]
    lines.append(f"| {r['seed']} | {t:.2f} % | {p:.2f} % | {p - t:+.2f} | {o:.2f} % | {o - t:+.2f} | {r['tracking']:.1e} |")
final = {c: [r[c][-1] for r in runs] for c in columns}
lines.append(f"| **mean ± sd** | {spread(final['torch'])} | {spread(final['parity'])} | "
             f"{statistics.mean(final['parity']) - statistics.mean(final['torch']):+.2f} | {spread(final['own'])} | "
             f"{statistics.mean(final['own']) - statistics.mean(final['torch']):+.2f} | |")
differences = [p - t for p, t in zip(final["parity"], final["torch"])]
standard_error = statistics.stdev(differences) / len(differences) ** 0.5
lines += ["", f"Same start, Apus − PyTorch after epoch {epochs}: mean {statistics.mean(differences):+.2f} points, "
          f"standard error {standard_error:.2f} (paired over the seeds).", "",
          "Mean test accuracy ± standard deviation over the seeds, per epoch:", "",
          "| epoch | PyTorch | Apus, same start | Apus, own start |", "|---|---|---|---|"]
for e in range(epochs):
    lines.append(f"| {e + 1} | " + " | ".join(spread([r[c][e] for r in runs]) + " %" for c in columns) + " |")
open(out + ".tmp", "w").write("\n".join(lines) + "\n")
os.replace(out + ".tmp", out)
print("\n".join(lines))
