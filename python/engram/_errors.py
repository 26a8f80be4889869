"""engram statuses as Python exceptions, carrying the native message."""

from . import _lib

OK = 0
INVALID_ARGUMENT, OUT_OF_RANGE, UNSUPPORTED, NO_DEVICE, OUT_OF_MEMORY, DEVICE, WRONG_BACKEND, INTERNAL = range(1, 9)
_NAMES = {1: "INVALID_ARGUMENT", 2: "OUT_OF_RANGE", 3: "UNSUPPORTED", 4: "NO_DEVICE", 5: "OUT_OF_MEMORY",
          6: "DEVICE", 7: "WRONG_BACKEND", 8: "INTERNAL"}


class EngramError(RuntimeError):
    """A failed libengram call: .status (the engram_status) and the native message."""

    def __init__(self, status, message):
        super().__init__(f"{message} [ENGRAM_ERR_{_NAMES.get(status, status)}]")
        self.status = status


class EngramArgumentError(EngramError, ValueError):
    """ENGRAM_ERR_INVALID_ARGUMENT / OUT_OF_RANGE: the call's arguments were wrong."""


class EngramUnsupportedError(EngramError, NotImplementedError):
    """ENGRAM_ERR_UNSUPPORTED / NO_DEVICE: not in this build or on this machine."""


def check(status):
    if status == OK:
        return
    message = _lib.engram_last_error().decode(errors="replace")
    if status in (INVALID_ARGUMENT, OUT_OF_RANGE):
        raise EngramArgumentError(status, message)
    if status in (UNSUPPORTED, NO_DEVICE):
        raise EngramUnsupportedError(status, message)
    raise EngramError(status, message)
