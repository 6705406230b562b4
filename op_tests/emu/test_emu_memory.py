"""Data movement on the emulator: DataCopy count and DataCopyParams forms (GM<->UB, UB<->UB),
DataCopyPad in both directions with padding, a TQue double-buffered pipeline, the MTE counters,
and poison in every byte a copy leaves undefined."""

import numpy as np
import pytest

KIND = {"queue": 0, "params_in": 1, "pad_in": 2, "pad_out": 3, "local": 4, "params_out": 5, "pad_in16": 6, "pad_out16": 7}


def blocks_copy(dst, src, count, length, src_pitch, dst_pitch):
    """Byte copy of `count` blocks of `length` bytes with the given pitches (bytes)."""
    for i in range(count):
        dst[i * dst_pitch : i * dst_pitch + length] = src[i * src_pitch : i * src_pitch + length]


def src_data(n, seed=0):
    return np.random.default_rng(seed).integers(-30000, 30000, n).astype(np.int16)


@pytest.mark.parametrize("count,tiles", [(16, 1), (128, 5), (2048, 3)])
def test_queue_pipeline_and_counters(emu, count, tiles):
    x = src_data(count * tiles)
    got = emu.copy(KIND["queue"], x, np.zeros_like(x), count=count, tiles=tiles)
    np.testing.assert_array_equal(got, x + np.int16(1))
    c, cores = emu.counters()
    assert cores == 1
    assert c["mte2Bytes"] == c["mte3Bytes"] == x.nbytes  # exactly the data, once each way
    assert c["mte2Calls"] == c["mte3Calls"] == tiles
    assert c["vecElemOps"] == x.size and c["vecCalls"] == tiles


