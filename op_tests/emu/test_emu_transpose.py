"""TransDataTo5HD (emu/vec_transpose.h) against a numpy transpose of the same 32-byte blocks.

The harness (selftest_kernels.cpp, Transpose5HD) lists 16 source blocks `src_blk` blocks apart and 16
destination blocks `dst_blk` apart; repeat r moves each list by r repeat strides (TransDataTo5HD.md).
"""

from __future__ import annotations

import numpy as np
import pytest

NP = {"half": np.float16, "int16": np.int16, "float": np.float32, "int32": np.int32, "uint32": np.uint32,
      "int8": np.int8, "uint8": np.uint8}


def blocks_of(image: np.ndarray, first: int, apart: int) -> np.ndarray:
    """The 16 32-byte blocks of a byte image starting at block `first`, `apart` blocks apart: [16, 32]."""
    return np.stack([image[(first + i * apart) * 32:(first + i * apart + 1) * 32] for i in range(16)])


def expected(src: np.ndarray, dst: np.ndarray, item: int, repeat: int, src_blk: int, dst_blk: int, src_rep: int,
             dst_rep: int, dst_high=False, src_high=False) -> np.ndarray:
    """What the instruction leaves in dst (byte images), computed from the documented rules."""
    out = dst.copy()
    for r in range(repeat):
        step = 1 if repeat == 1 else r  # one repeat starts a stride on (TransDataTo5HD.md)
        blocks = blocks_of(src, step * src_rep, src_blk)
        if item == 1:  # element j of the sources' chosen half -> the chosen half of block j
            half = blocks[:, 16:] if src_high else blocks[:, :16]
            new = blocks_of(out, step * dst_rep, dst_blk)
            cols = slice(16, 32) if dst_high else slice(0, 16)
            new[:, cols] = half.T
        else:
            values = blocks.view({2: np.uint16, 4: np.uint32}[item])  # [16 sources, 32 / item elements]
            # 16-bit: block j = element j of every source; 32-bit: element j fills blocks 2j and 2j + 1.
            new = np.ascontiguousarray(values.T).reshape(16, 32 // item).view(np.uint8)
        for i in range(16):
            at = (step * dst_rep + i * dst_blk) * 32
            out[at:at + 32] = new[i]
    return out


@pytest.mark.parametrize("dtype", ["half", "int16", "float", "int32", "uint32", "int8", "uint8"])
@pytest.mark.parametrize("repeat,src_blk,dst_blk,src_rep,dst_rep", [
    (1, 1, 1, 0, 0),     # one 16 x 16 (or 16 x 8) tile, both lists contiguous
    (1, 2, 3, 4, 5),     # one repeat with strides: it starts a stride on
    (3, 16, 1, 1, 16),   # rows 16 blocks apart -> contiguous blocks: a matrix transposed by column blocks
    (4, 1, 16, 16, 1),
])
def test_trans_data_to_5hd_matches_numpy(emu, dtype, repeat, src_blk, dst_blk, src_rep, dst_rep):
    t = NP[dtype]
    item = np.dtype(t).itemsize
    rng = np.random.default_rng(repeat * 100 + src_blk * 10 + dst_blk)
    n_src = ((repeat if repeat > 1 else 2) * max(src_rep, 1) + 16 * src_blk + 16) * 32 // item
    n_dst = ((repeat if repeat > 1 else 2) * max(dst_rep, 1) + 16 * dst_blk + 16) * 32 // item
    src = rng.integers(-100, 100, n_src).astype(t)
    dst = rng.integers(-100, 100, n_dst).astype(t)  # untouched blocks (and 8-bit halves) must stay
    for high in ([(False, False), (True, False), (False, True), (True, True)] if item == 1 else [(False, False)]):
        got, _ = emu.vec("TransDataTo5HD", dtype, in0=src, out=dst, repeat=repeat, aux=int(high[0]), aux2=int(high[1]),
                         src0_blk=src_blk, dst_blk=dst_blk, src0_rep=src_rep, dst_rep=dst_rep)
        want = expected(src.view(np.uint8), dst.view(np.uint8), item, repeat, src_blk, dst_blk, src_rep, dst_rep,
                        dst_high=high[0], src_high=high[1])
        np.testing.assert_array_equal(got.view(np.uint8), want)


def test_trans_data_to_5hd_transposes_a_matrix(emu):
    # A [16, 64] fp16 matrix (rows of 4 blocks) to [64, 16]: repeat c reads column block c of every row
    # (rows 4 blocks apart, repeat stride 1 block) and writes rows 16c .. 16c + 15 (16 contiguous
    # blocks, repeat stride 16).
    a = np.arange(16 * 64, dtype=np.float16).reshape(16, 64)
    got, _ = emu.vec("TransDataTo5HD", "half", in0=a.ravel(), out=np.zeros(64 * 16, np.float16), repeat=4,
                     src0_blk=4, dst_blk=1, src0_rep=1, dst_rep=16)
    np.testing.assert_array_equal(got.reshape(64, 16), a.T)


def test_trans_data_to_5hd_out_of_bounds_is_an_error(emu):
    with pytest.raises(emu.EmuError, match=r"TransDataTo5HD: local-bounds: srcList"):
        emu.vec("TransDataTo5HD", "half", in0=np.zeros(16 * 16, np.float16), out=np.zeros(16 * 16, np.float16),
                repeat=2, src0_blk=1, dst_blk=1, src0_rep=16, dst_rep=0)
