#!/usr/bin/env python3
"""torch_cce.py — PyTorch's materialised cross-entropy, the peer of engram's
CCE in the GPU benchmarks.

    loss = F.cross_entropy(F.linear(e, c), targets)        # forward
    loss.backward()                                        # forward + backward

with e [n, d], c [v, d] in the benchmark dtype (default bf16 at the Gemma-2-2B
head: n = 8192, v = 256000, d = 2304). The logits [n, v] exist in memory —
that is the point of the comparison. Timing: CUDA events around each call,
after warm-up calls; median / min / max over the timed repetitions. Peak extra
memory: torch.cuda.max_memory_allocated() during one call, minus what was
allocated before it (the inputs) and minus the outputs the call leaves behind
(the gradients). Accuracy: per-token loss and grad_e rows of sampled tokens
against a float64 reference.

Writes the cases in the engram-bench/1 JSON format (docs/bench-json.md):
impl "torch", variant "materialized", backend "cuda".

Without a GPU (or without torch) it prints why and exits 0, writing a JSON
file with no cases when --out is given. --device cpu runs the same code on the
CPU at small sizes, to test the script itself:

    python3 perf/gpu/torch_cce.py --device cpu --n 64 --v 1000 --d 32 --out /tmp/t.json
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time

SCHEMA = "engram-bench/1"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8192, help="tokens (default 8192)")
    ap.add_argument("--v", type=int, default=256000, help="vocabulary (default 256000)")
    ap.add_argument("--d", type=int, default=2304, help="hidden size (default 2304)")
    ap.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    ap.add_argument("--samples", type=int, default=32,
                    help="tokens checked against the float64 reference (default 32)")
    ap.add_argument("--ignore-frac", type=float, default=0.0,
                    help="fraction of targets set to ignore_index -100 (default 0)")
    ap.add_argument("--ops", default="forward,forward_backward",
                    help="comma-separated: forward, forward_backward")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                    help="auto: CUDA if present, else skip; cpu: test the script on the CPU")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", help="write the JSON here (default: print it)")
    return ap.parse_args(argv)


def engram_version():
    here = os.path.dirname(os.path.abspath(__file__))
    header = os.path.join(here, "..", "..", "native", "include", "engram.h")
    try:
        with open(header, encoding="utf-8") as f:
            m = re.search(r'#define ENGRAM_VERSION_STRING "([^"]+)"', f.read())
            return m.group(1) if m else None
    except OSError:
        return None


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def document(cases, gpu, skipped=None, extra=None):
    doc = {
        "schema": SCHEMA,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "engram_version": engram_version(),
        "machine": {"cpu": cpu_name(), "cpu_threads": os.cpu_count(), "isa": None, "gpu": gpu},
        "limits": None,
        "cases": cases,
    }
    if extra:
        doc.update(extra)
    if skipped:
        doc["skipped"] = skipped
    return doc


def emit(doc, out):
    text = json.dumps(doc, indent=2)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"torch_cce: wrote {len(doc['cases'])} case(s) to {out}")
    else:
        print(text)


def skip(reason, out):
    print(f"torch_cce: skipping: {reason}")
    if out:
        emit(document([], None, skipped=reason), out)
    return 0


class Runner:
    """Inputs, the two ops, timing and memory on one device."""

    def __init__(self, torch, args, device):
        self.torch = torch
        self.F = torch.nn.functional
        self.args = args
        self.device = device
        self.cuda = device.type == "cuda"
        self.dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
        g = torch.Generator(device="cpu").manual_seed(args.seed)
        n, v, d = args.n, args.v, args.d
        # Peaked logits (like a trained head): hidden states of norm ~sqrt(d),
        # classifier rows of norm ~4, so logits spread over a few units.
        e = torch.randn(n, d, generator=g)
        c = torch.randn(v, d, generator=g) * (4.0 / d ** 0.5)
        t = torch.randint(0, v, (n,), generator=g, dtype=torch.int64)
        if args.ignore_frac > 0:
            mask = torch.rand(n, generator=g) < args.ignore_frac
            t[mask] = -100
        self.e = e.to(device=device, dtype=self.dtype)
        self.c = c.to(device=device, dtype=self.dtype)
        self.t = t.to(device)
        del e, c
        self.valid = int((self.t != -100).sum().item())

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def forward(self):
        with self.torch.no_grad():
            return self.F.cross_entropy(self.F.linear(self.e, self.c), self.t, ignore_index=-100)

    def forward_backward(self):
        e = self.e.detach().requires_grad_(True)
        c = self.c.detach().requires_grad_(True)
        loss = self.F.cross_entropy(self.F.linear(e, c), self.t, ignore_index=-100)
        loss.backward()
        return loss, e.grad, c.grad

    def time_ms(self, fn):
        for _ in range(self.args.warmup):
            fn()
        self.sync()
        times = []
        for _ in range(self.args.reps):
            if self.cuda:
                start = self.torch.cuda.Event(enable_timing=True)
                end = self.torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return times

    def peak_extra_bytes(self, fn):
        """Peak allocation of one call beyond the inputs, less what it leaves."""
        if not self.cuda:
            return None, None
        cuda = self.torch.cuda
        self.sync()
        cuda.empty_cache()
        base = cuda.memory_allocated()
        cuda.reset_peak_memory_stats()
        result = fn()
        self.sync()
        peak = cuda.max_memory_allocated() - base
        outputs = cuda.memory_allocated() - base  # loss, gradients still referenced
        del result
        return peak - outputs, peak

    def reference_errors(self, loss_fn_rows, grad_e):
        """Max |err| of per-token losses (and grad_e rows) on sampled tokens vs float64."""
        torch, F = self.torch, self.F
        n = self.args.n
        count = max(1, min(self.args.samples, n))
        rows = torch.linspace(0, n - 1, count).round().long().unique().to(self.device)
        e64 = self.e[rows].double()
        t = self.t[rows]
        ok = t != -100
        # Logits of the sampled rows in float64, chunked over the vocabulary.
        chunk = 16384
        z = torch.cat([e64 @ self.c[j:j + chunk].double().T for j in range(0, self.args.v, chunk)], 1)
        lse = torch.logsumexp(z, 1)
        tz = z.gather(1, t.clamp(min=0).unsqueeze(1)).squeeze(1)
        ref_loss = torch.where(ok, lse - tz, torch.zeros_like(lse))
        with torch.no_grad():
            got = loss_fn_rows(rows).double()
        err = {"loss": float((got - ref_loss).abs().max().item())}
        if grad_e is not None:
            p = torch.softmax(z, 1)
            p[torch.arange(len(rows), device=self.device)[ok], t[ok]] -= 1.0
            p[~ok] = 0.0
            p /= max(self.valid, 1)
            ref_ge = sum(p[:, j:j + chunk] @ self.c[j:j + chunk].double()
                         for j in range(0, self.args.v, chunk))
            err["grad_e"] = float((grad_e[rows].double() - ref_ge).abs().max().item())
        return err

    def rows_loss(self, rows):
        return self.F.cross_entropy(self.F.linear(self.e[rows], self.c), self.t[rows],
                                    ignore_index=-100, reduction="none")


def case(runner, op, times, peak_extra, peak_raw, errors, backend):
    a = runner.args
    flops = (2.0 if op == "cce_forward" else 6.0) * a.n * a.v * a.d
    median = statistics.median(times)
    return {
        "op": op,
        "impl": "torch",
        "variant": "materialized",
        "backend": backend,
        "shape": {"n": a.n, "v": a.v, "d": a.d},
        "dtype": a.dtype,
        "reps": len(times),
        "median_ms": median,
        "min_ms": min(times),
        "max_ms": max(times),
        "peak_extra_bytes": peak_extra,
        "peak_bytes_beyond_inputs": peak_raw,
        "max_abs_err": max(errors.values()),
        "max_abs_err_by_output": errors,
        "flops": flops,
        "gflops": flops / (median * 1e6) if median > 0 else None,
        "tokens_valid": runner.valid,
        "filter_eps": None,
        "blocks_skipped_frac": None,
    }


def main(argv):
    args = parse_args(argv)
    try:
        import torch
    except ImportError as exc:
        return skip(f"PyTorch is not installed ({exc})", args.out)

    if args.device == "cpu":
        device = torch.device("cpu")
    elif torch.cuda.is_available() and torch.cuda.device_count() > 0:
        device = torch.device("cuda")
    elif args.device == "cuda":
        print("torch_cce: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        return 1
    else:
        return skip(f"no CUDA device (torch {torch.__version__}, "
                    f"CUDA build {torch.version.cuda})", args.out)

    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    for o in ops:
        if o not in ("forward", "forward_backward"):
            print(f"torch_cce: unknown op {o!r}", file=sys.stderr)
            return 2

    backend = device.type
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"torch_cce: torch {torch.__version__} on {gpu or 'cpu'}: n={args.n} v={args.v} "
          f"d={args.d} {args.dtype}, {args.warmup} warm-up + {args.reps} timed calls")
    runner = Runner(torch, args, device)
    cases = []
    if "forward" in ops:
        times = runner.time_ms(runner.forward)
        extra, raw = runner.peak_extra_bytes(runner.forward)
        errors = runner.reference_errors(runner.rows_loss, None)
        cases.append(case(runner, "cce_forward", times, extra, raw, errors, backend))
    if "forward_backward" in ops:
        times = runner.time_ms(runner.forward_backward)
        extra, raw = runner.peak_extra_bytes(runner.forward_backward)
        _, grad_e, _ = runner.forward_backward()
        errors = runner.reference_errors(runner.rows_loss, grad_e)
        del grad_e
        cases.append(case(runner, "cce_forward_backward", times, extra, raw, errors, backend))
    for c in cases:
        mem = "n/a" if c["peak_extra_bytes"] is None else f"{c['peak_extra_bytes'] / 2**20:.1f} MiB"
        print(f"  {c['op']:<22} median {c['median_ms']:9.3f} ms  (min {c['min_ms']:.3f}, "
              f"max {c['max_ms']:.3f})  peak extra {mem}  max_abs_err {c['max_abs_err']:.2e}")
    inputs = {"kind": "random-peaked", "seed": args.seed, "ignore_frac": args.ignore_frac}
    emit(document(cases, gpu, extra={"inputs": inputs, "torch_version": torch.__version__}), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
