"""Finds and loads libengram, declares the C functions, and checks that the
library is the one these bindings were written for (version and ABI)."""

import ctypes
import glob
import os

# The ABI (ENGRAM_ABI_VERSION in engram.h) these bindings mirror.
ABI_VERSION = 2

_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    # An explicit ENGRAM_LIBRARY_PATH must exist: a typo never falls back to
    # another copy of the library.
    explicit = os.environ.get("ENGRAM_LIBRARY_PATH")
    if explicit:
        path = os.path.join(explicit, "libengram.so") if os.path.isdir(explicit) else explicit
        if not os.path.exists(path):
            raise ImportError(f"ENGRAM_LIBRARY_PATH={explicit!r}: no libengram there ({path} does not exist)")
        return [path]
    found = []
    found += sorted(glob.glob(os.path.join(_here, "lib", "libengram.so*")))       # an installed wheel/package
    found += [os.path.join(_here, "..", "..", "build", "lib", "libengram.so")]   # a source checkout, ./build.sh
    found.append("libengram.so.0")                                               # the system's loader path
    return found


def _load():
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("cannot load libengram (set ENGRAM_LIBRARY_PATH to the library or its directory)"
                      + ("; tried " + "; ".join(errors) if errors else ""))


lib, path = _load()

_c = ctypes
_P = _c.c_void_p
_status = _c.c_int32


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


engram_version = _fn("engram_version", _c.c_char_p)
engram_abi_version = _fn("engram_abi_version", _c.c_int32)
engram_last_error = _fn("engram_last_error", _c.c_char_p)
engram_struct_layout = _fn("engram_struct_layout", _status, _c.c_char_p, _c.c_char_p, _c.POINTER(_c.c_uint64))
engram_context_create = _fn("engram_context_create", _status, _c.c_int32, _c.c_int32, _c.POINTER(_P))
engram_context_destroy = _fn("engram_context_destroy", _status, _P)
engram_context_set_threads = _fn("engram_context_set_threads", _status, _P, _c.c_int32)
engram_context_set_stream = _fn("engram_context_set_stream", _status, _P, _P)
engram_op_supported = _fn("engram_op_supported", _status, _c.c_int32, _c.c_int32, _c.c_int32)
engram_cce_options_init = _fn("engram_cce_options_init", _status, _P)
engram_cce_inputs_init = _fn("engram_cce_inputs_init", _status, _P)
engram_cce_grads_init = _fn("engram_cce_grads_init", _status, _P)
engram_cce_forward = _fn("engram_cce_forward", _status, _P, _P, _P, _P, _P)
engram_cce_backward = _fn("engram_cce_backward", _status, _P, _P, _P, _P, _P, _P)
engram_cce_forward_backward = _fn("engram_cce_forward_backward", _status, _P, _P, _P, _P, _P, _P, _P)

version = engram_version().decode()
if engram_abi_version() != ABI_VERSION:
    raise ImportError(f"{path} is libengram {version} with ABI {engram_abi_version()}, but this Python "
                      f"binding was written for ABI {ABI_VERSION}: install matching versions")
