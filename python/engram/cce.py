"""Fused linear cross-entropy (engram_cce.h) on torch tensors: the loss of
e @ c.T + bias against targets without ever materialising the logits, with a
torch.autograd.Function for the gradients of e, c and bias."""

import ctypes

import torch

from . import _lib
from ._context import context_for
from ._errors import check
from ._structs import CceGrads, CceInputs, CceOptions

IGNORE_INDEX = -100
FILTER_EPS_AUTO = -1.0
_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
_FLOATS = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
_INTS = {torch.int32: 3, torch.int64: 4}


def _ptr(t):
    return ctypes.c_void_p(t.data_ptr()) if t is not None else None


def _require(cond, message):
    if not cond:
        raise ValueError(message)


def _check_tensors(e, c, targets, bias):
    """What the C ABI cannot see in raw pointers: dtypes, shapes, contiguity,
    devices. (The ABI checks sizes, alignment, overlap and target ids.)"""
    for name, t in (("e", e), ("c", c), ("targets", targets)) + ((("bias", bias),) if bias is not None else ()):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        _require(t.device == e.device, f"{name} is on {t.device}, e is on {e.device}: put them on one device")
    _require(e.dtype in _FLOATS, f"e has dtype {e.dtype}: use float32, float16 or bfloat16")
    _require(c.dtype == e.dtype, f"c has dtype {c.dtype}, e has {e.dtype}: they must match")
    _require(bias is None or bias.dtype == e.dtype, f"bias has dtype {bias.dtype if bias is not None else None}, "
             f"e has {e.dtype}: they must match")
    _require(targets.dtype in _INTS, f"targets has dtype {targets.dtype}: use int64 or int32")
    _require(e.dim() == 2, f"e must be [n, d] here, got shape {tuple(e.shape)}")
    _require(c.dim() == 2 and c.shape[1] == e.shape[1],
             f"c must be [v, d] with d = {e.shape[1]}, got shape {tuple(c.shape)}")
    _require(targets.shape == (e.shape[0],), f"targets must be [{e.shape[0]}], got shape {tuple(targets.shape)}")
    _require(bias is None or bias.shape == (c.shape[0],), f"bias must be [{c.shape[0]}], got "
             f"shape {tuple(bias.shape) if bias is not None else None}")
    _require(e.shape[0] > 0 and e.shape[1] > 0 and c.shape[0] > 0, "n, d and v must be positive")


def _inputs(e, c, targets, bias):
    s = CceInputs()
    check(_lib.engram_cce_inputs_init(ctypes.byref(s)))
    s.dtype = _FLOATS[e.dtype]
    s.target_dtype = _INTS[targets.dtype]
    s.n, s.d = e.shape
    s.v = c.shape[0]
    s.e, s.c, s.bias, s.targets = e.data_ptr(), c.data_ptr(), bias.data_ptr() if bias is not None else None, \
        targets.data_ptr()
    return s


def _options(reduction, ignore_index, softcap, label_smoothing, z_loss, filter_eps):
    o = CceOptions()
    check(_lib.engram_cce_options_init(ctypes.byref(o)))
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")
    o.reduction = _REDUCTIONS[reduction]
    o.ignore_index = int(ignore_index)
    o.softcap = float(softcap or 0.0)
    o.label_smoothing = float(label_smoothing)
    o.z_loss = float(z_loss)
    if filter_eps == "auto":
        o.filter_eps = FILTER_EPS_AUTO
    elif filter_eps is None:
        o.filter_eps = 0.0
    else:
        o.filter_eps = float(filter_eps)
    return o


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, e, c, bias, targets, options):
        n = e.shape[0]
        loss = torch.empty(n if options.reduction == 0 else 1, dtype=torch.float32, device=e.device)
        lse = torch.empty(n, dtype=torch.float32, device=e.device)
        context = context_for(e.device)
        inputs = _inputs(e, c, targets, bias)
        check(_lib.engram_cce_forward(context, ctypes.byref(inputs), ctypes.byref(options), _ptr(loss), _ptr(lse)))
        ctx.save_for_backward(e, c, bias, targets, lse)
        ctx.options = options
        return loss if options.reduction == 0 else loss[0]

    @staticmethod
    def backward(ctx, grad_loss):
        e, c, bias, targets, lse = ctx.saved_tensors
        need_e, need_c, need_bias = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if not (need_e or need_c or need_bias):
            return None, None, None, None, None
        grad_loss = grad_loss.to(torch.float32).contiguous().reshape(-1)
        grads = CceGrads()
        check(_lib.engram_cce_grads_init(ctypes.byref(grads)))
        grads.dtype = _FLOATS[e.dtype]  # accumulated in fp32, rounded once to the inputs' dtype
        ge = torch.empty_like(e) if need_e else None
        gc = torch.empty_like(c) if need_c else None
        gb = torch.empty_like(bias) if need_bias and bias is not None else None
        grads.grad_e, grads.grad_c = (_ptr(ge).value if ge is not None else None,
                                      _ptr(gc).value if gc is not None else None)
        grads.grad_bias = _ptr(gb).value if gb is not None else None
        context = context_for(e.device)
        inputs = _inputs(e, c, targets, bias)
        check(_lib.engram_cce_backward(context, ctypes.byref(inputs), ctypes.byref(ctx.options), _ptr(lse),
                                       _ptr(grad_loss), ctypes.byref(grads)))
        return ge, gc, gb, None, None


def linear_cross_entropy(e, c, targets, bias=None, ignore_index=IGNORE_INDEX, softcap=None,
                         reduction="mean", shift=False, filter_eps="auto", label_smoothing=0.0, z_loss=0.0):
    """Cross-entropy of the logits e @ c.T (+ bias) against targets, computed
    block by block without the [tokens, vocabulary] logit matrix.

    e: [..., d] hidden states; c: [v, d] classifier; targets: [...] int64 or
    int32 ids (ignore_index: no loss, no gradient); bias: [v] or None. All on
    one device (CPU or CUDA), e, c and bias in one dtype (float32, float16,
    bfloat16; fp32 accumulation). softcap: cap * tanh(logit / cap) when set.
    shift: predict the next token (e[..., :-1, :] against targets[..., 1:]).
    filter_eps: "auto" (exact for float32, the dtype's precision for 16-bit),
    None (exact) or a threshold below which gradient blocks are skipped.
    reduction: "mean" over non-ignored tokens, "sum", or "none" (shape of the
    targets, after the shift). Differentiable in e, c and bias."""
    if shift:
        _require(e.dim() >= 2 and targets.dim() >= 1, "shift needs e [..., t, d] and targets [..., t]")
        e, targets = e[..., :-1, :], targets[..., 1:]
    out_shape = targets.shape
    e2 = e.reshape(-1, e.shape[-1]).contiguous()
    t2 = targets.reshape(-1).contiguous()
    c2 = c.contiguous()
    b2 = bias.contiguous() if bias is not None else None
    _check_tensors(e2, c2, t2, b2)
    options = _options(reduction, ignore_index, softcap, label_smoothing, z_loss, filter_eps)
    loss = _LinearCrossEntropy.apply(e2, c2, b2, t2, options)
    return loss.reshape(out_shape) if reduction == "none" else loss
