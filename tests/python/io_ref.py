"""NumPy references for graft's [io] tests.

usage: io_ref.py COMMAND DIR [ARGS...]

Commands that write files for graft to read (each writes DIR/manifest.tsv, one line per
array: file, name, dtype, shape (comma-separated), expected-bytes file; the expected bytes
are the array in C order and native byte order, so graft's result is compared exactly):
  npy        every NPY form: versions 1.0/2.0/3.0, all dtypes, both byte orders, C and
             Fortran order, ranks 0 to 4 and empty arrays
  npz        np.savez / np.savez_compressed, a zip with data descriptors, a zip64 archive
  dicts      caffe-tensorflow dicts: Python 2 form (protocol 2, BINSTRING), np.save
             (protocol 3), protocol 4, the old [weights, biases] list form; and a protocol 5
             file (which graft must refuse) as DIR/p5.npy
  real FOLDER  the arrays of FOLDER/det{1,2,3}.npy
  fuzz-seeds small valid inputs for the fuzzers: DIR/{npy,npz,pickle}/
Commands that check graft's output:
  check-written   DIR/written.tsv lines: kind (npy|npz|dict), file, name, dtype, shape,
                  bytes file[, transform, graft shape, C, H, W]; the array NumPy reads from
                  file under name must have that dtype and shape and equal the bytes — or,
                  with a transform, the bytes (in graft's layout) put in caffe-tensorflow
                  layout by NumPy: conv OIHW->HWIO, fc (out, C*H*W)->(H*W*C, out)
  net-dict SPEC   writes DIR/net.npy, a caffe-tensorflow dict for the layers in the JSON
                  SPEC, and DIR/<layer>_<param>.bin, each in graft's layout as NumPy
                  computes it
  inspect EXE FILES...  (DIR unused) runs `EXE FILE --json` for each file (or each .npy/.npz in a
                  folder) and compares it with NumPy
"""
import io
import json
import math
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np

RNG = np.random.default_rng(1234)
DTYPES = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]


def values(code, shape):
    """Random values of a dtype that include its extremes (and NaN, inf, -0 for floats)."""
    n = int(np.prod(shape)) if shape else 1
    dt = np.dtype(code)
    if dt.kind == "b":
        a = RNG.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        a = RNG.integers(info.min, info.max, n, dtype=dt, endpoint=True)
        specials = [info.min, info.max, 0, 1]
        a[: min(n, len(specials))] = specials[: min(n, len(specials))]
    else:
        a = RNG.normal(0, 3, n).astype(dt)
        info = np.finfo(dt)
        # Mid-sized arrays get finite extremes only (so min/max/mean stay numbers); large
        # ones NaN and infinities too.
        specials = [-0.0, info.tiny / 4, info.max, -info.max, info.tiny]
        if n > 15:
            specials = [np.nan, np.inf, -np.inf] + specials
        if n > 8:
            a[: len(specials)] = np.array(specials, dtype=dt)
    return a.reshape(shape)


def native_bytes(a):
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("="), copy=False).tobytes()


class Manifest:
    def __init__(self, d, name="manifest.tsv"):
        self.d = d
        self.f = open(os.path.join(d, name), "w", encoding="utf-8")
        self.n = 0

    def add(self, file, name, a):
        self.n += 1
        exp = "expect%d.bin" % self.n
        with open(os.path.join(self.d, exp), "wb") as f:
            f.write(native_bytes(a))
        shape = ",".join(str(x) for x in a.shape)
        self.f.write("\t".join([file, name, a.dtype.name, shape, exp]) + "\n")

    def close(self):
        self.f.close()


def cmd_npy(d):
    m = Manifest(d)
    k = 0
    for version in [(1, 0), (2, 0), (3, 0)]:
        for code in DTYPES:
            orders = "|" if np.dtype(code).itemsize == 1 else "<>"
            for order in orders:
                for shape in [(), (0,), (7,), (3, 5), (2, 3, 4), (2, 1, 3, 2), (0, 3)]:
                    for fortran in (False, True):
                        if fortran and len(shape) < 2:
                            continue
                        a = values(code, shape).astype(np.dtype(code).newbyteorder(order))
                        if fortran:
                            a = np.asfortranarray(a)
                        k += 1
                        name = "a%d.npy" % k
                        with open(os.path.join(d, name), "wb") as f:
                            np.lib.format.write_array(f, a, version=version)
                        # NumPy itself must read back what it wrote the way we expect.
                        b = np.load(os.path.join(d, name))
                        assert b.dtype == a.dtype and b.shape == a.shape and native_bytes(b) == native_bytes(a)
                        m.add(name, name[:-4], a)
    m.close()


