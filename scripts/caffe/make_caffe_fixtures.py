#!/usr/bin/env python3
"""Makes Tests/ApusExchangeTests/Fixtures/caffe/tiny.caffemodel (random weights for tiny.prototxt,
written with protobuf through scripts/caffe/caffe.proto) and tiny.safetensors (an input and the
network's output computed by PyTorch with Caffe's semantics: ceil-rounded pooling, BatchNorm
statistics divided by the scale factor blob, LRN across channels).

    Benchmarks/peers/install.sh onnx-torch     # torch + protobuf; protoc from apt (protobuf-compiler)
    ~/.cache/apus-peers/onnx-torch/bin/python scripts/caffe/make_caffe_fixtures.py
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "onnx"))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import safetensors_io  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "Tests", "ApusExchangeTests", "Fixtures", "caffe")


def caffe_pb2():
    folder = tempfile.mkdtemp()
    subprocess.run(["protoc", f"--python_out={folder}", f"--proto_path={HERE}", os.path.join(HERE, "caffe.proto")], check=True)
    sys.path.insert(0, folder)
    import caffe_pb2 as module
    return module


def main():
    pb = caffe_pb2()
    rng = np.random.default_rng(7)
    w = {
        "conv1": [rng.normal(0, 0.3, (6, 3, 3, 3)), rng.normal(0, 0.1, 6)],
        # BatchNorm blobs: mean and variance scaled by the moving-average factor, and the factor.
        "bn1": [rng.normal(0, 0.2, 6) * 4.0, rng.uniform(0.5, 1.5, 6) * 4.0, np.array([4.0])],
        "scale1": [rng.uniform(0.5, 1.5, 6), rng.normal(0, 0.1, 6)],
        "conv2": [rng.normal(0, 0.3, (8, 6, 2, 2)), rng.normal(0, 0.1, 8)],
        "ip": [rng.normal(0, 0.5, (4, 8)), rng.normal(0, 0.1, 4)],
    }
    net = pb.NetParameter()
    net.name = "Tiny"
    for name, blobs in w.items():
        layer = net.layer.add()
        layer.name = name
        for b in blobs:
            blob = layer.blobs.add()
            blob.shape.dim.extend(b.shape)
            blob.data.extend(b.astype(np.float32).ravel().tolist())
    with open(os.path.join(OUT, "tiny.caffemodel"), "wb") as f:
        f.write(net.SerializeToString())

    t = {k: [torch.tensor(b, dtype=torch.float32) for b in v] for k, v in w.items()}
    x = torch.tensor(rng.normal(0, 1, (2, 3, 10, 10)), dtype=torch.float32)
    y = F.conv2d(x, t["conv1"][0], t["conv1"][1], padding=1)
    factor = t["bn1"][2][0]
    mean, var = t["bn1"][0] / factor, t["bn1"][1] / factor
    y = (y - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
    y = y * t["scale1"][0][None, :, None, None] + t["scale1"][1][None, :, None, None]
    y = F.max_pool2d(F.relu(y), 3, 2, ceil_mode=True)
    y = F.local_response_norm(y, 3, alpha=0.5, beta=0.75, k=1.0)
    y = torch.tanh(F.conv2d(y, t["conv2"][0], t["conv2"][1]))
    y = y.mean(dim=(2, 3))
    y = torch.softmax(F.linear(y, t["ip"][0], t["ip"][1]), dim=1)
    safetensors_io.write(os.path.join(OUT, "tiny.safetensors"), {"input": x.numpy(), "output": y.numpy()})
    print("pooled size", F.max_pool2d(torch.zeros(1, 1, 10, 10), 3, 2, ceil_mode=True).shape, "output", y.shape)


if __name__ == "__main__":
    main()
