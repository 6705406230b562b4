"""Dequant -> SwiGLU -> per-token int8 quant: torch_npu ``npu_dequant_swiglu_quant`` (dynamic mode).

Contract: docs/ops/dequant_swiglu_quant.md. Reference: ascend_glm5.reference.dequant_swiglu_quant.
"""

from __future__ import annotations

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

# One fp32 output row plus the current group's weight and smooth scales stay resident in UB.
MAX_HALF = 8192
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1, torch.int32: 4}


def _per_channel(name: str, t: torch.Tensor, width: int, groups: int) -> None:
    """``[width]`` (shared by all rows) or ``[1 or G, width]`` float32."""
    v.require_tensor(name, t)
    v.require_dtype(name, t, (torch.float32,))
    ok = (t.dim() == 1 and t.shape[0] == width) or (t.dim() == 2 and t.shape[1] == width and t.shape[0] in (1, groups))
    if not ok:
        raise ValueError(f"{name} must have shape ({width},) or ({groups}, {width}) (one row per group), "
                         f"got {tuple(t.shape)}")


def _check(x, weight_scale, activation_scale, quant_scale, group_index) -> None:
    v.require_tensor("x", x)
    v.require_dtype("x", x, tuple(_DTYPE_IDS))
    if x.dim() != 2 or x.shape[1] % 2:
        raise ValueError(f"x must be 2-D [T, 2H] with an even last dimension, got shape {tuple(x.shape)}")
    rows, half = x.shape[0], x.shape[1] // 2
    if not 1 <= half <= MAX_HALF:
        raise ValueError(f"x.shape[1] // 2 (H) must be in [1, {MAX_HALF}], got {half}")
    groups = 1
    if group_index is not None:
        v.require_tensor("group_index", group_index)
        v.require_dtype("group_index", group_index, (torch.int64, torch.int32))
        if group_index.dim() != 1 or group_index.numel() < 1:
            raise ValueError(f"group_index must be 1-D [G] with G >= 1, got shape {tuple(group_index.shape)}")
        groups = group_index.numel()
    if x.dtype == torch.int32:
        if weight_scale is None or activation_scale is None:
            raise ValueError("weight_scale and activation_scale are required when x is int32 (GEMM sums)")
        _per_channel("weight_scale", weight_scale, 2 * half, groups)
        v.require_tensor("activation_scale", activation_scale)
        v.require_dtype("activation_scale", activation_scale, (torch.float32,))
        if tuple(activation_scale.shape) not in ((rows,), (rows, 1)):
            raise ValueError(f"activation_scale must have shape ({rows},) or ({rows}, 1), got {tuple(activation_scale.shape)}")
    elif weight_scale is not None or activation_scale is not None:
        raise ValueError("weight_scale and activation_scale apply to int32 x only; float x is already dequantized")
    if quant_scale is not None:
        _per_channel("quant_scale", quant_scale, half, groups)
    v.require_same_device(("x", "weight_scale", "activation_scale", "quant_scale", "group_index"),
                          (x, weight_scale, activation_scale, quant_scale, group_index))


def _check_values(x: torch.Tensor, group_index: torch.Tensor | None) -> None:
    """Checks that read tensor values: done where reading them costs no device synchronisation (CPU).
    On the NPU the kernel clamps the counts instead (negative counts as 0, rows past T ignored)."""
    if group_index is None:
        return
    counts = group_index.tolist()
    if min(counts) < 0 or sum(counts) > x.shape[0]:
        raise ValueError(f"group_index counts must be >= 0 and sum to at most T = {x.shape[0]}, got sum "
                         f"{sum(counts)} and min {min(counts)}")


def _rows(t: torch.Tensor | None, width: int) -> int:
    return 0 if t is None else t.numel() // width


def _empty_outputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows, half = x.shape[0], x.shape[1] // 2
    return (torch.empty(rows, half, dtype=torch.int8, device=x.device),
            torch.empty(rows, dtype=torch.float32, device=x.device))


