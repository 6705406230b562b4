"""Copy (the vector unit's UB -> UB move, Copy.md) against numpy: every element type CANN 8.5 allows on
A2/A3, bits moved unchanged (NaN payloads, -0), block strides and repeat sizes (past 255, as
CopyRepeatParams' uint16_t fields allow), continuous and bit masks, isSetMask = false under the
registers, the ND -> NZ rearrangement of Huawei's bank_conflict_nd2nz example, and the repeat-size
limit (4095, dav_c220 CopyIntrinsicsImpl)."""

from __future__ import annotations

import numpy as np
import pytest

BITS = {"half": np.uint16, "bf16": np.uint16, "int16": np.uint16, "uint16": np.uint16, "float": np.uint32,
        "int32": np.uint32, "uint32": np.uint32}


def raw(dtype: str, n: int, seed: int) -> np.ndarray:
    """n random bit patterns of dtype's width (any NaN payload, -0, denormals among them)."""
    u = BITS[dtype]
    return np.random.default_rng(seed).integers(0, np.iinfo(u).max, n, dtype=u, endpoint=True)


def expected(emu, src, out, lanes, repeat, *, dst_blk, src_blk, dst_rep, src_rep, mask=None, bits=None):
    r, lane = emu.active_lanes(lanes, repeat, mask=mask, bits=bits)
    e = src.itemsize
    want = out.copy()
    want[emu.elem_index(r, lane, e, dst_blk, dst_rep)] = src[emu.elem_index(r, lane, e, src_blk, src_rep)]
    return want


@pytest.mark.parametrize("dtype", sorted(BITS))
def test_copy_moves_the_bits_with_block_strides_and_repeat_sizes(emu, dtype):
    src, out = raw(dtype, 4096, 1), raw(dtype, 4096, 2)
    lanes = 256 // src.itemsize
    strides = dict(dst_blk=3, src_blk=1, dst_rep=2, src_rep=9)  # dst repeats interleave, never meet
    got, _ = emu.vec("Copy", dtype, in0=src, out=out, form="mask", mask=lanes - 3, repeat=3, dst_blk=3, src0_blk=1,
                     dst_rep=2, src0_rep=9)
    np.testing.assert_array_equal(got, expected(emu, src, out, lanes, 3, mask=lanes - 3, **strides))


@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("form", ["bits", "mask_regs"])
def test_copy_bit_masks_and_the_mask_registers(emu, dtype, form):
    src, out = raw(dtype, 2048, 3), raw(dtype, 2048, 4)
    lanes = 256 // src.itemsize
    bits = (0x8000_0000_F0F0_0001, 0x1234_5678_9ABC_DEF0 if lanes == 128 else 0)
    got, _ = emu.vec("Copy", dtype, in0=src, out=out, form=form, bits=bits, repeat=2, dst_blk=1, src0_blk=2,
                     dst_rep=8, src0_rep=16)
    want = expected(emu, src, out, lanes, 2, bits=bits, dst_blk=1, src_blk=2, dst_rep=8, src_rep=16)
    np.testing.assert_array_equal(got, want)


def test_copy_repeat_sizes_past_255(emu):
    src, out = raw("int32", 300 * 8 * 3, 5), raw("int32", 2048, 6)
    got, _ = emu.vec("Copy", "int32", in0=src, out=out, form="mask", mask=64, repeat=3, dst_blk=1, src0_blk=1,
                     dst_rep=8, src0_rep=300)
    np.testing.assert_array_equal(got, expected(emu, src, out, 64, 3, mask=64, dst_blk=1, src_blk=1, dst_rep=8,
                                                src_rep=300))


def test_copy_rearranges_a_tile_into_nz_as_the_nd2nz_example(emu):
    # A [16, 128] half tile, one Copy: repeat = row, 8 blocks of 16 (the row's C0 columns) to 8 columns
    # of the Nz image, 17 blocks apart (the example's tileH + 1 against bank-group conflicts).
    rows, cols, c0_stride = 16, 128, 17
    x = raw("half", rows * cols, 7)
    z = np.zeros(c0_stride * 16 * cols // 16, np.uint16)
    got, _ = emu.vec("Copy", "half", in0=x, out=z, form="mask", mask=128, repeat=rows, dst_blk=c0_stride,
                     src0_blk=1, dst_rep=1, src0_rep=cols // 16)
    want = z.copy().reshape(cols // 16, c0_stride, 16)
    want[:, :rows, :] = x.reshape(rows, cols // 16, 16).transpose(1, 0, 2)
    np.testing.assert_array_equal(got, want.reshape(-1))


def test_copy_rejects_repeat_sizes_past_4095(emu):
    src, out = raw("half", 256, 8), raw("half", 256, 9)
    with pytest.raises(emu.EmuError, match=r"Copy.*param-range"):
        emu.vec("Copy", "half", in0=src, out=out, form="mask", mask=128, repeat=1, dst_rep=4096, src0_rep=8)
