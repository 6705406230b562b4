"""ascend_glm5: AscendC kernels for GLM-5 / DeepSeek-V3.2 sparse attention and quantized MoE.

The same kernel sources build for Ascend NPUs (with CANN) and for the CPU, where they run on
our AscendC emulator. ``ascend_glm5.ops`` holds the torch ops, ``ascend_glm5.reference`` the
pure-torch golden implementations they are tested against.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "from_msmodelslim", "patch_model", "patched", "unpatch_model"]

_INTEGRATION = ("patch_model", "patched", "unpatch_model")


def __getattr__(name: str):
    # Lazy, so that `import ascend_glm5` does not import transformers.
    if name in _INTEGRATION:
        from .integrations import transformers

        return getattr(transformers, name)
    if name == "from_msmodelslim":
        from .integrations.msmodelslim import from_msmodelslim

        return from_msmodelslim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
