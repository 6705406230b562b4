"""The operators, registered as torch.library ops under ``torch.ops.ascend_glm5``.

Each runs the AscendC kernel: on the CPU through the emulator, on Ascend NPUs natively.
"""

from .dequant_swiglu_quant import dequant_swiglu_quant
from .dynamic_quant import dynamic_quant
from .grouped_matmul_a8w4 import grouped_matmul_a8w4
from .lightning_indexer import lightning_indexer
from .moe_finalize_routing import moe_finalize_routing
from .moe_init_routing_v2 import moe_init_routing_v2
from .quant_matmul import quant_matmul
from .quantize import quantize
from .sparse_flash_attention import sparse_flash_attention

__all__ = [
    "dequant_swiglu_quant",
    "dynamic_quant",
    "grouped_matmul_a8w4",
    "lightning_indexer",
    "moe_finalize_routing",
    "moe_init_routing_v2",
    "quant_matmul",
    "quantize",
    "sparse_flash_attention",
]
