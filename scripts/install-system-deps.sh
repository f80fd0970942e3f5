#!/usr/bin/env bash
# Installs the Debian packages Apus builds against, only when they are missing:
# OpenBLAS (GEMM), libpng, libjpeg-turbo and zlib (image and gzip decoding), Open MPI
# (ApusDistributed: headers, library and `mpirun`) and pkg-config (how SwiftPM finds OpenBLAS
# and MPI); python3 with venv for the onnx + onnxruntime venv the ONNX round-trip tests use.
set -euo pipefail
packages=(libopenblas-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev libopenmpi-dev openmpi-bin pkg-config python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
