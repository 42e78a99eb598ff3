#!/usr/bin/python3
"""graft's benchmark configurations in PyTorch, and a driver that runs graft and PyTorch
interleaved (A B A B ...) on the same machine and prints the ratio table last.

  compare_torch.py measure --mode forward|train [--size 224 --batch 8 --width 1 ...] [--json]
  compare_torch.py measure --layers              the per-layer table (forward, backward-data,
                                                 backward-filter of each conv and fc shape)
  compare_torch.py compare --graft build/bench/graft-bench [--modes forward,train]
                           [--rounds 3] [--layers]

The network (--net) is VGG16 with graft's layer geometry (13 3x3 convolutions, 5 max pools,
fc6/7 4096 with ReLU and dropout 0.5, fc8 with --classes outputs), optionally scaled by
--width, or torchvision's ResNet-18/34/50 (resnet18, resnet34, resnet50) with --classes
outputs (--width must be 1; the per-layer table is VGG16's only).
`train` is forward + cross-entropy + backward + Adam step, gradients set to None (no zeroing
pass); `forward` runs under torch.inference_mode(). On the CPU PyTorch runs with 2 threads
and, from the driver, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (without huge pages its page
faults on freshly allocated tensors cost it 30-45 % of its time: the comparison is against
PyTorch at its best). On CUDA: cudnn.benchmark = True, timed with CUDA events.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HUGETLB = "glibc.malloc.hugetlb=1"


def vgg16(torch, size, width, classes, dropout=0.5):
    nn = torch.nn
    layers, c, h = [], 3, size
    for out, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        out = max(1, round(out * width))
        for _ in range(reps):
            layers += [nn.Conv2d(c, out, 3, 1, 1), nn.ReLU(inplace=True)]
            c = out
        layers.append(nn.MaxPool2d(2, 2))
        h //= 2
    fc = max(1, round(4096 * width))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * h, fc), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(fc, classes))


class Timer:
    def __init__(self, torch, device):
        self.torch, self.cuda = torch, device == "cuda"

    def time(self, fn, warmup, reps):
        torch = self.torch
        for _ in range(warmup):
            fn()
        if self.cuda:
            torch.cuda.synchronize()
        out = []
        for _ in range(reps):
            if self.cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                out.append(a.elapsed_time(b) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        return out


def setup_torch(a):
    import torch
    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True
    return torch


def memory_format(torch, a):
    return torch.channels_last if a.channels_last else torch.contiguous_format


def resnet(torch, name, classes):
    import torchvision
    return getattr(torchvision.models, name)(weights=None, num_classes=classes)


def product_gflop(torch, model, size):
    """Forward GFLOP of one image counted over the convolutions and fully connected layers
    (a multiply-add is 2), as graft's layers state theirs; and the first convolution's."""
    nn, counts = torch.nn, []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            counts.append(2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        else:
            counts.append(2 * m.in_features * m.out_features * out.shape[0])
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return sum(counts) / 1e9, counts[0] / 1e9


def build_model(torch, a):
    if a.net == "vgg16":
        return vgg16(torch, a.size, a.width, a.classes)
    if a.width != 1:
        sys.exit(f"compare_torch: --width applies to vgg16 only, not {a.net}")
    return resnet(torch, a.net, a.classes)


def measure_network(a):
    torch = setup_torch(a)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    model = build_model(torch, a)
    fwd_gflop, first_gflop = product_gflop(torch, model, a.size)
    model = model.to(dev)
    x = (torch.randn(a.batch, 3, a.size, a.size) * 50).to(dev)
    mf = memory_format(torch, a)
    model = model.to(memory_format=mf)
    x = x.contiguous(memory_format=mf)
    timer = Timer(torch, a.device)
    if a.mode == "forward":
        model.eval()

        def step():
            with torch.inference_mode():
                return model(x)
        gflop = fwd_gflop
    else:
        model.train()
        labels = torch.randint(0, a.classes, (a.batch,), device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(x), labels)
            loss.backward()
            opt.step()
            return loss
        # forward + weight gradient everywhere, input gradient above the first layer
        gflop = 3 * fwd_gflop - first_gflop
    secs = timer.time(step, a.warmup, a.reps)
    med = statistics.median(secs)
    return {"peer": "pytorch", "torch": torch.__version__, "device": a.device, "mode": a.mode, "net": a.net,
            "size": a.size, "batch": a.batch, "width": a.width, "threads": a.threads,
            "channels_last": a.channels_last, "gflop_per_image": gflop,
            "images_per_second": a.batch / med, "ms_per_batch": med * 1e3,
            "ms_min": min(secs) * 1e3, "ms_reps": [s * 1e3 for s in secs],
            "gflops": gflop * a.batch / med,
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}


def conv_shapes(a):
    """(name, c, o, h) of every VGG16 convolution, and (name, in, out) of fc6/7/8."""
    convs, c, h = [], 3, a.size
    for b, (out, reps) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        out = max(1, round(out * a.width))
        for i in range(reps):
            convs.append((f"conv{b + 1}_{i + 1}", c, out, h))
            c = out
        h //= 2
    fc = max(1, round(4096 * a.width))
    fcs = [("fc6", c * h * h, fc), ("fc7", fc, fc), ("fc8", fc, a.classes)]
    return convs, fcs


def measure_layers(a):
    torch = setup_torch(a)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    timer = Timer(torch, a.device)
    mf = memory_format(torch, a)
    conv_bw = torch.ops.aten.convolution_backward
    convs, fcs = conv_shapes(a)
    rows = []
    n = a.batch
    wu = max(1, a.warmup - 1)
    for name, c, o, h in convs:
        x = torch.randn(n, c, h, h, device=dev).contiguous(memory_format=mf)
        w = (torch.randn(o, c, 3, 3, device=dev) * 0.05).contiguous(memory_format=mf)
        b = torch.randn(o, device=dev)
        dy = torch.randn(n, o, h, h, device=dev).contiguous(memory_format=mf)
        gflop = 2 * n * o * c * 9 * h * h / 1e9
        with torch.no_grad():
            passes = {
                "forward": lambda: torch.nn.functional.conv2d(x, w, b, 1, 1),
                "backward-data": lambda: conv_bw(dy, x, w, [o], [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                 [True, False, False]),
                "backward-filter": lambda: conv_bw(dy, x, w, [o], [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                   [False, True, False]),
            }
            for p, fn in passes.items():
                secs = timer.time(fn, wu, a.reps)
                rows.append({"layer": name, "shape": f"{c}->{o} @{h}x{h}", "impl": "pytorch", "pass": p,
                             "gflop": gflop, "ms": statistics.median(secs) * 1e3})
    for name, i, o in fcs:
        x = torch.randn(n, i, device=dev)
        w = torch.randn(o, i, device=dev) * 0.01
        b = torch.randn(o, device=dev)
        dy = torch.randn(n, o, device=dev)
        gflop = 2 * n * i * o / 1e9
        with torch.no_grad():
            passes = {"forward": lambda: torch.nn.functional.linear(x, w, b),
                      "backward-data": lambda: dy.mm(w),
                      "backward-filter": lambda: (dy.t().mm(x), dy.sum(0))}
            for p, fn in passes.items():
                secs = timer.time(fn, wu, a.reps)
                rows.append({"layer": name, "shape": f"{i}->{o}", "impl": "pytorch", "pass": p,
                             "gflop": gflop, "ms": statistics.median(secs) * 1e3})
    for r in rows:
        r["gflops"] = r["gflop"] / r["ms"] * 1e3
    return {"peer": "pytorch", "device": a.device, "batch": n, "size": a.size, "layers": rows}


# ---------------------------------------------------------------- driver


def run_json(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def common_args(a):
    return ["--net", a.net, "--size", str(a.size), "--batch", str(a.batch), "--width", str(a.width), "--classes",
            str(a.classes), "--warmup", str(a.warmup), "--reps", str(a.reps), "--device", a.device]


def compare(a):
    env_torch = dict(os.environ)
    env_graft = dict(os.environ)
    if a.device == "cpu":
        env_torch["GLIBC_TUNABLES"] = HUGETLB
        env_torch["OMP_NUM_THREADS"] = str(a.threads)
        env_graft["OMP_NUM_THREADS"] = str(a.threads)
        if a.graft_hugetlb:
            env_graft["GLIBC_TUNABLES"] = HUGETLB
    me = os.path.abspath(__file__)
    graft_cmd = [a.graft] + common_args(a) + ["--json"] + (["--conv", a.conv] if a.conv else [])
    torch_cmd = [sys.executable, me, "measure"] + common_args(a) + ["--threads", str(a.threads), "--json"]
    if a.channels_last:
        torch_cmd.append("--channels-last")
    results = {}
    jobs = [("layers", ["--layers"], ["--layers"])] if a.layers else \
        [(m, ["--mode", m], ["--mode", m]) for m in a.modes.split(",")]
    for r in range(a.rounds):
        for key, gx, tx in jobs:
            g = run_json(graft_cmd + gx + (["--peak", str(a.peak)] if a.peak and a.layers else []), env_graft)
            t = run_json(torch_cmd + tx, env_torch)
            results.setdefault(key, []).append((g, t))
            if key != "layers":
                print(f"round {r + 1} {key:8s} graft {g['images_per_second']:8.3f} img/s   "
                      f"pytorch {t['images_per_second']:8.3f} img/s   ratio {g['images_per_second'] / t['images_per_second']:.3f}",
                      flush=True)
            else:
                print(f"round {r + 1} layers done", flush=True)
    print()
    net = f"VGG16 width {a.width}" if a.net == "vgg16" else a.net
    print(f"graft vs PyTorch {a.device}, {net} at {a.size}x{a.size}, batch {a.batch}, "
          f"{a.threads} threads, {a.rounds} interleaved rounds of {a.reps} timed reps after {a.warmup} warm-up "
          f"(PyTorch: GLIBC_TUNABLES={env_torch.get('GLIBC_TUNABLES', '')}, channels_last={a.channels_last}; "
          f"graft: GLIBC_TUNABLES={env_graft.get('GLIBC_TUNABLES', '')})")
    if a.layers:
        print_layer_ratios(results["layers"], a)
        return
    print(f"{'mode':8s} {'graft img/s':>12s} {'torch img/s':>12s} {'ratio':>7s} {'graft GFLOP/s':>14s} {'torch GFLOP/s':>14s}  per-round ratios")
    for key, pairs in results.items():
        gi = statistics.median(g["images_per_second"] for g, _ in pairs)
        ti = statistics.median(t["images_per_second"] for _, t in pairs)
        gg = statistics.median(g["gflops"] for g, _ in pairs)
        tg = statistics.median(t["gflops"] for _, t in pairs)
        per = " ".join(f"{g['images_per_second'] / t['images_per_second']:.3f}" for g, t in pairs)
        print(f"{key:8s} {gi:12.3f} {ti:12.3f} {gi / ti:7.3f} {gg:14.1f} {tg:14.1f}  {per}")


def print_layer_ratios(pairs, a):
    peak = pairs[0][0].get("peak_gflops", 0)
    print(f"per-layer medians over rounds; peak {peak:.1f} GFLOP/s (measured by graft-bench); "
          f"ratio = PyTorch ms / graft ms (> 1: graft faster)")
    rows = {}
    for g, t in pairs:
        for r in g["layers"]:
            rows.setdefault((r["layer"], r["pass"]), {}).setdefault(r["impl"], []).append(r)
        for r in t["layers"]:
            rows.setdefault((r["layer"], r["pass"]), {}).setdefault("pytorch", []).append(r)
    impls = []
    for v in rows.values():
        for k in v:
            if k != "pytorch" and k not in impls:
                impls.append(k)
    head = f"{'layer':8s} {'pass':16s} {'shape':20s} {'GFLOP':>7s}"
    for k in impls + ["pytorch"]:
        head += f" {k + ' ms':>13s} {'%peak':>6s}"
    head += "  " + " ".join(f"{'vs ' + k:>12s}" for k in impls)
    print(head)
    for (layer, p), v in rows.items():
        any_r = next(iter(v.values()))[0]
        line = f"{layer:8s} {p:16s} {any_r['shape']:20s} {any_r['gflop']:7.2f}"
        ms = {}
        for k in impls + ["pytorch"]:
            if k in v:
                ms[k] = statistics.median(r["ms"] for r in v[k])
                frac = any_r["gflop"] / ms[k] * 1e3 / peak * 100 if peak else 0
                line += f" {ms[k]:13.2f} {frac:5.1f}%"
            else:
                line += f" {'-':>13s} {'':>6s}"
        line += "  " + " ".join(f"{ms['pytorch'] / ms[k]:12.3f}" if k in ms and 'pytorch' in ms else f"{'-':>12s}"
                                for k in impls)
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["measure", "compare"])
    ap.add_argument("--mode", default="forward", choices=["forward", "train"])
    ap.add_argument("--modes", default="forward,train", help="compare: modes to run")
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--net", default="vgg16", choices=["vgg16", "resnet18", "resnet34", "resnet50"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="PyTorch in channels-last layout")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--graft", default="graft-bench", help="compare: the graft-bench program")
    ap.add_argument("--conv", default="", help="compare: graft's --conv (auto, im2col, winograd)")
    ap.add_argument("--peak", type=float, default=0, help="compare --layers: the peak GFLOP/s to use")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--graft-hugetlb", action="store_true", help="compare: run graft with the same GLIBC_TUNABLES")
    a = ap.parse_args()
    if a.layers and a.net != "vgg16":
        sys.exit("compare_torch: the per-layer table (--layers) is VGG16's only")
    if a.command == "compare":
        return compare(a)
    res = measure_layers(a) if a.layers else measure_network(a)
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            if k != "layers":
                print(f"{k:24s} {v}")
        for r in res.get("layers", []):
            print(f"{r['layer']:8s} {r['shape']:20s} {r['pass']:16s} {r['gflop']:8.2f} GFLOP {r['ms']:9.2f} ms "
                  f"{r['gflops']:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
