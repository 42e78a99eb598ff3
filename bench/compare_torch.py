#!/usr/bin/python3
"""graft's benchmark configurations in PyTorch, and a driver that runs graft and PyTorch
interleaved (A B A B ...) on the same machine and prints the ratio table last.

  compare_torch.py measure --mode forward|train [--size 224 --batch 8 --width 1 ...] [--json]
  compare_torch.py measure --layers              the per-layer table (forward, backward-data,
                                                 backward-filter of each conv and fc shape)
  compare_torch.py compare --graft build/bench/graft-bench [--modes forward,train]
                           [--rounds 3] [--layers]
  compare_torch.py compare --net dlib-face --graft build/bench/graft-bench
                           --dlib build/bench/graft-bench-dlib [--batch 16]
  compare_torch.py check --net dlib-face --graft build/bench/graft-bench [--dlib-weights MODEL.dat]

The network (--net) is VGG16 with graft's layer geometry (13 3x3 convolutions, 5 max pools,
fc6/7 4096 with ReLU and dropout 0.5, fc8 with --classes outputs), optionally scaled by
--width, or torchvision's ResNet-18/34/50 (resnet18, resnet34, resnet50) with --classes
outputs (--width must be 1; the per-layer table is VGG16's only).
`train` is forward + cross-entropy + backward + Adam step, gradients set to None (no zeroing
pass); `forward` runs under torch.inference_mode(). On the CPU PyTorch runs with 2 threads
and, from the driver, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (without huge pages its page
faults on freshly allocated tensors cost it 30-45 % of its time: the comparison is against
PyTorch at its best). On CUDA: cudnn.benchmark = True, timed with CUDA events.

dlib-face is dlib's face ResNet (150x150; graft-bench --net dlib-face: nn::dlib_face_resnet
with a Linear "head" of --classes outputs on the 128-d descriptor). Its affines are folded into
the convolutions where they are frozen (all of them in forward; below --learn-from in train,
whose default level4_b1_conv1 lets the top two levels, fc and head learn, as in graft-bench),
which is PyTorch at its best. The driver runs graft and dlib with dlib's .dat (--dlib-weights,
default graft's cache) and PyTorch with graft's copy of the same weights (graft-bench --save),
and with --dlib also dlib itself (graft-bench-dlib, forward only; OPENBLAS_NUM_THREADS =
--threads). `check` proves the PyTorch module is graft's network: graft's saved weights, input
and output against PyTorch's output, unfolded and folded.
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
    import warnings
    import torch
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # dlib-face's shape tests
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


# ---------------------------------------------------------------- dlib's face ResNet

DLIB_LEVELS = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))  # width, down, blocks
DLIB_LEARN_FROM = "level4_b1_conv1"  # graft-bench's default: the top two levels learn


def dlib_face_nodes():
    """graft's node names of the convolutions (each followed by its affine) in forward order,
    and the blocks as (prefix, width, down)."""
    convs, blocks = [("conv1", "affine1")], []
    for n, (width, down, count) in enumerate(DLIB_LEVELS):
        b = 1
        for d in ([True] if down else []) + [False] * count:
            p = f"level{n + 1}_b{b}_"
            blocks.append((p, width, d))
            convs += [(p + "conv1", p + "affine1"), (p + "conv2", p + "affine2")]
            b += 1
    return convs, blocks


def dlib_face(torch, classes):
    """dlib's face ResNet as graft-bench --net dlib-face builds it (nn::dlib_face_resnet and a
    Linear "head" on the 128-d descriptor fc): modules named by graft's nodes, so that
    graft's saved weights load by name. dlib's rules: stride-2 convs and pools have no padding
    and sizes round down (150 -> 72 -> 35 -> 17 -> 8 -> 4 -> 2); a down block's shortcut is the
    block input average-pooled 2x2/2, added with zero-padding at the end of every axis. Each
    affine is a per-channel scale and offset (F.batch_norm in eval form with mean 0, variance 1,
    eps 0: one fused kernel with a backward); fold() merges the frozen ones into their convs
    (conv with bias), which is what PyTorch at its best runs."""
    nn, F = torch.nn, torch.nn.functional

    class Affine(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(c))
            self.bias = nn.Parameter(torch.zeros(c))
            self.register_buffer("zeros", torch.zeros(c), persistent=False)
            self.register_buffer("ones", torch.ones(c), persistent=False)

        def forward(self, x):
            return F.batch_norm(x, self.zeros, self.ones, self.weight, self.bias, False, 0.0, 0.0)

    def add_zero_pad(a, b):
        """a + b on the larger shape, the smaller zero-padded at the end of every axis (dlib's
        add_prev): the input with every size of the result is padded where it lacks (level4's
        3x3 branch), then the other is added into its corner in place."""
        full = tuple(max(x, y) for x, y in zip(a.shape[1:], b.shape[1:]))
        if tuple(b.shape[1:]) != full and tuple(a.shape[1:]) == full:
            a, b = b, a
        if tuple(b.shape[1:]) != full:  # neither has every size: pad the one with the most channels
            if a.shape[1] > b.shape[1]:
                a, b = b, a
            b = F.pad(b, (0, full[2] - b.shape[3], 0, full[1] - b.shape[2]))
        b[:, :a.shape[1], :a.shape[2], :a.shape[3]] += a
        return b

    class DlibFace(nn.Module):
        def __init__(self):
            super().__init__()
            convs, self.blocks = dlib_face_nodes()
            self.conv = nn.ModuleDict()
            self.affine = nn.ModuleDict()
            c = 3
            for conv, affine in convs:
                if conv == "conv1":
                    m, c = nn.Conv2d(3, 32, 7, 2, 0), 32
                else:
                    prefix = conv[:-5]
                    _, width, down = next(b for b in self.blocks if b[0] == prefix)
                    first = conv.endswith("conv1")
                    stride = 2 if down and first else 1
                    m = nn.Conv2d(c if first else width, width, 3, stride, 0 if stride == 2 else 1)
                    c = width
                self.conv[conv] = m
                self.affine[affine] = Affine(m.out_channels)
            self.fc = nn.Linear(256, 128, bias=False)
            self.head = nn.Linear(128, classes)

        def ca(self, name, affine, x):
            y = self.conv[name](x)
            a = self.affine[affine]
            return y if a is None else a(y)

        def trunk(self, x, sizes=None):
            x = F.max_pool2d(F.relu(self.ca("conv1", "affine1", x), inplace=True), 3, 2)
            if sizes is not None:
                sizes.append(x.shape[2])
            for p, _, down in self.blocks:
                y = F.relu(self.ca(p + "conv1", p + "affine1", x), inplace=True)
                y = self.ca(p + "conv2", p + "affine2", y)
                if down:
                    y = add_zero_pad(F.avg_pool2d(x, 2, 2), y)
                    if sizes is not None:
                        sizes.append(y.shape[2])
                else:
                    y += x
                x = F.relu(y, inplace=True)
            return x.mean((2, 3))

        def forward(self, x):
            return self.head(self.fc(self.trunk(x)))

        def fold(self, which=None):
            """Merges the affines named in `which` (all: None) into their convolutions."""
            with torch.no_grad():
                for conv, affine in convs_of(self):
                    a = self.affine[affine]
                    if a is None or (which is not None and affine not in which):
                        continue
                    m = self.conv[conv]
                    m.weight.mul_(a.weight.view(-1, 1, 1, 1))
                    m.bias.mul_(a.weight).add_(a.bias)
                    self.affine[affine] = None
            return self

    def convs_of(model):
        return dlib_face_nodes()[0]

    return DlibFace()


def dlib_face_load(torch, model, path):
    """Loads graft's saved weights (graft-bench --save: caffe-tensorflow layouts, conv HWIO,
    fc (in, out)) into dlib_face()'s modules, by node name."""
    import numpy as np
    z = np.load(path)
    seen = set()
    with torch.no_grad():
        for key in z.files:
            node, _, param = key.partition("/")
            if node == "graft":
                continue
            v = torch.from_numpy(np.ascontiguousarray(z[key]))
            if node in model.conv:
                t = model.conv[node].weight if param == "weights" else model.conv[node].bias
                v = v.permute(3, 2, 0, 1) if param == "weights" else v  # HWIO -> OIHW
            elif node in model.affine:
                t = model.affine[node].weight if param == "scale" else model.affine[node].bias
            elif node in ("fc", "head"):
                m = getattr(model, node)
                t = m.weight if param == "weights" else m.bias
                v = v.t() if param == "weights" else v  # (in, out) -> (out, in)
            else:
                sys.exit(f"compare_torch: {path}: {key} names no node of dlib-face")
            if tuple(t.shape) != tuple(v.shape):
                sys.exit(f"compare_torch: {path}: {key} has shape {tuple(v.shape)}, the module {tuple(t.shape)}")
            t.copy_(v)
            seen.add(key)
    want = 2 * len(model.conv) + 2 * len(model.affine) + 1 + 2
    if len(seen) != want:
        sys.exit(f"compare_torch: {path} holds {len(seen)} of dlib-face's {want} parameters")
    return z


