#!/usr/bin/env python3
"""Derives the `engram compare` test files (CompareTests.cs) from real recorded runs.

Recorded (copied unchanged): base.json = perf/results/cpu-epyc-2c-cce-bf16.json,
other-dtype.json = perf/results/cpu-epyc-2c-cce-f32-scratch.json, peers-base.json =
perf/results/cpu-epyc-2c-n4096-v32768-d1024-f32.json (with PyTorch peer cases).
Derived here, each saying so in "derived_from": a 2x slowdown of every engram case, a run
on 1 thread, another machine, a peer 2x slower while engram got 2x faster, a noisy re-run,
and malformed files. Run from the repository root: python3 tests/Engram.Tests/TestData/compare/make_compare_data.py
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))


def load(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return json.load(f)


def save(name, doc):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def scale(doc, pred, factor, note):
    d = copy.deepcopy(doc)
    d["derived_from"] = note
    for c in d["cases"]:
        if pred(c):
            for k in ("median_ms", "min_ms", "max_ms"):
                c[k] *= factor
            if c.get("vs_naive") is not None and c["impl"] != "naive":
                c["vs_naive"] *= factor
    return d


base = load("perf/results/cpu-epyc-2c-cce-bf16.json")
save("base.json", base)
save("other-dtype.json", load("perf/results/cpu-epyc-2c-cce-f32-scratch.json"))
peers = load("perf/results/cpu-epyc-2c-n4096-v32768-d1024-f32.json")
save("peers-base.json", peers)

is_engram = lambda c: c["impl"] == "engram"
save("slow-2x.json", scale(base, is_engram, 2.0, "base.json with every engram case's times x2"))
save("fast-2x-peer-slow.json",
     scale(scale(peers, is_engram, 0.5, ""), lambda c: c["impl"] == "torch", 2.0,
           "peers-base.json with engram cases x0.5 and the torch peer x2"))

one_thread = copy.deepcopy(base)
one_thread["threads"] = 1
one_thread["derived_from"] = "base.json marked as a 1-thread run"
save("one-thread.json", one_thread)

other_machine = copy.deepcopy(base)
other_machine["machine"]["cpu"] = "Intel Xeon Platinum 8480+"
other_machine["machine"]["cpu_threads"] = 2
other_machine["derived_from"] = "base.json marked as another machine, engram cases x2 (a 2x slowdown relative to naive)"
for c in other_machine["cases"]:
    if is_engram(c):
        for k in ("median_ms", "min_ms", "max_ms"):
            c[k] *= 2.0
save("other-machine-slow-2x.json", other_machine)

# A re-run where one engram case is 30% slower but its repetitions spread widely
# (another process took a core): v3 samples, MAD about 25% of the median.
noisy = copy.deepcopy(base)
noisy["schema"] = "engram-bench/3"
noisy["derived_from"] = "base.json as v3 with samples; fused 1.3x slower with a 25% spread"
for c in noisy["cases"]:
    m = c["median_ms"]
    if c["impl"] == "engram" and c["variant"] == "fused":
        m *= 1.3
        c["samples_ms"] = [m * x for x in (0.62, 0.8, 1.0, 1.25, 1.5)]
    else:
        c["samples_ms"] = [m * x for x in (0.995, 1.0, 1.004)]
    s = sorted(c["samples_ms"])
    c["median_ms"], c["min_ms"], c["max_ms"] = s[len(s) // 2], s[0], s[-1]
    c["reps"] = len(s)
save("noisy-rerun.json", noisy)

save("empty-cases.json", {**copy.deepcopy(base), "cases": []})
with open(os.path.join(HERE, "not-bench.json"), "w") as f:
    f.write('{"foo": 1}\n')
text = json.dumps(base, indent=1)
with open(os.path.join(HERE, "truncated.json"), "w") as f:
    f.write(text[: len(text) // 2])
wrong = copy.deepcopy(base)
wrong["schema"] = "engram-bench/99"
save("wrong-version.json", wrong)
