"""PyTorch (CPU, float32) references for graft's parity tests.

usage: torch_ref.py OP DIR JSON
Inputs are raw little-endian arrays DIR/<name>.bin whose shapes are given in JSON; outputs
are written the same way. Gradients come from autograd with the given upstream gradient.
"""
import json
import sys

import numpy as np
import torch

torch.set_num_threads(2)


def load(d, name, shape, dtype=np.float32):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.bin", dtype=dtype).reshape(shape).copy())


def save(d, name, t):
    t.detach().contiguous().numpy().astype(np.float32 if t.is_floating_point() else np.int32).tofile(f"{d}/{name}.bin")


def softmax_xent(d, a):
    z = load(d, "z", a["z"]).requires_grad_()
    labels = load(d, "labels", [a["z"][0]], np.int32).long()
    loss = torch.nn.functional.cross_entropy(z, labels)
    loss.backward()
    save(d, "p", torch.softmax(z, 1))
    save(d, "dz", z.grad)
    save(d, "loss", loss.reshape(1))


def layer_case(d, a):
    """One layer case of tests/support/layer_cases.hpp, described by DIR/case.json: inputs
    x0.bin, x1.bin, ... (shapes "inputs"), parameters p_<name>.bin (shapes "params"), buffers
    b_<name>.bin ("buffers"), upstream gradient dy.bin. Evaluates "expr" with x0, x1, ..., p
    and b (dicts by graft name), F = torch.nn.functional; writes y, dx<i>, dp_<name>, and
    b_out_<name>: the buffers after the forward (an expression may update b in place)."""
    with open(f"{d}/case.json") as f:
        c = json.load(f)
    env = {"torch": torch, "F": torch.nn.functional}
    xs = [load(d, f"x{i}", s).requires_grad_() for i, s in enumerate(c["inputs"])]
    for i, x in enumerate(xs):
        env[f"x{i}"] = x
    env["p"] = {n: load(d, f"p_{n}", s).requires_grad_() for n, s in c["params"].items()}
    env["b"] = {n: load(d, f"b_{n}", s) for n, s in c["buffers"].items()}
    y = eval(c["expr"], env)
    dy = load(d, "dy", list(y.shape))
    y.backward(dy)
    save(d, "y", y)
    for i, x in enumerate(xs):
        save(d, f"dx{i}", x.grad if x.grad is not None else torch.zeros_like(x))
    for n, t in env["p"].items():
        save(d, f"dp_{n}", t.grad if t.grad is not None else torch.zeros_like(t))
    for n, t in env["b"].items():  # after the forward (batch norm's running statistics)
        save(d, f"b_out_{n}", t)


def optim(d, a):
    """Runs torch.optim on one parameter with the given gradient sequence."""
    n, steps = a["n"], a["steps"]
    w = torch.nn.Parameter(load(d, "w0", [n]))
    grads = load(d, "grads", [steps, n])
    if a["kind"] == "sgd":
        opt = torch.optim.SGD([w], lr=a["lr"], momentum=a["momentum"],
                              weight_decay=a["weight_decay"], nesterov=a["nesterov"])
    else:
        opt = torch.optim.Adam([w], lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"],
                               weight_decay=a["weight_decay"])
    scales = a.get("lr_scales", [1.0] * steps)
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = a["lr"] * scales[s]
        w.grad = grads[s].clone()
        opt.step()
    save(d, "w", w.data)


def vgg_caffe_tensorflow(d, a):
    """Writes random VGG16-geometry weights as caffe-tensorflow does (a pickled dict in an
    .npy: conv HWIO, fc (in, out), fc6 rows in H,W,C order) and computes the logits the
    TensorFlow way: NHWC activations, flattening pool5 in H,W,C order."""
    rng = np.random.default_rng(a["seed"])
    width, side, classes = a["width"], a["side"], a["classes"]
    blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
    params, c = {}, 3
    for b, (ch, n) in enumerate(blocks):
        ch = max(1, int(round(ch * width)))
        for i in range(1, n + 1):
            fan_in = 9 * c
            params[f"conv{b + 1}_{i}"] = {
                "weights": (rng.standard_normal((3, 3, c, ch)) * np.sqrt(2 / fan_in)).astype(np.float32),
                "biases": (rng.standard_normal(ch) * 0.1).astype(np.float32)}
            c = ch
    s = side // 32
    fc = max(1, int(round(4096 * width)))
    for name, fin, fout in (("fc6", s * s * c, fc), ("fc7", fc, fc), ("fc8", fc, classes)):
        params[name] = {"weights": (rng.standard_normal((fin, fout)) * np.sqrt(2 / fin)).astype(np.float32),
                        "biases": (rng.standard_normal(fout) * 0.1).astype(np.float32)}
    np.save(f"{d}/vgg.npy", params, allow_pickle=True)
    x = load(d, "x", a["x"]).permute(0, 2, 3, 1)  # NHWC, as TensorFlow holds it
    f = torch.nn.functional
    for b, (ch, n) in enumerate(blocks):
        for i in range(1, n + 1):
            p = params[f"conv{b + 1}_{i}"]
            w = torch.from_numpy(p["weights"]).permute(3, 2, 0, 1)  # HWIO -> OIHW for torch
            y = f.conv2d(x.permute(0, 3, 1, 2), w, torch.from_numpy(p["biases"]), padding=1)
            x = f.relu(y).permute(0, 2, 3, 1)
        x = f.max_pool2d(x.permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)
    x = x.reshape(x.shape[0], -1)  # H,W,C order, like the converted TensorFlow graph
    for name in ("fc6", "fc7", "fc8"):
        p = params[name]
        x = x @ torch.from_numpy(p["weights"]) + torch.from_numpy(p["biases"])
        if name != "fc8":
            x = f.relu(x)
    save(d, "logits", x)


