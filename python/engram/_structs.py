"""ctypes mirrors of the ABI structs, checked field by field against the
library's own layout (engram_struct_layout) when the module loads."""

import ctypes as c

from . import _lib


class CceOptions(c.Structure):
    _fields_ = [("struct_size", c.c_uint32), ("reduction", c.c_int32), ("ignore_index", c.c_int64),
                ("softcap", c.c_float), ("label_smoothing", c.c_float), ("z_loss", c.c_float),
                ("filter_eps", c.c_float), ("check_targets", c.c_int32), ("reserved", c.c_int32),
                ("scratch_bytes", c.c_uint64)]


class CceInputs(c.Structure):
    _fields_ = [("struct_size", c.c_uint32), ("dtype", c.c_int32), ("target_dtype", c.c_int32),
                ("reserved", c.c_int32), ("n", c.c_int64), ("d", c.c_int64), ("v", c.c_int64),
                ("vocab_start", c.c_int64), ("vocab_total", c.c_int64), ("e", c.c_void_p),
                ("c", c.c_void_p), ("bias", c.c_void_p), ("targets", c.c_void_p)]


class CceGrads(c.Structure):
    _fields_ = [("struct_size", c.c_uint32), ("dtype", c.c_int32), ("grad_e", c.c_void_p),
                ("grad_c", c.c_void_p), ("grad_bias", c.c_void_p)]


def _native(struct_name, field=None):
    value = c.c_uint64()
    status = _lib.engram_struct_layout(struct_name.encode(), field.encode() if field else None, c.byref(value))
    return value.value if status == 0 else None


def _check(cls, name):
    if _native(name) != c.sizeof(cls):
        raise ImportError(f"{name}: libengram says {_native(name)} bytes, the binding has {c.sizeof(cls)}")
    for field, _ in cls._fields_:
        native = _native(name, field)
        if native is not None and native != getattr(cls, field).offset:
            raise ImportError(f"{name}.{field}: libengram says offset {native}, the binding has "
                              f"{getattr(cls, field).offset}")


for _cls, _name in ((CceOptions, "engram_cce_options"), (CceInputs, "engram_cce_inputs"),
                    (CceGrads, "engram_cce_grads")):
    _check(_cls, _name)
