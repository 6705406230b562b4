"""Argument checks of the quantized GEMMs (``quant_matmul``, ``grouped_matmul_a8w4``), shared by the ops
(``ascend_glm5.ops``) and their pure-torch references (``ascend_glm5.reference``): the dtypes, shapes and
modes both accept. Only checks live here, no arithmetic, and nothing imports a kernel, so the references
stay independent of the kernels. The ops add what only a kernel needs (the K limit of exact int32
accumulation, tensors on one device); the grouped reference adds the value check of ``bias``.
"""

from __future__ import annotations

import torch

OUTPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.int32)
FLOAT_BIAS_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
# npu_trans_quant_param's int64 scale word: fp32 bits in 0..31, bit 46 set, an int8-output offset
# in bits 37..45 (hicann/ops-nn quant/trans_quant_param/docs/aclnnTransQuantParam.md).
TRANS_QUANT_FLAG = 1 << 46


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _names(dtypes) -> str:
    return ", ".join(_name(d) for d in dtypes)


def _per_row(name: str, t: torch.Tensor, m: int) -> None:
    """A float32 value per activation row: ``[M]`` or ``[M, 1]``."""
    if t.dtype != torch.float32:
        raise TypeError(f"{name} must be float32, got {_name(t.dtype)}")
    if tuple(t.shape) not in ((m,), (m, 1)):
        raise ValueError(f"{name} must be [M] = [{m}] or [M, 1], got shape {tuple(t.shape)}")


def _output_dtype(output_dtype: torch.dtype | None, *, none_is_bf16: bool) -> torch.dtype:
    out = torch.bfloat16 if output_dtype is None and none_is_bf16 else output_dtype
    if out not in OUTPUT_DTYPES:
        allowed = "None (bfloat16) or one of" if none_is_bf16 else "one of"
        raise ValueError(f"output_dtype must be {allowed} ({_names(OUTPUT_DTYPES)}), got {output_dtype}")
    return out


def check_quant_matmul(x1, x2, scale, offset, pertoken_scale, bias, output_dtype) -> torch.dtype:
    """quant_matmul's arguments (int64 scale words: ``check_scale_words``); returns the output dtype."""
    for name, t, shape in (("x1", x1, "[M, K]"), ("x2", x2, "[K, N]")):
        if t.dtype != torch.int8:
            raise TypeError(f"{name} must be int8 {shape}, got {_name(t.dtype)}")
        if t.dim() != 2:
            raise ValueError(f"{name} must be int8 {shape}, got shape {tuple(t.shape)}")
    m, k = x1.shape
    k2, n = x2.shape
    if k2 != k:
        raise ValueError(f"x2 must be [K, N] with K = x1.shape[1] = {k}, got shape {tuple(x2.shape)}")
    if k < 1 or n < 1:
        raise ValueError(f"K and N must be >= 1, got K = {k}, N = {n}")
    if scale.dtype not in (torch.float32, torch.bfloat16, torch.int64):
        raise TypeError(f"scale must be float32, bfloat16 or int64 (fp32 bits), got {_name(scale.dtype)}")
    if scale.dim() != 1 or scale.shape[0] not in (1, n):
        raise ValueError(f"scale must be [N] = [{n}] or [1], got shape {tuple(scale.shape)}")
    if offset is not None:
        raise ValueError("offset is only used by torch_npu for int8 output, which is not supported: pass offset=None")
    if pertoken_scale is not None:
        _per_row("pertoken_scale", pertoken_scale, m)
    out = _output_dtype(output_dtype, none_is_bf16=True)
    if bias is not None:
        if bias.dtype not in (torch.int32, *FLOAT_BIAS_DTYPES):
            raise TypeError(f"bias must be int32, bfloat16, float16 or float32, got {_name(bias.dtype)}")
        if tuple(bias.shape) != (n,):
            raise ValueError(f"bias must be [N] = [{n}], got shape {tuple(bias.shape)}")
        if out == torch.int32 and bias.dtype != torch.int32:
            raise ValueError("bias must be int32 when output_dtype is int32 (it is added to the accumulator)")
    return out


def check_scale_words(scale: torch.Tensor) -> None:
    """int64 scale: fp32 bits in the low word; the high word may hold only npu_trans_quant_param's bit 46
    (reads the values)."""
    high = scale >> 32
    if bool(((high != 0) & (high != TRANS_QUANT_FLAG >> 32)).any()):
        raise ValueError(
            "int64 scale must hold fp32 bits in bits 0..31 (bit 46 may be set, as npu_trans_quant_param does); "
            "negative values or an offset in bits 37..45 (int8 output) are not supported"
        )


def check_grouped_matmul_a8w4(x, weight, scale, per_token_scale, bias, group_list_type, output_dtype) -> None:
    """grouped_matmul_a8w4's arguments but ``group_list`` (``check_group_counts`` for its values)."""
    if x.dtype != torch.int8:
        raise TypeError(f"x must be int8 [M, K], got {_name(x.dtype)}")
    if weight.dtype != torch.int32:
        raise TypeError(f"weight must be int32 [E, K, N/8] (int4 packed 8 per int32 along N), got {_name(weight.dtype)}")
    if x.dim() != 2:
        raise ValueError(f"x must be [M, K], got shape {tuple(x.shape)}")
    if weight.dim() != 3:
        raise ValueError(f"weight must be [E, K, N/8] (int4 packed 8 per int32 along N), got shape {tuple(weight.shape)}")
    m, k = x.shape
    e, kw, n8 = weight.shape
    n = 8 * n8
    if kw != k:
        raise ValueError(f"weight K ({kw}) must equal x K ({k}): weight is [E, K, N/8], got shape {tuple(weight.shape)}")
    if scale.dtype not in (torch.float32, torch.int64):
        raise TypeError(f"scale must be float32 or int64 (fp32 bits), got {_name(scale.dtype)}")
    if tuple(scale.shape) not in ((e, n), (e, 1, n)):
        raise ValueError(f"scale must be [E, N] = [{e}, {n}] or [E, 1, N] (per-channel), got shape {tuple(scale.shape)}")
    _per_row("per_token_scale", per_token_scale, m)
    if group_list_type != 1:
        raise ValueError(f"group_list_type must be 1 (tokens per expert), got {group_list_type}")
    _output_dtype(output_dtype, none_is_bf16=False)
    if bias is not None:
        if bias.dtype != torch.float32:
            raise TypeError(f"bias must be float32 [E, N] (8 * sum_k w * scale), got {_name(bias.dtype)}")
        if tuple(bias.shape) != (e, n):
            raise ValueError(f"bias must be float32 [E, N] = [{e}, {n}] (8 * sum_k w * scale), got shape {tuple(bias.shape)}")


def check_group_counts(counts: list[int], m: int) -> None:
    """group_list values (tokens per expert): each >= 0, together at most M."""
    if any(c < 0 for c in counts) or sum(counts) > m:
        raise ValueError(f"group_list counts must be >= 0 and sum to at most M = {m}, got {counts}")
