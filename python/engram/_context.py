"""One engram context per device, created on first use and kept for the
process (a context owns a worker pool or a CUDA stream; calls on one context
are serialised by the library)."""

import atexit
import ctypes
import threading

from . import _lib
from ._errors import check

CPU, CUDA = 0, 1
_lock = threading.Lock()
_contexts = {}


def context_for(device):
    """The engram_context* for a torch.device (CPU, or CUDA with its index); for
    CUDA it runs on the current torch stream of that device."""
    key = ("cuda", device.index if device.index is not None else 0) if device.type == "cuda" else ("cpu", 0)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"engram runs on CPU and CUDA tensors, not on {device.type}")
    with _lock:
        ctx = _contexts.get(key)
        if ctx is None:
            handle = ctypes.c_void_p()
            check(_lib.engram_context_create(CUDA if key[0] == "cuda" else CPU, key[1], ctypes.byref(handle)))
            ctx = _contexts[key] = handle
    if key[0] == "cuda":
        import torch  # only CUDA callers need torch.cuda here
        check(_lib.engram_context_set_stream(ctx, ctypes.c_void_p(torch.cuda.current_stream(key[1]).cuda_stream)))
    return ctx


@atexit.register
def _destroy_all():
    with _lock:
        for ctx in _contexts.values():
            _lib.engram_context_destroy(ctx)
        _contexts.clear()
