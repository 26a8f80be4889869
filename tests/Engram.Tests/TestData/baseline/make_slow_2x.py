#!/usr/bin/env python3
"""quick-slow-2x.json: quick-quiet-rerun.json (a real quick run on the idle machine) with every engram case's samples
and times doubled, as if a kernel had become 2x slower; the naive baseline is left as measured.
The other files here are real runs of build.sh's PERF_QUICK_ARGS on the loaded 2-core machine
(quick-scalar-isa.json: with ENGRAM_CPU_ISA=scalar, a real 40-60x slowdown of the kernels)."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "quick-quiet-rerun.json")) as f:
    run = json.load(f)
run["derived_from"] = "quick-quiet-rerun.json with engram cases x2 (make_slow_2x.py)"
for c in run["cases"]:
    if c["impl"] != "engram":
        continue
    for k in ("median_ms", "min_ms", "max_ms", "mad_ms"):
        c[k] *= 2.0
    c["samples_ms"] = [2.0 * x for x in c["samples_ms"]]
    for k in ("vs_naive",):
        if c.get(k) is not None:
            c[k] *= 2.0
    for k in ("gflops", "gbs"):
        c[k] /= 2.0
with open(os.path.join(HERE, "quick-slow-2x.json"), "w") as f:
    json.dump(run, f, indent=1)
    f.write("\n")
