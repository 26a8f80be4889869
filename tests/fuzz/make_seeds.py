#!/usr/bin/env python3
"""Writes the seed corpus of engram_abi_fuzz: 8 inputs per top-level choice.

The harness reads its input with FuzzedDataProvider, which takes integers from
the END of the input: the last byte picks the entry-point family (mod 12: the
five CCE ops, contexts, information functions, then one choice per op family:
scan, 2-bit weights, attention, the scan family's delta rule, its MoM / BASED / Titans ops); the bytes before it, read backwards, pick
shapes, dtypes, options, a value seed and the fault. Random bytes therefore
make varied, mostly small problems; the fuzzer refines them.
Deterministic: rerunning gives the same files.

    python3 tests/fuzz/make_seeds.py   # rewrites the seeds in tests/fuzz/corpus/engram_abi_fuzz/
"""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "engram_abi_fuzz")
FAMILIES = ["forward", "backward", "forward_backward", "shard_forward", "shard_combine",
            "context", "info", "scan", "qmatmul", "attention", "scan_delta", "scan_mom"]

def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if not name.startswith("regress-"):  # minimised reproducers of defects stay
            os.remove(os.path.join(OUT, name))
    rng = random.Random(20240611)
    for op, family in enumerate(FAMILIES):
        for k in range(8):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(48, 97)))
            with open(os.path.join(OUT, f"{family}-{k}"), "wb") as f:
                f.write(body + bytes([op]))

if __name__ == "__main__":
    main()
