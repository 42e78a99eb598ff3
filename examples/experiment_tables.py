#!/usr/bin/env python3
"""Tables for docs/results.md from the runs of examples/experiment (runs/exp/*/metrics.json).

usage: examples/experiment_tables.py [RUNS_DIR]      (default runs/exp)
Prints Markdown: the learning curves, the summary of every run, the confusion matrix and the
per-group accuracy of the transfer run, and the feature-extractor table. Only json from the
standard library is used.
"""
import json
import os
import sys

runs = sys.argv[1] if len(sys.argv) > 1 else "runs/exp"


def load(name):
    p = os.path.join(runs, name, "metrics.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        m = json.load(f)
    w = os.path.join(runs, name, "wall_seconds")
    m["wall"] = int(open(w).read()) if os.path.exists(w) else None
    return m


def curve(m, title):
    print(f"**{title}**\n")
    print("| epoch | stage | train accuracy | validation accuracy | training loss | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for e in m["epochs"]:
        ep = "Rand" if e["epoch"] == 0 else str(e["epoch"])
        cached = " (cache)" if e.get("cached_batches") else ""
        print(f"| {ep} | {e['stage']}{cached} | {e['train_accuracy']:.3f} | {e['val_accuracy']:.3f} | "
              f"{e['loss']:.3f} | {e['seconds']:.1f} |")
    print()


def confusion(m):
    cls = m["classes"]
    print("| true \\ predicted | " + " | ".join(cls) + " | recall |")
    print("|---|" + "---:|" * (len(cls) + 1))
    for i, row in enumerate(m["confusion"]):
        n = sum(row)
        print(f"| {cls[i]} | " + " | ".join(str(v) for v in row) + f" | {row[i] / n:.3f} |")
    print()


def groups(m):
    for g, vals in m.get("groups", {}).items():
        print(f"| {g} | images | accuracy |")
        print("|---|---:|---:|")
        for k, v in vals.items():
            print(f"| {k} | {v['count']} | {v['accuracy']:.3f} |")
        print()


def summary(names):
    print("| run | what learns | test accuracy | best validation | wall time (s) | training time (s) |")
    print("|---|---|---:|---:|---:|---:|")
    for name, what in names:
        m = load(name)
        if not m:
            continue
        epochs = m.get("epochs") or []  # an evaluation run (graft-eval) has none
        best = f"{max(e['val_accuracy'] for e in epochs):.3f}" if epochs else ""
        train_s = f"{sum(e['seconds'] for e in epochs):.0f}" if epochs else ""
        print(f"| `{name}` | {what} | {m['accuracy']:.3f} | {best} | {m['wall'] or ''} | {train_s} |")
    print()


if __name__ == "__main__":
    print("### Summary\n")
    summary([("source-race-age", "source: race and age band (30 classes), all layers"),
             ("source-race", "source: race (5 classes), all layers"),
             ("fc8-race-age", "gender, fc8 only, trunk from race+age"),
             ("fc8-race-age-nocache", "the same, without the feature cache"),
             ("conv5-race-age", "gender, fc8 then conv5_1 and up, trunk from race+age"),
             ("fc8-race", "gender, fc8 only, trunk from race"),
             ("conv5-race", "gender, fc8 then conv5_1 and up, trunk from race"),
             ("scratch-fifth", "gender, random weights, all layers"),
             ("fc8-random-trunk", "gender, fc8 only on a random trunk"),
             ("final-transfer", "gender, whole training split, all layers from race+age"),
             ("final-scratch", "gender, whole training split, random weights"),
             ("final-scratch-long", "gender, whole training split, random weights, 30 epochs"),
             ("final-scratch-long-74", "the same model, test faces at the training crops' scale"),
             ("final-scratch-long-tta", "the same, each test image averaged with its mirror")])
    for name, title in (("source-race-age", "Source: race and age band"), ("fc8-race-age", "fc8 only (trunk from race+age)"),
                        ("conv5-race-age", "fc8, then conv5_1 and up"), ("scratch-fifth", "From random weights"),
                        ("fc8-random-trunk", "fc8 only on a random trunk"), ("final-transfer", "Final model"),
                        ("final-scratch", "Final budget from random weights"),
                        ("final-scratch-long", "From random weights, 30 epochs")):
        m = load(name)
        if m:
            curve(m, title)
    for name in ("fc8-race-age", "conv5-race-age", "scratch-fifth", "final-transfer", "final-scratch-long",
                 "final-scratch-long-74", "final-scratch-long-tta"):
        m = load(name)
        if m:
            print(f"**Confusion matrix and groups of `{name}` on the test split ({m['count']} images)**\n")
            confusion(m)
            groups(m)
    p = os.path.join(runs, "extract-race-age", "classifier.json")
    if os.path.exists(p):
        c = json.load(open(p))
        print(f"**Feature extractor: softmax regression on {c['layer']} embeddings of the race+age source**\n")
        print("| examples per class | training images | test accuracy |")
        print("|---:|---:|---:|")
        for r in c["results"]:
            print(f"| {r['per_class'] or 'all'} | {r['train']} | {r['test_accuracy']:.3f} |")
        print()
