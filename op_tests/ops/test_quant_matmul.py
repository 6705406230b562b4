"""quant_matmul kernel (on the emulator) against the pure-torch reference.

int32 output (the accumulator, plus an int32 bias) must match exactly. Dequantised outputs: the
kernel computes fp32(acc) * scale * pertoken (+ bias) in fp32 and rounds once, the reference is
exact and rounds once, so bf16 / fp16 agree within 1 ulp, fp32 within 2 ulps (two fp32 roundings);
a float bias adds one fp32 rounding of |y| + |bias| (it can cancel y).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.quant import scale_to_int64

from ._cores import ai_cores
from ._split_k import split_tails
from ._ulps import ulp_distance

OUT_DTYPES = [torch.bfloat16, torch.float16, torch.float32]
_ULPS = {torch.bfloat16: 1, torch.float16: 1, torch.float32: 2}


def _inputs(m, n, k, *, g, layout="nk"):
    x1 = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=g)
    w = torch.randint(-128, 128, (n, k), dtype=torch.int8, generator=g)  # msModelSlim [N, K]
    x2 = w.t() if layout == "nk" else w.t().contiguous()
    return x1, x2


def _check(x1, x2, scale, *, pertoken_scale=None, bias=None, output_dtype=None):
    got = ops.quant_matmul(x1, x2, scale, pertoken_scale=pertoken_scale, bias=bias, output_dtype=output_dtype)
    want = reference.quant_matmul(x1, x2, scale, pertoken_scale=pertoken_scale, bias=bias, output_dtype=output_dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype == torch.int32:
        assert torch.equal(got, want), (got - want).abs().max()
        return got
    assert torch.isfinite(got).all()
    if bias is not None and bias.dtype != torch.int32:
        # One more fp32 rounding, relative to |acc * scale * pertoken| + |bias|.
        unbiased = reference.quant_matmul(x1, x2, scale, pertoken_scale=pertoken_scale, output_dtype=torch.float32)
        slack = 4 * torch.finfo(torch.float32).eps * (unbiased.double().abs() + bias.double().abs())
        err = (got.double() - want.double()).abs()
        ulp = ulp_distance(got, want)
        assert ((ulp <= _ULPS[got.dtype]) | (err <= slack)).all(), err.max()
    else:
        dist = ulp_distance(got, want)
        assert dist.max() <= _ULPS[got.dtype], f"{dist.max()} ulps"
    return got


# (m, n, k, layout): decode rows 1..256, prefill-like multi-pass rows, N / K tails, both layouts.
SHAPES = [(1, 1, 1, "nk"), (1, 96, 300, "nk"), (5, 64, 100, "kn"), (16, 33, 513, "kn"), (37, 200, 129, "nk"),
          (256, 64, 256, "nk"), (257, 48, 64, "kn"), (300, 130, 96, "nk"), (3, 1024, 40, "kn")]  # fmt: skip


@pytest.mark.parametrize("m,n,k,layout", SHAPES)
def test_int32_accumulator_is_exact(m, n, k, layout):
    g = torch.Generator().manual_seed(m * 1000 + n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    bias = torch.randint(-(2**20), 2**20, (n,), dtype=torch.int32, generator=g)
    _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)
    _check(x1, x2, torch.rand(n, generator=g), bias=bias, output_dtype=torch.int32)


@pytest.mark.parametrize("out", OUT_DTYPES)
@pytest.mark.parametrize("m,n,k,layout", SHAPES[1:6])
def test_dequantised_outputs_within_ulp(m, n, k, layout, out):
    g = torch.Generator().manual_seed(7 * m + n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    scale = torch.rand(n, generator=g) * 1e-3 + 1e-4  # W8A8 weight scales are small
    pts = torch.rand(m, generator=g) * 0.05 + 1e-3
    _check(x1, x2, scale, pertoken_scale=pts, output_dtype=out)


def test_default_output_is_bfloat16_and_pertoken_optional():
    g = torch.Generator().manual_seed(3)
    x1, x2 = _inputs(9, 40, 70, g=g)
    y = _check(x1, x2, torch.rand(40, generator=g) * 1e-3)
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("out", [torch.bfloat16, torch.float32])
def test_int32_bias_is_added_before_dequant(out):
    # Static W8A8: y = (acc + quant_bias) * deq_scale. A bias of -acc must give exact zeros.
    g = torch.Generator().manual_seed(4)
    x1, x2 = _inputs(1, 50, 200, g=g)
    acc = reference.quant_matmul(x1, x2, torch.ones(1), output_dtype=torch.int32)[0]
    scale = torch.rand(50, generator=g) * 1e-2
    y = _check(x1, x2, scale, bias=-acc, output_dtype=out)
    assert (y == 0).all()
    _check(x1, x2, scale, bias=torch.randint(-5000, 5000, (50,), dtype=torch.int32, generator=g), output_dtype=out)


@pytest.mark.parametrize("bias_dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("out", OUT_DTYPES)
def test_float_bias_is_added_after_dequant(bias_dtype, out):
    g = torch.Generator().manual_seed(5)
    x1, x2 = _inputs(20, 72, 150, g=g, layout="kn")
    scale = torch.rand(72, generator=g) * 1e-3
    pts = torch.rand(20, generator=g) * 0.02
    bias = (torch.randn(72, generator=g) * 3).to(bias_dtype)
    _check(x1, x2, scale, pertoken_scale=pts, bias=bias, output_dtype=out)
    # Adding the bias after dequantisation: y(bias) - y(0) == bias, up to the fp32 rounding of the sum.
    y0 = ops.quant_matmul(x1, x2, scale, pertoken_scale=pts, output_dtype=torch.float32)
    y1 = ops.quant_matmul(x1, x2, scale, pertoken_scale=pts, bias=bias, output_dtype=torch.float32)
    tol = 2 * torch.finfo(torch.float32).eps * (y0.abs() + bias.float().abs())
    assert ((y1 - y0 - bias.float()).abs() <= tol).all()


def test_scale_forms():
    g = torch.Generator().manual_seed(6)
    x1, x2 = _inputs(11, 64, 96, g=g)
    s = torch.rand(64, generator=g) * 1e-2 + 1e-4
    pts = torch.rand(11, generator=g)
    want = _check(x1, x2, s, pertoken_scale=pts, output_dtype=torch.float32)
    # [M, 1] per-token scales, int64 scale words (zero-extended fp32 bits), bf16 scales, a [1] scale.
    assert torch.equal(ops.quant_matmul(x1, x2, scale_to_int64(s), pertoken_scale=pts[:, None],
                                        output_dtype=torch.float32), want)  # fmt: skip
    _check(x1, x2, s.bfloat16(), pertoken_scale=pts, output_dtype=torch.float32)
    _check(x1, x2, s[:1], pertoken_scale=pts, output_dtype=torch.float32)
    # npu_trans_quant_param's word: the top 19 bits of the fp32 scale, bit 46 set. The product uses
    # exactly that truncated scale.
    words = (scale_to_int64(s) & 0xFFFFE000) | (1 << 46)
    truncated = (scale_to_int64(s) & 0xFFFFE000).to(torch.int32).view(torch.float32)
    got = ops.quant_matmul(x1, x2, words, pertoken_scale=pts, output_dtype=torch.float32)
    assert torch.equal(got, ops.quant_matmul(x1, x2, truncated, pertoken_scale=pts, output_dtype=torch.float32))
    _check(x1, x2, words, pertoken_scale=pts, output_dtype=torch.float32)


def test_no_rows():
    x1 = torch.empty(0, 64, dtype=torch.int8)
    x2 = torch.randint(-5, 5, (64, 32), dtype=torch.int8)
    y = ops.quant_matmul(x1, x2, torch.ones(32), output_dtype=torch.float16)
    assert y.shape == (0, 32) and y.dtype == torch.float16


def test_strided_weight_is_copied():
    g = torch.Generator().manual_seed(8)
    x1 = torch.randint(-128, 128, (6, 80), dtype=torch.int8, generator=g)
    x2 = torch.randint(-128, 128, (80, 90), dtype=torch.int8, generator=g)[:, ::3]  # neither layout
    _check(x1, x2, torch.rand(30, generator=g), output_dtype=torch.int32)


def test_long_k_rows_go_one_by_one():
    # K > 65535: ND2NZ's 16-bit source pitch cannot span a row, the copies go row by row.
    g = torch.Generator().manual_seed(9)
    x1, x2 = _inputs(3, 16, 70001, g=g)
    _check(x1, x2, torch.rand(16, generator=g), output_dtype=torch.int32)


def test_long_n_rows_go_one_by_one():
    # A contiguous [K, N] weight with N > 65535: its rows exceed ND2NZ's 16-bit source pitch.
    g = torch.Generator().manual_seed(18)
    x1, x2 = _inputs(2, 70000, 3, g=g, layout="kn")
    _check(x1, x2, torch.rand(70000, generator=g), output_dtype=torch.int32)


def test_max_k_extremes_stay_exact():
    # K = 131071 with every product 128 * 128 = 2^14: the largest sum that fits int32.
    from ascend_glm5.ops.quant_matmul import MAX_K as k
    x1 = torch.full((2, k), -128, dtype=torch.int8)
    x2 = torch.full((k, 16), -128, dtype=torch.int8)
    y = ops.quant_matmul(x1, x2, torch.ones(16), output_dtype=torch.int32)
    assert (y == 2**14 * k).all()


def test_streaming_weights_when_k_does_not_fit_l1():
    # [K, N] int8 with K > 12288 at the narrowest tile: weights stream once per pass, two passes.
    m, n, k = 257, 32, 12416
    plan = cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=False, out_dtype=1)
    assert not plan["resident"] and plan["tokens_per_pass"] < m
    g = torch.Generator().manual_seed(10)
    x1, x2 = _inputs(m, n, k, g=g, layout="kn")
    _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)


# Decode shapes whose column tiles are cut as a multiple of the cores (24 on the default SoC), with
# widths one 16 / 32-column unit apart: (m, n, k, layout, tiles, tile width). 600 = 37.5 units of 16
# -> 24 tiles of 16 / 32 columns (the last one 8); [K, N] 1000 -> 24 tiles of 32 / 64 (the last 8);
# K tails (300, 2000: the A ring wraps); 6400 x 7300 -> 48 tiles of 128 / 144 (two a core: each
# tile's weights pass 1 MiB).
BALANCED = [(3, 600, 300, "nk", 24, 32), (16, 1000, 2000, "kn", 24, 64),
            pytest.param(1, 6400, 7300, "nk", 48, 256, marks=pytest.mark.heavy)]


@pytest.mark.parametrize("m,n,k,layout,tiles,width", BALANCED)
def test_balanced_column_tiles(m, n, k, layout, tiles, width):
    plan = cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=layout == "nk", out_dtype=1)
    assert (plan["n_tiles"], plan["n_tile"]) == (tiles, width)
    assert plan["n_gran"] == (16 if layout == "nk" else 32) and plan["n_tiles"] % plan["block_dim"] == 0
    g = torch.Generator().manual_seed(m + n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    scale = torch.rand(n, generator=g) * 1e-3
    _check(x1, x2, scale, output_dtype=torch.int32)
    _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), bias=torch.randn(n, generator=g),
           output_dtype=torch.bfloat16)  # fmt: skip


@pytest.mark.parametrize("m,n,k,layout", [(3, 200, 1500, "kn"), (16, 96, 5000, "nk"),
                                          pytest.param(1, 6400, 7430, "nk", marks=pytest.mark.heavy)])
def test_multi_step_loads_with_tails(m, n, k, layout):
    # One pass: several K steps a copy; K steps not a multiple of the unit (a short last unit), K not a
    # multiple of 128 (a short last step); 6400 x 7430: 30 units through a ring of 6 (it wraps).
    plan = cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=layout == "nk", out_dtype=1)
    steps = -(-k // 128)
    assert plan["unit_steps"] > 1 and steps % plan["unit_steps"] != 0 and plan["ring_chunks"] % plan["unit_steps"] == 0
    g = torch.Generator().manual_seed(m * 7 + n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)


@pytest.mark.parametrize("m,n,k,nk", [(1, 6144, 16384, True), (64, 2048, 6144, True), (1024, 6144, 16384, True),
                                      (257, 32, 12416, False), (300, 130, 96, True), (5, 8, 70000, False)])  # fmt: skip
def test_plan_fits_l1(m, n, k, nk):
    # The weight ring and the A ring share L1 (512 KiB less CANN's 128 B); an A slot holds a pass's rows.
    plan = cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=nk, out_dtype=1)
    ring, unit = plan["ring_chunks"] * plan["n_tile"] * 128, plan["unit_steps"]
    a_steps = -(-plan["chunk_steps"] // unit) * unit if plan["chunk_steps"] else plan["a_depth"] * unit  # K-chunked: a chunk's rows
    assert ring + a_steps * plan["a_rows"] * 128 <= 512 * 1024 - 128
    assert 2 <= plan["a_depth"] <= 8 and plan["a_rows"] >= min(m, plan["tokens_per_pass"])
    assert plan["a_rows"] % 16 == 0 and plan["n_tiles"] * plan["n_tile"] >= n


def _plan(m, n, k, layout):
    return cpu_module().quant_matmul_plan(m=m, n=n, k=k, weight_nk=layout == "nk", out_dtype=1)


@pytest.mark.parametrize("layout", ["nk", "kn"])
def test_prefill_switch_point(layout):
    # Up to 256 rows: the decode schedule (two L0C slots, items of whole row groups); from 257 rows
    # the prefill one: items are single output tiles, 128 x 128 in two L0C slots when a core runs
    # several on the same rows (K-chunked), else tiles that fill L0C (one slot), 256 x 128 or 128 x 256.
    decode, prefill = _plan(256, 2048, 6144, layout), _plan(257, 2048, 6144, layout)
    assert decode["acc_slots"] == 2 and decode["m_tile"] * decode["n_tile"] <= 16384 and decode["chunk_steps"] == 0
    assert not decode["a_zz"] and prefill["a_zz"]  # Zz A rows only where a run of tiles shares them
    assert prefill["acc_slots"] == 2 and prefill["chunk_steps"] == 16 and (prefill["m_tile"], prefill["n_tile"]) == (128, 128)
    assert prefill["item_rows"] == prefill["tokens_per_pass"] == prefill["m_tile"]
    assert _plan(260, 300, 64, layout)["chunk_steps"] == 0  # one K step: nothing to load ahead within a chunk
    assert prefill["m_tile"] * prefill["n_tile"] <= 32768 and prefill["m_tile"] in (128, 256)
    assert prefill["n_tile"] % (16 if layout == "nk" else 32) == 0 and prefill["n_tile"] <= 256


def test_prefill_k_chunks_plan():
    # o_proj at S = 1024 on 20 cores: 400 tiles of 128 x 128 (8 row blocks x 50 column tiles of 128 / 112), 20 a
    # core, in runs of up to 14 on the same rows (K-chunked: 8 chunks of 16 steps, two accumulators).
    with ai_cores(20):
        plan = _plan(1024, 6144, 16384, "nk")
    assert (plan["m_tile"], plan["n_tile"], plan["n_tiles"], plan["block_dim"]) == (128, 128, 50, 20)
    assert (plan["chunk_steps"], plan["acc_slots"], plan["slots_per_block"]) == (16, 2, 15)
    assert plan["unit_steps"] > 1 and plan["ring_chunks"] % plan["unit_steps"] == 0
    assert plan["a_zz"]  # its A rows in L0A's order: one L1 -> L0A load a step


# K-chunked prefill: (m, n, k, layout, cores). K in two chunks (17 steps: 9 + 8) and three (33 steps:
# 11 each), one chunk (3 steps) with runs capped at 14 tiles (16 column tiles a row block on one
# core), row tails (300, 257), both layouts. Each has tiles narrower than nTile by a column unit or
# more: the cube runs, loads and writes a tile's own columns (its [N, K] weights at that L1 pitch).
# The three-chunk case has N = 300 (3 column tiles), not 600: the same chunks at half the emulation.
K_CHUNKS = [(300, 600, 2100, "nk", 2), pytest.param(300, 300, 4200, "kn", 2, marks=pytest.mark.heavy),
            (257, 2000, 300, "nk", 1)]


@pytest.mark.parametrize("m,n,k,layout,cores", K_CHUNKS)
def test_prefill_k_chunks(m, n, k, layout, cores):
    g = torch.Generator().manual_seed(m + n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert plan["chunk_steps"] > 0 and plan["acc_slots"] == 2 and plan["m_tile"] * plan["n_tile"] <= 16384
        assert plan["n_tiles"] * plan["n_tile"] - n >= plan["n_gran"]  # some tiles a column unit narrower
        assert plan["a_zz"]  # A rows in L1 in L0A's order (K tails: a short last step; row tails)
        bias = torch.randint(-(2**20), 2**20, (n,), dtype=torch.int32, generator=g)
        _check(x1, x2, torch.rand(n, generator=g), bias=bias, output_dtype=torch.int32)
        scale = torch.rand(n, generator=g) * 1e-3 + 1e-4
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g) * 0.05, output_dtype=torch.bfloat16)


# Prefill shapes (m > 256): (m, n, k, layout, cores). Row tails (600 = 2 x 256 + 88, 700), column
# tails (1000, 130, 2100, 200: N not a multiple of 16 / 32), K tails (300, 200, 1000: 8 steps in
# units of 3, the last one short, through a ring of 3), one core (every tile on it), more tiles than
# cores (520 x 3000 on 4 cores), both layouts.
PREFILL = [(600, 1000, 300, "nk", None), (700, 130, 200, "kn", None), (520, 3000, 64, "nk", 4),
           (300, 2100, 256, "kn", 1), (257, 48, 130, "nk", 1), (260, 200, 1000, "kn", 2)]  # fmt: skip


@pytest.mark.parametrize("m,n,k,layout,cores", PREFILL)
def test_prefill_tiles(m, n, k, layout, cores):
    g = torch.Generator().manual_seed(m + 3 * n + k)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    with ai_cores(cores) if cores else contextlib.nullcontext():
        plan = _plan(m, n, k, layout)
        assert plan["item_rows"] == plan["tokens_per_pass"] == plan["m_tile"] and plan["m_tile"] * plan["n_tile"] <= 32768
        assert plan["acc_slots"] == (1 if plan["m_tile"] * plan["n_tile"] > 16384 else 2)
        if cores:
            assert -(-m // plan["m_tile"]) * plan["n_tiles"] > plan["block_dim"] == cores
        bias = torch.randint(-(2**20), 2**20, (n,), dtype=torch.int32, generator=g)
        _check(x1, x2, torch.rand(n, generator=g), bias=bias, output_dtype=torch.int32)
        scale = torch.rand(n, generator=g) * 1e-3 + 1e-4
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g) * 0.05, output_dtype=torch.bfloat16)


@pytest.mark.parametrize("out", OUT_DTYPES)
def test_prefill_tiles_output_dtypes_and_float_bias(out):
    # The epilogue of 64 / 128-row halves of full-L0C tiles (256 or 128 rows x 128 / 256 columns).
    g = torch.Generator().manual_seed(21)
    m, n, k = 260, 300, 64
    x1, x2 = _inputs(m, n, k, g=g)
    scale = torch.rand(n, generator=g) * 1e-3 + 1e-4
    pts = torch.rand(m, generator=g) * 0.05
    with ai_cores(2):
        assert _plan(m, n, k, "nk")["acc_slots"] == 1
        _check(x1, x2, scale, pertoken_scale=pts, output_dtype=out)
        _check(x1, x2, scale, pertoken_scale=pts, bias=torch.randn(n, generator=g), output_dtype=out)


@pytest.mark.parametrize("out", [torch.bfloat16, torch.float32, torch.int32])
def test_opcheck(out):
    """torch.library.opcheck: schema (no mutation declared, none done), fake kernel, autograd
    registration, AOT dispatch; int32 / float biases and int64 scale words included."""
    g = torch.Generator().manual_seed(12)
    x1, x2 = _inputs(5, 24, 40, g=g)
    scale = torch.rand(24, generator=g) * 1e-3
    if out == torch.int32:
        args = (x1, x2, scale, None, None, torch.randint(-9, 9, (24,), dtype=torch.int32, generator=g), out)
    elif out == torch.float32:
        args = (x1, x2.t().contiguous().t(), scale_to_int64(scale), None, torch.rand(5, 1, generator=g), None, out)
    else:
        args = (x1, x2, scale.to(torch.bfloat16), None, torch.rand(5, generator=g), torch.randn(24, generator=g), out)
    torch.library.opcheck(torch.ops.ascend_glm5.quant_matmul.default, args)


def test_fake_impl_gives_shape_and_dtype():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x1 = torch.empty(7, 64, dtype=torch.int8)
        x2 = torch.empty(64, 40, dtype=torch.int8)
        y = torch.ops.ascend_glm5.quant_matmul(x1, x2, torch.empty(40), None, None, None, torch.float16)
        assert y.shape == (7, 40) and y.dtype == torch.float16


@pytest.mark.parametrize(
    "change,error",
    [
        (dict(x1=torch.zeros(4, 64, dtype=torch.int32)), TypeError),
        (dict(x2=torch.zeros(64, 32, dtype=torch.float16)), TypeError),
        (dict(x2=torch.zeros(63, 32, dtype=torch.int8)), ValueError),
        (dict(x1=torch.zeros(4, 2, 64, dtype=torch.int8)), ValueError),
        (dict(scale=torch.ones(31)), ValueError),
        (dict(scale=torch.ones(32, dtype=torch.float64)), TypeError),
        (dict(scale=torch.ones(32, dtype=torch.int64) | (5 << 37)), ValueError),  # an int8-output offset
        (dict(offset=torch.zeros(32)), ValueError),
        (dict(pertoken_scale=torch.ones(5)), ValueError),
        (dict(pertoken_scale=torch.ones(4, dtype=torch.float16)), TypeError),
        (dict(bias=torch.zeros(31, dtype=torch.int32)), ValueError),
        (dict(bias=torch.zeros(32, dtype=torch.int64)), TypeError),
        (dict(bias=torch.zeros(32), output_dtype=torch.int32), ValueError),
        (dict(output_dtype=torch.int8), ValueError),
        (dict(x1=torch.zeros(4, 2**17, dtype=torch.int8), x2=torch.zeros(2**17, 32, dtype=torch.int8)), ValueError),
    ],
)
def test_bad_input_is_refused(change, error):
    args = dict(x1=torch.zeros(4, 64, dtype=torch.int8), x2=torch.zeros(64, 32, dtype=torch.int8), scale=torch.ones(32),
                offset=None, pertoken_scale=None, bias=None, output_dtype=None)  # fmt: skip
    args.update(change)
    x1, x2, scale = args.pop("x1"), args.pop("x2"), args.pop("scale")
    with pytest.raises(error):
        ops.quant_matmul(x1, x2, scale, **args)


# Split-K (one pass): the steps of all column tiles are cut evenly over the cores, a tile's K shared by
# the blocks whose ranges hold its steps. (m, n, k, layout, cores, tiles): 3 tiles of 16 on 4 cores
# (too few tiles; K = 300: 3 steps, a short last one; ranges 2 / 2 / 2 / 3 steps: a block with pieces
# of two tiles, tiles in 2 and 1 pieces); 64 rows x 256 columns on 4 cores (rows as large as a tile's
# weights: 2 tiles of 128 instead of 4 of 64, each in two pieces; K tail 1000 = 7 x 128 + 104); 40 x 80
# on 3 cores (an odd count: 2 tiles, the middle block holds pieces of both).
SPLIT = [(3, 48, 300, "nk", 4, 3), (64, 256, 1000, "nk", 4, 2), (64, 256, 1000, "kn", 4, 2), (40, 80, 700, "nk", 3, 2)]


@pytest.mark.parametrize("m,n,k,layout,cores,tiles", SPLIT)
def test_split_k(m, n, k, layout, cores, tiles):
    g = torch.Generator().manual_seed(m + n + k + cores)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    scale = torch.rand(n, generator=g) * 1e-3
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert plan["split_k"] and plan["n_tiles"] == tiles and plan["block_dim"] == cores
        _check(x1, x2, scale, output_dtype=torch.int32)
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), bias=torch.randint(-999, 999, (n,), generator=g,
               dtype=torch.int32), output_dtype=torch.bfloat16)  # fmt: skip
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), bias=torch.randn(n, generator=g),
               output_dtype=torch.float16)  # fmt: skip


def test_split_k_switch_point():
    # 4 cores, 256 columns in 4 tiles of 64: a tile's weights are 64 x K bytes, the rows m x K; from
    # m = 32 (twice the rows >= the tile's weights) 2 tiles of 128, split in two; one core never splits.
    k, n = 640, 256
    g = torch.Generator().manual_seed(5)
    with ai_cores(4):
        below, at = _plan(31, n, k, "nk"), _plan(32, n, k, "nk")
        assert not below["split_k"] and below["n_tiles"] == 4 and below["slots_per_block"] == 2
        assert at["split_k"] and at["n_tiles"] == 2 and at["n_tile"] == 128
        for m in (31, 32):
            x1, x2 = _inputs(m, n, k, g=g, layout="nk")
            _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)
    with ai_cores(1):
        assert not _plan(32, n, k, "nk")["split_k"] and not _plan(3, 48, 300, "nk")["split_k"]
        x1, x2 = _inputs(3, 48, 300, g=g, layout="nk")
        _check(x1, x2, torch.rand(48, generator=g), output_dtype=torch.int32)


def test_odd_blocks_shift_their_load_units():
    # One pass with units of several steps: odd blocks start with a half unit; K = 2000 (16 steps) in
    # units of 4 on 3 cores (3 tiles of 96 / 64 columns): the odd block's units are 2, 4, 4, 4, 2 steps.
    m, n, k = 5, 256, 2000
    with ai_cores(3):
        plan = _plan(m, n, k, "kn")
        assert plan["unit_steps"] == 4 and plan["unit_shift"] == 2 and not plan["split_k"]
        g = torch.Generator().manual_seed(6)
        x1, x2 = _inputs(m, n, k, g=g, layout="kn")
        _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)
    assert _plan(300, 130, 96, "nk")["unit_shift"] == 0  # several passes: a step a load


# The stream head (qgemm_tiling.h): every launch, not only split-K ones, issues its first weight loads
# knowing only the tiling's first 64-byte line. Row blocks of whole passes (item_rows, a head field
# the cube's work split needs) on 3 cores (one column tile, rows in three items) and on 8 (two tiles).
@pytest.mark.parametrize("m,n,k,layout,cores", [(257, 48, 64, "kn", 3), (300, 130, 96, "nk", 8)])
def test_stream_head_row_blocks(m, n, k, layout, cores):
    g = torch.Generator().manual_seed(m + n + k + cores)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert not plan["split_k"] and 0 < plan["item_rows"] < m
        _check(x1, x2, torch.rand(n, generator=g), output_dtype=torch.int32)
        _check(x1, x2, torch.rand(n, generator=g) * 1e-3, pertoken_scale=torch.rand(m, generator=g),
               output_dtype=torch.bfloat16)  # fmt: skip


def _split_k_inputs(m, n, k, layout, seed):
    """Inputs of a split-K case: its generator (for later draws), x1, x2 and a per-channel scale."""
    g = torch.Generator().manual_seed(seed)
    x1, x2 = _inputs(m, n, k, g=g, layout=layout)
    return g, x1, x2, torch.rand(n, generator=g) * 1e-3


# Split-K, the tail unit (qgemm_cube.h TailUnit): a block's last piece loads its last step as a unit of
# its own when its last unit would hold more steps. (steps of the block's last piece, tail taken) per
# block. K = 3000 (24 steps) on 4 cores: [N, K] weights 3 tiles of 16 in units of 24 (odd blocks start
# 12 steps in): the last units hold 6-18 steps before the tail; [K, N] one tile of 64 in units of 8
# (odd blocks start 4 in), 6 steps a block. 40 x 80 on 3 cores: units of 6, the middle (odd) block's
# piece of 2 steps is split 1 + 1.
@pytest.mark.parametrize("m,n,k,layout,cores,tails", [
    (3, 48, 3000, "nk", 4, [(18, True), (12, True), (6, True), (18, True)]),
    (3, 48, 3000, "kn", 4, [(6, True), (6, True), (6, True), (6, True)]),
    (40, 80, 700, "nk", 3, [(4, True), (2, True), (4, True)])])  # fmt: skip
def test_split_k_last_step_alone(m, n, k, layout, cores, tails):
    g, x1, x2, scale = _split_k_inputs(m, n, k, layout, seed=m + n + k + cores + 7)
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert plan["split_k"] and plan["block_dim"] == cores
        assert split_tails(plan["n_tiles"], -(-k // 128), cores, plan["unit_steps"], plan["unit_shift"]) == tails
        _check(x1, x2, scale, output_dtype=torch.int32)
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), output_dtype=torch.bfloat16)


# Split-K, the combine in two row chunks (qgemm_epilogue.h RunPieceInChunks): a vector core with 16 or
# more rows of a tile reads both chunks' partials before adding, dequantising and writing the first.
# (m, n, k, layout, cores, tiles): 150 x 64 on 3 cores: one tile in three pieces (a third partial
# added per chunk), shares of 25 rows (chunks 8 + 17); 100 x 64 on 3 cores: two tiles of 32, block
# 1 holds pieces of both (its first piece reads its own partial early and combines unchunked, its
# second in chunks), shares of 25 rows; 64 x 404 on 4 cores: tiles of 224 / 180 columns in slots of
# 256, shares of 16 rows (chunks 8 + 8) read only the tile's columns (180: 23 blocks of 8). UB rows
# are the tile's columns rounded to 16 (CombinePitch: 64, 32, 224 / 192), and with per-token scales
# and a float output the scales are one factor (BuildFactor): built before the SyncAll for a block's
# first piece, after it for 100 x 64's second piece (block 1). Every output type, int32 and float bias.
@pytest.mark.parametrize("m,n,k,layout,cores,tiles", [(150, 64, 1200, "kn", 3, 1), (100, 64, 1200, "nk", 3, 2),
                                                      (64, 404, 2300, "kn", 4, 2)])
def test_split_k_combine_in_chunks(m, n, k, layout, cores, tiles):
    g, x1, x2, scale = _split_k_inputs(m, n, k, layout, seed=m + n + k + cores + 11)
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert plan["split_k"] and plan["n_tiles"] == tiles and plan["block_dim"] == cores
        _check(x1, x2, scale, output_dtype=torch.int32)
        _check(x1, x2, scale, bias=torch.randint(-999, 999, (n,), generator=g, dtype=torch.int32),
               output_dtype=torch.int32)  # fmt: skip
        for out in OUT_DTYPES:
            _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), output_dtype=out)
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), bias=torch.randn(n, generator=g),
               output_dtype=torch.bfloat16)  # fmt: skip
        _check(x1, x2, scale, bias=torch.randint(-999, 999, (n,), generator=g, dtype=torch.int32),
               output_dtype=torch.float16)  # fmt: skip


# Split-K, the column cut (qgemm_cube.h CutUnits): with a partial of 32 KiB or more, each block's last
# piece loads its last cut_units units in two column halves, the first half's fixpipe running while
# the second halves stream. (m, n, k, layout, cores, tiles, cut): 60 rows (padded to 64) x 2 tiles
# of 208, 4 steps a block in units of 2: the even blocks cut their whole piece, the odd ones (shifted
# by a step) all but their first unit; K's short last step (104) in the cut. [K, N]: tiles of 224 /
# 176 (N's tail: a second half of 80 columns), 9 steps a block. 100 x 256 on 3 cores: the middle
# block holds pieces of both tiles and cuts only its last; units of 4.
@pytest.mark.parametrize("m,n,k,layout,cores,tiles,cut", [
    (60, 416, 1000, "nk", 4, 2, 2), (64, 400, 2300, "kn", 4, 2, 2), (100, 256, 2000, "nk", 3, 2, 2)])  # fmt: skip
def test_split_k_column_cut(m, n, k, layout, cores, tiles, cut):
    g, x1, x2, scale = _split_k_inputs(m, n, k, layout, seed=m + n + k + cores + 13)
    with ai_cores(cores):
        plan = _plan(m, n, k, layout)
        assert plan["split_k"] and plan["n_tiles"] == tiles and plan["cut_units"] == cut
        _check(x1, x2, scale, output_dtype=torch.int32)
        _check(x1, x2, scale, pertoken_scale=torch.rand(m, generator=g), output_dtype=torch.bfloat16)
        _check(x1, x2, scale, bias=torch.randint(-999, 999, (n,), generator=g, dtype=torch.int32),
               output_dtype=torch.float16)  # fmt: skip
    with ai_cores(3):  # a partial of 40 rows x 48 columns x 4 B: the tail unit instead
        assert _plan(40, 80, 700, "nk")["split_k"] and _plan(40, 80, 700, "nk")["cut_units"] == 0
