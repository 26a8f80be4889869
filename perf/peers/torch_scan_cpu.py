#!/usr/bin/env python3
"""PyTorch CPU peer of `engram-bench bench scan`: causal linear attention
(no gate, o_t = scale * S_t^T q_t, S_t = S_{t-1} + k_t v_t^T) written in plain
torch as a user without engram would, in two forms:

    chunked     per chunk of C tokens: (Q K^T * causal mask) V + Q S, then
                S += K^T V (batched over heads, torch.matmul)
    recurrent   token by token: S += k_t^T v_t, o_t = q_t S (batched over heads)

f32, one sequence, H heads, K = V, inputs uniform in [-1, 1). Prints one line
per case for engram-bench:

    CASE op impl variant dtype shape median_ms min_ms max_ms reps flops

(flops counted as engram-bench counts them: chunked 2L^2(K+V) + 4LKV per chunk
and head, recurrent 4TKV per head). With --json the same cases are written in
the engram-bench/1 case format.

usage: torch_scan_cpu.py [--t 1024,8192,32768] [--h 16] [--k 128] [--v 128]
                         [--chunk 64] [--recurrent-max-t 8192] [--reps 3]
                         [--warmup 1] [--threads 0] [--json OUT.json]
"""
import argparse
import json
import os
import sys
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


def chunked(torch, q, k, v, scale, chunk):
    # q, k [H, T, K]; v [H, T, V]
    h, t, kd = q.shape
    vd = v.shape[2]
    o = torch.empty(h, t, vd)
    s = torch.zeros(h, kd, vd)
    mask = torch.ones(chunk, chunk).tril_()
    for i in range(0, t, chunk):
        qc, kc, vc = q[:, i:i + chunk], k[:, i:i + chunk], v[:, i:i + chunk]
        n = qc.shape[1]
        a = torch.matmul(qc, kc.transpose(1, 2)) * mask[:n, :n]
        o[:, i:i + chunk] = scale * (torch.matmul(a, vc) + torch.matmul(qc, s))
        s = s + torch.matmul(kc.transpose(1, 2), vc)
    return o


def recurrent(torch, q, k, v, scale):
    h, t, kd = q.shape
    vd = v.shape[2]
    o = torch.empty(h, t, vd)
    s = torch.zeros(h, kd, vd)
    for i in range(t):
        s = s + k[:, i, :, None] * v[:, i, None, :]
        o[:, i] = scale * torch.matmul(q[:, i, None, :], s)[:, 0]
    return o


def chunk_flops(t, h, kd, vd, c):
    f = 0.0
    for t0 in range(0, t, c):
        n = min(c, t - t0)
        f += 2.0 * n * n * (kd + vd) + 4.0 * n * kd * vd
    return f * h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--t", default="1024,8192,32768")
    ap.add_argument("--h", type=int, default=16)
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--v", type=int, default=128)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--recurrent-max-t", type=int, default=8192)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    import torch
    # 0 = every core, as engram's threads 0 (torch may default to fewer).
    torch.set_num_threads(a.threads if a.threads > 0 else (os.cpu_count() or 1))
    torch.manual_seed(1)
    scale = a.k ** -0.5
    cases = []
    with torch.no_grad():
        for t in [int(x) for x in a.t.split(",") if x]:
            q = torch.rand(a.h, t, a.k) * 2 - 1
            k = torch.rand(a.h, t, a.k) * 2 - 1
            v = torch.rand(a.h, t, a.v) * 2 - 1
            shape = {"b": 1, "t": t, "h": a.h, "k": a.k, "v": a.v}
            runs = [("chunked", lambda: chunked(torch, q, k, v, scale, a.chunk),
                     chunk_flops(t, a.h, a.k, a.v, a.chunk))]
            if t <= a.recurrent_max_t:
                runs.append(("recurrent", lambda: recurrent(torch, q, k, v, scale), 4.0 * t * a.h * a.k * a.v))
            ref = None
            for variant, fn, flops in runs:
                med, lo, hi = timed(fn, a.warmup, a.reps)
                out = fn()
                if ref is None:
                    ref = out
                else:  # the two forms must agree
                    rel = float((out - ref).abs().max() / ref.abs().max())
                    if rel > 1e-3:
                        sys.exit(f"torch_scan_cpu: {variant} differs from chunked by {rel}")
                cases.append({"op": "scan_linear_forward", "impl": "torch", "variant": variant,
                              "backend": "cpu", "shape": shape, "dtype": "f32", "reps": a.reps,
                              "median_ms": med, "min_ms": lo, "max_ms": hi, "flops": flops})
                dims = ",".join(f"{n}={x}" for n, x in sorted(shape.items()))
                print(f"CASE scan_linear_forward torch {variant} f32 {dims} {med:.6f} {lo:.6f} {hi:.6f} "
                      f"{a.reps} {flops:.6g}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "engram-bench/1", "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
