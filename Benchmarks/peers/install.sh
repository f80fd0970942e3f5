#!/usr/bin/env bash
# Install peer frameworks (the libraries Apus is benchmarked against), one
# virtual environment per peer, outside the repository.
#
#   Benchmarks/peers/install.sh PEER...      PEER: numpy torch tensorflow jax mxnet onnx onnx-torch
#
# `onnx` (onnx + onnxruntime, CPU wheels, pinned) is what the ONNX round-trip tests run their
# helper (scripts/onnx/run_onnx.py) with; `make test` installs it first. `onnx-torch` (torch CPU
# + onnx) regenerates the committed ONNX import fixtures (scripts/onnx/make_torch_fixtures.py).
#
# Each peer lives in ${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}/<peer>; run its
# python as <dir>/<peer>/bin/python. Idempotent: a venv that already imports
# the peer is left alone. A failed install writes the tail of pip's output to
# <dir>/<peer>.failed and the script goes on; it exits 0 and lists the failures.
#
# Only PyPI is reachable here (no download.pytorch.org), and PyPI's default
# Linux torch wheel pulls several GB of CUDA packages. So when a CPU-only torch
# wheel (torch-*+cpu-cpXY-*.whl) sits in a pip find-links folder (PIP_FIND_LINKS,
# or /opt/wheels) it is installed instead. APUS_TORCH_SPEC overrides the choice
# (e.g. APUS_TORCH_SPEC=torch to force PyPI's default).
set -euo pipefail

DIR="${APUS_PEERS_DIR:-$HOME/.cache/apus-peers}"
PY="${PYTHON:-python3}"
mkdir -p "$DIR"

[ $# -gt 0 ] || { echo "usage: $0 PEER... (numpy torch tensorflow jax mxnet onnx)" >&2; exit 2; }

# Newest CPU-only torch wheel for this python in the find-links folders, if any.
cpu_torch_wheel() {
  local tag links d
  tag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
  links="${PIP_FIND_LINKS:-} /opt/wheels"
  for d in $links; do
    d="${d#file://}"
    [ -d "$d" ] && ls "$d"/torch-*+cpu-"$tag"-*linux*x86_64.whl 2>/dev/null || true
  done | sort -V | tail -n 1
}

# peer -> "<modules to import>|<pip requirements>"
spec() {
  case "$1" in
    numpy)      echo "numpy|numpy threadpoolctl" ;;
    torch)      local t="${APUS_TORCH_SPEC:-$(cpu_torch_wheel)}"
                # Pillow and safetensors: the accuracy reference (Benchmarks/vqa/pytorch_reference.py).
                echo "torch, PIL, safetensors|numpy threadpoolctl pillow safetensors ${t:-torch}" ;;
    tensorflow) echo "tensorflow|tensorflow keras" ;;
    jax)        echo "jax|jax flax optax" ;;
    mxnet)      echo "mxnet|mxnet==1.9.1 numpy<1.24" ;;
    onnx)       echo "onnx, onnxruntime, numpy|numpy onnx==1.23.2 onnxruntime==1.32.0" ;;
    # Only for regenerating the ONNX import fixtures (scripts/onnx/make_torch_fixtures.py).
    onnx-torch) local t="${APUS_TORCH_SPEC:-$(cpu_torch_wheel)}"
                echo "torch, onnx|numpy onnx==1.23.2 ${t:-torch}" ;;
    *)          return 1 ;;
  esac
}

failed=()
for peer in "$@"; do
  if ! s=$(spec "$peer"); then
    echo "unknown peer: $peer" >&2; failed+=("$peer"); continue
  fi
  mod="${s%%|*}"; read -r -a reqs <<< "${s#*|}"
  venv="$DIR/$peer"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $mod" 2>/dev/null; then
    echo "== $peer: already installed in $venv"; rm -f "$DIR/$peer.failed"; continue
  fi
  echo "== $peer: installing ${reqs[*]} into $venv"
  log="$DIR/$peer.log"; start=$SECONDS
  if { [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"; } > "$log" 2>&1 &&
     "$venv/bin/python" -m pip install --progress-bar off "${reqs[@]}" >> "$log" 2>&1 &&
     "$venv/bin/python" -c "import $mod" >> "$log" 2>&1; then
    echo "   done in $((SECONDS - start)) s (log: $log)"; rm -f "$DIR/$peer.failed"
  else
    tail -n 40 "$log" > "$DIR/$peer.failed"
    echo "   FAILED after $((SECONDS - start)) s: see $DIR/$peer.failed" >&2
    failed+=("$peer")
  fi
done

# Versions of everything in each requested venv that imports.
echo "== installed versions"
for peer in "$@"; do
  py="$DIR/$peer/bin/python"
  [ -x "$py" ] || continue
  "$py" - "$peer" <<'EOF' || true
import importlib, sys
found = []
for m in ("numpy", "torch", "tensorflow", "keras", "jax", "flax", "optax", "mxnet", "onnx", "onnxruntime"):
    try:
        found.append(f"{m} {importlib.import_module(m).__version__}")
    except Exception:
        pass
print(f"{sys.argv[1]:>10}: " + (", ".join(found) or "(nothing imports)"))
EOF
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED peers: ${failed[*]} (details in $DIR/<peer>.failed)" >&2
fi
exit 0
