"""The operators, registered as torch.library ops under ``torch.ops.ascend_glm5``.

Each runs the AscendC kernel: on the CPU through the emulator, on Ascend NPUs natively.
"""

from .dynamic_quant import dynamic_quant
from .grouped_matmul_a8w4 import grouped_matmul_a8w4
from .lightning_indexer import lightning_indexer
from .quant_matmul import quant_matmul
from .sparse_flash_attention import sparse_flash_attention

__all__ = ["dynamic_quant", "grouped_matmul_a8w4", "lightning_indexer", "quant_matmul", "sparse_flash_attention"]
