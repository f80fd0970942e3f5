"""PyTorch side of the nn benchmarks (2 threads): LSTM and the VQA model's conv stack.

    ~/.cache/apus-peers/torch/bin/python Benchmarks/nn/peers.py

Prints one JSON object: torch_version, lstm_fwdbwd_ms (batch 32, length 12, input 128,
hidden 256, batch-first, loss = sum of outputs), convstack_fwdbwd_ms (batch 32, 3×64×64:
three Conv3×3+ReLU+MaxPool2 blocks 3→32→64→128, loss = sum), medians of 20 after 5 warm-ups.
"""
import json
import os
import statistics
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "2"
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, runs=20, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


lstm = nn.LSTM(128, 256, batch_first=True)
x = torch.randn(32, 12, 128)


def lstm_step():
    lstm.zero_grad(set_to_none=True)
    out, _ = lstm(x)
    out.sum().backward()


convs = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
images = torch.rand(32, 3, 64, 64)


def conv_step():
    convs.zero_grad(set_to_none=True)
    convs(images).sum().backward()


print(json.dumps({
    "torch_version": torch.__version__,
    "lstm_fwdbwd_ms": round(median_ms(lstm_step), 3),
    "convstack_fwdbwd_ms": round(median_ms(conv_step), 3),
}))