@pytest.mark.parametrize("block_count,block_len,src_gap,dst_gap", [(1, 4, 0, 0), (3, 2, 1, 2), (5, 1, 3, 0)])
def test_datacopy_params_gm_to_ub(emu, block_count, block_len, src_gap, dst_gap):
    ub_bytes = 1024
    x = src_data(1024)
    got = emu.copy(KIND["params_in"], x, np.zeros(ub_bytes // 2, np.int16), ubBytes=ub_bytes, blockCount=block_count,
                   blockLen=block_len, srcStride=src_gap, dstStride=dst_gap)
    want = emu.poison(ub_bytes)  # the rest of the fresh buffer stays poisoned
    pitches = (block_len + src_gap) * 32, (block_len + dst_gap) * 32
    blocks_copy(want, x.view(np.uint8), block_count, block_len * 32, *pitches)
    np.testing.assert_array_equal(got.view(np.uint8), want)
    c = emu.counters()[0]
    assert c["mte2Bytes"] == block_count * block_len * 32 and c["mte3Bytes"] == ub_bytes


@pytest.mark.parametrize("kind", ["params_out", "local"])
def test_datacopy_params_ub_to_gm_and_ub_to_ub(emu, kind):
    ub_bytes, count, length, src_gap, dst_gap = 1024, 4, 2, 1, 3
    x = src_data(ub_bytes // 2, 1)
    init = np.full(ub_bytes // 2, 77, np.int16)
    got = emu.copy(KIND[kind], x, init, ubBytes=ub_bytes, blockCount=count, blockLen=length, srcStride=src_gap,
                   dstStride=dst_gap)
    want = init.view(np.uint8).copy() if kind == "params_out" else emu.poison(ub_bytes)
    blocks_copy(want, x.view(np.uint8), count, length * 32, (length + src_gap) * 32, (length + dst_gap) * 32)
    np.testing.assert_array_equal(got.view(np.uint8), want)


@pytest.mark.parametrize(
    "block_count,block_len,src_stride,dst_stride,is_pad,left,right",
    [(1, 10, 0, 0, 0, 0, 0), (3, 22, 6, 1, 1, 2, 3), (4, 64, 2, 0, 1, 0, 5), (2, 30, 0, 0, 0, 4, 4),
     (2, 2, 10, 2, 1, 16, 0)],
)
@pytest.mark.parametrize("form", ["", "16"])  # DataCopyExtParams / DataCopyPadExtParams, or the 16-bit forms
def test_datacopy_pad_gm_to_ub(emu, block_count, block_len, src_stride, dst_stride, is_pad, left, right, form):
    """blockLen and the GM stride in bytes, the UB stride in 32-byte blocks, padding in elements."""
    ub_bytes, pad_value = 1024, -5
    x = src_data(512, 2)
    got = emu.copy(KIND["pad_in" + form], x, np.zeros(ub_bytes // 2, np.int16), ubBytes=ub_bytes, blockCount=block_count,
                   blockLen=block_len, srcStride=src_stride, dstStride=dst_stride, isPad=is_pad, leftPad=left,
                   rightPad=right, padValue=pad_value)
    want = emu.poison(ub_bytes)  # padding without isPad, and the rounding up to 32 bytes, stay undefined
    ub_block = -(-(2 * left + block_len + 2 * right) // 32) * 32
    for i in range(block_count):
        base = i * (ub_block + dst_stride * 32)
        if is_pad:
            pad = np.full(left + right, pad_value, np.int16).view(np.uint8)
            want[base : base + 2 * left] = pad[: 2 * left]
            want[base + 2 * left + block_len : base + 2 * left + block_len + 2 * right] = pad[2 * left :]
            if left + right:  # the dummy up to the 32-byte boundary too
                want[base + 2 * left + block_len : base + ub_block] = np.resize(pad[:2], ub_block - 2 * left - block_len)
        src0 = i * (block_len + src_stride)
        want[base + 2 * left : base + 2 * left + block_len] = x.view(np.uint8)[src0 : src0 + block_len]
        if left == right == 0:  # the dummy repeats the block's first element (test_emu_datacopy_pad_dummy.py)
            for j in range(block_len, ub_block, 2):
                want[base + j : base + j + 2] = x.view(np.uint8)[src0 : src0 + 2]
    np.testing.assert_array_equal(got.view(np.uint8), want)
    assert emu.counters()[0]["mte2Bytes"] == block_count * block_len


@pytest.mark.parametrize("block_count,block_len,src_stride,dst_stride", [(1, 6, 0, 0), (3, 40, 1, 10), (5, 2, 0, 4)])
@pytest.mark.parametrize("form", ["", "16"])
def test_datacopy_pad_ub_to_gm(emu, block_count, block_len, src_stride, dst_stride, form):
    """Writes exactly blockLen bytes per block: the GM bytes around them are untouched."""
    ub_bytes = 1024
    x = src_data(ub_bytes // 2, 3)
    init = np.full(512, 77, np.int16)
    got = emu.copy(KIND["pad_out" + form], x, init, ubBytes=ub_bytes, blockCount=block_count, blockLen=block_len,
                   srcStride=src_stride, dstStride=dst_stride)
    want = init.view(np.uint8).copy()
    ub_pitch = -(-block_len // 32) * 32 + src_stride * 32
    blocks_copy(want, x.view(np.uint8), block_count, block_len, ub_pitch, block_len + dst_stride)
    np.testing.assert_array_equal(got.view(np.uint8), want)
    assert emu.counters()[0]["mte3Bytes"] == block_count * block_len


def test_datacopy_pad_padding_limit(emu):
    with pytest.raises(emu.EmuError, match=r"DataCopyPad\(GM->local\): param-range: left/right padding 17/0"):
        emu.copy(KIND["pad_in"], src_data(64), np.zeros(512, np.int16), ubBytes=1024, blockCount=1, blockLen=4, isPad=1,
                 leftPad=17)


def test_datacopy_block_count_limit(emu):
    with pytest.raises(emu.EmuError, match=r"DataCopy\(GM->local\): param-range: blockCount 4096 exceeds 4095"):
        emu.copy(KIND["params_in"], src_data(64), np.zeros(512, np.int16), ubBytes=1024, blockCount=4096, blockLen=1)


def test_datacopy_params_overrunning_ub_buffer(emu):
    with pytest.raises(emu.EmuError, match=r"DataCopy\(GM->local\): local-bounds: dst touches UB bytes \[0, 2048\)"):
        emu.copy(KIND["params_in"], src_data(2048), np.zeros(512, np.int16), ubBytes=1024, blockCount=2, blockLen=32)
