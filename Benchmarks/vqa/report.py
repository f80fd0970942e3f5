"""VQA benchmark report: collects the JSON lines of Benchmarks/vqa/run.sh into Markdown + JSON.

    python3 Benchmarks/vqa/report.py apus NAME [VERSION] < apus-bench-output   # table rows -> JSON lines
    python3 Benchmarks/vqa/report.py write RESULTS.jsonl OUT_BASENAME [--baseline "Apus eager"]

`apus` turns the Markdown rows that `apus-bench vqa` prints (`| 64×64 | 0.0718 | 240 |`) into
JSON lines like those of peer_step.py, under the framework name NAME ("Apus eager"); VERSION
(default: this checkout's commit) says what was run, e.g. another build given as an extra command.
The mode is "eager" or "hybridized" when NAME says which, else NAME's last word.

`write` reads one JSON object per line: results ({framework, mode, version, size,
seconds_per_iteration, peak_rss_mib, ...}) and failures ({framework, error}); writes
OUT_BASENAME.md and OUT_BASENAME.json. Ratios are peer ÷ baseline for time and for memory,
per size: above 1 means the baseline (Apus) is faster / smaller.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys

NAMES = {"pytorch": "PyTorch", "pytorch-compile": "PyTorch compiled", "keras": "Keras 3 / TensorFlow",
         "jax": "JAX / Flax", "mxnet": "MXNet Gluon"}
ROW = re.compile(r"^\|\s*(\d+)×\d+\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|")


def apus_version():
    try:
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, check=True).stdout.strip()
        return "apus " + git("rev-parse", "--short", "HEAD") + (" + local changes" if git("status", "--porcelain", "-uno") else "")
    except (OSError, subprocess.CalledProcessError):
        return "apus (this checkout)"


def apus_rows(name, version):
    words = name.lower().split()
    mode = next((w for w in ("hybridized", "eager") if w in words), words[-1])
    for line in sys.stdin:
        m = ROW.match(line.strip())
        if m:
            print(json.dumps({"framework": name, "mode": mode, "version": version,
                              "size": int(m[1]), "seconds_per_iteration": float(m[2]),
                              "peak_rss_mib": float(m[3]), "threads": 2}))


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "os": platform.platform()}


def ratio(peer, base):
    return f"{peer / base:.2f}×" if peer and base else "—"


def write(results_path, out_base, baseline):
    with open(results_path) as f:
        records = [json.loads(l) for l in f if l.strip().startswith("{")]
    rows, versions, errors = {}, {}, {}  # keyed by framework name, in first-seen order
    for r in records:
        name = r["framework"]
        if "error" in r:
            errors.setdefault(name, []).append(f"{r.get('size', '')}: {r['error']}".lstrip(": "))
            rows.setdefault(name, {})
            continue
        rows.setdefault(name, {})[r["size"]] = r
        versions[name] = (r.get("mode", ""), r.get("version", ""))
    sizes = sorted({r["size"] for r in records if "size" in r and "error" not in r})
    base = rows.get(baseline, {})

    head = "| framework | mode |" + "".join(f" {s}×{s} s/iter | {s}×{s} peak MiB |" for s in sizes)
    lines = [f"# VQA training iteration: Apus and peers ({datetime.date.today()})", "",
             "One iteration = forward + softmax cross-entropy + backward + Adam (lr 1e-3), batch 32, "
             "synthetic inputs; median of the timed iterations after the warm-up ones; peak RSS = "
             "ru_maxrss of the process (one process per framework and size). 2 threads everywhere.",
             "", f"Machine: {machine()['cpu']}, {machine()['cores']} cores, {machine()['os']}.", "",
             f"In parentheses: peer ÷ {baseline} (above 1: {baseline} is faster / uses less memory).", "",
             head, "|---|---|" + "---|---|" * len(sizes)]
    for name, by_size in rows.items():
        if not by_size:
            continue
        cells = []
        for s in sizes:
            r, b = by_size.get(s), base.get(s)
            if not r:
                cells += ["—", "—"]
            elif name == baseline:
                cells += [f"{r['seconds_per_iteration']:.4f}", f"{r['peak_rss_mib']:.0f}"]
            else:
                cells += [f"{r['seconds_per_iteration']:.4f} ({ratio(r['seconds_per_iteration'], b and b['seconds_per_iteration'])})",
                          f"{r['peak_rss_mib']:.0f} ({ratio(r['peak_rss_mib'], b and b['peak_rss_mib'])})"]
        lines.append(f"| {NAMES.get(name, name)} | {versions[name][0]} | " + " | ".join(cells) + " |")
    lines += ["", "Versions:", ""] + [f"- {NAMES.get(n, n)}: {v}" for n, (_, v) in versions.items()]
    if errors:
        lines += ["", "Not measured / failed:", ""]
        lines += [f"- {NAMES.get(n, n)}: " + "; ".join(e.replace("\n", " ") for e in es) for n, es in errors.items()]

    with open(out_base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out_base + ".json", "w") as f:
        json.dump({"date": str(datetime.date.today()), "machine": machine(), "baseline": baseline,
                   "results": records}, f, indent=1)
        f.write("\n")
    print(f"wrote {out_base}.md and {out_base}.json")


def main():
    args = sys.argv[1:]
    if args[:1] == ["apus"] and len(args) in (2, 3):
        apus_rows(args[1], args[2] if len(args) == 3 else apus_version())
    elif args[:1] == ["write"] and len(args) in (3, 5):
        baseline = args[4] if len(args) == 5 and args[3] == "--baseline" else "Apus eager"
        write(args[1], args[2], baseline)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
