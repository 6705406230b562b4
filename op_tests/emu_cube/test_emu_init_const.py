"""InitConstValue (init_const_kernels.cpp): a constant written into B's Nz image in L1 or A's Zz
image in L0A, observed through the matmul C = A @ B^T that reads them.

The expected C applies the same fill to numpy copies of those images (L1 Nz: column blocks of 16,
rows padded to 16, 32-byte rows; L0A Zz: 16 x 16 fractals ordered (row block, column block)) and
multiplies in float32 in k order, as the emulator's Mmad does."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest



class InitArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("m", "n", "k", "target", "repeatTimes", "blockNum", "dstGap",
                                              "startBlock")] + [("value", ctypes.c_float)]  # fmt: skip


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a [m, k] @ b [n, k]^T in float32, one multiply-add per k in k order."""
    acc = np.zeros((a.shape[0], b.shape[0]), np.float32)
    for kk in range(a.shape[1]):
        acc = acc + np.outer(a[:, kk].astype(np.float32), b[:, kk].astype(np.float32))
    return acc


def _call(kern, fn, *args):
    err = ctypes.create_string_buffer(4096)
    if fn(*args, err, len(err)):
        raise kern.EmuError(err.value.decode())


def _fill(flat: np.ndarray, unit: int, start: int, repeat: int, blocks: int, gap: int, value: float) -> None:
    """In place: `repeat` runs of `blocks` units of `unit` elements, `gap` units apart, from unit `start`."""
    for r in range(repeat):
        first = start + r * (blocks + gap)
        flat[first * unit : (first + blocks) * unit] = value


def _nz(x: np.ndarray) -> np.ndarray:
    """[rows, cols] -> L1 Nz image [cols / 16, rows padded to 16, 16]."""
    rows, cols = x.shape
    img = np.zeros((cols // 16, -(-rows // 16) * 16, 16), x.dtype)
    img[:, :rows] = x.reshape(rows, cols // 16, 16).transpose(1, 0, 2)
    return img


def _zz(x: np.ndarray) -> np.ndarray:
    """[rows, cols] (rows a multiple of 16) -> L0A Zz image [rows / 16, cols / 16, 16, 16]."""
    rows, cols = x.shape
    return x.reshape(rows // 16, 16, cols // 16, 16).transpose(0, 2, 1, 3).copy()


def run(kern, m, n, k, target, repeat, blocks, gap, start, value, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((n, k)).astype(np.float16)
    c = np.zeros((m, n), np.float32)
    args = InitArgs(m, n, k, target, repeat, blocks, gap, start, value)
    _call(kern, kern.lib.emu_init_const, ctypes.byref(args), a.ctypes.data_as(ctypes.c_void_p),
          b.ctypes.data_as(ctypes.c_void_p), c.ctypes.data_as(ctypes.c_void_p))  # fmt: skip
    if target == 0:
        img = _nz(b)
        _fill(img.reshape(-1), 16, start, repeat, blocks, gap, value)
        b = img[:, :n].transpose(1, 0, 2).reshape(n, k)
    else:
        img = _zz(a)
        _fill(img.reshape(-1), 256, start, repeat, blocks, gap, value)
        a = img.transpose(0, 2, 1, 3).reshape(m, k)
    return c, _matmul(a, b)


def test_l1_zeroes_rows_of_every_column_block(kern):
    # The SFA pattern: rows [13, 16) of each of the 4 column blocks (64-row blocks) become 0.
    c, want = run(kern, 16, 64, 64, target=0, repeat=4, blocks=3, gap=61, start=13, value=0.0)
    np.testing.assert_array_equal(c, want)
    assert (c[:, 13:16] == 0).all() and (c[:, 12] != 0).all()


@pytest.mark.parametrize("repeat, blocks, gap, start", [(1, 40, 0, 5), (3, 2, 7, 1), (6, 1, 0, 20)])
def test_l1_fill_with_value(kern, repeat, blocks, gap, start):
    c, want = run(kern, 20, 33, 48, target=0, repeat=repeat, blocks=blocks, gap=gap, start=start, value=1.5)
    np.testing.assert_array_equal(c, want)


def test_l0a_fill_in_fractals(kern):
    # 512-byte blocks: fractals 1 and 3 of each repeat of 2 (A is 2 x 4 fractals).
    c, want = run(kern, 32, 17, 64, target=1, repeat=2, blocks=2, gap=2, start=1, value=-0.25)
    np.testing.assert_array_equal(c, want)


@pytest.mark.parametrize(
    "case, message",
    [
        (0, r"InitConstValue: position: dst must be in L1 \(A1/B1\), L0A \(A2\) or L0B \(B2\), it is in UB"),
        (1, r"InitConstValue: alignment: dst starts at L0A address 256, not 512-byte aligned"),
        (2, r"InitConstValue: param-range: blockNum 0 writes nothing on A2/A3"),
        (3, r"InitConstValue: local-bounds: dst touches L1 bytes \[0, 1056\) outside its buffer \[0, 1024\)"),
    ],
)
def test_init_const_rules(kern, case, message):
    with pytest.raises(kern.EmuError, match=message):
        _call(kern, kern.lib.emu_init_const_rule, case)
