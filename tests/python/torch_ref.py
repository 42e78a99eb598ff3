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


def conv2d(d, a):
    x = load(d, "x", a["x"]).requires_grad_()
    w = load(d, "w", a["w"]).requires_grad_()
    b = load(d, "b", [a["w"][0]]).requires_grad_()
    y = torch.nn.functional.conv2d(x, w, b, stride=a["stride"], padding=a["pad"])
    dy = load(d, "dy", list(y.shape))
    y.backward(dy)
    for n, t in (("y", y), ("dx", x.grad), ("dw", w.grad), ("db", b.grad)):
        save(d, n, t)


def max_pool2d(d, a):
    x = load(d, "x", a["x"]).requires_grad_()
    y = torch.nn.functional.max_pool2d(x, a["kernel"], a["stride"], a["pad"], ceil_mode=a["ceil"])
    dy = load(d, "dy", list(y.shape))
    y.backward(dy)
    save(d, "y", y)
    save(d, "dx", x.grad)


def linear(d, a):
    x = load(d, "x", a["x"]).requires_grad_()
    w = load(d, "w", a["w"]).requires_grad_()
    b = load(d, "b", [a["w"][0]]).requires_grad_()
    y = torch.nn.functional.linear(x.flatten(1), w, b)
    dy = load(d, "dy", list(y.shape))
    y.backward(dy)
    for n, t in (("y", y), ("dx", x.grad), ("dw", w.grad), ("db", b.grad)):
        save(d, n, t)


def softmax_xent(d, a):
    z = load(d, "z", a["z"]).requires_grad_()
    labels = load(d, "labels", [a["z"][0]], np.int32).long()
    loss = torch.nn.functional.cross_entropy(z, labels)
    loss.backward()
    save(d, "p", torch.softmax(z, 1))
    save(d, "dz", z.grad)
    save(d, "loss", loss.reshape(1))


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


if __name__ == "__main__":
    op, folder, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    globals()[op](folder, args)
