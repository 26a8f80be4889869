#!/usr/bin/env python3
"""gpu_json.py — the JSON chores of perf/gpu/check.sh, kept out of bash.

    gpu_json.py merge OUT IN...      engram-bench/1 documents -> one document
                                     (cases concatenated in order; machine and
                                     limits from the first document that has
                                     them); written atomically, so OUT is
                                     always a whole document
    gpu_json.py gtest XML            prints "tests failed skipped" of a
                                     GoogleTest XML report
    gpu_json.py compare BENCH TORCH OUT
                                     engram vs PyTorch per op: median times
                                     and their ratio, printed and written to OUT

Standard library only (the GPU machine has no network).
"""

import json
import os
import sys
import xml.etree.ElementTree as ET


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_atomic(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def merge(out, inputs):
    merged = None
    for path in inputs:
        try:
            doc = load(path)
        except (OSError, ValueError) as exc:
            print(f"gpu_json: skipping {path}: {exc}", file=sys.stderr)
            continue
        if merged is None:
            merged = dict(doc)
            merged["cases"] = []
            merged["parts"] = []
        for key in ("limits", "machine", "inputs"):
            if not merged.get(key) and doc.get(key):
                merged[key] = doc[key]
        merged["cases"].extend(doc.get("cases") or [])
        merged["parts"].append(os.path.basename(path))
    if merged is None:
        print("gpu_json: nothing to merge", file=sys.stderr)
        return 1
    write_atomic(out, merged)
    return 0


def gtest(path):
    """Counts from the testcase elements themselves (attribute sets differ
    between GoogleTest versions): a case is skipped when it has a <skipped>
    child or result="skipped", failed when it has <failure> or <error>."""
    root = ET.parse(path).getroot()
    tests = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.get("status") == "notrun":
            continue  # DISABLED_ tests
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
    print(tests, failed, skipped)
    return 0


def compare(bench_path, torch_path, out):
    bench, torch = load(bench_path), load(torch_path)
    peer = {c["op"]: c for c in torch.get("cases") or []}
    rows = []
    for c in bench.get("cases") or []:
        p = peer.get(c.get("op"))
        if c.get("impl") != "engram" or not p or not p.get("median_ms") or not c.get("median_ms"):
            continue
        ratio = c["median_ms"] / p["median_ms"]
        rows.append({"op": c["op"], "variant": c.get("variant"), "dtype": c.get("dtype"),
                     "engram_ms": c["median_ms"], "torch_ms": p["median_ms"],
                     "engram_over_torch": ratio,
                     "engram_peak_extra_bytes": c.get("peak_extra_bytes"),
                     "torch_peak_extra_bytes": p.get("peak_extra_bytes")})
        print(f"  {c['op']:<22} {c.get('variant', ''):<15} engram {c['median_ms']:9.3f} ms"
              f"  torch {p['median_ms']:9.3f} ms  ratio {ratio:.3f}")
    write_atomic(out, {"schema": "engram-gpu-compare/1", "rows": rows})
    return 0 if rows else 1


def main(argv):
    if len(argv) >= 3 and argv[0] == "merge":
        return merge(argv[1], argv[2:])
    if len(argv) == 2 and argv[0] == "gtest":
        return gtest(argv[1])
    if len(argv) == 4 and argv[0] == "compare":
        return compare(argv[1], argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
