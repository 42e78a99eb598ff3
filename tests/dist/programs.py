#!/usr/bin/env python3
"""[dist]: the programs under mpirun -np 2 give one process's results.

  programs.py MPIEXEC BIN_DIR

On generated faces (graft-synth-faces), with SGD and no dropout (dropout masks are drawn per
rank, so a run with dropout is not one process's run), checks that
  - `mpirun -np 2 graft-finetune` writes the metrics of `graft-finetune` alone: the model to
    float rounding (relative 1e-3), the losses to 1e-4, and only rank 0 prints and writes;
  - a 1-rank run resumed by 2 ranks (--resume) ends where an uninterrupted run ends;
  - `mpirun -np 2 graft-eval` gives one process's metrics exactly (the same model, evaluation
    sharded and reduced), and `graft-extract` its features (relative 1e-5).
  - `mpirun -np 2 graft-finetune --sync-bn` trains a ResNet-18 whose BatchNorms learn as one
    process does: the losses to 1e-4, weights, scales and running statistics to 1e-3
    (BatchNorm offsets aside: their gradient, a sum of dy that nearly cancels, magnifies float
    rounding; tests/test_sync_batchnorm checks the split in double to 1e-9), while without
    --sync-bn the running statistics are each rank's and differ by far more.

Why training is compared to rounding and evaluation exactly: 2 ranks sum a batch's gradient as
two half-batch sums, 1 rank as one, so the parameters after 20 steps differ by float rounding
(measured up to 5e-5 of a tensor's largest value; the per-sample products also take other
GEMM paths for 8 rows than for 16 on some CPUs). A wrong reduction (gradients summed instead
of averaged, a share skipped) moves them by O(1) (a learning rate off by 10 % gives 11x), so
1e-3 separates the two by far. Parameters that differ by rounding may move a sample lying on
the decision boundary, so the training runs' accuracies and the extracted features'
regressions may differ by one sample, and say so when they do; the evaluation of one model
must be exact. Failures are printed first, so that the head of a long log shows them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIPPED: no NumPy for this Python")
    sys.exit(77)

mpiexec, bindir = sys.argv[1], sys.argv[2]
exe = lambda name: os.path.join(bindir, name)
for name in ("graft-finetune", "graft-eval", "graft-extract", "graft-synth-faces"):
    if not os.path.exists(exe(name)):
        print(f"SKIPPED: {exe(name)} is not built")
        sys.exit(77)
env = dict(os.environ, OMP_NUM_THREADS="1")
mpi = [mpiexec, "-np", "2", "--oversubscribe", "--allow-run-as-root"]
failures = []


log = []


def finish(code):
    for f in failures:
        print("FAILED  " + f)
    print("\n".join(log))
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(code)


def run(cmd, ranks=1):
    full = (mpi if ranks == 2 else []) + cmd
    p = subprocess.run(full, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    if p.returncode != 0:
        failures.append(f"exit code {p.returncode}: {' '.join(full)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        finish(1)
    return p.stdout


def check(ok, what):
    log.append(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        failures.append(what)


def note(what):
    log.append("note    " + what)


def rel(a, b):
    return float(np.abs(a - b).max() / max(1e-6, float(np.abs(b).max())))


def close_accuracy(a, b, n, what):
    """Equal, or one of n samples apart (a borderline sample moved by rounding; said)."""
    if a == b:
        check(True, f"{what} equal ({a})")
        return
    check(abs(a - b) <= 1.0 / n + 1e-9, f"{what}: {a} against {b}, at most one of {n} samples apart")
    note(f"{what}: {a} against {b} (one borderline sample)")


def same_metrics(a, b, what, exact):
    ma, mb = json.load(open(a)), json.load(open(b))
    for k in ("count", "classes"):
        check(ma[k] == mb[k], f"{what}: {k} equal ({ma[k]})")
    if exact or ma["confusion"] == mb["confusion"]:
        for k in ("accuracy", "confusion", "groups"):
            check(ma[k] == mb[k], f"{what}: {k} equal ({ma[k] if k != 'groups' else '...'})")
    else:
        close_accuracy(ma["accuracy"], mb["accuracy"], mb["count"], f"{what}: test accuracy")
        moved = sum(abs(x - y) for ra, rb in zip(ma["confusion"], mb["confusion"]) for x, y in zip(ra, rb))
        check(moved <= 2, f"{what}: confusion matrices {ma['confusion']} and {mb['confusion']} one sample apart")
    for ea, eb in zip(ma.get("epochs", []), mb.get("epochs", [])):
        for k in ("train_accuracy", "val_accuracy"):
            if exact:
                check(ea[k] == eb[k], f"{what}: epoch {ea['epoch']} {k} equal")
            else:  # (the split sizes are not in metrics.json: one sample of the smallest, 24)
                close_accuracy(ea[k], eb[k], 24, f"{what}: epoch {ea['epoch']} {k}")
        check(abs(ea["loss"] - eb["loss"]) <= 1e-4 * max(1.0, abs(eb["loss"])), f"{what}: epoch {ea['epoch']} loss")
    check(len(ma.get("epochs", [])) == len(mb.get("epochs", [])), f"{what}: as many epochs")


def same_model(a, b, what):
    x, y = np.load(a), np.load(b)
    worst = max(rel(x[k], y[k]) for k in y.files if y[k].dtype.kind == "f")
    check(worst < 1e-3, f"{what}: model.npz equal to {worst:.2g} (relative; 1e-3 allowed)")


tmp = tempfile.mkdtemp(prefix="graft-dist-programs-")
try:
    faces = os.path.join(tmp, "faces")
    run([exe("graft-synth-faces"), faces, "120", "32"])
    common = ["--data", faces, "--format", "utkface", "--width", "0.125", "--input", "32", "--batch", "16",
              "--workers", "1", "--val", "0.2", "--test", "0.2", "--optimizer", "sgd", "--lr", "0.001",
              "--dropout", "0"]
    stages = ["--stages", "fc8:2,conv5_1:2:0.5"]
    r1, r2, rr = (os.path.join(tmp, d) for d in ("one", "two", "resumed"))
    out1 = run([exe("graft-finetune")] + common + stages + ["--out", r1])
    out2 = run([exe("graft-finetune")] + common + stages + ["--out", r2], ranks=2)
    check("data parallel: 2 ranks over MPI" in out2, "2 ranks say so")
    check(out2.count("learning curve") == 1, "only rank 0 prints")
    same_metrics(os.path.join(r2, "metrics.json"), os.path.join(r1, "metrics.json"), "finetune 2 ranks", False)
    same_model(os.path.join(r2, "model.npz"), os.path.join(r1, "model.npz"), "finetune 2 ranks")
    check(not [f for f in os.listdir(r2) if "graft-tmp" in f], "no temporary file left")

    # 1 rank trains the first stage; 2 ranks resume from its checkpoint for the second.
    run([exe("graft-finetune")] + common + ["--stages", "fc8:2", "--out", rr])
    run([exe("graft-finetune")] + common + stages + ["--resume", "--out", rr], ranks=2)
    same_metrics(os.path.join(rr, "metrics.json"), os.path.join(r1, "metrics.json"), "resumed by 2 ranks", False)
    same_model(os.path.join(rr, "model.npz"), os.path.join(r1, "model.npz"), "resumed by 2 ranks")

    e1, e2 = os.path.join(tmp, "eval1"), os.path.join(tmp, "eval2")
    ev = [exe("graft-eval"), "--weights", os.path.join(r1, "model.npz"), "--data", faces, "--format", "utkface",
          "--batch", "7", "--workers", "1"]
    run(ev + ["--out", e1])
    run(ev + ["--out", e2], ranks=2)
    same_metrics(os.path.join(e2, "metrics.json"), os.path.join(e1, "metrics.json"), "eval 2 ranks", True)

    x1, x2 = os.path.join(tmp, "x1"), os.path.join(tmp, "x2")
    ex = [exe("graft-extract"), "--weights", os.path.join(r1, "model.npz"), "--data", faces, "--format", "utkface",
          "--batch", "16", "--workers", "1", "--layer", "fc7", "--per-class", "5,0", "--epochs", "3"]
    run(ex + ["--out", x1])
    run(ex + ["--out", x2], ranks=2)
    for part in ("train", "val", "test"):
        a, b = np.load(os.path.join(x2, f"features_{part}.npy")), np.load(os.path.join(x1, f"features_{part}.npy"))
        check(a.shape == b.shape and rel(a, b) < 1e-5, f"extract 2 ranks: features_{part} equal")
    c2, c1 = (json.load(open(os.path.join(d, "classifier.json"))) for d in (x2, x1))
    check(c2["layer"] == c1["layer"] and len(c2["results"]) == len(c1["results"]), "extract 2 ranks: the same regressions")
    n_test = np.load(os.path.join(x1, "features_test.npy")).shape[0]
    for ra, rb in zip(c2["results"], c1["results"]):
        check(ra["per_class"] == rb["per_class"] and ra["train"] == rb["train"],
              f"extract 2 ranks: {rb['per_class']} per class on {rb['train']} faces")
        close_accuracy(ra["test_accuracy"], rb["test_accuracy"], n_test,
                       f"extract 2 ranks: the regression on {rb['per_class']} per class, test accuracy")

    # --sync-bn: a ResNet-18 from random weights, every BatchNorm learning (5 steps: further on,
    # this net's training magnifies float rounding; one process on 1 or 2 threads differs by
    # 5e-4 after 10 steps, as much as 2 synchronised ranks differ from it).
    rn = ["--data", faces, "--format", "utkface", "--arch", "resnet18", "--input", "32", "--batch", "16",
          "--workers", "1", "--val", "0.2", "--test", "0.2", "--optimizer", "sgd", "--lr", "0.0001",
          "--stages", "conv1:1", "--scratch", "fc", "--train-eval", "0"]
    b1, b2, b3 = (os.path.join(tmp, d) for d in ("bn-one", "bn-two", "bn-per-rank"))
    run([exe("graft-finetune")] + rn + ["--sync-bn", "--out", b1])  # alone, --sync-bn changes nothing
    outs = run([exe("graft-finetune")] + rn + ["--sync-bn", "--out", b2], ranks=2)
    run([exe("graft-finetune")] + rn + ["--out", b3], ranks=2)
    check("synchronised BatchNorm: 20 layers take statistics over all 2 ranks" in outs, "--sync-bn says so")
    same_metrics(os.path.join(b2, "metrics.json"), os.path.join(b1, "metrics.json"), "finetune --sync-bn 2 ranks",
                 False)
    one = np.load(os.path.join(b1, "model.npz"))
    keys = [k for k in one.files if one[k].dtype.kind == "f" and not k.endswith("/offset")]
    for d, synced in ((b2, True), (b3, False)):
        m = np.load(os.path.join(d, "model.npz"))
        if synced:
            worst = max(rel(m[k], one[k]) for k in keys)
            check(worst < 1e-3, f"--sync-bn 2 ranks: model.npz equal to {worst:.2g} (relative, offsets aside)")
        else:
            stats = max(rel(m[k], one[k]) for k in keys if k.endswith("/mean") or k.endswith("/variance"))
            check(stats > 1e-2, f"without --sync-bn: the running statistics differ ({stats:.2g})")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish(1 if failures else 0)
