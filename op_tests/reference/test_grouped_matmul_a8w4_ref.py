"""Tests of the A8W4 grouped matmul reference and the W4A8 weight quantization helpers."""

import pytest
import torch

from ascend_glm5.quant import pack_int4_int32, quantize_weight_int4, scale_bias, scale_to_int64
from ascend_glm5.reference.grouped_matmul_a8w4 import grouped_matmul_a8w4


def _problem(m, k, n, counts, seed=0):
    g = torch.Generator().manual_seed(seed)
    e = len(counts)
    x = torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int8)
    w = torch.randint(-8, 8, (e, k, n), generator=g, dtype=torch.int8)  # logical int4 [E, K, N]
    s_w = torch.rand(e, n, generator=g) * 1e-2 + 1e-4
    s_tok = torch.rand(m, generator=g) * 1e-2 + 1e-4
    return x, w, s_w, s_tok, torch.tensor(counts, dtype=torch.int64)


def _bruteforce(x, w, s_w, s_tok, counts):
    """Row by row, in Python integers then float64: y[m] = s_tok[m] * s_w[e] * sum_k x[m, k] w[e, k, :]."""
    out = torch.zeros(x.shape[0], w.shape[2], dtype=torch.float64)
    expert_of_row = [e for e, c in enumerate(counts.tolist()) for _ in range(c)]
    xs, ws = x.tolist(), w.tolist()
    for m, e in enumerate(expert_of_row):
        for n in range(w.shape[2]):
            acc = sum(xs[m][k] * ws[e][k][n] for k in range(x.shape[1]))
            out[m, n] = acc * float(s_w[e, n]) * float(s_tok[m])
    return out


@pytest.mark.parametrize(
    "m, k, n, counts",
    [
        (9, 24, 16, [3, 0, 4, 2]),  # an expert with no tokens
        (12, 40, 8, [2, 5, 1]),  # rows 8..11 beyond sum(group_list)
        (1, 7, 24, [0, 1]),
        (0, 16, 8, [0, 0, 0]),  # no tokens at all
    ],
)
def test_matches_bruteforce(m, k, n, counts):
    x, w, s_w, s_tok, group_list = _problem(m, k, n, counts)
    out = grouped_matmul_a8w4(x, pack_int4_int32(w), s_w, s_tok, group_list, output_dtype=torch.float32)
    expected = _bruteforce(x, w, s_w, s_tok, group_list)
    assert out.dtype == torch.float32 and out.shape == (m, n)
    # Correctly rounded to fp32: within half an ulp (<= 2**-24 relative).
    assert ((out.double() - expected).abs() <= expected.abs() * 2**-24).all()
    assert (out[sum(counts):] == 0).all()


def test_int32_output_and_column_per_token_scale():
    # output_dtype=int32: the exact K-sums, no scale; per_token_scale [M, 1] equals [M].
    x, w, s_w, s_tok, group_list = _problem(12, 40, 8, [2, 5, 1])
    sums = grouped_matmul_a8w4(x, pack_int4_int32(w), s_w, s_tok, group_list, output_dtype=torch.int32)
    expected = _bruteforce(x, w, torch.ones_like(s_w), torch.ones_like(s_tok), group_list)
    assert sums.dtype == torch.int32 and torch.equal(sums.double(), expected)
    y = grouped_matmul_a8w4(x, pack_int4_int32(w), s_w, s_tok, group_list, output_dtype=torch.float32)
    y_col = grouped_matmul_a8w4(x, pack_int4_int32(w), s_w, s_tok[:, None], group_list, output_dtype=torch.float32)
    assert torch.equal(y, y_col)


def test_bf16_output_and_int64_scale_forms():
    x, w, s_w, s_tok, group_list = _problem(10, 32, 16, [4, 6])
    weight = pack_int4_int32(w)
    expected = _bruteforce(x, w, s_w, s_tok, group_list)
    out = grouped_matmul_a8w4(x, weight, s_w, s_tok, group_list)
    assert out.dtype == torch.bfloat16
    assert ((out.double() - expected).abs() <= expected.abs() * 2**-8).all()  # half a bf16 ulp
    for scale in (scale_to_int64(s_w), scale_to_int64(s_w)[:, None, :], s_w[:, None, :]):
        assert torch.equal(grouped_matmul_a8w4(x, weight, scale, s_tok, group_list), out)


