"""Bit-exact tests of the int4 packing layouts and the int64 scale encoding (ascend_glm5.quant)."""

import struct

import pytest
import torch

from ascend_glm5.quant import (
    int32_to_msmodelslim,
    msmodelslim_to_int32,
    pack_int4_int8,
    pack_int4_int32,
    scale_from_int64,
    scale_to_int64,
    unpack_int4_int8,
    unpack_int4_int32,
)


def _rand_int4(*shape, seed=0):
    return torch.randint(-8, 8, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.int8)


def _signed(value, bits):
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def test_int8_layout_matches_definition():
    w = _rand_int4(3, 6, 5)  # [E, N, K]
    p = pack_int4_int8(w)
    assert p.dtype == torch.int8 and p.shape == (3, 3, 5)
    for e in range(3):
        for j in range(3):
            for k in range(5):
                byte = ((int(w[e, 2 * j + 1, k]) & 0xF) << 4) | (int(w[e, 2 * j, k]) & 0xF)
                assert int(p[e, j, k]) == _signed(byte, 8)


def test_int8_every_byte_round_trips():
    p = torch.arange(-128, 128, dtype=torch.int16).to(torch.int8).reshape(1, 256)
    w = unpack_int4_int8(p)
    assert w.shape == (2, 256)
    for k in range(256):
        byte = int(p[0, k]) & 0xFF
        assert int(w[0, k]) == _signed(byte & 0xF, 4)  # low nibble: even row
        assert int(w[1, k]) == _signed(byte >> 4, 4)  # high nibble: odd row
    assert torch.equal(pack_int4_int8(w), p)


def test_int32_element_bit_positions():
    for n in range(16):
        for v in range(-8, 8):
            w = torch.zeros(16, dtype=torch.int8)
            w[n] = v
            words = pack_int4_int32(w)
            expected = [0, 0]
            expected[n // 8] = _signed((v & 0xF) << (4 * (n % 8)), 32)
            assert words.tolist() == expected, (n, v)


def test_int32_round_trips():
    g = torch.Generator().manual_seed(1)
    words = torch.randint(-(2**31), 2**31, (4, 7), generator=g, dtype=torch.int64).to(torch.int32)
    words[0, :4] = torch.tensor([-(2**31), 2**31 - 1, -1, 0], dtype=torch.int32)
    w = unpack_int4_int32(words)
    assert w.dtype == torch.int8 and w.shape == (4, 56)
    assert torch.equal(pack_int4_int32(w), words)
    logical = _rand_int4(2, 5, 24)
    assert torch.equal(unpack_int4_int32(pack_int4_int32(logical)), logical)


@pytest.mark.parametrize("shape", [(8, 3), (2, 16, 5), (3, 24, 1)])
def test_msmodelslim_to_int32_is_the_logical_int32_layout(shape):
    w = _rand_int4(*shape, seed=2)  # [..., N, K]
    file_weight = pack_int4_int8(w)  # msModelSlim [..., N/2, K]
    gmm_weight = msmodelslim_to_int32(file_weight)  # vllm-ascend [..., K, N/8]
    assert gmm_weight.dtype == torch.int32 and gmm_weight.shape == (*shape[:-2], shape[-1], shape[-2] // 8)
    assert torch.equal(gmm_weight, pack_int4_int32(w.transpose(-1, -2)))
    assert torch.equal(int32_to_msmodelslim(gmm_weight), file_weight)


def test_pack_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4_int8(torch.full((2, 3), 8, dtype=torch.int8))
    with pytest.raises(ValueError, match="N even"):
        pack_int4_int8(torch.zeros(3, 3, dtype=torch.int8))
    with pytest.raises(ValueError, match="N % 8"):
        pack_int4_int32(torch.zeros(12, dtype=torch.int8))
    with pytest.raises(TypeError):
        pack_int4_int32(torch.zeros(8))
    with pytest.raises(TypeError):
        unpack_int4_int32(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="N % 8"):
        msmodelslim_to_int32(torch.zeros(6, 4, dtype=torch.int8))


def test_scale_int64_is_the_fp32_bit_pattern():
    values = [1.0, 0.5, 3.0e-3, 1.7e-38, 6.1e4, torch.finfo(torch.float32).eps]
    scale = torch.tensor(values, dtype=torch.float32)
    bits = scale_to_int64(scale)
    assert bits.dtype == torch.int64
    for v, b in zip(scale.tolist(), bits.tolist()):
        assert b == struct.unpack("<I", struct.pack("<f", v))[0]
    assert torch.equal(scale_from_int64(bits), scale)
    negative = torch.tensor([-2.5], dtype=torch.float32)  # sign bit set: still a zero-extended uint32
    assert scale_to_int64(negative).item() == 0xC0200000
    assert torch.equal(scale_from_int64(scale_to_int64(negative)), negative)


def test_scale_from_int64_rejects_high_word():
    with pytest.raises(ValueError, match="low 32 bits"):
        scale_from_int64(torch.tensor([2**32 + 5]))
    with pytest.raises(ValueError, match="low 32 bits"):
        scale_from_int64(torch.tensor([-1]))
