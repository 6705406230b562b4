"""Pure-torch golden implementations: the numerical contract every kernel is tested against.

References never call a kernel, and kernels never call a reference.
"""

from .dequant_swiglu_quant import dequant_swiglu_quant
from .dynamic_quant import dynamic_quant
from .grouped_matmul_a8w4 import grouped_matmul_a8w4
from .indexer_loss import indexer_loss, indexer_loss_grad, indexer_loss_target
from .lightning_indexer import lightning_indexer
from .mla_prolog import mla_prolog
from .moe_routing import moe_finalize_routing, moe_init_routing_v2
from .quant_matmul import quant_matmul
from .quantize import quantize
from .rope import rope_half_split, rope_interleaved
from .sparse_flash_attention import sparse_flash_attention

__all__ = [
    "dequant_swiglu_quant",
    "dynamic_quant",
    "grouped_matmul_a8w4",
    "indexer_loss",
    "indexer_loss_grad",
    "indexer_loss_target",
    "lightning_indexer",
    "mla_prolog",
    "moe_finalize_routing",
    "moe_init_routing_v2",
    "quant_matmul",
    "quantize",
    "rope_half_split",
    "rope_interleaved",
    "sparse_flash_attention",
]
