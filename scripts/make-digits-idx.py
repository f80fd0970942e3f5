"""Writes scikit-learn's bundled 8×8 handwritten digits (1,797 images) as MNIST-format IDX
files, gzipped, so the MNIST examples run without downloading MNIST. Needs scikit-learn
(nothing else in Apus does; the digits ship inside it, so no download follows):

    python3 -m pip install scikit-learn && python3 scripts/make-digits-idx.py data/digits

Creates train-{images,labels}.idx.gz (first 1,500) and test-{images,labels}.idx.gz (the rest);
pixel values 0–16 are scaled to 0–255.
"""
import gzip
import os
import struct
import sys

try:
    from sklearn.datasets import load_digits
except ImportError:
    sys.exit("make-digits-idx.py needs scikit-learn (it holds the digits): python3 -m pip install scikit-learn")

out = sys.argv[1] if len(sys.argv) > 1 else "data/digits"
os.makedirs(out, exist_ok=True)
digits = load_digits()
images = (digits.images * 255 / 16).round().astype("uint8")
labels = digits.target.astype("uint8")


def write(name, magic, dims, payload):
    with gzip.open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload)


for split, part in (("train", slice(0, 1500)), ("test", slice(1500, None))):
    x, y = images[part], labels[part]
    write(f"{split}-images.idx.gz", 0x00000803, (len(x), 8, 8), x.tobytes())
    write(f"{split}-labels.idx.gz", 0x00000801, (len(y),), y.tobytes())
    print(f"{split}: {len(x)} images in {out}")
