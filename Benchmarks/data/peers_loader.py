"""PyTorch side of the data-loading benchmark: one epoch of easy-VQA through DataLoader.

    scripts/fetch-easy-vqa.sh                      # once: data/easy-vqa/
    ~/.cache/apus-peers/torch/bin/python -m pip install pillow   # once, if missing
    ~/.cache/apus-peers/torch/bin/python Benchmarks/data/peers_loader.py

A map-style Dataset over data/easy-vqa/train/questions.json (38,575 items). Each item
opens images/<id>.png with Pillow (no caching: an image is decoded once per question
that refers to it), converts it to an RGB float32 tensor CHW in [0, 1] (numpy → torch,
no torchvision), encodes the question (lower-case, '?' removed, split on whitespace;
vocabulary = sorted words of the training questions, 0 = padding, 1 = unknown;
padded/truncated to 12 tokens) and returns the answer's index in answers.txt.
DataLoader(batch_size=32, shuffle=True, generator seeded with 0), default collate, one
full epoch (1206 batches, the last one partial) timed with num_workers=0 and then
num_workers=2, worker start-up included. Main process: torch.set_num_threads(2).

Prints one JSON object: torch_version, pillow_version, images_per_second_workers0,
images_per_second_workers2, epoch_seconds_workers2 (plus items and
epoch_seconds_workers0). An item = one (image, question, answer) triple = one PNG decode.
"""
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "2")
import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

torch.set_num_threads(2)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "data", "easy-vqa")
MAX_LEN = 12
PAD, UNK = 0, 1


def tokenize(question):
    return question.lower().replace("?", "").split()


class EasyVQA(Dataset):
    def __init__(self, split, vocab=None):
        folder = os.path.join(DATA, split)
        with open(os.path.join(folder, "questions.json")) as f:
            self.items = json.load(f)  # [[question, answer, image_id], ...]
        with open(os.path.join(DATA, "answers.txt")) as f:
            self.answers = [line.strip() for line in f if line.strip()]
        self.answer_index = {a: i for i, a in enumerate(self.answers)}
        if vocab is None:
            words = sorted({w for q, _, _ in self.items for w in tokenize(q)})
            vocab = {w: i + 2 for i, w in enumerate(words)}
        self.vocab = vocab
        self.image_dir = os.path.join(folder, "images")

    def __len__(self):
        return len(self.items)

    def encode(self, question):
        ids = [self.vocab.get(w, UNK) for w in tokenize(question)][:MAX_LEN]
        return torch.tensor(ids + [PAD] * (MAX_LEN - len(ids)), dtype=torch.long)

    def __getitem__(self, i):
        question, answer, image_id = self.items[i]
        with Image.open(os.path.join(self.image_dir, f"{image_id}.png")) as im:
            pixels = np.asarray(im.convert("RGB"), dtype=np.float32)  # H×W×3
        image = torch.from_numpy(pixels / 255.0).permute(2, 0, 1).contiguous()
        return image, self.encode(question), self.answer_index[answer]


def time_epoch(dataset, workers):
    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    n = 0
    start = time.perf_counter()
    for images, questions, answers in loader:
        n += images.shape[0]
    seconds = time.perf_counter() - start
    assert n == len(dataset), (n, len(dataset))
    assert images.dtype == torch.float32 and images.shape[1:] == (3, 64, 64)
    assert questions.shape[1] == MAX_LEN and answers.dtype == torch.long
    return seconds


def main():
    if not os.path.exists(os.path.join(DATA, "train", "questions.json")):
        sys.exit("data/easy-vqa missing: run scripts/fetch-easy-vqa.sh first")
    dataset = EasyVQA("train")
    s0 = time_epoch(dataset, 0)
    s2 = time_epoch(dataset, 2)
    n = len(dataset)
    print(json.dumps({
        "torch_version": torch.__version__,
        "pillow_version": PIL.__version__,
        "items": n,
        "images_per_second_workers0": round(n / s0, 1),
        "images_per_second_workers2": round(n / s2, 1),
        "epoch_seconds_workers0": round(s0, 3),
        "epoch_seconds_workers2": round(s2, 3),
    }))


if __name__ == "__main__":
    main()
