#!/usr/bin/env python3
"""dry_run_test.py — tests perf/gpu/check.sh without a GPU, through its
--dry-run: the same preflight, tool discovery, fallbacks, deadline and
summary logic as in a GPU window, with every GPU step reporting "no device".

    python3 tests/gpu_check/dry_run_test.py     # prints "ok NAME" / "FAIL NAME: why"

Checks, each printed as one line (build.sh counts them):
  - a plain dry run: finishes well under a minute, exit 0, summary.json is
    valid JSON with every step once, in order, none left pending or running,
    budgets that add up to the deadline, GPU steps "no_device", the build
    planned or refused with a reason;
  - PATH without cmake, ctest and ninja: the build falls back to the direct
    nvcc/c++ build (or says there is no nvcc), and ENGRAM_GPU_SKIP is honoured;
  - PATH without nvcc either: found under /usr/local/cuda*, or preflight
    and build fail naming it;
  - a 3-second deadline: every step skipped with the deadline as the reason,
    and the summary still written.
Exit status: 0 when every check passed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "perf", "gpu", "check.sh")
STEPS = ["preflight", "build", "bench", "cuda_tests", "torch", "memcheck", "racecheck",
         "synccheck", "ncu"]
GPU_STEPS = STEPS[2:]
STATUSES = {"ok", "failed", "timeout", "skipped", "no_device"}
LIMIT_S = 60  # "well under a minute": a plain dry run takes ~20 s on a loaded 2-core VM

results = []


def check(name, cond, why=""):
    results.append(bool(cond))
    print(f"ok {name}" if cond else f"FAIL {name}: {why}", flush=True)


def run(out, env_extra=None, path=None):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ENGRAM_GPU_") or k == "ENGRAM_CUDA_ARCHS":
            del env[k]
    env["OUT"] = out
    env["ENGRAM_GPU_BUILD_DIR"] = os.path.join(out, "build")
    if path is not None:
        env["PATH"] = path
    env.update(env_extra or {})
    t0 = time.monotonic()
    try:
        p = subprocess.run(["bash", SCRIPT, "--dry-run"], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=3 * LIMIT_S)
        rc, log = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, log = "timeout", str(exc.stdout or "")
    return rc, time.monotonic() - t0, log


def load_summary(out):
    try:
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            return json.load(f), ""
    except (OSError, ValueError) as exc:
        return None, str(exc)


def common_checks(tag, out, rc, secs, log):
    check(f"{tag}: exit 0", rc == 0, f"exit {rc}; log tail: {log[-600:]}")
    check(f"{tag}: finishes in under {LIMIT_S} s", secs < LIMIT_S, f"{secs:.1f} s")
    doc, err = load_summary(out)
    check(f"{tag}: summary.json is valid JSON", doc is not None, err)
    if doc is None:
        return None
    steps = doc.get("steps", [])
    names = [s.get("name") for s in steps]
    check(f"{tag}: every step once, in order", names == STEPS, f"{names}")
    bad = [s for s in steps if s.get("status") not in STATUSES]
    check(f"{tag}: every step finished with a known status", not bad, f"{bad}")
    noreason = [s["name"] for s in steps if s.get("status") != "ok" and not s.get("reason")]
    check(f"{tag}: every step not ok says why", not noreason, f"{noreason}")
    check(f"{tag}: dry_run true, status dry_run", doc.get("dry_run") is True
          and doc.get("status") == "dry_run", f"{doc.get('dry_run')}, {doc.get('status')}")
    check(f"{tag}: budgets add up to the deadline",
          sum(s.get("budget_s", 0) for s in steps) == doc.get("deadline_s") == 480,
          f"{[s.get('budget_s') for s in steps]} vs {doc.get('deadline_s')}")
    return {s["name"]: s for s in steps}, doc.get("facts", {})


def no_device_checks(tag, steps, skipped=()):
    wrong = [(n, steps[n]["status"]) for n in GPU_STEPS if n not in skipped
             and (steps[n]["status"] != "no_device" or not steps[n]["reason"].startswith("no device"))]
    check(f"{tag}: every GPU step reports no device", not wrong, f"{wrong}")
    timed = [n for n in STEPS if n not in skipped and not isinstance(steps[n].get("seconds"), (int, float))]
    check(f"{tag}: every step that ran is timed", not timed, f"{timed}")


def path_without(tools, bindir):
    """A PATH with every program of the current PATH except `tools`."""
    os.makedirs(bindir)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            src, dst = os.path.join(d, name), os.path.join(bindir, name)
            if name in tools or os.path.lexists(dst) or not os.access(src, os.X_OK) or os.path.isdir(src):
                continue
            os.symlink(src, dst)
    return bindir


def main():
    tmp = tempfile.mkdtemp(prefix="engram-gpu-dry-")
    try:
        out = os.path.join(tmp, "plain")
        rc, secs, log = run(out)
        got = common_checks("plain", out, rc, secs, log)
        if got:
            steps, facts = got
            no_device_checks("plain", steps)
            pre, build = steps["preflight"], steps["build"]
            check("plain: preflight ok or says what is missing", pre["status"] == "ok"
                  or (pre["status"] == "failed" and pre["reason"]), f"{pre}")
            check("plain: build planned (dry run) or refused with the reason",
                  (build["status"] == "skipped" and build["reason"].startswith("dry run: would build"))
                  or (build["status"] == "failed" and "cannot build" in build["reason"]), f"{build}")
            check("plain: facts name the tools", all(k in facts for k in
                  ("tool_cmake", "tool_ninja", "tool_compute_sanitizer", "tool_ncu", "gtest", "device")),
                  f"{sorted(facts)}")

        out = os.path.join(tmp, "nocmake")
        path = path_without({"cmake", "ctest", "cpack", "ninja"}, os.path.join(tmp, "bin"))
        rc, secs, log = run(out, {"ENGRAM_GPU_SKIP": "torch ncu"}, path=path)
        got = common_checks("no cmake/ninja", out, rc, secs, log)
        if got:
            steps, facts = got
            no_device_checks("no cmake/ninja", steps, skipped=("torch", "ncu"))
            check("no cmake/ninja: tools reported missing",
                  facts.get("tool_cmake") == "missing" and facts.get("tool_ninja") == "missing", f"{facts}")
            build = steps["build"]
            if facts.get("nvcc"):
                check("no cmake/ninja: build falls back to the direct nvcc/c++ build",
                      facts.get("build_method", "").startswith("direct")
                      and "with direct nvcc/c++" in build["reason"], f"{build}, {facts.get('build_method')}")
            else:
                check("no cmake/ninja: no nvcc, build refused with the reason",
                      build["status"] == "failed" and "no nvcc" in build["reason"], f"{build}")
            check("no cmake/ninja: ENGRAM_GPU_SKIP steps skipped",
                  all(steps[n]["status"] == "skipped" and steps[n]["reason"] == "ENGRAM_GPU_SKIP"
                      for n in ("torch", "ncu")), f"{steps['torch']}, {steps['ncu']}")

        out = os.path.join(tmp, "nonvcc")
        path = path_without({"cmake", "ctest", "cpack", "ninja", "nvcc"}, os.path.join(tmp, "bin2"))
        rc, secs, log = run(out, path=path)
        got = common_checks("no nvcc", out, rc, secs, log)
        if got:
            steps, facts = got
            no_device_checks("no nvcc", steps)
            pre, build = steps["preflight"], steps["build"]
            if facts.get("nvcc"):  # found outside PATH (/usr/local/cuda*)
                check("no nvcc on PATH: nvcc found in the usual places",
                      os.path.isabs(facts["nvcc"]) and pre["status"] == "ok", f"{facts['nvcc']}, {pre}")
            else:
                check("no nvcc: preflight fails naming nvcc", pre["status"] == "failed"
                      and "no nvcc" in pre["reason"], f"{pre}")
                check("no nvcc: build refused with the reason", build["status"] == "failed"
                      and "no nvcc" in build["reason"], f"{build}")

        out = os.path.join(tmp, "deadline")
        rc, secs, log = run(out, {"ENGRAM_GPU_DEADLINE": "3"})
        check("3 s deadline: exit 0", rc == 0, f"exit {rc}")
        doc, err = load_summary(out)
        check("3 s deadline: summary.json written", doc is not None, err)
        if doc:
            wrong = [s for s in doc["steps"] if s["status"] != "skipped"
                     or not s["reason"].startswith("global deadline")]
            check("3 s deadline: every step skipped for the deadline", not wrong, f"{wrong}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"gpu check dry run: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
