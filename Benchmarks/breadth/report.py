"""Breadth benchmark report: the per-run JSON files of Benchmarks/breadth/run.sh as Markdown + JSON.

    python3 Benchmarks/breadth/report.py RESULTS_DIR --date YYYY-MM-DD --out-md PATH.md --out-json PATH.json

Reads every *.json in RESULTS_DIR, each one measurement ({framework: apus|pytorch, mode:
eager|graph|compile, workload, seconds, peak_rss_mib, parameters, threads, ...}) or one failure
({framework, mode, workload, error}); run.sh makes one per round. A framework, mode and workload
measured in several rounds gets the median of its rounds (seconds and peak RSS), the rounds'
times kept beside it. Writes a summary table and one table per workload, rows = framework +
mode. Ratios are row ÷ PyTorch eager of the same workload, for time and for peak RSS: below 1
means faster / smaller than PyTorch eager.
"""
import argparse
import glob
import json
import math
import os
import statistics
import subprocess

WORKLOADS = ("resnet18", "transformer", "mlp", "lstm")
ROWS = (("apus", "eager"), ("apus", "graph"), ("pytorch", "eager"), ("pytorch", "compile"))
NAMES = {"apus": "Apus", "pytorch": "PyTorch"}
DESCRIPTIONS = {
    "resnet18": "CIFAR ResNet-18, batch 64×3×32×32, SGD (momentum 0.9, weight decay 5e-4), train-mode BatchNorm",
    "transformer": "4-layer pre-norm causal Transformer (d 256, 4 heads, FFN 1024, GELU), vocab 8000, 16×128 tokens, AdamW",
    "mlp": "MLP 784→1024→1024→10, batch 256, Adam",
    "lstm": "2-layer LSTM language model (vocab 10000, 512 wide), 35×20 tokens, gradient clipping 0.25, SGD",
}


def machine():
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), model)
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        cores = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        cores = os.cpu_count()
    return {"cpu": model, "nproc": cores}


def order(r):
    key = (r.get("framework"), r.get("mode"))
    return (ROWS.index(key) if key in ROWS else len(ROWS), str(key))


def ratio(x, base):
    return round(x / base, 3) if x and base else None


def fmt(x, spec, suffix=""):
    return "—" if x is None else f"{x:{spec}}{suffix}"


def geomean(xs):
    xs = [x for x in xs if x]
    return round(math.exp(sum(map(math.log, xs)) / len(xs)), 3) if xs else None