def savez_entries():
    return {
        "a": values("f4", (3, 4)),
        "conv1/weights": np.asfortranarray(values("f8", (2, 3, 2)).astype(">f8")),
        "scalar": values("i8", ()),
        "empty": values("u2", (0, 5)),
        "flags": values("b1", (9,)),
        "h": values("f2", (4, 4)),
        "\u00fcn\u00efc\u00f6de": values("i2", (5,)),
    }


def zip_manifest(m, file, path):
    with np.load(path) as z:
        for key in z.files:
            m.add(file, key, z[key])


class Unseekable(io.RawIOBase):
    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)

    def seekable(self):
        return False


def cmd_npz(d):
    m = Manifest(d)
    e = savez_entries()
    np.savez(os.path.join(d, "stored.npz"), *[values("f4", (2, 2))], **e)
    zip_manifest(m, "stored.npz", os.path.join(d, "stored.npz"))
    np.savez_compressed(os.path.join(d, "deflated.npz"), **e)
    zip_manifest(m, "deflated.npz", os.path.join(d, "deflated.npz"))
    np.savez(os.path.join(d, "empty.npz"))
    # A zip written to a pipe: data descriptors after each entry, sizes only in the directory.
    with open(os.path.join(d, "descriptors.npz"), "wb") as raw:
        with zipfile.ZipFile(Unseekable(raw), "w", compression=zipfile.ZIP_DEFLATED) as z:
            for key, a in e.items():
                with z.open(key + ".npy", "w") as f:
                    np.lib.format.write_array(f, a)
    zip_manifest(m, "descriptors.npz", os.path.join(d, "descriptors.npz"))
    # zip64 records (end record, locator, extras in the directory) on a small archive.
    limit, count = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 16, 1
    try:
        with zipfile.ZipFile(os.path.join(d, "zip64.npz"), "w", compression=zipfile.ZIP_STORED) as z:
            for key, a in e.items():
                with z.open(key + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, a)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limit, count
    with open(os.path.join(d, "zip64.npz"), "rb") as f:
        assert b"PK\x06\x06" in f.read()
    zip_manifest(m, "zip64.npz", os.path.join(d, "zip64.npz"))
    m.close()


def weights_dict(str_params=True):
    """A small caffe-tensorflow-like dict with every kind of array the reader must handle."""
    p = (lambda s: s) if str_params else (lambda s: s.encode("latin1"))
    return {
        "conv1": {p("weights"): values("f4", (3, 3, 3, 4)), p("biases"): values("f4", (4,))},
        "conv_\u00e9": {p("weights"): np.asfortranarray(values("f4", (1, 1, 4, 2)))},
        "fc6": {p("weights"): values("f8", (12, 5)).astype(">f8"), p("biases"): values("f8", (5,))},
        "prelu1": {p("alpha"): values("f4", (4,))},
        "ints": {p("i"): values("i8", (2, 2)), p("u"): values("u1", (3,)), p("h"): values("f2", (2,))},
        "scalar": {p("s"): values("f4", ())},
        "empty": {p("e"): values("f4", (0, 3))},
    }


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: bytes as SHORT_BINSTRING / BINSTRING."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little", signed=True) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def save_pickled(path, obj, protocol, pickler=pickle.Pickler):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        box = np.empty((), dtype=object)
        box[()] = obj
        pickler(f, protocol=protocol).dump(box)


def dict_manifest(m, file, d):
    for layer, params in d.items():
        items = params.items() if isinstance(params, dict) else zip(["weights", "biases"], params)
        for name, a in items:
            name = name.decode("latin1") if isinstance(name, bytes) else name
            m.add(file, layer + "/" + name, a)


def cmd_dicts(d):
    m = Manifest(d)
    w = weights_dict()
    np.save(os.path.join(d, "p3.npy"), w, allow_pickle=True)
    dict_manifest(m, "p3.npy", w)
    w2 = weights_dict(str_params=False)
    save_pickled(os.path.join(d, "p2.npy"), w2, 2, Py2Pickler)
    back = np.load(os.path.join(d, "p2.npy"), allow_pickle=True, encoding="latin1").item()
    assert list(back) == list(w2)
    dict_manifest(m, "p2.npy", w2)
    save_pickled(os.path.join(d, "p4.npy"), w, 4)
    dict_manifest(m, "p4.npy", w)
    old = {"conv1": [values("f4", (3, 3, 3, 2)), values("f4", (2,))], "fc": [values("f4", (4, 2))]}
    np.save(os.path.join(d, "list.npy"), old, allow_pickle=True)
    dict_manifest(m, "list.npy", old)
    save_pickled(os.path.join(d, "p5.npy"), w, 5)
    m.close()


