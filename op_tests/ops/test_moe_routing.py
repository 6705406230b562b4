"""moe_init_routing_v2 / moe_finalize_routing (vectorised torch) against the element-by-element reference."""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops.moe_routing import moe_finalize_routing, moe_init_routing_v2
from ascend_glm5.reference.moe_routing import moe_finalize_routing as ref_finalize
from ascend_glm5.reference.moe_routing import moe_init_routing_v2 as ref_init


def _ids(tokens, top_k, experts, g, *, out_of_range=True):
    """Distinct experts per token (as top-k gives), with some -1 and `experts` ("no expert") slots."""
    ids = torch.stack([torch.randperm(experts, generator=g)[:top_k] for _ in range(tokens)]) if tokens else \
        torch.empty(0, top_k, dtype=torch.int64)
    if out_of_range and tokens:
        mask = torch.rand(tokens, top_k, generator=g)
        ids[mask < 0.1] = -1
        ids[(mask >= 0.1) & (mask < 0.2)] = experts
    return ids


@pytest.mark.parametrize("tokens,top_k,experts", [(0, 2, 4), (1, 1, 1), (1, 8, 256), (7, 3, 5), (33, 8, 64)])
@pytest.mark.parametrize("row_idx_type", [0, 1])
def test_init_routing_matches_reference(tokens, top_k, experts, row_idx_type):
    g = torch.Generator().manual_seed(tokens * 100 + top_k)
    ids = _ids(tokens, top_k, experts, g).to(torch.int32)
    x = torch.randn(tokens, 24, generator=g).to(torch.bfloat16)
    scale = torch.rand(tokens, generator=g)
    for rng in ([], [experts // 3, max(experts // 3 + 1, experts - 1)]):
        for count_type in (0, 1):
            got = moe_init_routing_v2(x, ids, scale=scale, active_num=tokens * top_k, expert_num=experts,
                                      expert_tokens_num_type=count_type, expert_tokens_num_flag=True, quant_mode=-1,
                                      active_expert_range=rng, row_idx_type=row_idx_type)
            want = ref_init(x, ids, scale=scale, expert_num=experts, active_expert_range=tuple(rng) or None,
                            row_idx_type=row_idx_type, expert_tokens_num_type=count_type)
            for name, a, b in zip(("expanded_x", "expanded_row_idx", "expert_tokens", "expanded_scale"), got, want):
                assert a.dtype == b.dtype and torch.equal(a, b), (name, rng, count_type)


def test_quant_mode_1_is_dynamic_quant_then_gather():
    g = torch.Generator().manual_seed(2)
    ids = _ids(20, 4, 16, g)
    x = (torch.randn(20, 300, generator=g) * 5).to(torch.bfloat16)
    ex, row_idx, counts, ex_scale = moe_init_routing_v2(x, ids, expert_num=16, expert_tokens_num_type=1, quant_mode=1)
    q, s = reference.dynamic_quant(x)
    want = ref_init(q, ids, scale=s, expert_num=16)
    assert ex.dtype == torch.int8
    for a, b in zip((ex, row_idx, counts, ex_scale), want):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("drop_pad_mode", [0, 2])
def test_finalize_routing_matches_reference(dtype, drop_pad_mode):
    g = torch.Generator().manual_seed(3)
    tokens, top_k, experts, hidden = 19, 3, 6, 40
    rows = (torch.randn(tokens * top_k, hidden, generator=g) * 3).to(dtype)
    skip1, skip2 = (torch.randn(tokens, hidden, generator=g).to(dtype) for _ in range(2))
    bias = torch.randn(experts, hidden, generator=g).to(dtype)
    scales = torch.rand(tokens, top_k, generator=g)
    dst = torch.randperm(tokens * top_k, generator=g)
    dst[torch.rand(tokens * top_k, generator=g) < 0.15] = -1  # dropped pairs
    expert = torch.randint(0, experts, (tokens, top_k), generator=g, dtype=torch.int32)
    for args in ((skip1, skip2, bias, scales), (None, None, None, scales), (skip1, None, None, None)):
        got = moe_finalize_routing(rows, *args, dst.to(torch.int32), expert, drop_pad_mode)
        want = ref_finalize(rows, *args, dst, expert, drop_pad_mode, tokens=tokens)
        assert got.dtype == dtype
        # fp32 sums of <= 6 terms vs float64 rounded once: a few fp32 ulps of the term magnitudes; for
        # bf16 output both round to bf16 and may land on neighbours (1 bf16 ulp).
        tol = 2**-20 if dtype == torch.float32 else 2**-7
        assert ((got.float() - want.float()).abs() <= tol * (want.float().abs() + 8)).all()


def test_init_then_finalize_is_the_weighted_sum_of_token_rows():
    g = torch.Generator().manual_seed(4)
    tokens, top_k, experts = 50, 8, 32
    ids = _ids(tokens, top_k, experts, g)
    w = torch.rand(tokens, top_k, generator=g)
    x = torch.randn(tokens, 16, generator=g)
    ex, row_idx, counts, _ = moe_init_routing_v2(x, ids, expert_num=experts, expert_tokens_num_type=1, quant_mode=-1)
    assert counts.sum() == ((ids >= 0) & (ids < experts)).sum()
    ex[counts.sum():] = float("nan")  # rows past the active pairs are never read
    out = moe_finalize_routing(ex, None, None, None, w, row_idx, ids, drop_pad_mode=2)
    active = ((ids >= 0) & (ids < experts)).float()
    torch.testing.assert_close(out, x * (w * active).sum(1, keepdim=True), rtol=1e-6, atol=1e-6)


def test_rows_are_grouped_by_expert_in_token_order():
    ids = torch.tensor([[1, 3], [0, 2], [1, 2], [0, 3]], dtype=torch.int32)
    x = torch.arange(4, dtype=torch.float32)[:, None]
    ex, gather, counts, _ = moe_init_routing_v2(x, ids, expert_num=4, expert_tokens_num_type=1, quant_mode=-1)
    assert ex[:, 0].tolist() == [1, 3, 0, 2, 1, 2, 0, 3]
    assert counts.tolist() == [2, 2, 2, 2]
    assert gather.tolist() == [2, 6, 0, 4, 3, 5, 1, 7]
    _, scatter, _, _ = moe_init_routing_v2(x, ids, expert_num=4, expert_tokens_num_type=1, quant_mode=-1,
                                           row_idx_type=1)
    assert scatter.tolist() == [2, 6, 0, 4, 3, 5, 1, 7] and torch.equal(scatter[gather.long()], torch.arange(8, dtype=torch.int32))


def test_rejects_bad_arguments():
    x, ids = torch.randn(4, 8), torch.zeros(4, 2, dtype=torch.int32)
    with pytest.raises(ValueError, match="expert_num must be >= 1"):
        moe_init_routing_v2(x, ids)
    with pytest.raises(ValueError, match="active_expert_range must satisfy"):
        moe_init_routing_v2(x, ids, expert_num=4, active_expert_range=[2, 9])
    with pytest.raises(ValueError, match="drop_pad_mode must be 0"):
        moe_init_routing_v2(x, ids, expert_num=4, drop_pad_mode=1, quant_mode=-1)
    with pytest.raises(ValueError, match="quant_mode must be -1"):
        moe_init_routing_v2(x, ids, expert_num=4)
    with pytest.raises(ValueError, match="active_num must be -1 or T\\*K = 8"):
        moe_init_routing_v2(x, ids, expert_num=4, active_num=5, quant_mode=-1)
    with pytest.raises(ValueError, match="scale must be float32 \\[T\\]"):
        moe_init_routing_v2(x, ids, expert_num=4, quant_mode=-1, scale=torch.ones(3))
    with pytest.raises(TypeError, match="expert_idx must have dtype"):
        moe_init_routing_v2(x, ids.float(), expert_num=4, quant_mode=-1)
    with pytest.raises(ValueError, match="with the same T"):
        moe_init_routing_v2(x, ids[:3], expert_num=4, quant_mode=-1)
    rows, dst = torch.randn(8, 8), torch.arange(8, dtype=torch.int32)
    with pytest.raises(ValueError, match="drop_pad_mode must be 0 or 2"):
        moe_finalize_routing(rows, None, None, None, torch.ones(4, 2), dst, None, 1)
    with pytest.raises(ValueError, match="skip2 requires skip1"):
        moe_finalize_routing(rows, None, torch.zeros(4, 8), None, torch.ones(4, 2), dst, None)
    with pytest.raises(ValueError, match="bias needs export_for_source_row"):
        moe_finalize_routing(rows, None, None, torch.zeros(3, 8), torch.ones(4, 2), dst, None)
    with pytest.raises(ValueError, match="T\\*K rows with T = 3"):
        moe_finalize_routing(rows, None, None, None, torch.ones(3, 2), dst, None)
    with pytest.raises(ValueError, match="fixes the token count"):
        moe_finalize_routing(rows, None, None, None, None, dst, None)
    assert ops.moe_init_routing_v2 is moe_init_routing_v2 and ops.moe_finalize_routing is moe_finalize_routing
