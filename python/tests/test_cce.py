"""engram.linear_cross_entropy against PyTorch's materialised cross-entropy in
float64 (forward and autograd gradients), the options of the CCE paper's
package, the binding's input checks, and loading errors. CUDA cases run where
torch sees a GPU (and libengram has its CUDA backend) and are skipped
otherwise."""

import os
import subprocess
import sys
import unittest

import torch
import torch.nn.functional as F

import engram

HAS_CUDA = torch.cuda.is_available()


def reference(e, c, targets, bias=None, softcap=None, reduction="mean", ignore_index=-100,
              label_smoothing=0.0, z_loss=0.0):
    """The materialised float64 loss, differentiable through torch autograd."""
    logits = e.double() @ c.double().T
    if bias is not None:
        logits = logits + bias.double()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    loss = F.cross_entropy(logits, targets.long(), ignore_index=ignore_index, reduction="none",
                           label_smoothing=label_smoothing)
    if z_loss:
        keep = targets != ignore_index
        loss = loss + z_loss * torch.where(keep, torch.logsumexp(logits, dim=-1) ** 2, torch.zeros_like(loss))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    valid = (targets != ignore_index).sum()
    return loss.sum() / valid.clamp(min=1)


def problem(n=37, d=19, v=131, dtype=torch.float32, device="cpu", bias=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, d, generator=g) * 1.5
    c = torch.randn(v, d, generator=g) / d ** 0.5
    targets = torch.randint(0, v, (n,), generator=g)
    targets[::5] = -100
    b = torch.randn(v, generator=g) if bias else None
    cast = lambda t: t.to(device=device, dtype=dtype).requires_grad_(True) if t is not None else None
    return cast(e), cast(c), targets.to(device), cast(b)


