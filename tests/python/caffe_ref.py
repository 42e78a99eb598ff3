"""Caffe references for graft's [caffe] tests: Python's protobuf with a schema built here (no
Caffe, no protoc), NumPy for layouts and PyTorch for forward passes.

usage: caffe_ref.py COMMAND ARGS...
  probe [torch]            exit 0 when protobuf and numpy (and torch) import, 77 otherwise
  blobs MODEL DIR          what protobuf reads from MODEL: DIR/layers.tsv (name, type, blob count)
                           and DIR/blobs.tsv (layer, index, dtype, shape, values file); a blob's
                           shape is Caffe's: num/channels/height/width when any is set, else shape
  write DIR ARCH           DIR/net.prototxt and DIR/net.caffemodel for the chain ARCH (JSON, below)
                           with random weights
  check-convert MODEL ARCH NPY NPZ
                           the caffe-tensorflow dict that NumPy computes from MODEL (read by
                           protobuf) for ARCH must equal NPY (np.load(allow_pickle=True).item())
                           and NPZ (keys "layer/param") exactly: keys, dtype, shape and values
  forward MODEL ARCH DIR   PyTorch forward of ARCH with MODEL's weights on DIR/x.bin (float32 of
                           shape ARCH.input): DIR/y.bin, the output before a final softmax, and
                           DIR/p.bin, its softmax

ARCH: {"input": [n, c, h, w], "version": 1 or 2, "packed": true, "double": false, "seed": 1,
       "layers": [{"name", "type": conv|pool|fc|relu|dropout|softmax, "out", "k", "s", "p",
                   "bias", "ratio"}]}
Graph ARCH ("graph": true), for residual nets: each layer also has "bottom": [blobs] (default:
the previous layer's top) and "top" (default: its bottom for relu, dropout, bn and scale, which
Caffe writes in place, else its name); types conv, pool ("pool": "max" or "ave", "global":
true), fc, relu, bn ("eps", "factor": the scale factor blob, "global_stats"), scale ("bias"),
eltwise ("coeff": [...], "op"), softmax. BatchNorm and Scale exist in V2 files only (V1's enum
has no such types), as in Caffe.

Version 1 files are what VGG-Face ships: `layers` with enum types, input/input_dim lines, and
blobs with num/channels/height/width (fully connected weights (1, 1, out, in)). Version 2 files
use `layer`, an Input layer and BlobShape. "packed": false writes the values one field each.
"""
import json
import math
import os
import sys

try:
    import numpy as np
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:  # the tests skip (77) without python3-protobuf or python3-numpy
    print("caffe_ref.py: %s" % e, file=sys.stderr)
    sys.exit(77)

F = descriptor_pb2.FieldDescriptorProto
V1_TYPES = {"Convolution": 4, "Pooling": 17, "InnerProduct": 14, "ReLU": 18, "Dropout": 6,
            "Softmax": 20, "Data": 5, "SoftmaxWithLoss": 21, "Eltwise": 25}
V1_NAMES = {v: k for k, v in V1_TYPES.items()}
KINDS = {"conv": "Convolution", "pool": "Pooling", "fc": "InnerProduct", "relu": "ReLU",
         "dropout": "Dropout", "softmax": "Softmax", "bn": "BatchNorm", "scale": "Scale",
         "eltwise": "Eltwise"}
V1_ENUMS = {"Convolution": "CONVOLUTION", "Pooling": "POOLING", "InnerProduct": "INNER_PRODUCT",
            "ReLU": "RELU", "Dropout": "DROPOUT", "Softmax": "SOFTMAX", "Eltwise": "ELTWISE"}
IN_PLACE = ("relu", "dropout", "bn", "scale")


