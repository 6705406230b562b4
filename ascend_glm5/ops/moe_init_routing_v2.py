"""MoE routing: torch_npu ``npu_moe_init_routing_v2`` (dropless; unquantized or dynamic per-token quant).

Sorts the (token, slot) pairs by expert, counts tokens per expert (the grouped matmul's
``group_list``) and gathers the rows of ``x`` (and their per-token scales) in one kernel launch.
Contract and the kernel-versus-torch cost argument: docs/ops/moe_routing.md.
Reference: ascend_glm5.reference.moe_routing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._backend import cpu_module, npu_module
from ._moe_routing_args import check_init


def _ids_int32(expert_idx: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """The ids as the kernel reads them (int32): an id outside [start, end) is dropped, so it becomes -1
    first (converting int64 would wrap an id past int32, 2**32 + e, onto the active expert e)."""
    if expert_idx.dtype == torch.int64:
        active = (expert_idx >= start) & (expert_idx < end)
        expert_idx = torch.where(active, expert_idx, torch.full_like(expert_idx, -1))
    return expert_idx.to(torch.int32).contiguous()


def _outputs(x, expert_idx, start, end):
    pairs = expert_idx.numel()
    return (torch.empty(pairs, x.shape[1], dtype=x.dtype, device=x.device),
            torch.empty(pairs, dtype=torch.int32, device=x.device),
            torch.empty(end - start, dtype=torch.int64, device=x.device),
            torch.zeros(pairs, dtype=torch.float32, device=x.device))


@torch.library.custom_op("ascend_glm5::moe_init_routing_v2", mutates_args=(), device_types="cpu")
def _moe_init_routing_v2(x: torch.Tensor, expert_idx: torch.Tensor, scale: torch.Tensor | None, expert_start: int,
                         expert_end: int, row_idx_type: int,
                         count_type: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    check_init(x, expert_idx, scale, None, -1, expert_end, 0, count_type, -1, [expert_start, expert_end], row_idx_type)
    x = x.contiguous()
    ids = _ids_int32(expert_idx, expert_start, expert_end)
    s = None if scale is None else scale.contiguous()
    out = _outputs(x, ids, expert_start, expert_end)
    if ids.numel() == 0:
        out[2].zero_()
        return out
    cpu_module().moe_init_routing_v2(
        x.data_ptr(), ids.data_ptr(), 0 if s is None else s.data_ptr(), out[0].data_ptr(), out[1].data_ptr(),
        out[2].data_ptr(), out[3].data_ptr(), ids.numel(), ids.shape[1], x.shape[1] * x.element_size(), expert_start,
        expert_end - expert_start, row_idx_type, count_type)
    return out


@_moe_init_routing_v2.register_fake
def _(x, expert_idx, scale, expert_start, expert_end, row_idx_type, count_type):
    return _outputs(x, expert_idx, expert_start, expert_end)


if npu_module() is not None:

    @_moe_init_routing_v2.register_kernel("npu")
    def _(x, expert_idx, scale, expert_start, expert_end, row_idx_type, count_type):
        check_init(x, expert_idx, scale, None, -1, expert_end, 0, count_type, -1, [expert_start, expert_end],
                   row_idx_type)
        return npu_module().moe_init_routing_v2(
            x.contiguous(), _ids_int32(expert_idx, expert_start, expert_end), None if scale is None else scale.contiguous(),
            expert_start, expert_end, row_idx_type, count_type)


def moe_init_routing_v2(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    offset: torch.Tensor | None = None,
    active_num: int = -1,
    expert_capacity: int = -1,
    expert_num: int = -1,
    drop_pad_mode: int = 0,
    expert_tokens_num_type: int = 0,
    expert_tokens_num_flag: bool = False,
    quant_mode: int = 0,
    active_expert_range: Sequence[int] = (),
    row_idx_type: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort the ``T*K`` (token, slot) pairs of ``expert_idx [T, K]`` by expert and gather ``x``'s rows.

    Pair ``j = t*K + k`` goes to expert ``expert_idx[t, k]``; pairs whose expert lies in
    ``active_expert_range = [start, end)`` (default ``[0, expert_num)``) are active, any other id
    (``-1``, HF's "no expert" id ``E``, another rank's experts) is dropped. Active pairs are ordered
    by (expert, j). Returns ``(expanded_x [T*K, H], expanded_row_idx int32 [T*K], expert_tokens int64
    [end - start], expanded_scale float32 [T*K])``:

    - ``expanded_x[i] = x[pair(i) // K]``; rows after the active pairs are zeros. With
      ``quant_mode=1``, ``x`` (fp16/bf16) is first quantized per token (``dynamic_quant``) and
      ``expanded_x`` is int8 with its scales in ``expanded_scale``.
    - ``expanded_row_idx``: ``row_idx_type=0`` (gather) entry ``j`` is the row of pair ``j``, as
      ``moe_finalize_routing(drop_pad_mode=2)`` reads it; ``1`` (scatter) entry ``i`` is ``pair(i)``.
      ``-1`` marks dropped pairs / rows.
    - ``expert_tokens``: tokens per active expert (``expert_tokens_num_type=1``, the grouped matmul's
      ``group_list``) or their running sum (``0``).
    - ``expanded_scale[i] = scale[pair(i) // K]`` for a per-token ``scale [T]`` (e.g. the scales of an
      int8 ``x`` quantized beforehand); zeros without one.

    Supported (else ValueError): ``drop_pad_mode=0``, ``expert_tokens_num_type`` 0 or 1, ``quant_mode``
    -1 or 1 (1 without ``scale``), ``offset=None``, ``active_num`` -1 or ``T*K``, at most 4096 active
    experts. ``expert_capacity`` and ``expert_tokens_num_flag`` are unused (counts are always returned).
    """
    start, end = check_init(x, expert_idx, scale, offset, active_num, expert_num, drop_pad_mode,
                            expert_tokens_num_type, quant_mode, active_expert_range, row_idx_type)
    if quant_mode == 1:
        from .dynamic_quant import dynamic_quant

        x, scale = dynamic_quant(x)
    return torch.ops.ascend_glm5.moe_init_routing_v2(x, expert_idx, scale, start, end, row_idx_type,
                                                     expert_tokens_num_type)
