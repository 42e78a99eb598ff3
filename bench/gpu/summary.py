#!/usr/bin/env python3
"""The closing table of bench/gpu-check, from the JSON lines of graft-bench-gpu and torch_step.py.

usage: summary.py BENCH_JSONL [TESTS_SUMMARY_FILE]
Prints a short table: device and measured peaks, test results, the training steps per
network, precision and batch (graft vs PyTorch, median over the interleaved rounds, and the
ratio; PyTorch's bf16 rows are torch.autocast(bfloat16)), the per-layer
cuDNN-vs-graft times, and the memory-bound kernels' fraction of the copy bandwidth.
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    recs = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        recs.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return recs


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    recs = load(sys.argv[1])
    out = print
    out("=" * 78)
    out("graft GPU check: summary (numbers from this run only; ratios on the same card)")
    out("=" * 78)
    dev = [r for r in recs if r["section"] == "device"]
    if dev:
        d = dev[0]
        out(f"device: {d['name']}, {int(d['sms'])} SMs, {d['memory'] / 2**30:.0f} GiB; CUDA runtime "
            f"{int(d['cuda_runtime'])}, driver {int(d['driver'])}, cuDNN {int(d['cudnn'])}")
    peaks = {r["what"]: r for r in recs if r["section"] == "peak"}
    if peaks:
        out(f"peaks: copy {peaks.get('copy', {}).get('gbs', 0):.0f} GB/s; SGEMM TF32 "
            f"{peaks.get('gemm_tf32', {}).get('tflops', 0):.1f} TFLOP/s, FP32 {peaks.get('gemm_fp32', {}).get('tflops', 0):.1f}; "
            f"bf16 GEMM {peaks.get('gemm_bf16', {}).get('tflops', 0):.1f}")
    if len(sys.argv) > 2:
        try:
            with open(sys.argv[2]) as f:
                for line in f:
                    out("tests: " + line.rstrip())
        except OSError:
            out("tests: (no summary file)")

    # one table per network, precision (tf32, fp32, bf16) and batch: ratios only within one
    all_steps = [r for r in recs if r["section"] == "step"]
    tables = []
    for r in all_steps:
        k = (r.get("net", "vgg16"), r.get("math", "tf32"), int(r["batch"]))
        if k not in tables:
            tables.append(k)
    for net, math, batch in tables:
        steps = [r for r in all_steps
                 if (r.get("net", "vgg16"), r.get("math", "tf32"), int(r["batch"])) == (net, math, batch)]
        groups = defaultdict(list)
        for r in steps:
            if r["framework"] == "graft":
                key = f"graft (conv {r['conv']}, pool {r['pool']}, {r.get('layout', 'nchw')})"
            else:
                key = f"torch {r.get('torch', '')} ({r.get('mode', 'eager')}, {r['memory_format']})"
            groups[key].append(r)
        first = steps[0]
        name = {"vgg16": "VGG16", "resnet50": "ResNet-50"}.get(net, net)
        out("")
        out(f"{name} training step (fwd+bwd+Adam), batch {int(first['batch'])}, {int(first['size'])}x"
            f"{int(first['size'])}, {first['math'].upper()}: images/s, median over rounds")
        best = {}
        for key, rs in groups.items():
            ips = [r["images_per_second"] for r in rs]
            med = statistics.median(ips)
            best[key] = med
            rounds = ", ".join(f"{v:.1f}" for v in ips)
            out(f"  {key:<50} {med:9.1f}   ({statistics.median([r['ms_per_batch'] for r in rs]):.1f} ms; runs: {rounds})")
        g = [v for k, v in best.items() if k.startswith("graft (conv cudnn")]
        t = [v for k, v in best.items() if k.startswith("torch")]
        gg = [v for k, v in best.items() if k.startswith("graft (conv graft")]
        if g and t:
            for layout in ["nchw", "channels-last"]:
                gl = [v for k, v in best.items() if k.startswith("graft (conv cudnn") and k.endswith(f", {layout})")]
                if gl:
                    out(f"  ratio graft (cuDNN conv, {layout}) / best PyTorch: {max(gl) / max(t):.3f}")
            out(f"  ratio graft (cuDNN conv, best layout) / best PyTorch: {max(g) / max(t):.3f}")
        if gg and t:
            out(f"  ratio graft (graft conv) / best PyTorch: {max(gg) / max(t):.3f}")

    layers = [r for r in recs if r["section"] == "layer"]
    if layers:
        out("")
        out("per layer, ms (forward / backward data / backward filter); graft/cuDNN time ratio; max rel diff")
        table = defaultdict(dict)
        diffs = defaultdict(list)
        order = []
        for r in layers:
            if r["layer"] not in order:
                order.append(r["layer"])
            table[(r["layer"], r["impl"])][r["pass"]] = r["ms"]
            if "rel_diff_vs_cudnn" in r:
                diffs[(r["layer"], r["impl"])].append(r["rel_diff_vs_cudnn"])
        passes = ["forward", "bwd-data", "bwd-filter"]
        for name in order:
            for impl in ["cudnn", "graft", "cudnn-nhwc", "cudnn-bf16", "cublas", "cublas-bf16"]:
                row = table.get((name, impl))
                if not row:
                    continue
                ms = " / ".join(f"{row.get(p, float('nan')):7.3f}" for p in passes)
                extra = ""
                if impl == "cudnn-bf16" and (name, "cudnn-nhwc") in table:
                    c = table[(name, "cudnn-nhwc")]
                    ratios = " / ".join(f"{row[p] / c[p]:.2f}" for p in passes if p in row and p in c and c[p] > 0)
                    d = diffs[(name, impl)]
                    extra = f"   x{ratios} of nhwc   diff {max(d) if d else float('nan'):.1e}"
                if impl == "graft" and (name, "cudnn") in table:
                    c = table[(name, "cudnn")]
                    ratios = " / ".join(f"{row[p] / c[p]:.2f}" for p in passes if p in row and p in c and c[p] > 0)
                    d = diffs[(name, impl)]
                    extra = f"   x{ratios}   diff {max(d) if d else float('nan'):.1e}"
                out(f"  {name:<12} {impl:<10} {ms}{extra}")

    bw = [r for r in recs if r["section"] == "bandwidth"]
    if bw:
        out("")
        out("memory-bound kernels: fraction of the measured copy bandwidth (goal: 80 % and more)")
        for r in bw:
            out(f"  {r['kernel']:<22} {r['impl']:<6} {r['shape']:<18} {r['ms']:8.3f} ms  {100 * r['copy_fraction']:5.1f} %")
    if not recs:
        out("(no benchmark records: no CUDA device, or the benchmarks did not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
