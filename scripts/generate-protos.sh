#!/usr/bin/env bash
# Regenerates the committed Swift code for ONNX's protobuf schema
# (Sources/ApusExchange/Generated/onnx.pb.swift) and for the subset of Caffe's schema Apus reads
# (scripts/caffe/caffe.proto, written for Apus → Generated/caffe.pb.swift). Never run by `make test` or the build:
# the generated file is committed. Needs network access to PyPI and the offline copy of
# swift-protobuf; about 10 minutes on 2 cores (building protoc-gen-swift).
#
#   scripts/generate-protos.sh
#
# Pinned: onnx 1.23.2 (its onnx.proto, Apache-2.0, read at generation time, not committed),
# swift-protobuf 1.39.0 (protoc-gen-swift; the runtime the package depends on), and Debian's
# protobuf-compiler (protoc 3.21).
set -euo pipefail
ONNX_VERSION=1.23.2
SWIFT_PROTOBUF_VERSION=1.39.0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="${APUS_PROTO_SCRATCH:-${TMPDIR:-/tmp}/apus-protos}"
OUT="$ROOT/Sources/ApusExchange/Generated"
mkdir -p "$SCRATCH" "$OUT"

command -v protoc >/dev/null || {
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq protobuf-compiler
}

# protoc-gen-swift, built once in the scratch folder (outside the repository).
PLUGIN="$SCRATCH/swift-protobuf/.build/release/protoc-gen-swift"
if [ ! -x "$PLUGIN" ]; then
    rm -rf "$SCRATCH/swift-protobuf"
    git clone -q "${SWIFT_PROTOBUF_GIT:-https://github.com/apple/swift-protobuf}" "$SCRATCH/swift-protobuf"
    git -C "$SCRATCH/swift-protobuf" checkout -q "$SWIFT_PROTOBUF_VERSION"
    (cd "$SCRATCH/swift-protobuf" && swift build -c release --product protoc-gen-swift)
fi

# onnx.proto from the onnx wheel.
if [ ! -f "$SCRATCH/onnx/onnx.proto" ]; then
    rm -rf "$SCRATCH/onnx-wheel" && mkdir -p "$SCRATCH/onnx-wheel" "$SCRATCH/onnx"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$SCRATCH/onnx-wheel" "onnx==$ONNX_VERSION"
    python3 -m zipfile -e "$SCRATCH"/onnx-wheel/onnx-*.whl "$SCRATCH/onnx-wheel/unzipped"
    cp "$SCRATCH/onnx-wheel/unzipped/onnx/onnx.proto" "$SCRATCH/onnx/onnx.proto"
fi

# Public types (the ApusExchange API hands ModelProto to callers who want it).
protoc --plugin=protoc-gen-swift="$PLUGIN" --proto_path="$SCRATCH/onnx" \
    --swift_opt=Visibility=Public --swift_out="$OUT" "$SCRATCH/onnx/onnx.proto"
protoc --plugin=protoc-gen-swift="$PLUGIN" --proto_path="$ROOT/scripts/caffe" \
    --swift_opt=Visibility=Public --swift_out="$OUT" "$ROOT/scripts/caffe/caffe.proto"
echo "wrote $OUT/onnx.pb.swift (onnx $ONNX_VERSION) and $OUT/caffe.pb.swift (swift-protobuf $SWIFT_PROTOBUF_VERSION)"