def learn_from_top(torch, model, node):
    """graft's freeze_all + unfreeze_from(node): the modules from `node` on (in forward order)
    learn, those below do not; returns the affines that stay frozen (to fold)."""
    order = []
    for conv, affine in dlib_face_nodes()[0]:
        order += [("conv", conv), ("affine", affine)]
    names = [n for _, n in order]
    if node not in names:
        sys.exit(f"compare_torch: --learn-from {node}: not a dlib-face convolution or affine")
    k = names.index(node)
    frozen = set()
    for i, (kind, name) in enumerate(order):
        on = i >= k
        m = model.conv[name] if kind == "conv" else model.affine[name]
        for p in m.parameters():
            p.requires_grad_(on)
        if kind == "affine" and not on:
            frozen.add(name)
    return frozen


def counted_gflop(torch, model, size, train):
    """Forward GFLOP of one image over the convolutions and fully connected layers (a
    multiply-add is 2), and with train: forward + weight gradients of the layers that learn +
    input gradients of every layer after the first that learns (graft-bench's count_flops)."""
    nn, rows = torch.nn, []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            c = 2 * out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        else:
            c = 2 * m.in_features * m.out_features * out.shape[0]
        rows.append((c, any(p.requires_grad for p in m.parameters())))
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    fwd = sum(c for c, _ in rows)
    if not train:
        return fwd / 1e9
    low = next((i for i, (_, learns) in enumerate(rows) if learns), len(rows))
    return (fwd + sum(c for c, learns in rows if learns) + sum(c for i, (c, _) in enumerate(rows) if i > low)) / 1e9


