#!/usr/bin/env python3
"""PyTorch CPU peer of `engram-bench bench attention`: dense decode attention
over a KV cache as a user writes it, matmul-softmax-matmul:

    scores = (q_g @ k^T).float() * scale   # q grouped [H_kv, G, D] (GQA by reshape)
    p = softmax(scores, -1)
    out = p.to(dtype) @ v                  # [H_kv, G, D]

k, v [H_kv, S, D] in the storage dtype (bf16 storage: bf16 matmuls, softmax in
f32), q [H_q, D]. Prints one line per case for engram-bench:

    CASE op impl variant dtype shape median_ms min_ms max_ms reps flops

(flops 4 H_q S D). With --json the cases are also written in the
engram-bench/1 case format.

usage: torch_attention_cpu.py [--s 8192,131072] [--hq 32] [--hkv 8] [--d 128]
                              [--sink 64] [--w 1024] [--dtypes bf16,f32]
                              [--reps 3] [--warmup 1] [--threads 0] [--json OUT.json]
"""
import argparse
import json
import os
import time


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    n = len(ms)
    med = ms[n // 2] if n % 2 else 0.5 * (ms[n // 2 - 1] + ms[n // 2])
    return med, ms[0], ms[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--s", default="8192,131072")
    ap.add_argument("--hq", type=int, default=32)
    ap.add_argument("--hkv", type=int, default=8)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--sink", type=int, default=64)
    ap.add_argument("--w", type=int, default=1024)
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    import torch
    # 0 = every core, as engram's threads 0 (torch may default to fewer).
    torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    torch.manual_seed(1)
    types = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    g = a.hq // a.hkv
    scale = a.d ** -0.5
    cases = []
    with torch.no_grad():
        for name in [x for x in a.dtypes.split(",") if x]:
            dt = types[name]
            for s in [int(x) for x in a.s.split(",") if x]:
                k = (torch.rand(a.hkv, s, a.d) * 2 - 1).to(dt)
                v = (torch.rand(a.hkv, s, a.d) * 2 - 1).to(dt)
                q = (torch.rand(a.hq, a.d) * 2 - 1).view(a.hkv, g, a.d).to(dt)

                def decode():
                    scores = torch.matmul(q, k.transpose(1, 2)).float() * scale
                    p = torch.softmax(scores, dim=-1)
                    return torch.matmul(p.to(dt), v)

                med, lo, hi = timed(decode, a.warmup, a.reps)
                shape = {"hq": a.hq, "hkv": a.hkv, "d": a.d, "s": s, "sink": a.sink, "w": a.w}
                flops = 4.0 * a.hq * s * a.d
                cases.append({"op": "attention_decode", "impl": "torch", "variant": "matmul-softmax-matmul",
                              "backend": "cpu", "shape": shape, "dtype": name, "reps": a.reps,
                              "median_ms": med, "min_ms": lo, "max_ms": hi, "flops": flops})
                dims = ",".join(f"{n}={x}" for n, x in sorted(shape.items()))
                print(f"CASE attention_decode torch matmul-softmax-matmul {name} {dims} {med:.6f} {lo:.6f} "
                      f"{hi:.6f} {a.reps} {flops:.6g}", flush=True)
                del k, v
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "engram-bench/1", "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
