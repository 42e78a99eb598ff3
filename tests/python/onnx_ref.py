"""References for graft's [onnx] tests: models exported by PyTorch's torch.onnx.export, and
graft's exported files run by runtimes graft does not contain (onnxruntime, OpenCV's dnn).

usage: onnx_ref.py OP DIR JSON
Arrays are raw little-endian float32 files DIR/<name>.bin whose shapes are given in JSON.
"""
import json
import sys

import numpy as np


def load(d, name, shape):
    return np.fromfile(f"{d}/{name}.bin", dtype=np.float32).reshape(shape)


def save(d, name, a):
    np.ascontiguousarray(a, dtype=np.float32).tofile(f"{d}/{name}.bin")


def _randomise(model, seed):
    """He-normal weights, non-zero biases and non-trivial BatchNorms (running statistics
    measured on random inputs, then perturbed; random scales and offsets), eval mode."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(0.2 * torch.randn(c, generator=g))
    model.eval()
    return model


def _vgg16(width, classes):
    """torchvision's VGG16 module (features.N, avgpool, classifier.N) with every channel
    count scaled by `width` (the classifier rebuilt to match)."""
    import torch
    from torchvision.models import vgg
    cfg = [v if v == "M" else max(1, int(round(v * width))) for v in vgg.cfgs["D"]]
    model = vgg.VGG(vgg.make_layers(cfg), num_classes=classes, init_weights=False)
    c, f = cfg[-2], max(1, int(round(4096 * width)))
    model.classifier = torch.nn.Sequential(
        torch.nn.Linear(c * 7 * 7, f), torch.nn.ReLU(True), torch.nn.Dropout(),
        torch.nn.Linear(f, f), torch.nn.ReLU(True), torch.nn.Dropout(), torch.nn.Linear(f, classes))
    return model


def torch_export(d, a):
    """torch.onnx.export of a torchvision model with random weights (arch vgg16 | resnet18)
    at an opset; bn "fold" (the exporter's default in eval mode: BatchNorm folded into the
    convolutions) or "keep" (TrainingMode.PRESERVE on an eval model: BatchNormalization
    nodes). Writes model.onnx and PyTorch's logits and probabilities on x."""
    import torch
    import torchvision
    torch.manual_seed(a["seed"])
    if a["arch"] == "vgg16":
        model = _vgg16(a["width"], a["classes"])
    else:
        model = getattr(torchvision.models, a["arch"])(num_classes=a["classes"])
    _randomise(model, a["seed"])
    x = torch.from_numpy(load(d, "x", a["x"]).copy())
    kw = {}
    if a.get("bn") == "keep":
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, x, f"{d}/model.onnx", opset_version=a["opset"], input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, **kw)
    with torch.no_grad():
        logits = model(x)
    save(d, "logits", logits.numpy())
    save(d, "probs", torch.softmax(logits, 1).numpy())


def torch_acts_export(d, a):
    """torch.onnx.export of a small net of the other activations, random weights and slopes:
    conv, PReLU(C), LeakyReLU(0.2), [Softmax(dim=1) over the channels of (n, C, H, W): only
    at opset 13 and later, where it is one ONNX Softmax (before, torch writes it as Transpose,
    Softmax, Transpose)], conv, PReLU() shared, global average pool, Linear, PReLU(F),
    Softmax(dim=1) of (n, F), Linear. The exporter writes every Softmax axis; that of the
    Softmax of (n, F) is then removed, so that the importer reads the opset's default there
    (1 before opset 13, -1 from 13 on: on (n, F) both are the features). Writes model.onnx and
    PyTorch's logits on x."""
    import onnx
    import torch
    torch.manual_seed(a["seed"])
    nn = torch.nn
    spatial = a["opset"] >= 13
    layers = [nn.Conv2d(3, 6, 3, padding=1), nn.PReLU(6), nn.LeakyReLU(0.2)]
    if spatial:
        layers.append(nn.Softmax(dim=1))
    layers += [nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.PReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(8, 5), nn.PReLU(5), nn.Softmax(dim=1), nn.Linear(5, a["classes"])]
    model = _randomise(nn.Sequential(*layers), a["seed"])
    g = torch.Generator().manual_seed(a["seed"] + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.PReLU):  # slopes of both signs, each channel its own
                m.weight.copy_(0.6 * torch.rand(m.weight.shape, generator=g) - 0.2)
        # inputs to the Softmax of (n, F) that spread, so that its output is far from uniform
        [m for m in model if isinstance(m, nn.Linear)][0].weight.mul_(4.0)
    x = torch.from_numpy(load(d, "x", a["x"]).copy())
    path = f"{d}/model.onnx"
    torch.onnx.export(model, x, path, opset_version=a["opset"], input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    softmaxes = [n for n in m.graph.node if n.op_type == "Softmax"]
    last = softmaxes[-1]  # of (n, F): axis 1 there is every opset's default (1, or -1 from 13)
    assert [at.i for at in last.attribute if at.name == "axis"] == [1], last
    del last.attribute[:]
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    with torch.no_grad():
        logits = model(x)
    save(d, "logits", logits.numpy())
    print(f"torch {torch.__version__}: opset {a['opset']}, "
          f"{[n.op_type for n in m.graph.node]}")


SKIP = 77  # the exit code of "cannot run here" (ctest's SKIP_RETURN_CODE)


def _skip(why):
    print(f"SKIPPED: {why}", file=sys.stderr)
    sys.exit(SKIP)


def check(d, a):
    """onnx.checker (full check, with shape inference) on DIR/model.onnx."""
    try:
        import onnx
    except ImportError:
        _skip("no onnx Python package (Debian: python3-onnx)")
    model = onnx.load(f"{d}/model.onnx")
    onnx.checker.check_model(model, full_check=True)
    print(f"onnx.checker: ok (onnx {onnx.__version__}, opset "
          f"{[o.version for o in model.opset_import]}, {len(model.graph.node)} nodes)")


def onnxruntime_run(d, a):
    """DIR/model.onnx run by onnxruntime on x: writes its output as out.bin."""
    try:
        import onnxruntime as ort
    except ImportError:
        _skip("no onnxruntime (cmake/fetch-onnxruntime.sh installs it from PyPI into ~/.cache/graft/venv-onnx)")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(f"{d}/model.onnx", so, providers=["CPUExecutionProvider"])
    x = load(d, "x", a["x"])
    y = s.run(None, {s.get_inputs()[0].name: x})[0]
    save(d, "out", y)
    print(f"onnxruntime {ort.__version__}: output {tuple(y.shape)}")


def opencv_run(d, a):
    """DIR/model.onnx run by OpenCV's dnn module (cv2.dnn.readNetFromONNX) on x."""
    try:
        import cv2
    except ImportError:
        _skip("no OpenCV Python module (Debian: python3-opencv)")
    net = cv2.dnn.readNetFromONNX(f"{d}/model.onnx")
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    x = load(d, "x", a["x"])
    net.setInput(x)
    y = net.forward()
    save(d, "out", y)
    print(f"OpenCV {cv2.__version__}: output {tuple(y.shape)}")


if __name__ == "__main__":
    op, folder, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    globals()[op](folder, args)