def _torchvision_resnet(a):
    """A torchvision ResNet with random weights (seeded) whose BatchNorms are non-trivial:
    running statistics measured on random inputs, then perturbed, and random scales and
    offsets; in eval mode."""
    import torchvision
    torch.manual_seed(a["seed"])
    model = getattr(torchvision.models, a["arch"])(num_classes=a["classes"])
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    model.train()
    for m in bns:
        m.momentum = None  # a plain average over the calibration batches
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, a["side"], a["side"]))
        for m in bns:
            c = m.num_features
            m.running_mean += 0.2 * m.running_var.sqrt() * torch.randn(c)
            m.running_var *= torch.empty(c).uniform_(0.5, 2.0)
            m.weight.copy_(torch.empty(c).uniform_(0.5, 1.5))
            m.bias.copy_(0.2 * torch.randn(c))
    model.eval()
    return model


def resnet_torchvision(d, a):
    """Saves a torchvision ResNet's state_dict as NumPy does (np.savez of the arrays by key)
    and writes its logits and probabilities on x (eval mode)."""
    model = _torchvision_resnet(a)
    np.savez(f"{d}/resnet.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    with torch.no_grad():
        logits = model(load(d, "x", a["x"]))
    save(d, "logits", logits)
    save(d, "probs", torch.softmax(logits, 1))


def resnet_predict_image(d, a):
    """As resnet_torchvision, on one 8-bit RGB image (HWC bytes in image.bin) normalised as
    torchvision's ImageNet models expect; writes the top class and its margin over the
    second."""
    model = _torchvision_resnet(a)
    np.savez(f"{d}/resnet.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
    side = a["side"]
    img = np.fromfile(f"{d}/image.bin", dtype=np.uint8).reshape(side, side, 3).astype(np.float32) / 255
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    x = torch.from_numpy(((img - mean) / std).transpose(2, 0, 1).copy()).unsqueeze(0)
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[0]
    top = torch.topk(p, 2)
    save(d, "top", torch.tensor([top.indices[0].item()], dtype=torch.int32))
    save(d, "margin", (top.values[0] - top.values[1]).reshape(1))


def basic_block_train(d, a):
    """One forward and backward of a torchvision BasicBlock (with downsample) in training
    mode: batch statistics, running statistics updated; writes the output, the gradients of
    conv1's and downsample.0's weights, and the updated running statistics of bn1. The
    state_dict is saved with keys under "block." (the graft block's prefix)."""
    from torchvision.models.resnet import BasicBlock
    torch.manual_seed(a["seed"])
    cin, planes, stride = a["cin"], a["planes"], a["stride"]
    down = torch.nn.Sequential(torch.nn.Conv2d(cin, planes, 1, stride, bias=False), torch.nn.BatchNorm2d(planes))
    block = BasicBlock(cin, planes, stride, down)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.empty(planes).uniform_(0.5, 1.5))
                m.bias.copy_(0.2 * torch.randn(planes))
    np.savez(f"{d}/block.npz", **{"block." + k: v.numpy() for k, v in block.state_dict().items()})
    block.train()
    x = load(d, "x", a["x"]).requires_grad_()
    y = block(x)
    dy = load(d, "dy", list(y.shape))
    y.backward(dy)
    save(d, "y", y)
    save(d, "dw_conv1", block.conv1.weight.grad)
    save(d, "dw_down", block.downsample[0].weight.grad)
    save(d, "mean_bn1", block.bn1.running_mean)
    save(d, "var_bn1", block.bn1.running_var)


if __name__ == "__main__":
    op, folder, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    globals()[op](folder, args)
