#!/usr/bin/python3
"""PyTorch side of the reference-network benchmark (bench/train_reference).

Trains the reference CNN of examples/reference_cnn.json on Fashion-MNIST
(batch 128, SGD momentum 0.9 Nesterov, weight decay 5e-4) for a number of
timed steps after warm-up, then times batch-1 inference in eval mode with
no_grad. Prints one JSON line: train images/s, median batch-1 latency (ms),
p90, and peak resident memory (MiB) of this process.

Usage: torch_ref.py [--threads 2] [--steps 60] [--warmup 10] [--runs 300]
"""
import argparse
import gzip
import json
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def reference_cnn():
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    layers = block(1, 32) + block(32, 32) + [nn.MaxPool2d(2)]
    layers += block(32, 64) + block(64, 64) + [nn.MaxPool2d(2)]
    layers += block(64, 128) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = load_idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = load_idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64)
    x = (x - x.mean()) / x.std()
    x = torch.from_numpy(x).unsqueeze(1)
    y = torch.from_numpy(y)

    model = reference_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    b = args.batch
    n_batches = x.shape[0] // b

    def step(i):
        j = i % n_batches
        xb, yb = x[j * b:(j + 1) * b], y[j * b:(j + 1) * b]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(args.warmup + i)
    train_ips = args.steps * b / (time.perf_counter() - t0)

    model.eval()
    one = x[:1].contiguous()
    times = []
    with torch.no_grad():
        for _ in range(50):
            model(one)
        for _ in range(args.runs):
            t = time.perf_counter()
            model(one)
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(json.dumps({
        "peer": f"pytorch {torch.__version__}",
        "threads": args.threads,
        "train_images_per_s": round(train_ips, 1),
        "latency_ms": round(statistics.median(times), 4),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
