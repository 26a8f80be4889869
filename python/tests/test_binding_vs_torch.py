"""perf/gpu/binding_vs_torch.py (the GPU window's same-tensor check of the
binding against PyTorch) run on the CPU at a small size: it must agree with
PyTorch, time all four cases and write its JSON."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "perf", "gpu", "binding_vs_torch.py")


class BindingVsTorchScriptTest(unittest.TestCase):
    def run_script(self, dtype):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.json")
            proc = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--n", "37", "--v", "501", "--d", "24",
                                   "--dtype", dtype, "--reps", "1", "--warmup", "0", "--out", out],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            with open(out) as f:
                return json.load(f)

    def test_f32_agrees_and_times_every_case(self):
        r = self.run_script("f32")
        self.assertIsNone(r["error"])
        self.assertEqual([(c["op"], c["impl"]) for c in r["cases"]],
                         [("cce_forward", "engram"), ("cce_forward", "torch"),
                          ("cce_forward_backward", "engram"), ("cce_forward_backward", "torch")])
        for c in r["cases"]:
            self.assertLess(c["rel_err_vs_torch"], 1e-4)
            self.assertGreater(c["median_ms"], 0.0)

    def test_bf16_agrees_within_its_bound(self):
        r = self.run_script("bf16")
        self.assertIsNone(r["error"])
        self.assertTrue(all(c["rel_err_vs_torch"] < 2e-2 for c in r["cases"]))


if __name__ == "__main__":
    unittest.main()
