"""Static int8 quantization: torch_npu ``npu_quantize`` (int8 output, per-tensor or last-axis scales).

The activation quantizer of msModelSlim ``W8A8`` (static) linears: vllm-ascend calls
``npu_quantize(x, 1 / input_scale, input_offset, torch.qint8, -1, False)``.
Contract: docs/ops/quantize.md. Reference: ascend_glm5.reference.quantize.
"""

from __future__ import annotations

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

_X_DTYPES = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2}
_PARAM_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_OFFSET_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int32)


def _check(input, scales, zero_points, dtype, axis, div_mode) -> None:
    v.require_tensor("input", input)
    v.require_dtype("input", input, tuple(_X_DTYPES))
    if input.dim() < 1:
        raise ValueError("input must have at least 1 dimension, got a 0-d tensor")
    cols = input.shape[-1]
    v.require_tensor("scales", scales)
    v.require_dtype("scales", scales, _PARAM_DTYPES)
    per_channel = scales.numel() != 1
    if per_channel and not (scales.dim() == 1 and scales.shape[0] == cols):
        raise ValueError(f"scales must hold 1 value (per-tensor) or be 1-D [{cols}] (per-channel along the last "
                         f"axis), got shape {tuple(scales.shape)}")
    if zero_points is not None:
        v.require_tensor("zero_points", zero_points)
        v.require_dtype("zero_points", zero_points, _OFFSET_DTYPES)
        if zero_points.numel() != scales.numel() or (per_channel and zero_points.dim() != 1):
            raise ValueError(f"zero_points must have the shape of scales {tuple(scales.shape)}, "
                             f"got {tuple(zero_points.shape)}")
    if dtype not in (torch.qint8, torch.int8):
        raise ValueError(f"dtype must be torch.qint8 (int8 output); got {dtype}")
    if not isinstance(div_mode, bool):
        raise TypeError(f"div_mode must be a bool, got {type(div_mode).__name__}")
    if per_channel:
        # torch_npu: with div_mode=False any axis > -2 means the last axis; with div_mode=True it names the axis.
        last = axis > -2 if not div_mode else axis in (-1, input.dim() - 1)
        if not last:
            raise ValueError(f"axis must select the last axis of input for per-channel scales; got axis={axis} "
                             f"(input has {input.dim()} dims, div_mode={div_mode})")
    v.require_same_device(("input", "scales", "zero_points"), (input, scales, zero_points))


@torch.library.custom_op("ascend_glm5::quantize", mutates_args=(), device_types="cpu")
def _quantize(input: torch.Tensor, scales: torch.Tensor, zero_points: torch.Tensor | None,
              div_mode: bool) -> torch.Tensor:
    """The registered op takes fp32 ``scales`` / ``zero_points`` of 1 or K elements (the wrapper converts)."""
    _check(input, scales, zero_points, torch.qint8, -1, div_mode)
    x = input.contiguous()
    s = scales.float().reshape(-1).contiguous()
    o = None if zero_points is None else zero_points.float().reshape(-1).contiguous()
    y = torch.empty(x.shape, dtype=torch.int8)
    cols = x.shape[-1]
    rows = x.numel() // cols if cols else 0
    if rows:
        cpu_module().quantize(x.data_ptr(), s.data_ptr(), 0 if o is None else o.data_ptr(), y.data_ptr(), rows, cols,
                              _X_DTYPES[x.dtype], s.numel() != 1, div_mode)
    return y


@_quantize.register_fake
def _(input, scales, zero_points, div_mode):
    return torch.empty(input.shape, dtype=torch.int8, device=input.device)


if npu_module() is not None:

    @_quantize.register_kernel("npu")
    def _(input, scales, zero_points, div_mode):
        _check(input, scales, zero_points, torch.qint8, -1, div_mode)
        o = None if zero_points is None else zero_points.float().reshape(-1).contiguous()
        return npu_module().quantize(input.contiguous(), scales.float().reshape(-1).contiguous(), o, div_mode)


def quantize(
    input: torch.Tensor,
    scales: torch.Tensor,
    zero_points: torch.Tensor | None,
    dtype: torch.dtype = torch.qint8,
    axis: int = 1,
    div_mode: bool = True,
) -> torch.Tensor:
    """Quantize ``input`` (fp16/bf16/fp32, any shape) to int8 with static scales.

    ``div_mode=True``: ``q = round(input / scales + zero_points)``; False: ``round(input * scales +
    zero_points)``; rounding half-to-even, saturated to [-128, 127], all in fp32. ``scales`` has one
    element (per-tensor) or ``[K]`` for the last axis of ``input`` (per-channel); ``zero_points`` is
    None or the shape of ``scales`` (float or integer dtype). ``dtype`` must be ``torch.qint8``
    (``torch.int8`` is accepted too); the result is a plain int8 tensor of ``input.shape``.
    """
    _check(input, scales, zero_points, dtype, axis, div_mode)
    return torch.ops.ascend_glm5.quantize(input, scales, zero_points, div_mode)