def net_class(packed):
    """NetParameter with just the fields of caffe.proto that weights need."""
    pkg = "graftcaffe_%s" % ("packed" if packed else "unpacked")
    f = descriptor_pb2.FileDescriptorProto(name=pkg + ".proto", package=pkg, syntax="proto2")

    def message(name, fields):
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name, pk in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = "." + pkg + "." + type_name
            if pk:
                fd.options.packed = packed

    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("BlobShape", [("dim", 1, F.TYPE_INT64, REP, None, True)])
    message("BlobProto", [("num", 1, F.TYPE_INT32, OPT, None, False),
                          ("channels", 2, F.TYPE_INT32, OPT, None, False),
                          ("height", 3, F.TYPE_INT32, OPT, None, False),
                          ("width", 4, F.TYPE_INT32, OPT, None, False),
                          ("data", 5, F.TYPE_FLOAT, REP, None, True),
                          ("diff", 6, F.TYPE_FLOAT, REP, None, True),
                          ("shape", 7, F.TYPE_MESSAGE, OPT, "BlobShape", False),
                          ("double_data", 8, F.TYPE_DOUBLE, REP, None, True)])
    message("LayerParameter", [("name", 1, F.TYPE_STRING, OPT, None, False),
                               ("type", 2, F.TYPE_STRING, OPT, None, False),
                               ("bottom", 3, F.TYPE_STRING, REP, None, False),
                               ("top", 4, F.TYPE_STRING, REP, None, False),
                               ("blobs", 7, F.TYPE_MESSAGE, REP, "BlobProto", False)])
    message("V1LayerParameter", [("bottom", 2, F.TYPE_STRING, REP, None, False),
                                 ("top", 3, F.TYPE_STRING, REP, None, False),
                                 ("name", 4, F.TYPE_STRING, OPT, None, False),
                                 ("type", 5, F.TYPE_INT32, OPT, None, False),
                                 ("blobs", 6, F.TYPE_MESSAGE, REP, "BlobProto", False)])
    message("NetParameter", [("name", 1, F.TYPE_STRING, OPT, None, False),
                             ("layers", 2, F.TYPE_MESSAGE, REP, "V1LayerParameter", False),
                             ("input", 3, F.TYPE_STRING, REP, None, False),
                             ("input_dim", 4, F.TYPE_INT32, REP, None, False),
                             ("layer", 100, F.TYPE_MESSAGE, REP, "LayerParameter", False)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName(pkg + ".NetParameter")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def read_model(path):
    net = net_class(True)()
    with open(path, "rb") as fh:
        net.ParseFromString(fh.read())
    return net


def blob_array(b):
    """A blob as Caffe reads it: legacy 4-d dims when any is set, else its shape."""
    if any(b.HasField(k) for k in ("num", "channels", "height", "width")):
        shape = (b.num, b.channels, b.height, b.width)
    else:
        shape = tuple(b.shape.dim)
    if len(b.double_data):
        a = np.array(b.double_data, dtype=np.float64)
    else:
        a = np.array(b.data, dtype=np.float32)
    return a.reshape(shape)


def model_layers(net):
    """(name, V2 type, [arrays]) for every layer, V1 or V2."""
    out = []
    for l in net.layer:
        out.append((l.name, l.type, [blob_array(b) for b in l.blobs]))
    for l in net.layers:
        out.append((l.name, V1_NAMES.get(l.type, "V1:%d" % l.type), [blob_array(b) for b in l.blobs]))
    return out


def cmd_blobs(model, d):
    with open(os.path.join(d, "layers.tsv"), "w") as lf, open(os.path.join(d, "blobs.tsv"), "w") as bf:
        n = 0
        for name, typ, blobs in model_layers(read_model(model)):
            lf.write("%s\t%s\t%d\n" % (name, typ, len(blobs)))
            for i, a in enumerate(blobs):
                n += 1
                fname = "blob%d.bin" % n
                a.astype(a.dtype.newbyteorder("=")).tofile(os.path.join(d, fname))
                bf.write("%s\t%d\t%s\t%s\t%s\n" % (name, i, a.dtype.name, ",".join(map(str, a.shape)), fname))


# ---- shapes and layouts, computed here independently of graft ----

def pooled(size, k, s, p):
    """Caffe's pooling output size: rounded up, the last window starting inside the input."""
    out = int(math.ceil((size + 2 * p - k) / s)) + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1
    return out


def walk(arch):
    """(layer, input shape (c, h, w) or (features,)) for each layer of the chain."""
    shape = tuple(arch["input"][1:])
    out = []
    for l in arch["layers"]:
        out.append((l, shape))
        t, k, s, p = l["type"], l.get("k", 1), l.get("s", 1), l.get("p", 0)
        if t == "conv":
            shape = (l["out"], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif t == "pool":
            shape = (shape[0], pooled(shape[1], k, s, p), pooled(shape[2], k, s, p))
        elif t == "fc":
            shape = (l["out"],)
    return out


def tf_dict(arch, layers):
    """caffe-tensorflow's arrays for the conv and fc layers of arch, as its converter makes them."""
    blobs = {name: b for name, _, b in layers}
    out = {}
    for l, shape in walk(arch):
        if l["type"] not in ("conv", "fc"):
            continue
        b = blobs[l["name"]]
        w = b[0]
        o = l["out"]
        if l["type"] == "conv":
            w = w.reshape(o, shape[0], l["k"], l["k"]).transpose(2, 3, 1, 0)
        elif len(shape) == 3 and (shape[1] > 1 or shape[2] > 1):
            c, h, ww = shape
            w = w.reshape(o, c, h, ww).transpose(2, 3, 1, 0).reshape(h * ww * c, o)
        else:
            w = w.reshape(o, -1).T
        out[l["name"]] = {"weights": np.ascontiguousarray(w)}
        if len(b) > 1:
            out[l["name"]]["biases"] = b[1].reshape(o)
    return out


def same(name, want, got):
    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
        print("caffe_ref: %s: graft %s %s, NumPy %s %s, equal values: %s" % (
            name, got.dtype, got.shape, want.dtype, want.shape,
            got.shape == want.shape and np.array_equal(got, want)))
        return False
    return True


def cmd_check_convert(model, arch, npy, npz):
    want = tf_dict(arch, model_layers(read_model(model)))
    ok = True
    got = np.load(npy, allow_pickle=True).item()
    if sorted(got) != sorted(want):
        print("caffe_ref: %s has layers %s, expected %s" % (npy, sorted(got), sorted(want)))
        return 1
    for layer, params in want.items():
        if sorted(got[layer]) != sorted(params):
            print("caffe_ref: %s: %s has %s, expected %s" % (npy, layer, sorted(got[layer]), sorted(params)))
            ok = False
            continue
        for p, a in params.items():
            ok &= same("%s %s/%s" % (npy, layer, p), a, got[layer][p])
    z = np.load(npz)
    keys = sorted("%s/%s" % (l, p) for l, ps in want.items() for p in ps)
    if sorted(z.files) != keys:
        print("caffe_ref: %s has %s, expected %s" % (npz, sorted(z.files), keys))
        return 1
    for k in keys:
        layer, p = k.split("/")
        ok &= same("%s %s" % (npz, k), want[layer][p], z[k])
    return 0 if ok else 1


# ---- writing test models ----

def blob(msg, a, version, double):
    if version == 1:
        d = (1,) * (4 - a.ndim) + a.shape
        msg.num, msg.channels, msg.height, msg.width = d
    else:
        msg.shape.dim.extend(a.shape)
    if double:
        msg.double_data.extend(a.astype(np.float64).ravel().tolist())
    else:
        msg.data.extend(a.astype(np.float32).ravel().tolist())


def prototxt_head(arch, v1, name):
    """The prototxt's first lines: the net's name and its data input (input and input_dim lines
    in V1, an Input layer otherwise)."""
    n, c, h, w = arch["input"]
    lines = ['name: "%s"' % name]
    if v1:
        lines += ['input: "data"'] + ["input_dim: %d" % d for d in arch["input"]]
    else:
        lines += ['layer {', '  name: "data"', '  type: "Input"', '  top: "data"',
                  '  input_param { shape { dim: %d dim: %d dim: %d dim: %d } }' % (n, c, h, w), '}']
    return lines


def prototxt(arch):
    v1 = arch.get("version", 2) == 1
    lines = prototxt_head(arch, v1, "graft_test")
    blob_name = "data"
    for l in arch["layers"]:
        t = KINDS[l["type"]]
        in_place = l["type"] in ("relu", "dropout")
        top = blob_name if in_place else l["name"]
        lines.append("layers {" if v1 else "layer {")
        lines.append('  name: "%s"' % l["name"])
        lines.append("  type: %s" % ({"Convolution": "CONVOLUTION", "Pooling": "POOLING",
                                      "InnerProduct": "INNER_PRODUCT", "ReLU": "RELU",
                                      "Dropout": "DROPOUT", "Softmax": "SOFTMAX"}[t]
                                     if v1 else '"%s"' % t))
        lines.append('  bottom: "%s"' % blob_name)
        lines.append('  top: "%s"' % top)
        bias = "" if l.get("bias", True) else " bias_term: false"
        if l["type"] == "conv":
            if v1:
                lines.append("  blobs_lr: 1\n  blobs_lr: 2\n  weight_decay: 1\n  weight_decay: 0")
            lines.append("  convolution_param {\n    num_output: %d\n    pad: %d\n    kernel_size: %d\n"
                         "    stride: %d%s\n    weight_filler { type: \"gaussian\" std: 0.01 }\n  }"
                         % (l["out"], l.get("p", 0), l["k"], l.get("s", 1), bias))
        elif l["type"] == "pool":
            lines.append("  pooling_param {\n    pool: MAX\n    kernel_size: %d\n    stride: %d\n    pad: %d\n  }"
                         % (l["k"], l.get("s", 1), l.get("p", 0)))
        elif l["type"] == "fc":
            lines.append("  inner_product_param {\n    num_output: %d%s\n  }" % (l["out"], bias))
        elif l["type"] == "dropout":
            lines.append("  dropout_param {\n    dropout_ratio: %g\n  }" % l.get("ratio", 0.5))
        lines.append("}")
        blob_name = top
    return "\n".join(lines) + "\n"


def new_net(arch, version, name):
    """An empty NetParameter (packed unless arch says not) named name, with the data input:
    the net's input and input_dim in V1, an Input layer otherwise."""
    net = net_class(arch.get("packed", True))()
    net.name = name
    if version == 1:
        net.input.append("data")
        net.input_dim.extend(arch["input"])
    else:
        data = net.layer.add()
        data.name, data.type = "data", "Input"
        data.top.append("data")
    return net


def add_layer(net, version, l):
    """A new layer of net (V1's layers or layer) with l's name and its type's Caffe name."""
    t = KINDS[l["type"]]
    layer = net.layers.add() if version == 1 else net.layer.add()
    layer.name = l["name"]
    layer.type = V1_TYPES[t] if version == 1 else t
    return layer


def save_net(d, net, text):
    """net as d/net.caffemodel, and the prototxt text as d/net.prototxt."""
    with open(os.path.join(d, "net.caffemodel"), "wb") as fh:
        fh.write(net.SerializeToString())
    with open(os.path.join(d, "net.prototxt"), "w") as fh:
        fh.write(text)


def cmd_write(d, arch):
    version = arch.get("version", 2)
    net = new_net(arch, version, "graft_test")
    rng = np.random.default_rng(arch.get("seed", 1))
    for l, shape in walk(arch):
        layer = add_layer(net, version, l)
        if l["type"] == "conv":
            w = rng.normal(0, 0.3, (l["out"], shape[0], l["k"], l["k"]))
        elif l["type"] == "fc":
            w = rng.normal(0, 0.3, (l["out"], int(np.prod(shape))))
        else:
            continue
        blob(layer.blobs.add(), w, version, arch.get("double", False))
        if l.get("bias", True):
            blob(layer.blobs.add(), rng.normal(0, 0.3, (l["out"],)), version, arch.get("double", False))
    save_net(d, net, prototxt(arch))


# ---- PyTorch forward ----

def cmd_forward(model, arch, d):
    import torch
    torch.set_num_threads(2)
    blobs = {name: b for name, _, b in model_layers(read_model(model))}
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), dtype=np.float32).reshape(arch["input"]))
    y = x.double()
    p = None
    for l in arch["layers"]:
        t = l["type"]
        if t in ("conv", "fc"):
            b = blobs[l["name"]]
            w = torch.from_numpy(b[0].astype(np.float64))
            bias = torch.from_numpy(b[1].astype(np.float64).reshape(-1)) if len(b) > 1 else None
            if t == "conv":
                y = torch.nn.functional.conv2d(y, w.reshape(l["out"], y.shape[1], l["k"], l["k"]), bias,
                                               stride=l.get("s", 1), padding=l.get("p", 0))
            else:
                y = torch.nn.functional.linear(y.flatten(1), w.reshape(l["out"], -1), bias)
        elif t == "pool":
            y = torch.nn.functional.max_pool2d(y, l["k"], l.get("s", 1), l.get("p", 0), ceil_mode=True)
        elif t == "relu":
            y = torch.relu(y)
        elif t == "softmax":
            p = torch.softmax(y, 1)
    y.float().numpy().tofile(os.path.join(d, "y.bin"))
    (p if p is not None else torch.softmax(y, 1)).float().numpy().tofile(os.path.join(d, "p.bin"))