def cmd_real(d, data):
    m = Manifest(d)
    for i in (1, 2, 3):
        path = os.path.join(data, "det%d.npy" % i)
        w = np.load(path, allow_pickle=True, encoding="latin1").item()
        dict_manifest(m, path, w)
    m.close()


def cmd_fuzz_seeds(d):
    for sub in ("npy", "npz", "pickle"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, (code, shape) in enumerate([("f4", (2, 3)), ("i8", ()), (">f8", (2, 2)), ("u1", (0,))]):
        a = values(code.strip("<>"), shape).astype(code)
        with open(os.path.join(d, "npy", "s%d.npy" % i), "wb") as f:
            np.lib.format.write_array(f, np.asfortranarray(a) if i == 2 else a, version=(1 + i % 3, 0))
    small = {"a": values("f4", (2, 2)), "b/weights": values("i2", (3,))}
    np.savez(os.path.join(d, "npz", "stored.npz"), **small)
    np.savez_compressed(os.path.join(d, "npz", "deflated.npz"), **small)
    w = {"conv1": {"weights": values("f4", (1, 1, 2, 2)), "biases": values("f4", (2,))}}
    for proto in (2, 3, 4):
        buf = io.BytesIO()
        box = np.empty((), dtype=object)
        box[()] = w
        (Py2Pickler if proto == 2 else pickle.Pickler)(buf, protocol=proto).dump(box)
        with open(os.path.join(d, "pickle", "p%d.pkl" % proto), "wb") as f:
            f.write(buf.getvalue())


def to_file_layout(a, transform, c, h, w):
    if transform == "conv":  # OIHW -> HWIO
        return a.transpose(2, 3, 1, 0)
    if transform == "fc":  # (out, C*H*W) -> (H*W*C, out)
        out = a.shape[0]
        return a.reshape(out, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, out)
    return a


def cmd_check_written(d):
    bad = []
    loaded = {}
    with open(os.path.join(d, "written.tsv"), encoding="utf-8") as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    for parts in lines:
        kind, file, name, dtype, shape, raw = parts[:6]
        shape = tuple(int(x) for x in shape.split(",") if x)
        path = os.path.join(d, file)
        if path not in loaded:
            if kind == "npy":
                loaded[path] = np.load(path)
            elif kind == "npz":
                with np.load(path) as z:
                    loaded[path] = {k: z[k] for k in z.files}
            else:
                loaded[path] = np.load(path, allow_pickle=True).item()
        obj = loaded[path]
        if kind == "npz":
            a = obj.get(name)
        elif kind == "dict":
            layer, param = name.rsplit("/", 1)
            a = obj.get(layer, {}).get(param)
        else:
            a = obj
        if a is None:
            bad.append("%s: no array %r (has %r)" % (file, name, list(obj)))
            continue
        with open(os.path.join(d, raw), "rb") as f:
            want = np.frombuffer(f.read(), dtype=np.dtype(dtype))
        if len(parts) > 6:  # the bytes are in graft's layout, of that shape
            gshape = tuple(int(x) for x in parts[7].split(",") if x)
            want = to_file_layout(want.reshape(gshape), parts[6], *(int(x) for x in parts[8:11]))
        else:
            want = want.reshape(shape)
        if a.dtype != np.dtype(dtype) or a.shape != shape:
            bad.append("%s %s: NumPy reads %s %s, expected %s %s" % (file, name, a.dtype, a.shape, dtype, shape))
        elif native_bytes(a) != native_bytes(want.astype(a.dtype)):
            bad.append("%s %s: values differ" % (file, name))
    for b in bad:
        print("check-written:", b, file=sys.stderr)
    print("check-written: %d arrays checked, %d bad" % (len(lines), len(bad)))
    return 1 if bad else 0


def cmd_net_dict(d, spec):
    """SPEC: [{"layer", "param", "file_shape", "transform", "chw"}]: random arrays in the
    file's layout; the .bin files hold what graft must end up with, computed by NumPy."""
    w = {}
    for s in json.loads(spec):
        a = RNG.normal(0, 1, s["file_shape"]).astype(np.float32)
        w.setdefault(s["layer"], {})[s["param"]] = a
        if s["transform"] == "conv":  # HWIO -> OIHW
            g = a.transpose(3, 2, 0, 1)
        elif s["transform"] == "fc":  # (H*W*C, out) rows H,W,C -> (out, C*H*W)
            c, h, wd = s["chw"]
            out = a.shape[1]
            g = a.reshape(h, wd, c, out).transpose(3, 2, 0, 1).reshape(out, c * h * wd)
        else:
            g = a
        with open(os.path.join(d, "%s_%s.bin" % (s["layer"], s["param"])), "wb") as f:
            f.write(np.ascontiguousarray(g).tobytes())
    np.save(os.path.join(d, "net.npy"), w, allow_pickle=True)


def numpy_arrays(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] == b"PK":
        with np.load(path) as z:
            return [(k, z[k]) for k in z.files]
    a = np.load(path, allow_pickle=True, encoding="latin1")
    if a.dtype == object:
        out = []
        for layer, params in a.item().items():
            items = params.items() if isinstance(params, dict) else zip(["weights", "biases"], params)
            for name, v in items:
                name = name.decode("latin1") if isinstance(name, bytes) else name
                out.append((layer + "/" + name, v))
        return out
    stem = os.path.basename(path)
    return [(stem[:-4] if stem.endswith(".npy") else stem, a)]


def stat(x):
    x = float(x)
    return x if math.isfinite(x) else None


def cmd_inspect(exe, files):
    warnings.simplefilter("ignore")  # NaN and infinities in the statistics are intended
    bad = 0
    for path in files:
        run = subprocess.run([exe, path, "--json"], capture_output=True, text=True)
        if run.returncode != 0:
            print("inspect: %s exited %d: %s" % (path, run.returncode, run.stderr.strip()), file=sys.stderr)
            bad += 1
            continue
        got = json.loads(run.stdout)["arrays"]
        want = numpy_arrays(path)
        if [g["name"] for g in got] != [n for n, _ in want]:
            print("inspect: %s: names %r, NumPy %r" % (path, [g["name"] for g in got], [n for n, _ in want]), file=sys.stderr)
            bad += 1
            continue
        for g, (name, a) in zip(got, want):
            problems = []
            if g["dtype"] != a.dtype.name:
                problems.append("dtype %s vs %s" % (g["dtype"], a.dtype.name))
            if g["shape"] != list(a.shape):
                problems.append("shape %s vs %s" % (g["shape"], list(a.shape)))
            if a.size == 0:
                ref = {"min": None, "max": None, "mean": None}
            else:
                f = a.astype(np.float64)
                ref = {"min": stat(np.min(f)), "max": stat(np.max(f)), "mean": stat(np.mean(f))}
            for k in ("min", "max"):
                if g[k] != ref[k]:
                    problems.append("%s %r vs %r" % (k, g[k], ref[k]))
            if (g["mean"] is None) != (ref["mean"] is None):
                problems.append("mean %r vs %r" % (g["mean"], ref["mean"]))
            elif ref["mean"] is not None:
                scale = max(abs(ref["min"] or 0), abs(ref["max"] or 0), 1e-300)
                if abs(g["mean"] - ref["mean"]) > 1e-12 * scale:
                    problems.append("mean %r vs %r" % (g["mean"], ref["mean"]))
            if problems:
                print("inspect: %s %s: %s" % (path, name, "; ".join(problems)), file=sys.stderr)
                bad += 1
    print("inspect: %d files, %d problems" % (len(files), bad))
    return 1 if bad else 0


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "inspect":  # DIR is unused; then EXE, then files or folders of .npy/.npz files
        files = []
        for a in sys.argv[4:]:
            if os.path.isdir(a):
                files += sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith((".npy", ".npz")))
            else:
                files.append(a)
        return cmd_inspect(sys.argv[3], files)
    os.makedirs(d, exist_ok=True)
    if cmd == "npy":
        cmd_npy(d)
    elif cmd == "npz":
        cmd_npz(d)
    elif cmd == "dicts":
        cmd_dicts(d)
    elif cmd == "real":
        cmd_real(d, sys.argv[3])
    elif cmd == "fuzz-seeds":
        cmd_fuzz_seeds(d)
    elif cmd == "check-written":
        return cmd_check_written(d)
    elif cmd == "net-dict":
        cmd_net_dict(d, sys.argv[3])
    else:
        print("io_ref.py: unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
