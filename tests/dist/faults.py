#!/usr/bin/env python3
"""[dist]: faults. A rank that dies or hangs makes the other stop within a stated time, with an
error naming the rank, and leaves the last whole checkpoint; ranks with different networks
are named at start-up.

  faults.py MPIEXEC DIST_FAULT
"""
import os
import subprocess
import sys
import tempfile
import time

mpiexec, prog = sys.argv[1], sys.argv[2]
failures = []
TIMEOUT = 3  # GRAFT_DIST_TIMEOUT for the hang


def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        failures.append(what)


def run(mode):
    d = tempfile.mkdtemp(prefix="graft-dist-fault-")
    env = dict(os.environ, OMP_NUM_THREADS="1", GRAFT_DIST_TIMEOUT=str(TIMEOUT))
    t0 = time.time()
    p = subprocess.run([mpiexec, "-np", "2", "--oversubscribe", "--allow-run-as-root", prog, mode, d], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return p.returncode, time.time() - t0, p.stdout, d


def checkpoint_whole(d):
    files = os.listdir(d)
    if any("graft-tmp" in f for f in files) or "checkpoint.npz" not in files:
        return False
    try:
        import numpy as np
        with np.load(os.path.join(d, "checkpoint.npz")) as z:
            return int(z["state/epoch"]) == 1  # epoch 1 was whole when rank 1 failed in epoch 2
    except ImportError:
        return True


rc, s, out, d = run("none")
check(rc == 0 and out.count("finished") == 2, f"no fault: both ranks finish ({s:.1f} s)")

rc, s, out, d = run("die")
print(out[-1500:])
check(rc != 0, "a rank that dies: mpirun fails")
check(s < 30, f"a rank that dies: the other stops in {s:.1f} s (< 30 s)")
check("rank 1" in out, "a rank that dies: the message names rank 1")
check(checkpoint_whole(d), "a rank that dies: the epoch-1 checkpoint is whole, no temporary file")

rc, s, out, d = run("hang")
print(out[-1500:])
check(rc != 0, "a rank that hangs: mpirun fails")
check(s < TIMEOUT + 20, f"a rank that hangs: the other stops in {s:.1f} s (timeout {TIMEOUT} s)")
check("rank 1 has not reached it" in out, "a rank that hangs: rank 0 names rank 1")
check(checkpoint_whole(d), "a rank that hangs: the epoch-1 checkpoint is whole, no temporary file")

rc, s, out, d = run("mismatch")
check(rc != 0 and "rank 1's network" in out, "different networks: named at start-up")

print(f"{len(failures)} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
