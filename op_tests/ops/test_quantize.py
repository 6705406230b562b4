"""quantize kernel (on the emulator) against the pure-torch reference: bit-exact.

Every step is one IEEE fp32 operation in the same order on both sides (convert, divide or
multiply, add, round half-to-even, saturate), so the int8 results must be identical.
"""

from __future__ import annotations

import pytest
import torch

from ascend_glm5 import ops, reference
from ascend_glm5.ops._backend import cpu_module

# K below a tile, not a multiple of 16/64, GLM-5 hidden 6144 (three 2048-column tiles), a ragged
# tail, several rows fewer and more than the 48 cores, 3-D inputs.
SHAPES = [(1, 1), (3, 17), (4, 6144), (2, 3, 2049), (130, 64), (7, 5000)]


def _params(cols, per_channel, offset_dtype, g):
    n = cols if per_channel else 1
    scales = (torch.rand(n, generator=g) * 2 + 0.05).to(torch.bfloat16)
    offsets = None
    if offset_dtype is not None:
        offsets = torch.randint(-30, 30, (n,), generator=g).to(offset_dtype)
    return scales, offsets


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(shape, dtype):
    g = torch.Generator().manual_seed(hash(shape) % 2**31)
    x = (torch.randn(shape, generator=g) * 40).to(dtype)
    for per_channel in (False, True):
        for div_mode in (True, False):
            offset_dtype = (torch.bfloat16, torch.int8, None, torch.float32)[(per_channel * 2 + div_mode) % 4]
            s, o = _params(shape[-1], per_channel, offset_dtype, g)
            q = ops.quantize(x, s, o, torch.qint8, -1, div_mode)
            q_ref = reference.quantize(x, s, o, torch.qint8, -1, div_mode)
            assert q.dtype == torch.int8 and q.shape == x.shape
            assert torch.equal(q, q_ref), (per_channel, div_mode, (q.int() - q_ref.int()).abs().max())


def test_saturates_and_rounds_half_to_even():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 126.5, 127.5, 300.0, -128.5, -1e4, 3.0])
    q = ops.quantize(x, torch.tensor([1.0]), None, torch.qint8, -1, True)
    assert q.tolist() == [0, 2, 2, 0, -2, 126, 127, 127, -128, -128, 3]
    q = ops.quantize(x, torch.tensor([0.5]), torch.tensor([1.0]), torch.qint8, -1, False)  # x * 0.5 + 1
    assert q.tolist() == [1, 2, 2, 1, 0, 64, 65, 127, -63, -128, 2]


def test_w8a8_static_activation_as_vllm_ascend_calls_it():
    # msModelSlim W8A8 static: asymmetric per-tensor act quant, s = (max - min) / 255, o = round(-min / s) - 128;
    # vllm-ascend passes 1/s and o repeated over the hidden size, in the model dtype, div_mode=False.
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(16, 6144, generator=g) * 3 + 0.5).to(torch.bfloat16)
    lo, hi = x.float().min(), x.float().max()
    input_scale = (hi - lo) / 255
    input_offset = torch.round(-lo / input_scale) - 128
    recip = (1 / input_scale).repeat(6144).to(torch.bfloat16)
    offset = input_offset.repeat(6144).to(torch.bfloat16)
    q = ops.quantize(x, recip, offset, torch.qint8, -1, False)
    assert torch.equal(q, reference.quantize(x, recip, offset, torch.qint8, -1, False))
    # Dequantized values come back within one step (plus the bf16 rounding of 1/s).
    back = (q.float() - input_offset) * input_scale
    assert (back - x.float()).abs().max() <= input_scale * 0.51 + x.float().abs().max() * 2**-8
    assert q.min() >= -128 and q.max() <= 127 and (q == -128).any()


def test_empty_and_one_dim():
    assert ops.quantize(torch.empty(0, 64), torch.ones(64), None).shape == (0, 64)
    x = torch.randn(100) * 9
    q = ops.quantize(x, torch.tensor([0.3]), torch.tensor([2], dtype=torch.int32), torch.qint8, 0, True)
    assert torch.equal(q, reference.quantize(x, torch.tensor([0.3]), torch.tensor([2]), torch.qint8, 0, True))


def test_non_contiguous_input():
    x = (torch.randn(64, 40) * 20).to(torch.float16).t()
    s = torch.rand(64) + 0.1
    assert torch.equal(ops.quantize(x, s, None, torch.int8, -1, False), reference.quantize(x, s, None, div_mode=False))


@pytest.mark.parametrize("rows,cols", [(10, 5000), (16, 6144), (300, 2048)])
def test_gm_traffic_is_near_the_minimum(rows, cols):
    # x read once and y written once; the per-channel scales and offsets (fp32, 8 bytes a column)
    # are read at least once and, with few rows (decode), at most twice (each core takes its own
    # column block; a block may straddle two chunks), with many rows at most rows / 16 times.
    x = torch.randn(rows, cols).to(torch.bfloat16)
    s, o = torch.rand(cols) + 0.1, torch.randn(cols)
    ops.quantize(x, s, o, torch.qint8, -1, True)
    launch = cpu_module().last_launch()
    assert launch["kernel"] == "quantize" and launch["cores"] == 48
    param_reads = launch["total"]["mte2_bytes"] - x.numel() * 2
    assert cols * 8 <= param_reads <= cols * 8 * max(2, rows / 16)
    assert launch["total"]["mte3_bytes"] == x.numel()


def test_rejects_bad_arguments():
    x = torch.randn(4, 8)
    with pytest.raises(TypeError, match="input must have dtype"):
        ops.quantize(x.double(), torch.ones(1), None)
    with pytest.raises(ValueError, match=r"scales must hold 1 value .* \[8\]"):
        ops.quantize(x, torch.ones(4), None)
    with pytest.raises(ValueError, match="zero_points must have the shape of scales"):
        ops.quantize(x, torch.ones(8), torch.zeros(1), torch.qint8, -1, False)
    with pytest.raises(ValueError, match="dtype must be torch.qint8"):
        ops.quantize(x, torch.ones(1), None, torch.quint8)
    with pytest.raises(ValueError, match="axis must select the last axis"):
        ops.quantize(torch.randn(2, 4, 8), torch.ones(8), None, torch.qint8, 1, True)
    with pytest.raises(ValueError, match="axis must select the last axis"):
        ops.quantize(x, torch.ones(8), None, torch.qint8, -2, False)
    with pytest.raises(TypeError, match="zero_points must have dtype"):
        ops.quantize(x, torch.ones(1), torch.zeros(1, dtype=torch.float64))
    with pytest.raises(TypeError, match="scales must be a torch.Tensor"):
        ops.quantize(x, 0.5, None)


def test_fake_tensor_and_schema():
    x = torch.randn(3, 40).to(torch.bfloat16)
    torch.library.opcheck(torch.ops.ascend_glm5.quantize.default, (x, torch.rand(40) + 0.1, torch.randn(40), False))
    torch.library.opcheck(torch.ops.ascend_glm5.quantize.default,
                          (torch.randn(2, 3, 9), torch.tensor([0.5]), torch.tensor([3], dtype=torch.int8), True))
    with torch._subclasses.fake_tensor.FakeTensorMode():
        q = torch.ops.ascend_glm5.quantize(torch.empty(5, 7, 64), torch.ones(1), None, True)
        assert q.shape == (5, 7, 64) and q.dtype == torch.int8