def train_step(torch, model, x, labels, params):
    """One training step as graft-bench's train mode times it: forward, cross-entropy,
    backward, Adam on `params` (gradients set to None, no zeroing pass)."""
    opt = torch.optim.Adam(params, lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), labels)
        loss.backward()
        opt.step()
        return loss
    return step


def measure_dlib_face(a):
    torch = setup_torch(a)
    torch.manual_seed(a.seed)
    model = dlib_face(torch, a.classes)
    if a.weights:
        dlib_face_load(torch, model, a.weights)
    if a.mode == "forward":
        model.fold()
        for p in model.parameters():
            p.requires_grad_(False)
    else:
        model.fold(learn_from_top(torch, model, a.learn_from))
    gflop = counted_gflop(torch, model, a.size, a.mode == "train")
    mf = memory_format(torch, a)
    model = model.to(memory_format=mf)
    # dlib's input, (p - mean) / 256: graft-bench's random scale
    x = (torch.randn(a.batch, 3, a.size, a.size) * 0.25).contiguous(memory_format=mf)
    timer = Timer(torch, a.device)
    if a.mode == "forward":
        model.eval()
        if a.jit:  # TorchScript, frozen: oneDNN's fused convolutions (PyTorch's fastest inference here)
            with torch.no_grad():
                model = torch.jit.freeze(torch.jit.trace(model, x))

        def step():
            with torch.inference_mode():
                return model(x)
    else:
        model.train()
        labels = torch.randint(0, a.classes, (a.batch,))
        step = train_step(torch, model, x, labels, [p for p in model.parameters() if p.requires_grad])
    secs = timer.time(step, a.warmup, a.reps)
    med = statistics.median(secs)
    out = {"peer": "pytorch", "torch": torch.__version__, "device": a.device, "mode": a.mode, "net": a.net,
           "size": a.size, "batch": a.batch, "threads": a.threads, "channels_last": a.channels_last,
           "weights": a.weights or "random", "affines": "folded into the convs" if a.mode == "forward" else
           "frozen ones folded into the convs, learning ones F.batch_norm (eval form)",
           "jit": bool(a.jit and a.mode == "forward")}
    if a.mode == "train":
        out["learn_from"] = a.learn_from
    out.update({"gflop_per_image": gflop, "images_per_second": a.batch / med, "ms_per_batch": med * 1e3,
                "ms_min": min(secs) * 1e3, "ms_reps": [s * 1e3 for s in secs], "gflops": gflop * a.batch / med,
                "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")})
    return out


