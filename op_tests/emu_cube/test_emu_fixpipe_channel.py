"""Per-channel dequantisation in Fixpipe (VDEQF16): the scale words reach the fixpipe buffer by
DataCopy L1 -> C2PIPE2GM (blocks of 128 B, 基础数据搬运.md) and SetFixPipeConfig; column n of the
int32 result is multiplied by its word's fp32 scale with the 10-bit mantissa of the 2201 fixpipe,
then rounded to half. The path catlass's CopyL0CToGm<..., PER_CHANNEL> and CopyL1ToFP take."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import deq


def scale_words(scales: np.ndarray) -> np.ndarray:
    return scales.astype(np.float32).view(np.uint32).astype(np.uint64)


def truncated(scales: np.ndarray) -> np.ndarray:
    return (scales.astype(np.float32).view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


@pytest.mark.parametrize("m, n, k", [(1, 20, 64), (33, 37, 96), (16, 48, 32)])
def test_per_channel_dequant(kern, m, n, k):
    rng = np.random.default_rng(m + n)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (n, k), dtype=np.int8)
    scales = rng.uniform(1e-4, 1e-2, n).astype(np.float32)
    assert (scale_words(scales) & 0x1FFF).any()  # the truncation shows
    acc = a.astype(np.int64) @ b.astype(np.int64).T
    want = (acc * truncated(scales).astype(np.float64)).astype(np.float16)
    np.testing.assert_array_equal(deq(kern, a, b, scale_words(scales)), want)


def test_vdeqf16_needs_set_fixpipe_config(kern):
    a, b = np.ones((16, 32), np.int8), np.ones((16, 32), np.int8)
    with pytest.raises(kern.EmuError, match=r"Fixpipe: param-range: VDEQF16 needs SetFixPipeConfig's quant tensor"):
        deq(kern, a, b, np.ones(16, np.uint64), set_config=False)


def test_gaps_into_the_fixpipe_buffer_are_not_emulated(kern):
    a, b = np.ones((16, 32), np.int8), np.ones((32, 32), np.int8)
    with pytest.raises(kern.EmuError, match=r"DataCopy\(local->local\): not-emulated: gaps when copying into FB"):
        deq(kern, a, b, np.ones(32, np.uint64), fb_gap=True)
