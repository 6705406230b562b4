"""Loading the compiled modules: ``_C`` (CPU emulator, always built) and ``_npu`` (with CANN)."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType


@functools.lru_cache(maxsize=None)
def cpu_module() -> ModuleType:
    """The torch-free CPU module; raises ImportError with a hint when the package was not built."""
    try:
        return importlib.import_module("ascend_glm5._C")
    except ImportError as e:
        raise ImportError(
            "ascend_glm5._C is not built: install the package with `pip install .` "
            "(running from a source checkout without building leaves only the references usable)"
        ) from e


@functools.lru_cache(maxsize=None)
def npu_module() -> ModuleType | None:
    """The NPU module, or None when the package was built without CANN or torch_npu is missing."""
    try:
        import torch_npu  # noqa: F401  (registers the "npu" device with torch)
    except ImportError:
        return None
    try:
        return importlib.import_module("ascend_glm5._npu")
    except ImportError:
        return None
