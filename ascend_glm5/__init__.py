"""ascend_glm5: AscendC kernels for GLM-5 / DeepSeek-V3.2 sparse attention and quantized MoE.

The same kernel sources build for Ascend NPUs (with CANN) and for the CPU, where they run on
our AscendC emulator. ``ascend_glm5.ops`` holds the torch ops, ``ascend_glm5.reference`` the
pure-torch golden implementations they are tested against. Submodules load on first use
(``import ascend_glm5; ascend_glm5.ops.dynamic_quant(...)`` works), so ``import ascend_glm5`` alone
imports neither the compiled module nor transformers.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "from_msmodelslim", "patch_model", "patched", "unpatch_model"]

_INTEGRATION = ("patch_model", "patched", "unpatch_model")
_SUBMODULES = ("bench", "demo", "emu", "integrations", "ops", "quant", "reference")


def __getattr__(name: str):
    if name in _INTEGRATION:
        from .integrations import transformers

        return getattr(transformers, name)
    if name == "from_msmodelslim":
        from .integrations.msmodelslim import from_msmodelslim

        return from_msmodelslim
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # also binds it as an attribute of the package
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_INTEGRATION, "from_msmodelslim", *_SUBMODULES])
