#!/usr/bin/env python3
"""Makes the ONNX import fixtures of Tests/ApusExchangeTests/Fixtures/onnx: four small PyTorch
models exported with torch.onnx (TorchScript exporter, opset 17, eval mode) plus, for each, an
input and PyTorch's output in <name>.safetensors ("input", "output").

    Benchmarks/peers/install.sh onnx-torch
    ~/.cache/apus-peers/onnx-torch/bin/python scripts/onnx/make_torch_fixtures.py

Deterministic (seeded); the models are tiny so the fixtures stay well under 1 MB.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch import nn  # noqa: E402

import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "ApusExchangeTests", "Fixtures", "onnx")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 12),
                                 nn.GELU(), nn.Linear(12, 4), nn.Sigmoid())

    def forward(self, x):
        return torch.log_softmax(self.net(x), dim=-1)


class SmallCNN(nn.Module):
    """Conv → ReLU → BatchNorm (not next to the conv, so the exporter keeps it) → MaxPool →
    Conv (stride 2) → BatchNorm → ReLU → AvgPool → global average → Flatten → Linear → Softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(12)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.bn1(torch.relu(self.conv1(x))), 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        x = nn.functional.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return torch.softmax(self.fc(x), dim=1)


class LSTMTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 10, num_layers=2)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y)


class GRUTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 8, batch_first=True, bidirectional=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.head(y)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def export(name, model, example):
    model.eval()
    path = os.path.join(OUT, f"{name}.onnx")
    with torch.no_grad():
        expected = model(example)
        torch.onnx.export(model, (example,), path, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["output"], do_constant_folding=True)
    safetensors_io.write(os.path.join(OUT, f"{name}.safetensors"),
                         {"input": example.numpy(), "output": expected.numpy()})
    import onnx
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print(f"{name}: {os.path.getsize(path)} bytes, ops {ops}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)   # export the encoder layer's ops, not its fused kernel
    export("mlp", MLP(), torch.randn(4, 8))
    cnn = SmallCNN()
    cnn.train()
    with torch.no_grad():   # non-trivial running statistics
        for _ in range(3):
            cnn(torch.randn(8, 3, 12, 12) * 2 + 0.5)
    export("cnn", cnn, torch.randn(2, 3, 12, 12))
    export("lstm", LSTMTagger(), torch.randn(5, 3, 6))
    export("gru", GRUTagger(), torch.randn(3, 5, 6))
    export("transformer", Encoder(), torch.randn(2, 7, 16))


if __name__ == "__main__":
    main()
