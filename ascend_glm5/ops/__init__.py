"""The operators, registered as torch.library ops under ``torch.ops.ascend_glm5``.

Each runs the AscendC kernel: on the CPU through the emulator, on Ascend NPUs natively.
"""

from .dynamic_quant import dynamic_quant
from .lightning_indexer import lightning_indexer
from .mla_prolog import mla_prolog
from .sparse_flash_attention import sparse_flash_attention

__all__ = ["dynamic_quant", "lightning_indexer", "mla_prolog", "sparse_flash_attention"]
