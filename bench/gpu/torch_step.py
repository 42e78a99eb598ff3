#!/usr/bin/env python3
"""PyTorch's VGG16 or ResNet-50 training step, the peer of `graft-bench-gpu --step [--net resnet50]`.

The same network (VGG16: 13 3x3 convolutions with ReLU, five 2x2 max pools, fc6/fc7 4096 with
ReLU and dropout 0.5, fc8; resnet50: torchvision's, in training mode), the same batch of random images and labels, the same step: forward,
cross-entropy, backward, Adam (PyTorch's defaults: foreach on CUDA), loss.item() every step.
cudnn.benchmark is on; TF32 is on for convolutions and matrix products unless --fp32. With
--bf16 the forward and the loss run under torch.autocast("cuda", dtype=torch.bfloat16) (bf16
convolutions and matrix products, float32 master weights and Adam), the peer of graft's
--precision bf16; no loss scaling (bf16 has float32's range). --compile wraps the model in
torch.compile (compiled during the warm-up steps, outside the timing). Both
memory formats are timed unless --format says which (channels-last is often faster on tensor
cores); the summary takes the faster. Timed with CUDA events, median of --steps after warm-up.

bench/gpu-check runs it interleaved with graft (graft, torch, graft, torch) on the same card.
"""
import argparse
import json
import statistics
import sys


def vgg16(classes, size):
    import torch.nn as nn

    layers, c = [], 3
    for width, count in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]:
        for _ in range(count):
            layers += [nn.Conv2d(c, width, 3, 1, 1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.MaxPool2d(2, 2))
    side = size // 32
    layers += [nn.Flatten(), nn.Linear(512 * side * side, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
               nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(4096, classes)]
    return nn.Sequential(*layers)


def run(args, channels_last):
    import torch

    dev = torch.device("cuda")
    torch.manual_seed(0)
    if args.net == "vgg16":
        model = vgg16(args.classes, args.size)
    else:
        import torchvision
        model = getattr(torchvision.models, args.net)(num_classes=args.classes)
    model = model.to(dev).train()
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev) * 2 - 1
    labels = (torch.arange(args.batch, device=dev) * 37) % args.classes
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = torch.compile(model) if args.compile else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(fwd(x), labels)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    times, loss = [], 0.0
    for _ in range(args.steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        loss = step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    used = torch.cuda.max_memory_allocated()
    del model, fwd, opt, x
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return statistics.median(times), min(times), max(times), loss, used


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", choices=["vgg16", "resnet50"], default="vgg16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--format", choices=["both", "nchw", "channels_last"], default="both")
    ap.add_argument("--fp32", action="store_true", help="TF32 off")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast(bfloat16) mixed precision")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (compiled in the warm-up)")
    ap.add_argument("--json", default="", help="append one JSON line per run to this file")
    ap.add_argument("--tag", default="")
    ap.add_argument("--quick", action="store_true", help="tiny shapes, two steps: proves the script runs")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.size, args.steps, args.warmup = min(args.batch, 2), min(args.size, 64), 2, 1
    try:
        import torch
    except ImportError:
        print("torch_step: no PyTorch here; nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("torch_step: no CUDA device; nothing to measure")
        return 0
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = not args.fp32
    torch.backends.cuda.matmul.allow_tf32 = not args.fp32
    math = "bf16" if args.bf16 else "fp32" if args.fp32 else "tf32"
    formats = ["nchw", "channels_last"] if args.format == "both" else [args.format]
    for fmt in formats:
        med, lo, hi, loss, used = run(args, fmt == "channels_last")
        ips = args.batch / (med * 1e-3)
        name = {"vgg16": "VGG16", "resnet50": "ResNet-50"}[args.net]
        mode = "compiled" if args.compile else "eager"
        print(f"torch {torch.__version__} {mode} {name} training step (fwd+bwd+Adam), batch {args.batch}, "
              f"{args.size}x{args.size}, {math.upper()}, {fmt}"
              f"{', ' + args.tag if args.tag else ''}:\n"
              f"  {med:.2f} ms/step (median of {args.steps}; min {lo:.2f}, max {hi:.2f}), {ips:.1f} images/s, "
              f"loss {loss:.4f}, peak memory {used / 2**30:.1f} GiB", flush=True)
        if args.json:
            rec = {"section": "step", "net": args.net, "framework": "torch", "torch": torch.__version__,
                   "cudnn": torch.backends.cudnn.version(), "memory_format": fmt, "mode": mode,
                   "math": math, "tag": args.tag, "batch": args.batch,
                   "size": args.size, "classes": args.classes, "ms_per_batch": med, "min_ms": lo, "max_ms": hi,
                   "images_per_second": ips, "steps": args.steps, "loss": loss}
            with open(args.json, "a") as f:
                f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