def _contiguous(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.contiguous()


@torch.library.custom_op("ascend_glm5::dequant_swiglu_quant", mutates_args=(), device_types="cpu")
def _dequant_swiglu_quant(
    x: torch.Tensor,
    weight_scale: torch.Tensor | None,
    activation_scale: torch.Tensor | None,
    quant_scale: torch.Tensor | None,
    group_index: torch.Tensor | None,
    activate_left: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, weight_scale, activation_scale, quant_scale, group_index)
    _check_values(x, group_index)
    x = x.contiguous()
    ws, act, qs = _contiguous(weight_scale), _contiguous(activation_scale), _contiguous(quant_scale)
    groups = None if group_index is None else group_index.to(torch.int64).contiguous()
    y, scale = _empty_outputs(x)
    half = x.shape[1] // 2

    def ptr(t):
        return 0 if t is None else t.data_ptr()

    cpu_module().dequant_swiglu_quant(
        x.data_ptr(), ptr(ws), ptr(act), ptr(qs), ptr(groups), y.data_ptr(), scale.data_ptr(), x.shape[0], half,
        _DTYPE_IDS[x.dtype], 0 if groups is None else groups.numel(), _rows(ws, 2 * half), _rows(qs, half),
        bool(activate_left),
    )
    return y, scale


@_dequant_swiglu_quant.register_fake
def _(x, weight_scale, activation_scale, quant_scale, group_index, activate_left):
    v.require_tensor("x", x)
    if x.dim() != 2 or x.shape[1] % 2:
        raise ValueError(f"x must be 2-D [T, 2H] with an even last dimension, got shape {tuple(x.shape)}")
    return _empty_outputs(x)


if npu_module() is not None:

    @_dequant_swiglu_quant.register_kernel("npu")
    def _(x, weight_scale, activation_scale, quant_scale, group_index, activate_left):
        # group_index values are not read here (that would synchronise the stream); the kernel clamps them.
        _check(x, weight_scale, activation_scale, quant_scale, group_index)
        groups = None if group_index is None else group_index.to(torch.int64).contiguous()
        return npu_module().dequant_swiglu_quant(
            x.contiguous(), _contiguous(weight_scale), _contiguous(activation_scale), _contiguous(quant_scale), groups,
            bool(activate_left))


def dequant_swiglu_quant(
    x: torch.Tensor,
    *,
    weight_scale: torch.Tensor | None = None,
    activation_scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    quant_scale: torch.Tensor | None = None,
    quant_offset: torch.Tensor | None = None,
    group_index: torch.Tensor | None = None,
    activate_left: bool = False,
    quant_mode: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dequantize ``x [T, 2H]``, apply SwiGLU and quantize each row to int8 with a per-row scale.

    ``x`` is int32 (grouped-matmul sums; then ``weight_scale`` ``[2H]``/``[G, 2H]`` and
    ``activation_scale`` ``[T]``/``[T, 1]`` float32 are required) or float16/bfloat16. ``quant_scale``
    is an optional float32 smooth scale ``[H]``/``[G, H]``; ``group_index`` (int64 ``[G]``, rows per
    group) selects the per-group rows of the scales. ``activate_left=True`` gives
    ``silu(x[:, :H]) * x[:, H:]`` (gate first, as HF's ``gate_up_proj``), False the mirror image.
    Only ``quant_mode=1`` (dynamic per-token) is implemented; ``bias`` and ``quant_offset`` (static
    mode) must be None. Returns int8 ``[T, H]`` and float32 ``[T]``; rows past ``sum(group_index)``
    are zeros with scale 0.
    """
    if quant_mode != 1:
        raise ValueError(f"quant_mode must be 1 (dynamic per-token quantization); got {quant_mode!r} "
                         "(0, static, is not implemented)")
    if bias is not None:
        raise ValueError("bias is not supported (torch_npu ignores it with group_index as well); pass None")
    if quant_offset is not None:
        raise ValueError("quant_offset belongs to static quantization (quant_mode=0), which is not implemented")
    _check(x, weight_scale, activation_scale, quant_scale, group_index)
    if x.device.type == "cpu":
        _check_values(x, group_index)
    return torch.ops.ascend_glm5.dequant_swiglu_quant(x, weight_scale, activation_scale, quant_scale, group_index,
                                                      bool(activate_left))