# ---- graph nets (residual) ----

def graph_layers(arch):
    """(layer, bottoms, top) for each layer, with the defaults of the ARCH description."""
    out = []
    prev = "data"
    for l in arch["layers"]:
        bottoms = l.get("bottom", [prev])
        top = l.get("top", bottoms[0] if l["type"] in IN_PLACE else l["name"])
        out.append((l, bottoms, top))
        prev = top
    return out


def graph_walk(arch):
    """(layer, bottoms, top, input shapes) for each layer; shapes (c, h, w) or (features,),
    computed here with Caffe's rules."""
    shapes = {"data": tuple(arch["input"][1:])}
    out = []
    for l, bottoms, top in graph_layers(arch):
        ins = [shapes[b] for b in bottoms]
        shape = ins[0]
        t, k, s, p = l["type"], l.get("k", 1), l.get("s", 1), l.get("p", 0)
        if t == "conv":
            shape = (l["out"], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif t == "pool":
            shape = (shape[0], 1, 1) if l.get("global") else (shape[0], pooled(shape[1], k, s, p), pooled(shape[2], k, s, p))
        elif t == "fc":
            shape = (l["out"],)
        out.append((l, bottoms, top, ins))
        shapes[top] = shape
    return out


def graph_prototxt(arch):
    v1 = arch.get("version", 2) == 1
    lines = prototxt_head(arch, v1, "graft_residual")
    for l, bottoms, top in graph_layers(arch):
        t = KINDS[l["type"]]
        lines.append("layers {" if v1 else "layer {")
        lines.append('  name: "%s"' % l["name"])
        lines.append("  type: %s" % (V1_ENUMS[t] if v1 else '"%s"' % t))
        for b in bottoms:
            lines.append('  bottom: "%s"' % b)
        lines.append('  top: "%s"' % top)
        bias = "" if l.get("bias", True) else " bias_term: false"
        if l["type"] == "conv":
            lines.append("  convolution_param { num_output: %d pad: %d kernel_size: %d stride: %d%s }"
                         % (l["out"], l.get("p", 0), l["k"], l.get("s", 1), bias))
        elif l["type"] == "pool":
            kind = "AVE" if l.get("pool", "max") == "ave" else "MAX"
            if l.get("global"):
                lines.append("  pooling_param { pool: %s global_pooling: true }" % kind)
            else:
                lines.append("  pooling_param { pool: %s kernel_size: %d stride: %d pad: %d }"
                             % (kind, l["k"], l.get("s", 1), l.get("p", 0)))
        elif l["type"] == "fc":
            lines.append("  inner_product_param { num_output: %d%s }" % (l["out"], bias))
        elif l["type"] == "bn":
            fields = []
            if "global_stats" in l:
                fields.append("use_global_stats: %s" % ("true" if l["global_stats"] else "false"))
            if "eps" in l:
                fields.append("eps: %r" % l["eps"])
            if fields:
                lines.append("  batch_norm_param { %s }" % " ".join(fields))
        elif l["type"] == "scale":
            if l.get("bias", False):
                lines.append("  scale_param { bias_term: true }")
        elif l["type"] == "eltwise":
            fields = ["operation: %s" % l.get("op", "SUM")] + ["coeff: %r" % x for x in l.get("coeff", [])]
            lines.append("  eltwise_param { %s }" % " ".join(fields))
        lines.append("}")
    return "\n".join(lines) + "\n"


def graph_write(d, arch):
    version = arch.get("version", 2)
    net = new_net(arch, version, "graft_residual")
    rng = np.random.default_rng(arch.get("seed", 1))
    for l, bottoms, top, ins in graph_walk(arch):
        layer = add_layer(net, version, l)
        layer.bottom.extend(bottoms)
        layer.top.append(top)
        c = ins[0][0]
        blobs = []
        if l["type"] == "conv":
            blobs.append(rng.normal(0, 0.3, (l["out"], c, l["k"], l["k"])))
            if l.get("bias", True):
                blobs.append(rng.normal(0, 0.3, (l["out"],)))
        elif l["type"] == "fc":
            blobs.append(rng.normal(0, 0.3, (l["out"], int(np.prod(ins[0])))))
            if l.get("bias", True):
                blobs.append(rng.normal(0, 0.3, (l["out"],)))
        elif l["type"] == "bn":
            # Caffe stores running sums and their normaliser: mean = blob0 / factor.
            f = l.get("factor", 1.0)
            blobs += [rng.normal(0, 0.5, (c,)) * f, rng.uniform(0.5, 2.0, (c,)) * f, np.array([f])]
        elif l["type"] == "scale":
            blobs.append(rng.uniform(0.5, 1.5, (c,)))
            if l.get("bias", False):
                blobs.append(rng.normal(0, 0.3, (c,)))
        for a in blobs:
            blob(layer.blobs.add(), a, version, arch.get("double", False))
    save_net(d, net, graph_prototxt(arch))


def graph_forward(model, arch, d):
    """PyTorch in float64 from the blobs protobuf reads, with Caffe's definitions: BatchNorm
    (x - m / f) / sqrt(v / f + eps) (f = 0: statistics 0), Scale x * s + b, Eltwise sum of
    coeff_i x_i, AVE pooling with the padding in the divisor (PyTorch's count_include_pad,
    whose clipping of a ceil-mode window to the padded input is Caffe's)."""
    import torch
    F = torch.nn.functional
    torch.set_num_threads(2)
    blobs = {name: b for name, _, b in model_layers(read_model(model))}
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), dtype=np.float32).reshape(arch["input"]))
    vals = {"data": x.double()}
    y, p = None, None
    for l, bottoms, top, ins in graph_walk(arch):
        t = l["type"]
        xs = [vals[b] for b in bottoms]
        y = xs[0]
        b = [torch.from_numpy(a.astype(np.float64).reshape(-1)) for a in blobs.get(l["name"], [])]
        if t == "conv":
            w = b[0].reshape(l["out"], y.shape[1], l["k"], l["k"])
            y = F.conv2d(y, w, b[1] if len(b) > 1 else None, stride=l.get("s", 1), padding=l.get("p", 0))
        elif t == "fc":
            y = F.linear(y.flatten(1), b[0].reshape(l["out"], -1), b[1] if len(b) > 1 else None)
        elif t == "pool":
            if l.get("global"):
                y = y.mean((2, 3), keepdim=True) if l.get("pool") == "ave" else y.amax((2, 3), keepdim=True)
            elif l.get("pool") == "ave":
                y = F.avg_pool2d(y, l["k"], l.get("s", 1), l.get("p", 0), ceil_mode=True, count_include_pad=True)
            else:
                y = F.max_pool2d(y, l["k"], l.get("s", 1), l.get("p", 0), ceil_mode=True)
        elif t == "relu":
            y = torch.relu(y)
        elif t == "bn":
            f = float(b[2][0])
            inv = 0.0 if f == 0 else 1.0 / f
            shape = (1, -1, 1, 1)
            y = (y - (b[0] * inv).reshape(shape)) / torch.sqrt((b[1] * inv).reshape(shape) + l.get("eps", 1e-5))
        elif t == "scale":
            y = y * b[0].reshape(1, -1, 1, 1)
            if len(b) > 1:
                y = y + b[1].reshape(1, -1, 1, 1)
        elif t == "eltwise":
            coeff = l.get("coeff", [1.0] * len(xs))
            y = sum(c * v for c, v in zip(coeff, xs))
        elif t == "softmax":
            p = torch.softmax(y, 1)
            continue
        vals[top] = y
    y.float().numpy().tofile(os.path.join(d, "y.bin"))
    (p if p is not None else torch.softmax(y, 1)).float().numpy().tofile(os.path.join(d, "p.bin"))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "probe":
        if args and args[0] == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                sys.exit(77)
        sys.exit(0)
    if cmd == "blobs":
        cmd_blobs(args[0], args[1])
    elif cmd == "write":
        arch = json.loads(args[1])
        (graph_write if arch.get("graph") else cmd_write)(args[0], arch)
    elif cmd == "check-convert":
        sys.exit(cmd_check_convert(args[0], json.loads(args[1]), args[2], args[3]))
    elif cmd == "forward":
        arch = json.loads(args[2 - 1])
        (graph_forward if arch.get("graph") else cmd_forward)(args[0], arch, args[2])
    else:
        sys.exit("caffe_ref.py: unknown command " + cmd)