def check_dlib_face(a):
    """graft-bench --net dlib-face --save: graft's weights, input and output; the same network
    here (unfolded and folded) must give graft's output, and the sizes 72, 35, 17, 8, 4, 2."""
    import tempfile
    import numpy as np
    torch = setup_torch(a)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dlib-face.npz")
        cmd = [a.graft, "--net", "dlib-face", "--mode", "forward", "--batch", str(a.batch), "--warmup", "0",
               "--reps", "2", "--classes", str(a.classes), "--save", path, "--json"]
        if a.dlib_weights:
            cmd += ["--weights", a.dlib_weights]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"check: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
        model = dlib_face(torch, a.classes)
        z = dlib_face_load(torch, model, path)
        x = torch.from_numpy(np.array(z["graft/input"]))
        want = torch.from_numpy(np.array(z["graft/output"]))
    model.eval()
    sizes = [model.conv["conv1"](x[:1]).shape[2]]
    with torch.no_grad():
        model.trunk(x[:1], sizes)
        got = model(x)
        folded = model.fold()(x)
        m = model.to(memory_format=torch.channels_last)
        xc = x.contiguous(memory_format=torch.channels_last)
        jit = torch.jit.freeze(torch.jit.trace(m, xc))(xc)
    scale = want.abs().max().item()
    err, err_folded, err_jit = ((t - want).abs().max().item() / max(scale, 1e-30) for t in (got, folded, jit))
    ok = sizes == [72, 35, 17, 8, 4, 2] and max(err, err_folded, err_jit) < a.tolerance
    print(f"dlib-face, weights {a.dlib_weights or 'random (graft seed 1)'}: sizes {sizes} (want 72, 35, 17, 8, 4, 2); "
          f"max |torch - graft| / max |graft| = {err:.2e} (folded affines {err_folded:.2e}, and channels-last "
          f"TorchScript as measured {err_jit:.2e}); tolerance {a.tolerance:g}: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def build_model(torch, a):
    if a.net == "vgg16":
        return vgg16(torch, a.size, a.width, a.classes)
    if a.width != 1:
        sys.exit(f"compare_torch: --width applies to vgg16 only, not {a.net}")
    return resnet(torch, a.net, a.classes)


def measure_network(a):
    if a.net == "dlib-face":
        return measure_dlib_face(a)
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
        if a.jit and a.device == "cpu":  # TorchScript, frozen: BatchNorm folded, oneDNN's fused convolutions
            with torch.no_grad():
                model = torch.jit.freeze(torch.jit.trace(model, x))

        def step():
            with torch.inference_mode():
                return model(x)
        gflop = fwd_gflop
    else:
        model.train()
        labels = torch.randint(0, a.classes, (a.batch,), device=dev)
        step = train_step(torch, model, x, labels, model.parameters())
        # forward + weight gradient everywhere, input gradient above the first layer
        gflop = 3 * fwd_gflop - first_gflop
    secs = timer.time(step, a.warmup, a.reps)
    med = statistics.median(secs)
    return {"peer": "pytorch", "torch": torch.__version__, "device": a.device, "mode": a.mode, "net": a.net,
            "size": a.size, "batch": a.batch, "width": a.width, "threads": a.threads,
            "channels_last": a.channels_last, "jit": bool(a.jit and a.mode == "forward" and a.device == "cpu"),
            "gflop_per_image": gflop, "images_per_second": a.batch / med, "ms_per_batch": med * 1e3,
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


def dlib_model_path():
    """dlib's model file where graft looks for it ($GRAFT_DLIB_MODEL, else graft's cache), or ""."""
    env = os.environ.get("GRAFT_DLIB_MODEL", "")
    if env:
        return env if os.path.isfile(env) else ""
    cache = os.environ.get("GRAFT_CACHE") or (os.path.join(os.environ["XDG_CACHE_HOME"], "graft")
                                              if os.environ.get("XDG_CACHE_HOME") else
                                              os.path.join(os.path.expanduser("~"), ".cache", "graft"))
    p = os.path.join(cache, "dlib", "dlib_face_recognition_resnet_model_v1.dat")
    return p if os.path.isfile(p) else ""


def ips_best(r):
    """images per second of the fastest timed repetition (the least disturbed by other load)."""
    return r["batch"] / r["ms_min"] * 1e3


def compare(a):
    import tempfile
    env_torch = dict(os.environ)
    env_graft = dict(os.environ)
    if a.device == "cpu":
        env_torch["GLIBC_TUNABLES"] = HUGETLB
        env_torch["OMP_NUM_THREADS"] = str(a.threads)
        env_graft["OMP_NUM_THREADS"] = str(a.threads)
        if a.graft_hugetlb:
            env_graft["GLIBC_TUNABLES"] = HUGETLB
    if a.omp_passive:  # threads that wait sleep instead of spinning (a machine others load)
        env_torch["OMP_WAIT_POLICY"] = env_graft["OMP_WAIT_POLICY"] = "PASSIVE"
    env_dlib = dict(os.environ)
    env_dlib["OPENBLAS_NUM_THREADS"] = str(a.threads)
    env_dlib["OMP_NUM_THREADS"] = str(a.threads)
    if a.dlib_hugetlb:
        env_dlib["GLIBC_TUNABLES"] = HUGETLB
    me = os.path.abspath(__file__)
    graft_cmd = [a.graft] + common_args(a) + ["--json"] + (["--conv", a.conv] if a.conv else [])
    torch_cmd = [sys.executable, me, "measure"] + common_args(a) + ["--threads", str(a.threads), "--json"]
    if a.channels_last:
        torch_cmd.append("--channels-last")
    dlib_face = a.net == "dlib-face"
    torch_cmd += [] if a.jit else ["--no-jit"]
    if dlib_face:
        torch_cmd += ["--nchw"] if a.nchw else []
    tmp = tempfile.TemporaryDirectory()
    dlib_weights = ""
    if dlib_face:
        dlib_weights = "" if a.dlib_weights == "random" else a.dlib_weights or dlib_model_path()
        if dlib_weights:
            # graft and dlib read dlib's file; PyTorch the same weights as graft saved them
            graft_cmd += ["--weights", dlib_weights]
            npz = os.path.join(tmp.name, "dlib-face.npz")
            run_json([a.graft, "--net", "dlib-face", "--batch", "1", "--warmup", "0", "--reps", "1", "--classes",
                      str(a.classes), "--weights", dlib_weights, "--save", npz, "--json"], env_graft)
            torch_cmd += ["--weights", npz]
        if a.learn_from:
            graft_cmd += ["--learn-from", a.learn_from]
            torch_cmd += ["--learn-from", a.learn_from]
    dlib_cmd = None
    if dlib_face and a.dlib:
        dlib_cmd = [a.dlib, "--batch", str(a.batch), "--warmup", str(a.warmup), "--reps", str(a.reps), "--json"] + \
                   (["--weights", dlib_weights] if dlib_weights else ["--random"])
    results = {}
    jobs = [("layers", ["--layers"], ["--layers"])] if a.layers else \
        [(m, ["--mode", m], ["--mode", m]) for m in a.modes.split(",")]
    for r in range(a.rounds):
        for key, gx, tx in jobs:
            g = run_json(graft_cmd + gx + (["--peak", str(a.peak)] if a.peak and a.layers else []), env_graft)
            t = run_json(torch_cmd + tx, env_torch)
            d = None
            if dlib_cmd and key == "forward":
                d = run_json(dlib_cmd + ["--gflop", str(g["gflop_per_image"])], env_dlib)
            results.setdefault(key, []).append((g, t, d))
            if key != "layers":
                line = (f"round {r + 1} {key:8s} graft {g['images_per_second']:8.3f} img/s   "
                        f"pytorch {t['images_per_second']:8.3f} img/s   ratio {g['images_per_second'] / t['images_per_second']:.3f}")
                if d:
                    line += (f"   dlib {d['images_per_second']:8.3f} img/s   ratio "
                             f"{g['images_per_second'] / d['images_per_second']:.3f}")
                print(line, flush=True)
            else:
                print(f"round {r + 1} layers done", flush=True)
    print()
    net = f"VGG16 width {a.width}" if a.net == "vgg16" else a.net
    print(f"graft vs PyTorch {a.device}, {net} at {a.size}x{a.size}, batch {a.batch}, "
          f"{a.threads} threads, {a.rounds} interleaved rounds of {a.reps} timed reps after {a.warmup} warm-up "
          f"(PyTorch: GLIBC_TUNABLES={env_torch.get('GLIBC_TUNABLES', '')}, channels_last={a.channels_last}, "
          f"forward as a frozen TorchScript trace={a.jit and a.device == 'cpu'}; graft: GLIBC_TUNABLES={env_graft.get('GLIBC_TUNABLES', '')})"
          + (f"; both OMP_WAIT_POLICY=PASSIVE" if a.omp_passive else ""))
    if dlib_face:
        affines = "; ".join(f"{k}: {pairs[0][1].get('affines', '')}"
                            + (", a frozen TorchScript trace" if pairs[0][1].get("jit") else "")
                            for k, pairs in results.items())
        learn = [pairs[0][0].get("learn_from") for k, pairs in results.items() if k == "train"]
        print(f"dlib-face weights: {dlib_weights or 'random'} (PyTorch: graft's copy of them); "
              + (f"train: {learn[0]} and above learn (a 2-class head on fc), Adam; " if learn else "")
              + f"PyTorch's affines: {affines}")
        if dlib_cmd:
            ds = [d for pairs in results.values() for _, _, d in pairs if d]
            if ds:
                print(f"dlib: {ds[0]['dlib']}, {ds[0]['blas']}, {ds[0]['threads']} BLAS threads "
                      f"(OPENBLAS_NUM_THREADS={env_dlib['OPENBLAS_NUM_THREADS']}, "
                      f"GLIBC_TUNABLES={env_dlib.get('GLIBC_TUNABLES', '')}); timed: net(chips, batch)")
    if a.layers:
        print_layer_ratios([(g, t) for g, t, _ in results["layers"]], a)
        return
    with_dlib = any(d for pairs in results.values() for _, _, d in pairs)
    head = (f"{'mode':8s} {'graft img/s':>12s} {'torch img/s':>12s} {'ratio':>7s} {'graft GFLOP/s':>14s} "
            f"{'torch GFLOP/s':>14s}")
    if with_dlib:
        head += f" {'dlib img/s':>11s} {'vs dlib':>8s}"
    print(head + "  per-round ratios")
    for key, pairs in results.items():
        gi = statistics.median(g["images_per_second"] for g, _, _ in pairs)
        ti = statistics.median(t["images_per_second"] for _, t, _ in pairs)
        gg = statistics.median(g["gflops"] for g, _, _ in pairs)
        tg = statistics.median(t["gflops"] for _, t, _ in pairs)
        per = " ".join(f"{g['images_per_second'] / t['images_per_second']:.3f}" for g, t, _ in pairs)
        line = f"{key:8s} {gi:12.3f} {ti:12.3f} {gi / ti:7.3f} {gg:14.1f} {tg:14.1f}"
        ds = [d for _, _, d in pairs if d]
        if with_dlib:
            if ds:
                di = statistics.median(d["images_per_second"] for d in ds)
                line += f" {di:11.3f} {gi / di:8.3f}"
                per += "  vs dlib " + " ".join(f"{g['images_per_second'] / d['images_per_second']:.3f}"
                                               for g, _, d in pairs if d)
            else:
                line += f" {'-':>11s} {'-':>8s}"
        print(f"{line}  {per}")
    if dlib_face:
        # on a loaded machine the fastest repetitions say more than the medians
        print("best repetitions (images/s of each run's fastest rep, median over rounds):")
        for key, pairs in results.items():
            gb = statistics.median(ips_best(g) for g, _, _ in pairs)
            tb = statistics.median(ips_best(t) for _, t, _ in pairs)
            line = f"{key:8s} {gb:12.3f} {tb:12.3f} {gb / tb:7.3f}"
            ds = [d for _, _, d in pairs if d]
            if ds:
                db = statistics.median(ips_best(d) for d in ds)
                line += f"   dlib {db:.3f}  vs dlib {gb / db:.3f}"
            print(line)


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
    ap.add_argument("command", choices=["measure", "compare", "check"])
    ap.add_argument("--mode", default="forward", choices=["forward", "train"])
    ap.add_argument("--modes", default="forward,train", help="compare: modes to run")
    ap.add_argument("--layers", action="store_true")
    ap.add_argument("--net", default="vgg16", choices=["vgg16", "resnet18", "resnet34", "resnet50", "dlib-face"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--size", type=int, default=None, help="input size (224; dlib-face: 150)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true", help="PyTorch in channels-last layout")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--graft", default="graft-bench", help="compare, check: the graft-bench program")
    ap.add_argument("--conv", default="", help="compare: graft's --conv (auto, im2col, winograd)")
    ap.add_argument("--peak", type=float, default=0, help="compare --layers: the peak GFLOP/s to use")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--graft-hugetlb", action="store_true", help="compare: run graft with the same GLIBC_TUNABLES")
    # dlib-face
    ap.add_argument("--learn-from", default="", help=f"dlib-face train: the lowest learning node ({DLIB_LEARN_FROM})")
    ap.add_argument("--weights", default="", help="measure dlib-face: graft's saved weights (graft-bench --save)")
    ap.add_argument("--dlib", default="", help="compare dlib-face: the graft-bench-dlib program (forward mode)")
    ap.add_argument("--dlib-weights", default="",
                    help="compare, check dlib-face: dlib's .dat for graft and dlib (default: graft's cache; "
                         "'random': none)")
    ap.add_argument("--nchw", action="store_true", help="dlib-face: PyTorch in NCHW (default channels-last, faster)")
    ap.add_argument("--no-jit", dest="jit", action="store_false",
                    help="forward on the CPU: eager PyTorch (default: a frozen TorchScript trace, which folds "
                         "BatchNorm and fuses convolutions: PyTorch's fastest inference here)")
    ap.add_argument("--omp-passive", action="store_true",
                    help="compare: OMP_WAIT_POLICY=PASSIVE for graft and PyTorch (on a machine other work loads)")
    ap.add_argument("--dlib-hugetlb", action="store_true", help="compare: run dlib with GLIBC_TUNABLES hugetlb")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="check: max |torch - graft| / max |graft|")
    a = ap.parse_args()
    if a.size is None:
        a.size = 150 if a.net == "dlib-face" else 224
    if a.net == "dlib-face":
        if a.size != 150 or a.width != 1 or a.layers or a.device != "cpu":
            sys.exit("compare_torch: dlib-face runs at 150x150, width 1, on the CPU, without --layers")
        if a.command == "measure" and a.mode == "train" and not a.learn_from:
            a.learn_from = DLIB_LEARN_FROM
        if not a.nchw:
            a.channels_last = True  # PyTorch at its best: channels-last is 15-20 % faster here
    elif a.learn_from or a.weights or a.dlib or a.command == "check":
        sys.exit("compare_torch: --learn-from, --weights, --dlib and check are for --net dlib-face")
    if a.layers and a.net != "vgg16":
        sys.exit("compare_torch: the per-layer table (--layers) is VGG16's only")
    if a.command == "check":
        if a.dlib_weights == "random":
            a.dlib_weights = ""
        return check_dlib_face(a)
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
    sys.exit(main())
