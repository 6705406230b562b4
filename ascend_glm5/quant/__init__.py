"""Quantization formats: int4 packing layouts, W4A8 per-channel weights, int64-encoded scales."""

from .int4_pack import (
    int32_to_msmodelslim,
    msmodelslim_to_int32,
    pack_int4_int8,
    pack_int4_int32,
    unpack_int4_int8,
    unpack_int4_int32,
)
from .w4a8 import (
    prepare_w4a8_gmm_weight,
    quantize_weight_int4,
    scale_bias,
    scale_from_int64,
    scale_to_int64,
)

__all__ = [
    "int32_to_msmodelslim",
    "msmodelslim_to_int32",
    "pack_int4_int8",
    "pack_int4_int32",
    "prepare_w4a8_gmm_weight",
    "quantize_weight_int4",
    "scale_bias",
    "scale_from_int64",
    "scale_to_int64",
    "unpack_int4_int8",
    "unpack_int4_int32",
]
