"""ascend_glm5: AscendC kernels for GLM-5 / DeepSeek-V3.2 sparse attention and quantized MoE.

The same kernel sources build for Ascend NPUs (with CANN) and for the CPU, where they run on
our AscendC emulator. ``ascend_glm5.ops`` holds the torch ops, ``ascend_glm5.reference`` the
pure-torch golden implementations they are tested against.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
