"""One PyTorch training iteration of a breadth workload: median seconds and peak resident memory.

    <torch venv>/bin/python Benchmarks/breadth/peer_step.py --workload resnet18 --mode eager \
        [--threads 2 --iterations 20 --warmup 5] --out FILE.json

One iteration = forward + loss + backward (+ gradient clipping for lstm) + optimizer step, on
fixed synthetic data (torch.manual_seed(0)); median of --iterations after --warmup.

  resnet18     CIFAR ResNet-18 (3×3 stem, no max pooling), batch 64×3×32×32, 10 classes,
               cross-entropy, SGD lr 0.1 momentum 0.9 weight decay 5e-4, train mode
  transformer  decoder-only: embedding 8000×256 + learned positions, 4 pre-norm
               nn.TransformerEncoderLayer (4 heads, FFN 1024, GELU, no dropout), causal, final
               LayerNorm, Linear 256→8000; batch 16×128 tokens, cross-entropy at every
               position, AdamW lr 3e-4. The causal mask goes in as the float mask from
               generate_square_subsequent_mask *and* is_causal=True: with that hint
               MultiheadAttention drops the mask and calls scaled_dot_product_attention with
               is_causal=True (the fused causal kernel), the fastest standard usage
  mlp          784→1024→1024→10 with ReLU, batch 256, cross-entropy, Adam lr 1e-3
  lstm         word-language-model: embedding 10000×512, 2-layer nn.LSTM 512 (zero initial
               state each step), Linear 512→10000 at every position; 35×20 tokens
               (sequence first), cross-entropy, clip_grad_norm_ 0.25, SGD lr 1.0

--mode compile wraps the model in torch.compile (inductor; the loss and optimizer stay eager,
compiling happens during the warm-up). If compiling fails, the JSON holds {"error": ...} and
the exit status is 0. Writes one JSON object: framework, version, mode, workload, seconds,
times, peak_rss_mib (ru_maxrss), parameters, threads.
"""
import argparse
import json
import os
import resource
import statistics
import time

WORKLOADS = ("resnet18", "transformer", "mlp", "lstm")


def resnet18(torch, nn):
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    cin = 64
    for i, cout in enumerate((64, 128, 256, 512)):
        layers += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    model = nn.Sequential(*layers)
    inputs = torch.rand(64, 3, 32, 32)
    targets = torch.randint(0, 10, (64,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    return model, inputs, targets, optimizer, None


def transformer(torch, nn):
    vocab, length, width = 8000, 128, 256

    class DecoderOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens = nn.Embedding(vocab, width)
            self.positions = nn.Embedding(length, width)
            self.layers = nn.ModuleList(
                [nn.TransformerEncoderLayer(width, 4, 1024, dropout=0.0, activation="gelu",
                                            batch_first=True, norm_first=True) for _ in range(4)])
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(length))
            self.register_buffer("position_ids", torch.arange(length))

        def forward(self, tokens):
            x = self.tokens(tokens) + self.positions(self.position_ids)
            for layer in self.layers:
                x = layer(x, src_mask=self.mask, is_causal=True)
            return self.head(self.norm(x)).reshape(-1, vocab)

    inputs = torch.randint(0, vocab, (16, length))
    targets = torch.randint(0, vocab, (16, length)).reshape(-1)
    model = DecoderOnly()
    return model, inputs, targets, torch.optim.AdamW(model.parameters(), lr=3e-4), None


def mlp(torch, nn):
    model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    inputs = torch.rand(256, 784)
    targets = torch.randint(0, 10, (256,))
    return model, inputs, targets, torch.optim.Adam(model.parameters(), lr=1e-3), None


def lstm(torch, nn):
    vocab, width = 10000, 512

    class WordLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, width)
            self.lstm = nn.LSTM(width, width, num_layers=2)
            self.head = nn.Linear(width, vocab)

        def forward(self, tokens):
            outputs, _ = self.lstm(self.embedding(tokens))  # no state given: zeros
            return self.head(outputs).reshape(-1, vocab)

    inputs = torch.randint(0, vocab, (35, 20))
    targets = torch.randint(0, vocab, (35, 20)).reshape(-1)
    model = WordLM()
    return model, inputs, targets, torch.optim.SGD(model.parameters(), lr=1.0), 0.25


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, required=True)
    parser.add_argument("--mode", choices=("eager", "compile"), required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    os.environ.pop("OPENBLAS_CORETYPE", None)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    from torch import nn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, inputs, targets, optimizer, clip = globals()[args.workload](torch, nn)
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    forward = model

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(inputs), targets)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return loss.item()

    result = {"framework": "pytorch", "version": torch.__version__, "mode": args.mode,
              "workload": args.workload, "threads": args.threads}
    try:
        if args.mode == "compile":
            forward = torch.compile(model)
        for _ in range(args.warmup):
            step()
    except Exception as e:  # torch.compile failures surface at the first call
        if args.mode != "compile":
            raise
        result["error"] = f"{type(e).__name__}: " + (str(e).strip().splitlines() or [""])[0]
    else:
        times = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        result.update({
            "seconds": round(statistics.median(times), 6),
            "times": [round(t, 6) for t in times],
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
        })
    with open(args.out, "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(json.dumps({k: v for k, v in result.items() if k != "times"}), flush=True)


if __name__ == "__main__":
    main()
