"""PyTorch reference training of the CNN + LSTM VQA model on easy-VQA.

The same model, data pipeline and optimiser as the Apus VQA example, so that
accuracy per epoch and epoch wall time can be compared with Apus on the same
machine.

Run (after scripts/fetch-easy-vqa.sh and Benchmarks/peers/install.sh torch):

    ~/.cache/apus-peers/torch/bin/python Benchmarks/vqa/pytorch_reference.py --epochs 3

Pillow is needed for the PNGs (already installed in that venv; otherwise
`~/.cache/apus-peers/torch/bin/pip install pillow`).

Data (data/easy-vqa/):
  answers.txt                       one answer per line; file order = class id
  {train,test}/questions.json       [[question, answer, image_id], ...]
  {train,test}/images/<id>.png      64x64 RGB

Text: lower-cased, tokenised with the regex [a-z0-9_]+; vocabulary from the
training questions: 0 = padding, 1 = unknown, then words by descending
frequency (ties alphabetical); the first 12 tokens, padded to 12 before the words
(--padding pre, the default, as Keras' pad_sequences and Apus do: the LSTM's last
hidden state then follows the last word) or after them (--padding post).

Model: Conv(3->32)+ReLU+MaxPool, Conv(32->64)+ReLU+MaxPool,
Conv(64->128)+ReLU+MaxPool (3x3, padding 1, pool 2), flatten,
Linear(8192, 256)+ReLU; Embedding(vocab, 128) -> LSTM(128, 256), last hidden
state; elementwise product; Linear(256, 256)+ReLU; Linear(256, 13).
CrossEntropyLoss, Adam lr 1e-3, batch 32, shuffled each epoch (torch.Generator
seeded with --seed, default 0), torch.manual_seed(--seed), 2 threads (--threads).

With --export-start DIR it first writes the run's starting point for Apus
(`apus-bench vqa-parity --start DIR`): DIR/weights.safetensors, the initial
weights under the Apus reference model's parameter names, and
DIR/order.safetensors, "order" int64 [epochs, train questions], the example
order of every epoch. Training then proceeds from exactly that start.

All images of a split are decoded once, before training, into one tensor, so
image loading is not part of the measured epoch time (which covers training
only, not the evaluation).

After each epoch one line is printed; at the end one JSON line:
  {"framework": "pytorch", "torch_version": ..., "epochs": [{"epoch",
   "train_loss", "train_accuracy", "test_accuracy", "seconds"}, ...],
   "final_test_accuracy": ..., "step_losses": [every step's loss]}
"""

import argparse
import json
import os
import re
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn as nn

try:
    from PIL import Image
except ImportError:  # pragma: no cover
    sys.exit("error: Pillow is missing; install it with `<venv>/bin/pip install pillow`")

MAX_LEN = 12
PAD_ID = 0
UNK_ID = 1
TOKEN_RE = re.compile(r"[a-z0-9_]+")


def tokenize(question):
    return TOKEN_RE.findall(question.lower())


def build_vocab(questions):
    counts = Counter()
    for q in questions:
        counts.update(tokenize(q))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {"<pad>": PAD_ID, "<unk>": UNK_ID}
    for w in words:
        vocab[w] = len(vocab)
    return vocab


def encode(question, vocab, padding):
    ids = [vocab.get(w, UNK_ID) for w in tokenize(question)][:MAX_LEN]
    fill = [PAD_ID] * (MAX_LEN - len(ids))
    return fill + ids if padding == "pre" else ids + fill


def load_split(data_dir, split, vocab, answer_ids, padding):
    """Returns (images [N,3,64,64] float32, image_index [Q], tokens [Q,12], labels [Q])."""
    with open(os.path.join(data_dir, split, "questions.json")) as f:
        entries = json.load(f)
    image_dir = os.path.join(data_dir, split, "images")
    image_ids = sorted({int(e[2]) for e in entries})
    row_of = {image_id: row for row, image_id in enumerate(image_ids)}
    images = np.empty((len(image_ids), 3, 64, 64), dtype=np.float32)
    for image_id, row in row_of.items():
        with Image.open(os.path.join(image_dir, f"{image_id}.png")) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        if arr.shape != (64, 64, 3):
            raise ValueError(f"{split}/images/{image_id}.png: unexpected shape {arr.shape}")
        images[row] = arr.transpose(2, 0, 1)
    image_index = torch.tensor([row_of[int(e[2])] for e in entries], dtype=torch.long)
    tokens = torch.tensor([encode(e[0], vocab, padding) for e in entries], dtype=torch.long)
    labels = torch.tensor([answer_ids[e[1]] for e in entries], dtype=torch.long)
    return torch.from_numpy(images), image_index, tokens, labels


