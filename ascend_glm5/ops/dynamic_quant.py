"""Per-token dynamic int8 quantization: torch_npu ``npu_dynamic_quant`` semantics.

Contract: docs/ops/dynamic_quant.md. Reference: ascend_glm5.reference.dynamic_quant.
"""

from __future__ import annotations

import torch

from . import _validate as v
from ._backend import cpu_module, npu_module

# One fp32 row and the fp32 smooth scales stay resident in the 184 KiB of UB.
MAX_HIDDEN = 16384
_DTYPE_IDS = {torch.float16: 0, torch.bfloat16: 1}


def _check(x: torch.Tensor, smooth_scales: torch.Tensor | None) -> None:
    v.require_tensor("x", x)
    v.require_dtype("x", x, (torch.float16, torch.bfloat16))
    if x.dim() < 1:
        raise ValueError("x must have at least 1 dimension [..., H], got a 0-d tensor")
    hidden = x.shape[-1]
    if not 1 <= hidden <= MAX_HIDDEN:
        raise ValueError(f"x.shape[-1] (H) must be in [1, {MAX_HIDDEN}], got {hidden}")
    if smooth_scales is not None:
        v.require_tensor("smooth_scales", smooth_scales)
        v.require_dtype("smooth_scales", smooth_scales, (x.dtype,))
        v.require_shape("smooth_scales", smooth_scales, (hidden,))
        v.require_same_device(("x", "smooth_scales"), (x, smooth_scales))


def _empty_outputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty(x.shape, dtype=torch.int8, device=x.device), torch.empty(
        x.shape[:-1], dtype=torch.float32, device=x.device
    )


@torch.library.custom_op("ascend_glm5::dynamic_quant", mutates_args=(), device_types="cpu")
def _dynamic_quant(x: torch.Tensor, smooth_scales: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, smooth_scales)
    x = x.contiguous()
    smooth = smooth_scales.contiguous() if smooth_scales is not None else None
    q, scale = _empty_outputs(x)
    rows = x.numel() // x.shape[-1]
    cpu_module().dynamic_quant(
        x.data_ptr(), smooth.data_ptr() if smooth is not None else 0, q.data_ptr(), scale.data_ptr(),
        rows, x.shape[-1], _DTYPE_IDS[x.dtype],
    )
    return q, scale


@_dynamic_quant.register_fake
def _(x: torch.Tensor, smooth_scales: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, smooth_scales)
    return _empty_outputs(x)


if npu_module() is not None:

    @_dynamic_quant.register_kernel("npu")
    def _(x: torch.Tensor, smooth_scales: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        _check(x, smooth_scales)
        return npu_module().dynamic_quant(x, smooth_scales)


def dynamic_quant(
    x: torch.Tensor, *, smooth_scales: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize each row of ``x`` ``[..., H]`` (fp16/bf16) to int8 with a per-row fp32 scale.

    ``v = x * smooth_scales`` (fp32), ``m = max|v|``; returns ``q = round_half_even(v * 127 / m)``
    (int8, ``x.shape``) and ``scale = m / 127`` (fp32, ``x.shape[:-1]``), so ``v ~= q * scale``.
    ``smooth_scales`` is ``[H]`` with the dtype of ``x``. H is at most 16384. A zero row gives
    ``q = 0`` and ``scale = 0``.
    """
    _check(x, smooth_scales)
    return torch.ops.ascend_glm5.dynamic_quant(x, smooth_scales)