def test_cann_bias_formula_and_msd_split():
    """CANN: y = ((x - 8) @ w * s + bias) * s_tok with bias = 8 * sum_k w * s; its MSD kernel splits
    x = 16 * hi + lo + 8 into two int4 operands. Both must give the reference's result."""
    x, w, s_w, s_tok, group_list = _problem(11, 48, 16, [5, 6])
    w_nk = w.transpose(1, 2)  # [E, N, K], the layout scale_bias takes
    bias = scale_bias(w_nk, s_w)
    out = grouped_matmul_a8w4(
        x, pack_int4_int32(w), s_w, s_tok, group_list, bias=bias, output_dtype=torch.float32
    ).double()
    hi = torch.div(x.long(), 16, rounding_mode="floor")
    lo = (x.long() & 15) - 8
    assert torch.equal(16 * hi + lo + 8, x.long())
    assert -8 <= hi.min() and hi.max() <= 7 and -8 <= lo.min() and lo.max() <= 7  # both int4
    start = 0
    for e, c in enumerate(group_list.tolist()):
        rows = slice(start, start + c)
        we, s, b, t = w[e].long(), s_w[e].double(), bias[e].double(), s_tok[rows, None].double()
        cann = (((x[rows].long() - 8) @ we).double() * s + b) * t
        msd = ((16 * hi[rows] @ we + lo[rows] @ we).double() * s + b) * t
        # The bias is fp32-rounded (error ~2**-24 of its magnitude); out is rounded to fp32.
        tol = (8 * s * we.abs().sum(dim=0).double() * t + out[rows].abs()) * 2**-23
        assert ((cann - out[rows]).abs() <= tol).all()
        assert ((msd - out[rows]).abs() <= tol).all()
        start += c


def test_bias_must_match_weights():
    x, w, s_w, s_tok, group_list = _problem(6, 32, 8, [3, 3])
    weight = pack_int4_int32(w)
    bias = scale_bias(w.transpose(1, 2), s_w)
    grouped_matmul_a8w4(x, weight, s_w, s_tok, group_list, bias=bias)  # accepted
    with pytest.raises(ValueError, match="does not match"):
        grouped_matmul_a8w4(x, weight, s_w, s_tok, group_list, bias=bias * 1.01)
    with pytest.raises(ValueError, match="does not match"):
        grouped_matmul_a8w4(x, weight, s_w, s_tok, group_list, bias=scale_bias(w.transpose(1, 2), s_w * 1.5))
    with pytest.raises(ValueError, match=r"\[E, N\]"):  # an un-reduced msModelSlim [N, 16] down_proj bias
        grouped_matmul_a8w4(x, weight, s_w, s_tok, group_list, bias=bias[:, :, None].expand(2, 8, 16))


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(group_list_type=0), ValueError, "group_list_type"),
        (dict(group_list=torch.tensor([4, 3])), ValueError, "sum to at most"),
        (dict(group_list=torch.tensor([-1, 2])), ValueError, ">= 0"),
        (dict(group_list=torch.tensor([1, 1, 1])), ValueError, "group_list must be int64"),
        (dict(group_list=torch.tensor([1, 1], dtype=torch.int32)), ValueError, "group_list must be int64"),
        (dict(x=torch.zeros(6, 32)), TypeError, "x must be int8"),
        (dict(weight=torch.zeros(2, 32, 8, dtype=torch.int8)), TypeError, "weight must be int32"),
        (dict(weight=torch.zeros(2, 16, 1, dtype=torch.int32)), ValueError, "weight K"),
        (dict(scale=torch.ones(2, 2, 8)), ValueError, "per-channel"),
        (dict(scale=torch.ones(2, 8, dtype=torch.float16)), TypeError, "scale must be"),
        (dict(per_token_scale=torch.ones(6, 2)), ValueError, "per_token_scale"),
        (dict(output_dtype=torch.int8), ValueError, "output_dtype"),
    ],
)
def test_rejects_bad_input(change, error, match):
    x, w, s_w, s_tok, group_list = _problem(6, 32, 8, [3, 3])
    args = dict(x=x, weight=pack_int4_int32(w), scale=s_w, per_token_scale=s_tok, group_list=group_list)
    args.update(change)
    with pytest.raises(error, match=match):
        grouped_matmul_a8w4(**args)


def test_quantize_weight_int4_round_to_nearest():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(4, 6, 33, generator=g) * 0.05
    w_q, s = quantize_weight_int4(w)
    assert w_q.dtype == torch.int8 and s.dtype == torch.float32 and s.shape == (4, 6)
    # The largest |w| of each channel maps to +-7; every value is within half a step.
    assert torch.equal(w_q.abs().amax(dim=-1), torch.full((4, 6), 7, dtype=torch.int8))
    assert torch.allclose(s, w.abs().amax(dim=-1) / 7, rtol=1e-6, atol=0)
    assert ((w - w_q.float() * s[..., None]).abs() <= s[..., None] * (0.5 + 1e-5)).all()


def test_quantize_weight_int4_ties_and_zero_rows():
    w = torch.tensor([[7.0, 0.5, 1.5, 2.5, -0.5, -2.5, -3.5, 3.49], [0.0] * 8])
    w_q, s = quantize_weight_int4(w)  # row 0: scale exactly 1, so w / s are the ties themselves
    assert s[0] == 1.0 and w_q[0].tolist() == [7, 0, 2, 2, 0, -2, -4, 3]  # half to even
    assert s[1] == torch.finfo(torch.float32).eps and w_q[1].tolist() == [0] * 8


def test_scale_bias_definition():
    g = torch.Generator().manual_seed(4)
    w_q = torch.randint(-8, 8, (3, 5, 17), generator=g, dtype=torch.int8)
    s = torch.rand(3, 5, generator=g)
    b = scale_bias(w_q, s)
    for e in range(3):
        for n in range(5):
            exact = 8 * float(s[e, n]) * sum(int(v) for v in w_q[e, n])
            assert abs(float(b[e, n]) - exact) <= abs(exact) * 2**-24
