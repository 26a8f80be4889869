"""engram: Engram's kernels for PyTorch tensors (CPU and CUDA), through
libengram's C ABI (ctypes; no compiler needed).

    import engram
    loss = engram.linear_cross_entropy(hidden, classifier, targets)
    loss.backward()
"""

from ._errors import EngramArgumentError, EngramError, EngramUnsupportedError
from ._lib import ABI_VERSION, path as library_path, version as __version__
from .cce import IGNORE_INDEX, linear_cross_entropy

__all__ = ["linear_cross_entropy", "IGNORE_INDEX", "EngramError", "EngramArgumentError",
           "EngramUnsupportedError", "ABI_VERSION", "library_path", "__version__"]
