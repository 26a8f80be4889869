#!/usr/bin/env python3
"""binding_vs_torch.py — Engram's CCE through the Python binding against
PyTorch's materialised loss, on the SAME tensors, checked and timed.

    engram.linear_cross_entropy(e, c, targets)              # never builds the logits
    F.cross_entropy(F.linear(e, c).float(), targets)        # materialised peer

For each of forward and forward+backward: the loss (and grad_e, grad_c) of
the two are compared (relative error printed and bounded), then each is timed
(CUDA events on a GPU, perf_counter on the CPU; warm-up calls first) and the
peak extra memory is read from torch.cuda.max_memory_allocated on a GPU.
Prints one JSON object (schema "engram-binding-vs-torch/1") and writes it to
--out when given; exit 1 when the results disagree, 0 otherwise. It runs on
the CPU too (--device cpu, small sizes), which is how ./build.sh test's
Python tests exercise it here:

    python3 perf/gpu/binding_vs_torch.py --device cpu --n 64 --v 1000 --d 32
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--n", type=int, default=8192)
    p.add_argument("--v", type=int, default=256000)
    p.add_argument("--d", type=int, default=2304)
    p.add_argument("--dtype", default="bf16", choices=["f32", "bf16", "f16"])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    return p.parse_args(argv)


def timed(fn, device, reps, warmup):
    import torch
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def peak_extra_bytes(fn, device):
    import torch
    if device != "cuda":
        return None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated() - base)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def main(argv):
    args = parse_args(argv)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    report = {"schema": "engram-binding-vs-torch/1", "device": args.device, "dtype": args.dtype,
              "shape": {"n": args.n, "v": args.v, "d": args.d}, "cases": [], "error": None}
    try:
        import torch
        import torch.nn.functional as F
        import engram
    except Exception as e:  # no torch or no libengram: say so, not a crash
        report["error"] = f"cannot import torch and engram: {e}"
        print(json.dumps(report))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        report["error"] = "no CUDA device visible to torch"
        print(json.dumps(report))
        return 0
    dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    e = (torch.randn(args.n, args.d, generator=g) * 0.5).to(args.device, dt)
    c = (torch.randn(args.v, args.d, generator=g) * 0.05).to(args.device, dt)
    t = torch.randint(0, args.v, (args.n,), generator=g).to(args.device)
    # Bounds: the two differ by their summation orders and, for 16-bit inputs,
    # by rounding the gradients to the input dtype once.
    tol = {"f32": 1e-4, "bf16": 2e-2, "f16": 5e-3}[args.dtype]

    def engram_fwd():
        return engram.linear_cross_entropy(e, c, t)

    def torch_fwd():
        return F.cross_entropy(F.linear(e, c).float(), t)

    def fwd_bwd(loss_fn):
        ee, cc = e.detach().requires_grad_(), c.detach().requires_grad_()
        def run():
            ee.grad = cc.grad = None
            loss = loss_fn(ee, cc)
            loss.backward()
            return loss, ee.grad, cc.grad
        return run

    eng_fb = fwd_bwd(lambda ee, cc: engram.linear_cross_entropy(ee, cc, t))
    ref_fb = fwd_bwd(lambda ee, cc: F.cross_entropy(F.linear(ee, cc).float(), t))
    with torch.no_grad():
        le, lt = engram_fwd(), torch_fwd()
    ok = True
    err_fwd = rel_err(le, lt)
    (le2, ge, gc), (lt2, gte, gtc) = eng_fb(), ref_fb()
    err_fb = max(rel_err(le2, lt2), rel_err(ge, gte), rel_err(gc, gtc))
    for op, err in (("forward", err_fwd), ("forward_backward", err_fb)):
        if not err <= tol:
            ok = False
            report["error"] = f"{op}: engram and torch differ by {err:.3g} (bound {tol:g})"
    with torch.no_grad():
        for impl, fn in (("engram", engram_fwd), ("torch", torch_fwd)):
            report["cases"].append({"op": "cce_forward", "impl": impl, "rel_err_vs_torch": err_fwd,
                                    **timed(fn, args.device, args.reps, args.warmup),
                                    "peak_extra_bytes": peak_extra_bytes(fn, args.device)})
    for impl, fn in (("engram", eng_fb), ("torch", ref_fb)):
        report["cases"].append({"op": "cce_forward_backward", "impl": impl, "rel_err_vs_torch": err_fb,
                                **timed(fn, args.device, args.reps, args.warmup),
                                "peak_extra_bytes": peak_extra_bytes(fn, args.device)})
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
