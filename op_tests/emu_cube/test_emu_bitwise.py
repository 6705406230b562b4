"""And / Or / ShiftLeft against numpy: count forms (And / Or count 16-bit halves for 32-bit types, as
dav_c220 runs them on int16), continuous and bit masks with strides, and ShiftLeft's signed rule
(ShiftLeft.md: the sign bit stays, the bit below it is shifted out)."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import bitwise, sync_waits

DT = {"int16": (0, np.int16), "uint16": (1, np.uint16), "int32": (2, np.int32), "uint32": (3, np.uint32)}
OPS = {"And": (0, np.bitwise_and), "Or": (1, np.bitwise_or)}


def data(dtype, n, seed):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, n, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", list(DT))
@pytest.mark.parametrize("count", [1, 77, 300])
def test_and_or_count_form(kern, op, dtype, count):
    code, t = DT[dtype]
    a, b = data(t, 512, 1), data(t, 512, 2)
    out = np.full(512, 0x5A5A, t) if t().itemsize == 2 else np.full(512, 0x5A5A5A5A, t)
    got = bitwise(kern, OPS[op][0], code, 0, a, b, out, count=count)
    # The count is of 16-bit halves whatever the type (And.md: pass twice the count for 32-bit data).
    a16, b16, want = a.view(np.int16), b.view(np.int16), out.view(np.int16).copy()
    want[:count] = OPS[op][1](a16[:count], b16[:count])
    np.testing.assert_array_equal(got.view(np.int16), want)
    assert sync_waits(kern) >= 3  # two flags and the raw pipe_barrier(PIPE_V)


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_and_or_mask_forms_with_strides(kern, op, dtype):
    code, t = DT[dtype]
    a, b = data(t, 2048, 3), data(t, 2048, 4)
    out = np.zeros(2048, t)
    # Continuous mask of 100 lanes, 3 repeats, dst block stride 2 / repeat stride 16, src1 repeat stride 0
    # (catlass's fp8 dequant reuses one 128-lane constant this way).
    got = bitwise(kern, OPS[op][0], code, 1, a, b, out, mask=100, repeat=3, blk=(2, 1, 1), rep=(16, 8, 0))
    want = out.copy()
    for r in range(3):
        for lane in range(100):
            d = (r * 16 + (lane // 16) * 2) * 16 + lane % 16
            want[d] = OPS[op][1](a[r * 128 + lane], b[lane])
    np.testing.assert_array_equal(got, want)
    # Bit mask: every third lane of 128, 2 repeats, contiguous.
    lanes = [i for i in range(128) if i % 3 == 0]
    bits = [sum(1 << i for i in lanes if i < 64), sum(1 << (i - 64) for i in lanes if i >= 64)]
    got = bitwise(kern, OPS[op][0], code, 2, a, b, out, bits=bits, repeat=2)
    want = out.copy()
    for r in range(2):
        idx = r * 128 + np.array(lanes)
        want[idx] = OPS[op][1](a[idx], b[idx])
    np.testing.assert_array_equal(got, want)


def shift_left(x: np.ndarray, s: int) -> np.ndarray:
    """ShiftLeft.md: logical for unsigned; signed keeps the sign bit and shifts the bits below it."""
    bits = x.itemsize * 8
    u = x.view(np.uint16 if bits == 16 else np.uint32).astype(np.uint64)
    moved = (u << np.uint64(s)) & np.uint64((1 << bits) - 1) if s < bits else np.zeros_like(u)
    if np.issubdtype(x.dtype, np.unsignedinteger):
        res = moved
    else:
        sign = np.uint64(1 << (bits - 1))
        res = (u & sign) | (moved & ~sign & np.uint64((1 << bits) - 1))
    return res.astype(np.uint16 if bits == 16 else np.uint32).view(x.dtype)


def test_shift_left_documented_examples(kern):
    x = np.full(16, 0xAAAA, np.uint16)
    out = np.zeros(16, np.uint16)
    assert (bitwise(kern, 2, 1, 0, x, x, out, count=16, shift=1) == 0x5554).all()  # unsigned: logical
    assert (bitwise(kern, 2, 0, 0, x.view(np.int16), x, out, count=16, shift=1).view(np.uint16) == 0xD554).all()
    assert (bitwise(kern, 2, 0, 0, x.view(np.int16), x, out, count=16, shift=3).view(np.uint16) == 0xD550).all()


@pytest.mark.parametrize("dtype", list(DT))
@pytest.mark.parametrize("shift", [0, 1, 7, 15])
def test_shift_left_count_and_masks(kern, dtype, shift):
    code, t = DT[dtype]
    a = data(t, 512, shift + code)
    out = np.zeros(512, t)
    lanes = 256 // t().itemsize
    np.testing.assert_array_equal(bitwise(kern, 2, code, 0, a, a, out, count=300, shift=shift)[:300], shift_left(a[:300], shift))
    got = bitwise(kern, 2, code, 1, a, a, out, mask=lanes // 2, repeat=2, shift=shift, blk=(1, 1, 1), rep=(8, 8, 8))
    want = out.copy()
    for r in range(2):
        sl = slice(r * lanes, r * lanes + lanes // 2)
        want[sl] = shift_left(a[sl], shift)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["int16", "uint32"])
def test_shift_left_scalar_type_and_register_forms(kern, dtype):
    # The scalar-type (U) overloads run as the T ones; the count form with isSetMask = false ignores
    # `count` and shifts the elements the counter-mode registers hold (c220 impl, ShiftLeftImpl level 2).
    code, t = DT[dtype]
    a = data(t, 512, 9)
    out = np.full(512, 7, t)
    lanes = 256 // t().itemsize
    got = bitwise(kern, 2, code, 4, a, a, out, count=200, shift=3)
    want = out.copy()
    want[:200] = shift_left(a[:200], 3)
    np.testing.assert_array_equal(got, want)
    got = bitwise(kern, 2, code, 4, a, a, out, mask=lanes // 4, repeat=2, shift=3)
    want = out.copy()
    for r in range(2):
        sl = slice(r * lanes, r * lanes + lanes // 4)
        want[sl] = shift_left(a[sl], 3)
    np.testing.assert_array_equal(got, want)
    got = bitwise(kern, 2, code, 3, a, a, out, count=1, mask=lanes // 2 + 5, shift=2)
    want = out.copy()
    want[: lanes // 2 + 5] = shift_left(a[: lanes // 2 + 5], 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype, shift", [("uint16", 16), ("int32", 32)])
def test_shift_by_the_width_clears(kern, dtype, shift):
    code, t = DT[dtype]
    a = data(t, 64, 5)
    got = bitwise(kern, 2, code, 0, a, a, np.ones(64, t), count=64, shift=shift)
    np.testing.assert_array_equal(got, shift_left(a, shift))


@pytest.mark.parametrize("dtype, shift", [("int16", 17), ("uint32", 33), ("int16", -1)])
def test_shift_outside_the_width_is_refused(kern, dtype, shift):
    code, t = DT[dtype]
    with pytest.raises(kern.EmuError, match=rf"ShiftLeft: param-range: shift {shift} outside \[0, {t().itemsize * 8}\]"):
        bitwise(kern, 2, code, 0, np.zeros(64, t), np.zeros(64, t), np.zeros(64, t), count=64, shift=shift)