class LinearCrossEntropyTest(unittest.TestCase):
    device = "cpu"

    def setUp(self):
        if self.device == "cuda" and not HAS_CUDA:
            self.skipTest("torch sees no CUDA device")

    def compare(self, dtype=torch.float32, tol=2e-5, gtol=2e-5, **options):
        e, c, t, b = problem(dtype=dtype, device=self.device, bias=options.pop("bias", False))
        loss = engram.linear_cross_entropy(e, c, t, bias=b, **options)
        ref_opts = {k: v for k, v in options.items() if k != "filter_eps"}
        e64, c64 = e.detach().double().requires_grad_(True), c.detach().double().requires_grad_(True)
        b64 = b.detach().double().requires_grad_(True) if b is not None else None
        ref = reference(e64, c64, t, b64, **ref_opts)
        torch.testing.assert_close(loss.double(), ref.detach(), atol=tol, rtol=tol)
        upstream = torch.linspace(0.5, 1.5, loss.numel(), dtype=torch.float64).reshape(loss.shape)
        (loss.double() * upstream.to(loss.device)).sum().backward()
        (ref * upstream).sum().backward()
        self.assertEqual(e.grad.dtype, dtype)
        torch.testing.assert_close(e.grad.double(), e64.grad, atol=gtol, rtol=gtol)
        torch.testing.assert_close(c.grad.double(), c64.grad, atol=gtol, rtol=gtol)
        if b is not None:
            torch.testing.assert_close(b.grad.double(), b64.grad, atol=gtol, rtol=gtol)

    def test_mean(self):
        self.compare()

    def test_sum_and_none(self):
        self.compare(reduction="sum")
        self.compare(reduction="none")

    def test_bias_softcap_smoothing_zloss(self):
        self.compare(bias=True, softcap=5.0, label_smoothing=0.1, z_loss=1e-3, reduction="none")

    def test_exact_filter(self):
        self.compare(filter_eps=None)

    def test_half_precision_inputs(self):
        # 16-bit inputs are read exactly and accumulated in fp32; gradients are
        # rounded once to the input dtype (2^-8 relative for bf16, 2^-11 for f16).
        self.compare(dtype=torch.bfloat16, tol=1e-4, gtol=2e-2, filter_eps=None)
        self.compare(dtype=torch.float16, tol=1e-4, gtol=3e-3, filter_eps=None)

    def test_shift_predicts_the_next_token(self):
        g = torch.Generator().manual_seed(3)
        e = torch.randn(2, 9, 8, generator=g, device="cpu").to(self.device).requires_grad_(True)
        c = torch.randn(40, 8, generator=g).to(self.device)
        t = torch.randint(0, 40, (2, 9), generator=g).to(self.device)
        loss = engram.linear_cross_entropy(e, c, t, shift=True, reduction="none")
        self.assertEqual(tuple(loss.shape), (2, 8))
        ref = reference(e[:, :-1, :].reshape(-1, 8), c, t[:, 1:].reshape(-1), reduction="none").reshape(2, 8)
        torch.testing.assert_close(loss.double(), ref.detach(), atol=2e-5, rtol=2e-5)

    def test_non_contiguous_inputs_are_handled(self):
        e, c, t, _ = problem(device=self.device)
        c_t = c.detach().T.contiguous().T  # same values, transposed strides
        self.assertFalse(c_t.is_contiguous())
        torch.testing.assert_close(engram.linear_cross_entropy(e, c_t, t), engram.linear_cross_entropy(e, c, t))

    def test_nan_propagates(self):
        e, c, t, _ = problem(device=self.device)
        with torch.no_grad():
            c[7, 0] = float("nan")
        loss = engram.linear_cross_entropy(e, c, t, reduction="none")
        keep = t != -100
        self.assertTrue(torch.isnan(loss[keep]).all())

    # --- what the binding checks before calling the ABI --------------------------

    def test_mismatched_dtypes_are_rejected(self):
        e, c, t, _ = problem(device=self.device)
        with self.assertRaisesRegex(ValueError, "c has dtype torch.float16, e has torch.float32"):
            engram.linear_cross_entropy(e, c.detach().half(), t)

    def test_float_targets_are_rejected(self):
        e, c, t, _ = problem(device=self.device)
        with self.assertRaisesRegex(ValueError, "targets has dtype torch.float32"):
            engram.linear_cross_entropy(e, c, t.float())

    def test_wrong_shapes_are_rejected(self):
        e, c, t, _ = problem(device=self.device)
        with self.assertRaisesRegex(ValueError, r"c must be \[v, d\] with d = 19"):
            engram.linear_cross_entropy(e, c[:, :5], t)
        with self.assertRaisesRegex(ValueError, r"targets must be \[37\]"):
            engram.linear_cross_entropy(e, c, t[:-1])

    def test_other_devices_are_rejected(self):
        e, c, t, _ = problem(device=self.device)
        with self.assertRaisesRegex(ValueError, "put them on one device"):
            engram.linear_cross_entropy(e, c.detach().to("meta"), t)

    def test_out_of_range_target_is_an_argument_error_from_the_library(self):
        e, c, t, _ = problem(device=self.device)
        t = t.clone()
        t[3] = 999
        with self.assertRaisesRegex(engram.EngramArgumentError, r"targets\[3\] = 999 is outside \[0, 131\)"):
            engram.linear_cross_entropy(e, c, t)

    def test_bad_reduction(self):
        e, c, t, _ = problem(device=self.device)
        with self.assertRaisesRegex(ValueError, "reduction must be"):
            engram.linear_cross_entropy(e, c, t, reduction="avg")


@unittest.skipUnless(HAS_CUDA, "torch sees no CUDA device")
class LinearCrossEntropyCudaTest(LinearCrossEntropyTest):
    device = "cuda"


class LoadingTest(unittest.TestCase):
    def run_python(self, env):
        code = "import engram; print(engram.__version__)"
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              cwd=os.path.join(os.path.dirname(__file__), ".."))

    def test_a_missing_explicit_library_is_an_error_not_a_fallback(self):
        env = dict(os.environ, ENGRAM_LIBRARY_PATH="/nonexistent/libengram.so")
        r = self.run_python(env)
        self.assertNotEqual(0, r.returncode)
        self.assertIn("ENGRAM_LIBRARY_PATH='/nonexistent/libengram.so': no libengram there", r.stderr)

    def test_version_matches_the_library(self):
        r = self.run_python(dict(os.environ))
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
