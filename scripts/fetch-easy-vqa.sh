#!/usr/bin/env bash
# Fetch the easy-VQA data set (Victor Zhou, MIT licence) into data/easy-vqa/.
#
#   scripts/fetch-easy-vqa.sh
#
# The data ships inside the `easy-vqa==1.0` wheel on PyPI (the only network
# source reachable here): the wheel is downloaded with pip (no dependencies),
# opened with python3's zipfile module (`unzip` may be missing) and its
# easy_vqa/data/ folder becomes data/easy-vqa/:
#
#   data/easy-vqa/answers.txt               13 answers, one a line
#   data/easy-vqa/{train,test}/questions.json  [[question, answer, image_id], ...]
#   data/easy-vqa/{train,test}/images/<id>.png 64x64 RGB PNGs (4000 train, 1000 test)
#
# Idempotent: exits at once when the data is already there. The copy is atomic
# (extracted into data/.easy-vqa.tmp, then renamed).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/data/easy-vqa"
TMPDEST="$ROOT/data/.easy-vqa.tmp"
PY="${PYTHON:-python3}"

if [ -f "$DEST/answers.txt" ] && [ -f "$DEST/train/questions.json" ] && [ -f "$DEST/test/questions.json" ]; then
    echo "easy-VQA already in data/easy-vqa"
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK" "$TMPDEST"' EXIT

echo "downloading easy-vqa==1.0 from PyPI..."
if ! "$PY" -m pip download --no-deps --disable-pip-version-check --progress-bar off \
        easy-vqa==1.0 -d "$WORK" > "$WORK/pip.log" 2>&1; then
    echo "error: 'pip download easy-vqa==1.0' failed (is PyPI reachable?); pip said:" >&2
    tail -n 20 "$WORK/pip.log" >&2
    exit 1
fi

WHEEL="$(ls "$WORK"/easy_vqa-1.0-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$WHEEL" ]; then
    echo "error: pip succeeded but no easy_vqa-1.0 wheel is in $WORK:" >&2
    ls -l "$WORK" >&2
    exit 1
fi

mkdir -p "$ROOT/data"
rm -rf "$TMPDEST"
"$PY" - "$WHEEL" "$TMPDEST" <<'EOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "easy_vqa/data/"
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        if os.path.basename(name) == ".DS_Store":  # macOS litter in the wheel
            continue
        rel = name[len(prefix):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"error: unsafe path in wheel: {name}")
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            dst.write(src.read())
        n += 1
if n == 0:
    sys.exit(f"error: no {prefix} folder in {wheel}")
print(f"extracted {n} files")
EOF

# Verify before publishing.
count_png() { find "$1" -maxdepth 1 -name '*.png' | wc -l; }
train_n=$(count_png "$TMPDEST/train/images")
test_n=$(count_png "$TMPDEST/test/images")
answers_n=$(wc -l < "$TMPDEST/answers.txt")
for f in train/questions.json test/questions.json; do
    [ -f "$TMPDEST/$f" ] || { echo "error: $f missing from the wheel" >&2; exit 1; }
done
if [ "$train_n" -ne 4000 ] || [ "$test_n" -ne 1000 ] || [ "$answers_n" -ne 13 ]; then
    echo "error: unexpected contents: $train_n train images (want 4000)," \
         "$test_n test images (want 1000), $answers_n answers (want 13)" >&2
    exit 1
fi

rm -rf "$DEST"
mv "$TMPDEST" "$DEST"
echo "easy-VQA in data/easy-vqa: $train_n train images, $test_n test images, $answers_n answers"
