#!/usr/bin/env python3
"""cost_torch_check.py - an independent count of MACs and parameters with PyTorch.

Builds a torch.nn model from each arch.json (every op of nas/core/arch.h, with
the semantics of evaluator/cost.h: composite ops expanded the same way), runs
one forward pass at batch 1, counts multiply-accumulates with forward hooks on
nn.Conv2d and nn.Linear (the only layers that count MACs in nas's convention,
as in fvcore/thop), counts trainable parameters with sum(p.numel()) and BN
running statistics from the buffers, checks every node's output shape against
arch.json, and compares with `nas cost --json`. Any difference fails (exit 1).

    cost_torch_check.py --nas build/nas A.json DIR ...
    cost_torch_check.py --nas build/nas --gen build/tests/test_cost \
        --spaces spaces --workdir build/cost_torch --min 20

--gen writes random archs covering every op (test_cost --gen); --spaces samples
10 archs from each of mobilenet.nas, resnet.nas, nb201.nas that exist
(`nas space sample`). Exit status 77 (ctest's skip code, see tests/cost.cmake)
when PyTorch is not installed.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

SKIP = 77

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("cost_torch_check: skipped: PyTorch is not installed (apt install python3-torch)")
    sys.exit(SKIP)


ACTS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hswish": nn.Hardswish,
    "sigmoid": nn.Sigmoid,
}


def act(name):
    return ACTS[name]()


class MBConv(nn.Module):
    """expand 1x1 + BN + act (expand > 1), depthwise kxk + BN + act, SE
    (r = max(1, mid // 4), ReLU, sigmoid gate), project 1x1 + BN, residual
    when stride 1 and in == out."""

    def __init__(self, cin, n):
        super().__init__()
        k, s, e, out = n["kernel"], n["stride"], n["expand"], n["out"]
        mid = cin * e
        layers = []
        if e > 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act(n["act"])]
        layers += [nn.Conv2d(mid, mid, k, s, k // 2, groups=mid, bias=False),
                   nn.BatchNorm2d(mid), act(n["act"])]
        self.body = nn.Sequential(*layers)
        self.se = None
        if n.get("se"):
            r = max(1, mid // 4)
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(mid, r, 1), nn.ReLU(),
                                    nn.Conv2d(r, mid, 1), nn.Sigmoid())
        self.project = nn.Sequential(nn.Conv2d(mid, out, 1, bias=False), nn.BatchNorm2d(out))
        self.residual = s == 1 and cin == out

    def forward(self, x):
        y = self.body(x)
        if self.se is not None:
            y = y * self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class ResBlock(nn.Module):
    """conv kxk/stride + BN + act, conv kxk + BN, shortcut identity or
    1x1/stride conv + BN, add, act."""

    def __init__(self, cin, n):
        super().__init__()
        k, s, out = n["kernel"], n["stride"], n["out"]
        self.body = nn.Sequential(nn.Conv2d(cin, out, k, s, k // 2, bias=False), nn.BatchNorm2d(out),
                                  act(n["act"]), nn.Conv2d(out, out, k, 1, k // 2, bias=False),
                                  nn.BatchNorm2d(out))
        self.short = None
        if s != 1 or cin != out:
            self.short = nn.Sequential(nn.Conv2d(cin, out, 1, s, bias=False), nn.BatchNorm2d(out))
        self.act = act(n["act"])

    def forward(self, x):
        sc = x if self.short is None else self.short(x)
        return self.act(self.body(x) + sc)


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.nodes = arch["nodes"]
        shapes = [tuple(n["shape"]) for n in self.nodes]
        mods = []
        for n in self.nodes:
            op = n["op"]
            cin = shapes[n["in"][0]][0] if "in" in n else 0
            if op == "conv":
                m = nn.Conv2d(cin, n["out"], n["kernel"], n["stride"], n["pad"], n["dilation"],
                              n["groups"], bias=bool(n["bias"]))
            elif op == "bn":
                m = nn.BatchNorm2d(cin)
            elif op in ACTS:
                m = act(op)
            elif op == "mbconv":
                m = MBConv(cin, n)
            elif op == "resblock":
                m = ResBlock(cin, n)
            elif op == "maxpool":
                m = nn.MaxPool2d(n["kernel"], n["stride"], n["pad"])
            elif op == "avgpool":
                m = nn.AvgPool2d(n["kernel"], n["stride"], n["pad"], count_include_pad=False)
            elif op == "global_avg_pool":
                m = nn.AdaptiveAvgPool2d(1)
            elif op == "dropout":
                m = nn.Dropout(n.get("rate", 0.0))
            elif op == "fc":
                s = shapes[n["in"][0]]
                m = nn.Linear(s[0] * s[1] * s[2], n["out"], bias=bool(n["bias"]))
            elif op in ("input", "flatten", "identity", "zero", "add", "concat"):
                m = nn.Identity()
            else:
                raise ValueError("unknown op %r" % op)
            mods.append(m)
        self.mods = nn.ModuleList(mods)

    def forward(self, x):
        outs = []
        for n, m in zip(self.nodes, self.mods):
            op = n["op"]
            ins = [outs[i] for i in n.get("in", [])]
            if op == "input":
                y = x
            elif op == "flatten":
                y = ins[0].reshape(ins[0].shape[0], -1, 1, 1)
            elif op == "fc":
                y = m(ins[0].flatten(1)).reshape(ins[0].shape[0], -1, 1, 1)
            elif op == "zero":
                c, h, w = n["shape"]
                y = torch.zeros(ins[0].shape[0], c, h, w)
            elif op == "add":
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            elif op == "concat":
                y = torch.cat(ins, 1)
            else:
                y = m(ins[0])
            if tuple(y.shape[1:]) != tuple(n["shape"]):
                raise ValueError("node %d (%s): torch shape %s, arch.json %s" %
                                 (n["id"], op, tuple(y.shape[1:]), tuple(n["shape"])))
            outs.append(y)
        return outs[-1]


def torch_counts(arch):
    """(macs, trainable params, params + BN running stats) at batch 1."""
    torch.manual_seed(0)
    model = Net(arch).eval()
    macs = [0]

    def conv_hook(m, inp, out):
        macs[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * \
            m.kernel_size[0] * m.kernel_size[1]

    def fc_hook(m, inp, out):
        macs[0] += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(fc_hook)
    with torch.no_grad():
        model(torch.randn(1, *arch["input"]))
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for name, b in model.named_buffers()
                if name.endswith("running_mean") or name.endswith("running_var"))
    return macs[0], params, params + stats


def nas_counts(nas, path):
    r = subprocess.run([nas, "cost", path, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("nas cost %s failed (%d): %s" % (path, r.returncode, r.stderr.strip()))
    j = json.loads(r.stdout)
    return j["macs"], j["params"], j["params_total"]


def collect(args):
    files = []
    for p in args.paths:
        files += sorted(glob.glob(os.path.join(p, "**", "*.json"), recursive=True)) \
            if os.path.isdir(p) else [p]
    if args.spaces:
        for name in ("mobilenet", "resnet", "nb201"):
            space = os.path.join(args.spaces, name + ".nas")
            if not os.path.exists(space):
                print("cost_torch_check: %s does not exist (yet): not sampled" % space)
                continue
            out = os.path.join(args.workdir, name)
            os.makedirs(out, exist_ok=True)
            r = subprocess.run([args.nas, "space", "sample", space, "-n", "10", "-o", out,
                                "--seed", "1"], capture_output=True, text=True)
            if r.returncode != 0:
                r = subprocess.run([args.nas, "space", "sample", space, "-n", "10", "-o", out],
                                   capture_output=True, text=True)
            if r.returncode != 0:
                print("cost_torch_check: nas space sample %s failed: %s" % (space, r.stderr.strip()))
                if args.require_spaces:
                    sys.exit(1)
                continue
            files += sorted(glob.glob(os.path.join(out, "**", "*.json"), recursive=True))
    if args.gen:
        out = os.path.join(args.workdir, "gen")
        n = max(args.min, 20)
        subprocess.run([args.gen, "--gen", out, str(n), "1"], check=True)
        files += sorted(glob.glob(os.path.join(out, "*.json")))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nas", required=True, help="the nas binary")
    ap.add_argument("--gen", help="test_cost binary: generate random archs with --gen")
    ap.add_argument("--spaces", help="folder with the shipped .nas spaces to sample")
    ap.add_argument("--require-spaces", action="store_true",
                    help="fail when a shipped space cannot be sampled")
    ap.add_argument("--workdir", default="cost_torch_work")
    ap.add_argument("--min", type=int, default=20, help="fail with fewer archs than this")
    ap.add_argument("paths", nargs="*", help="arch.json files or folders of them")
    args = ap.parse_args()
    files = [f for f in collect(args) if json.load(open(f)).get("format") == "nas-arch"]
    print("cost_torch_check: torch %s, %d archs" % (torch.__version__, len(files)))
    bad = 0
    for f in files:
        arch = json.load(open(f))
        try:
            t = torch_counts(arch)
            n = nas_counts(args.nas, f)
        except (ValueError, RuntimeError, KeyError) as e:
            print("FAIL %s: %s" % (f, e))
            bad += 1
            continue
        ok = tuple(int(v) for v in n) == t
        bad += not ok
        print("%s %-50s macs nas %d torch %d | params nas %d torch %d | total nas %d torch %d" %
              ("ok  " if ok else "FAIL", os.path.relpath(f), n[0], t[0], n[1], t[1], n[2], t[2]))
    if len(files) < args.min:
        print("cost_torch_check: only %d archs, need %d" % (len(files), args.min))
        return 1
    print("cost_torch_check: %d of %d archs equal" % (len(files) - bad, len(files)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
