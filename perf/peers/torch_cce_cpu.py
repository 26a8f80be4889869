#!/usr/bin/env python3
"""PyTorch peer for the CPU benchmark: what a framework does for the loss.

    logits = F.linear(e, c)            # [n, v] materialised
    loss = F.cross_entropy(logits, t)  # mean
    loss.backward()                    # dE, dC through the stored logits

Timed on the same shapes as `engram-bench cce`, on inputs built like its peaked
inputs (Zipf prior over frequency-ordered ids, per-token confidence); times do
not depend on the values for a dense method. Peak extra memory is the growth of
the process's peak RSS during the call (Linux: /proc/self/clear_refs resets it).
Writes cases in the engram-bench/1 JSON format (impl "torch").

With --dtype bf16/f16 the inputs (and weights) are in that dtype and the
logits are upcast to f32 before the softmax, as mixed-precision training does.

usage: torch_cce_cpu.py [--n 4096] [--v 32768] [--d 1024] [--reps 3]
                        [--threads 0] [--dtype f32|bf16|f16] [--json OUT.json]
"""
import argparse
import json
import os
import sys
import time


def peak_rss_reset():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--v", type=int, default=32768)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"torch peer skipped: {e}", file=sys.stderr)
        return 3
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(1)
    n, v, d = a.n, a.v, a.d
    ranks = torch.arange(v, dtype=torch.float64)
    prior = -1.1 * torch.log(ranks + 1.0)
    targets = torch.multinomial(torch.softmax(prior, 0).float(), n, replacement=True, generator=g)
    u = torch.randn(d, generator=g)
    u /= u.norm()
    gvec = torch.randn(v, d, generator=g) / d ** 0.5
    s = 2.0 + 12.0 * torch.rand(n, generator=g)
    e = s[:, None] * gvec[targets] + 8.0 * u + 0.5 * torch.randn(n, d, generator=g) / d ** 0.5
    c = gvec + (prior.float() / 8.0)[:, None] * u
    del gvec
    dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
    e, c = e.to(dt), c.to(dt)  # the reference below reads the rounded values

    cases = []

    # Accuracy on sampled tokens against float64: per-token loss and lse, and
    # grad_e rows with an upstream gradient of 1 per token (docs/bench-json.md).
    samples = torch.randperm(n, generator=g)[:16]

    def reference():
        z = (e[samples].double() @ c.double().t())
        lse = torch.logsumexp(z, 1)
        p = torch.softmax(z, 1)
        p[torch.arange(len(samples)), targets[samples]] -= 1.0
        return lse - z[torch.arange(len(samples)), targets[samples]], lse, p @ c.double()

    ref_loss, ref_lse, ref_ge = reference()

    def error(with_grad):
        ew_ = e[samples].clone().requires_grad_(True)
        z = F.linear(ew_, c).float()
        loss = F.cross_entropy(z, targets[samples], reduction="none")
        err = max((loss.double() - ref_loss).abs().max().item(),
                  (torch.logsumexp(z, 1).double() - ref_lse).abs().max().item())
        if with_grad:
            loss.sum().backward()
            err = max(err, (ew_.grad.double() - ref_ge).abs().max().item())
        return err

    def run(op, fn):
        for _ in range(a.warmup):
            fn()
        times, peak = [], 0
        for _ in range(a.reps):
            rss0 = status_kb("VmRSS:")
            ok = peak_rss_reset()
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
            if ok:
                peak = max(peak, status_kb("VmHWM:") - rss0)
        times.sort()
        med = times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
        flops = 2.0 * n * v * d * (1 if op == "cce_forward" else 3)
        cases.append({
            "op": op, "impl": "torch", "variant": "materialized", "backend": "cpu",
            "shape": {"n": n, "v": v, "d": d}, "dtype": a.dtype, "reps": len(times),
            "median_ms": med, "min_ms": times[0], "max_ms": times[-1],
            "peak_extra_bytes": peak, "max_abs_err": error(op != "cce_forward"), "flops": flops,
            "gflops": flops / (med * 1e-3) / 1e9, "filter_eps": 0.0,
            "notes": f"torch {torch.__version__} F.linear + F.cross_entropy, peak = RSS growth",
        })
        print(f"torch {op:22s} median {med:9.2f} ms  extra {peak / 2**20:9.1f} MiB", flush=True)

    def fwd():
        with torch.no_grad():
            F.cross_entropy(F.linear(e, c).float(), targets)

    ew = e.clone().requires_grad_(True)
    cw = c.clone().requires_grad_(True)

    def fwd_bwd():
        ew.grad = None
        cw.grad = None
        F.cross_entropy(F.linear(ew, cw).float(), targets).backward()

    run("cce_forward", fwd)
    run("cce_forward_backward", fwd_bwd)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schema": "engram-bench/1", "cases": cases}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
