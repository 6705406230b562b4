"""DataCopyPad GM -> UB without padding (leftPadding = rightPadding = 0) and a blockLen that is not a
whole 32-byte block: the dummy bytes up to the block boundary repeat the burst's first element
(DataCopyPad(ISASI).md, GM->VECIN/VECOUT), isPad or not. catlass's CopyPerTokenScale2Ub relies on it: one
scale per row becomes a block of that scale. With padding, the dummy is paddingValue (isPad) or
undefined."""

import numpy as np
import pytest

from .test_emu_memory import KIND, src_data


@pytest.mark.parametrize("block_count, block_len, src_stride, dst_stride, is_pad",
                         [(1, 2, 0, 0, 1), (5, 2, 30, 3, 0), (3, 42, 2, 1, 1), (2, 64, 0, 0, 0)])  # fmt: skip
@pytest.mark.parametrize("form", ["", "16"])
def test_dummy_repeats_first_element(emu, block_count, block_len, src_stride, dst_stride, is_pad, form):
    ub_bytes = 1024
    x = src_data(256, 9)
    got = emu.copy(KIND["pad_in" + form], x, np.zeros(ub_bytes // 2, np.int16), ubBytes=ub_bytes,
                   blockCount=block_count, blockLen=block_len, srcStride=src_stride, dstStride=dst_stride,
                   isPad=is_pad, padValue=-5)  # fmt: skip
    xb, gb = x.view(np.uint8), got.view(np.uint8)
    ub_block = -(-block_len // 32) * 32
    for i in range(block_count):
        base, src0 = i * (ub_block + dst_stride * 32), i * (block_len + src_stride)
        np.testing.assert_array_equal(gb[base : base + block_len], xb[src0 : src0 + block_len])
        dummy = gb[base + block_len : base + ub_block].view(np.int16)
        np.testing.assert_array_equal(dummy, np.full(dummy.size, x[src0 // 2], np.int16))  # 64: no dummy at all


@pytest.mark.parametrize("is_pad", [1, 0])
def test_dummy_with_padding(emu, is_pad):
    """rightPadding 1 element: with isPad the padded element and the dummy after it are paddingValue;
    without, both stay undefined (poison), never the first element."""
    got = emu.copy(KIND["pad_in"], src_data(64, 4), np.zeros(512, np.int16), ubBytes=1024, blockCount=1, blockLen=6,
                   isPad=is_pad, rightPad=1, padValue=-5)  # fmt: skip
    want = np.full(13, -5, np.int16).view(np.uint8) if is_pad else emu.poison(26)
    np.testing.assert_array_equal(got[3:16].view(np.uint8), want)