def combine(runs):
    """One record from the rounds of one framework, mode and workload: medians of the successful
    rounds, or the first failure when none succeeded; the errors of failed rounds go to failed_rounds."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return dict(runs[0])
    record = dict(ok[0])
    record["seconds"] = statistics.median(r["seconds"] for r in ok)
    record["peak_rss_mib"] = statistics.median(r["peak_rss_mib"] for r in ok)
    record["round_seconds"] = [r["seconds"] for r in ok]
    if len(ok) < len(runs):
        record["failed_rounds"] = [r["error"] for r in runs if "error" in r]
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir")
    parser.add_argument("--date", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args()

    runs = {}
    for path in sorted(glob.glob(os.path.join(args.results_dir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        runs.setdefault((r.get("framework"), r.get("mode"), r.get("workload")), []).append(r)
    records = [combine(rs) for rs in runs.values()]
    rounds = max(map(len, runs.values()), default=0)
    workloads = [w for w in WORKLOADS if any(r.get("workload") == w for r in records)]
    workloads += sorted({r["workload"] for r in records if r.get("workload") not in WORKLOADS})

    # Ratios to PyTorch eager of the same workload.
    by_workload = {}
    for w in workloads:
        rows = sorted((dict(r) for r in records if r.get("workload") == w), key=order)
        base = next((r for r in rows if (r["framework"], r["mode"]) == ("pytorch", "eager") and "error" not in r), {})
        for r in rows:
            if "error" not in r:
                r["time_ratio"] = ratio(r.get("seconds"), base.get("seconds"))
                r["rss_ratio"] = ratio(r.get("peak_rss_mib"), base.get("peak_rss_mib"))
        by_workload[w] = rows

    threads = sorted({r["threads"] for r in records if "threads" in r})
    versions = sorted({r["version"] if r["version"].lower().startswith(r["framework"])
                       else f"{NAMES.get(r['framework'], r['framework'])} {r['version']}"
                       for r in records if r.get("version")})
    m = machine()
    lines = [f"# Breadth: one training iteration of four workloads, Apus and PyTorch ({args.date})", "",
             f"Machine: {m['cpu']}, nproc {m['nproc']}. Threads: {', '.join(map(str, threads)) or '?'}. "
             f"Versions: {', '.join(versions) or '?'}.", "",
             "One iteration = forward + loss + backward (+ clipping) + optimizer step on fixed synthetic "
             "data; median of the timed iterations after the warm-up ones; peak RSS = ru_maxrss of the "
             f"process (one process per framework, mode and workload). {rounds} round(s), each running every "
             "framework and mode once; each cell is the median over the rounds. Ratios: row ÷ PyTorch eager "
             "(below 1: faster / less memory than PyTorch eager).", ""]

    # Summary: s/iter (time ratio) per workload, geometric means of the ratios.
    keys = sorted({(r["framework"], r["mode"]) for rows in by_workload.values() for r in rows},
                  key=lambda k: order({"framework": k[0], "mode": k[1]}))
    summary = []
    lines += ["## Summary", "", "| framework | mode | " + " | ".join(f"{w} s/iter (×)" for w in workloads)
              + " | geomean time × | geomean RSS × |", "|---|---|" + "---|" * (len(workloads) + 2)]
    for fw, mode in keys:
        found = {w: next((r for r in by_workload[w] if (r["framework"], r["mode"]) == (fw, mode)), None)
                 for w in workloads}
        ok = [r for r in found.values() if r and "error" not in r]
        row = {"framework": fw, "mode": mode,
               "geomean_time_ratio": geomean([r.get("time_ratio") for r in ok]),
               "geomean_rss_ratio": geomean([r.get("rss_ratio") for r in ok])}
        summary.append(row)
        cells = []
        for r in found.values():
            if r is None:
                cells.append("—")
            elif "error" in r:
                cells.append("failed")
            else:
                cells.append(f"{r['seconds']:.4f} ({fmt(r.get('time_ratio'), '.2f', '×')})")
        lines.append(f"| {NAMES.get(fw, fw)} | {mode} | " + " | ".join(cells) + " | "
                     + fmt(row["geomean_time_ratio"], ".2f", "×") + " | " + fmt(row["geomean_rss_ratio"], ".2f", "×") + " |")

    errors = []
    for w in workloads:
        lines += ["", f"## {w}", "", DESCRIPTIONS.get(w, ""), "",
                  "| framework | mode | s/iter | × PyTorch eager | peak RSS MiB | × PyTorch eager RSS | parameters | s/iter per round |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in by_workload[w]:
            name = NAMES.get(r["framework"], r["framework"])
            if "error" in r:
                errors.append(f"- {w}, {name} {r['mode']}: {r['error']}")
                lines.append(f"| {name} | {r['mode']} | failed | — | — | — | — | — |")
                continue
            errors += [f"- {w}, {name} {r['mode']}, one round: {e}" for e in r.get("failed_rounds", [])]
            per_round = ", ".join(f"{x:.4f}" for x in r.get("round_seconds", [r["seconds"]]))
            lines.append(f"| {name} | {r['mode']} | {r['seconds']:.4f} | {fmt(r.get('time_ratio'), '.2f', '×')} | "
                         f"{r['peak_rss_mib']:.0f} | {fmt(r.get('rss_ratio'), '.2f', '×')} | {r.get('parameters', 0):,} | {per_round} |")
    if errors:
        lines += ["", "## Failures", ""] + errors

    with open(args.out_md, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(args.out_json, "w") as f:
        json.dump({"date": args.date, "machine": m, "threads": threads, "rounds": rounds, "baseline": "pytorch eager",
                   "summary": summary, "workloads": by_workload}, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out_md} and {args.out_json}")


if __name__ == "__main__":
    main()