class VQAModel(nn.Module):
    def __init__(self, vocab_size, num_answers):
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(128 * 8 * 8, 256), nn.ReLU(),
        )
        self.embedding = nn.Embedding(vocab_size, 128)
        self.lstm = nn.LSTM(128, 256, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, num_answers),
        )

    def forward(self, images, tokens):
        img = self.image(images)
        _, (h_n, _) = self.lstm(self.embedding(tokens))
        return self.head(img * h_n[-1])


def apus_state(model):
    """The model's weights under the names of Apus's ReferenceModels.visualQuestionAnswering
    ("layers.<index in the functional model's layer list>"; same layouts, LSTM gates i, f, g, o)."""
    names = {
        "image.0.weight": "layers.0.weight", "image.0.bias": "layers.0.bias",
        "image.3.weight": "layers.2.weight", "image.3.bias": "layers.2.bias",
        "image.6.weight": "layers.4.weight", "image.6.bias": "layers.4.bias",
        "image.10.weight": "layers.7.weight", "image.10.bias": "layers.7.bias",
        "embedding.weight": "layers.9.weight",
        "lstm.weight_ih_l0": "layers.10.cells.0.weightIH", "lstm.weight_hh_l0": "layers.10.cells.0.weightHH",
        "lstm.bias_ih_l0": "layers.10.cells.0.biasIH", "lstm.bias_hh_l0": "layers.10.cells.0.biasHH",
        "head.0.weight": "layers.12.weight", "head.0.bias": "layers.12.bias",
        "head.2.weight": "layers.14.weight", "head.2.bias": "layers.14.bias",
    }
    state = model.state_dict()
    if set(state) != set(names):
        raise SystemExit(f"error: parameter names changed: {sorted(set(state) ^ set(names))}")
    return {names[k]: v.detach().contiguous() for k, v in state.items()}


def export_start(directory, model, orders):
    from safetensors.torch import save_file
    os.makedirs(directory, exist_ok=True)
    save_file(apus_state(model), os.path.join(directory, "weights.safetensors"))
    save_file({"order": torch.stack(orders).contiguous()}, os.path.join(directory, "order.safetensors"))


def evaluate(model, split, batch_size=64):
    images, image_index, tokens, labels = split
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            idx = slice(start, start + batch_size)
            logits = model(images[image_index[idx]], tokens[idx])
            correct += (logits.argmax(1) == labels[idx]).sum().item()
    return correct / len(labels)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", default=os.path.join(root, "data", "easy-vqa"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the example order")
    parser.add_argument("--threads", type=int, default=2,
                        help="intra-op threads (a run with another count is the reference's own reproducibility control)")
    parser.add_argument("--padding", choices=("pre", "post"), default="pre",
                        help="which side of a question its padding goes (Apus' question_padding)")
    parser.add_argument("--export-start", metavar="DIR",
                        help="write the initial weights and every epoch's example order here first")
    args = parser.parse_args()
    if args.export_start and args.padding != "pre":
        parser.error("--export-start writes a start for `apus-bench vqa-parity`, which pads questions before their words: use --padding pre")

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    with open(os.path.join(args.data, "answers.txt")) as f:
        answers = [line.strip() for line in f if line.strip()]
    answer_ids = {a: i for i, a in enumerate(answers)}
    with open(os.path.join(args.data, "train", "questions.json")) as f:
        vocab = build_vocab(e[0] for e in json.load(f))

    t0 = time.perf_counter()
    train = load_split(args.data, "train", vocab, answer_ids, args.padding)
    test = load_split(args.data, "test", vocab, answer_ids, args.padding)
    print(f"loaded {len(train[3])} train / {len(test[3])} test questions, "
          f"{len(train[0])} / {len(test[0])} images, vocab {len(vocab)}, "
          f"{len(answers)} answers in {time.perf_counter() - t0:.1f}s", flush=True)

    model = VQAModel(len(vocab), len(answers))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    batch_size = 32

    images, image_index, tokens, labels = train
    n = len(labels)
    orders = [torch.randperm(n, generator=generator) for _ in range(args.epochs)]
    if args.export_start:
        export_start(args.export_start, model, orders)
    history = []
    step_losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = orders[epoch - 1]
        loss_sum = 0.0
        correct = 0
        start_time = time.perf_counter()
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            y = labels[idx]
            logits = model(images[image_index[idx]], tokens[idx])
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step_losses.append(loss.item())
            loss_sum += step_losses[-1] * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        seconds = time.perf_counter() - start_time
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "train_accuracy": correct / n,
            "test_accuracy": evaluate(model, test),
            "seconds": seconds,
        }
        history.append(record)
        print(f"epoch {epoch}: train loss {record['train_loss']:.4f}, "
              f"train acc {record['train_accuracy']:.4f}, "
              f"test acc {record['test_accuracy']:.4f}, {seconds:.1f}s", flush=True)

    print(json.dumps({
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "threads": args.threads,
        "seed": args.seed,
        "padding": args.padding,
        "epochs": history,
        "final_test_accuracy": history[-1]["test_accuracy"] if history else None,
        "step_losses": step_losses,
    }))


if __name__ == "__main__":
    main()
