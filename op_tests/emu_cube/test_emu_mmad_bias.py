"""Mmad with a bias table operand (Mmad.md, 传入bias的原型, table 5; dav_c220 MmadImpl): the bias row
goes GM -> L1 -> BT (DataCopy L1 -> C2 in 64 B blocks; half -> float converted on the way,
基础数据搬运.md table 7) and C = bias[None, :] + A B^T, unless cmatrixInitVal is true (C starts at 0).
Also Fixpipe's isChannelSplit (Fixpipe.md): a float NZ output in 8-column Z blocks. The paths
catlass's CopyL1ToBT, TileMmad's bias overload and CopyL0CToGm<zN> (float) take on Atlas A2."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
DTYPES = {"half": 0, "bf16": 1, "int8": 2, "half_f32bias": 3}


class BiasArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("dtype", "m", "n", "k", "initVal", "splitK", "biasInCo1", "nzSplit",
                                               "dstStride")]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    from ascend_glm5 import emu

    path = emu.compile_library([HERE / "mmad_bias_kernels.cpp"], tmp_path_factory.mktemp("mmad_bias"),
                               flags=("-O0", "-fvisibility=hidden"))
    return ctypes.CDLL(str(path))


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> nearest-even bfloat16, as float32 values; and its raw 16-bit pattern."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return u


def operands(dtype, m, n, k, rng):
    """(A image, B image [n, k], bias image, A values, B values, bias values as float64)."""
    if dtype == "int8":
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (n, k), dtype=np.int8)
        bias = rng.integers(-2**20, 2**20, 64, dtype=np.int32)
        return a, b, bias, a.astype(np.float64), b.astype(np.float64), bias.astype(np.float64)
    if dtype == "bf16":
        a = bf16_round(rng.standard_normal((m, k)).astype(np.float32))
        b = bf16_round(rng.standard_normal((n, k)).astype(np.float32))
        bias = rng.standard_normal(64).astype(np.float32) * 4
        val = lambda u: (u.astype(np.uint32) << 16).view(np.float32).astype(np.float64)  # noqa: E731
        return a, b, bias, val(a), val(b), bias.astype(np.float64)
    a = rng.standard_normal((m, k)).astype(np.float16)
    b = rng.standard_normal((n, k)).astype(np.float16)
    bias = (rng.standard_normal(128 if dtype == "half" else 64) * 4).astype(np.float16 if dtype == "half" else np.float32)
    return a, b, bias, a.astype(np.float64), b.astype(np.float64), bias.astype(np.float64)


def run(lib, dtype, m, n, k, *, init_val=False, split_k=False, bias_in_co1=False, nz_split=False, dst_stride=0,
        seed=0, c_elems=None):
    rng = np.random.default_rng(seed)
    a, b, bias, av, bv, biasv = operands(dtype, m, n, k, rng)
    out = np.int32 if dtype == "int8" else np.float32
    c = np.full(c_elems or m * n, 0x5A5A5A5A, np.uint32).view(out)
    args = BiasArgs(DTYPES[dtype], m, n, k, init_val, split_k, bias_in_co1, nz_split, dst_stride)
    err = ctypes.create_string_buffer(2048)
    bias_img = np.zeros(256, np.uint8)
    bias_img[: bias.nbytes] = bias.view(np.uint8)
    rc = lib.mmad_bias_launch(ctypes.byref(args), a.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(a.nbytes),
                              b.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(b.nbytes),
                              bias_img.ctypes.data_as(ctypes.c_void_p), c.ctypes.data_as(ctypes.c_void_p),
                              ctypes.c_uint64(c.nbytes), err, len(err))  # fmt: skip
    if rc:
        raise RuntimeError(err.value.decode())
    return c, av, bv, biasv[:n]


def check_close(c, want, av, bv, biasv, k):
    # fp32 accumulation of k products onto the bias: at most (k + 1) roundings of 2^-24 relative each.
    bound = (k + 1) * 2.0**-24 * (np.abs(av) @ np.abs(bv).T + np.abs(biasv)[None, :])
    assert (np.abs(c.astype(np.float64) - want) <= bound).all()


@pytest.mark.parametrize("dtype", ["half", "bf16", "int8", "half_f32bias"])
@pytest.mark.parametrize("m, n, k, split_k", [(33, 37, 64, False), (16, 64, 128, True), (2, 5, 32, False)])
def test_mmad_with_bias_table(lib, dtype, m, n, k, split_k):
    c, av, bv, biasv = run(lib, dtype, m, n, k, split_k=split_k, seed=m + n)
    c = c.reshape(m, n)
    want = av @ bv.T + biasv[None, :]
    if dtype == "int8":
        np.testing.assert_array_equal(c, want.astype(np.int64))
    else:
        check_close(c, want, av, bv, biasv, k)
    # The bias is visible (not a plain product): the residual is the bias row.
    assert not np.allclose(c, av @ bv.T, rtol=0, atol=1e-3)


@pytest.mark.parametrize("dtype", ["half", "int8"])
def test_init_val_true_ignores_the_bias(lib, dtype):
    m, n, k = 17, 30, 64
    c, av, bv, biasv = run(lib, dtype, m, n, k, init_val=True, seed=3)
    want = av @ bv.T
    if dtype == "int8":
        np.testing.assert_array_equal(c.reshape(m, n), want.astype(np.int64))
    else:
        check_close(c.reshape(m, n), want, av, bv, 0 * biasv, k)


def test_bias_in_co1_is_not_emulated(lib):
    with pytest.raises(RuntimeError, match=r"Mmad\(bias\): not-emulated: a bias in CO1 is not emulated"):
        run(lib, "half", 16, 16, 32, bias_in_co1=1)


def test_cmatrix_source_without_bias_is_not_emulated(lib):
    # MmadParams.cmatrixSource = true reads C from the bias table, at no address the plain form names.
    with pytest.raises(RuntimeError, match=r"Mmad: not-emulated: cmatrixSource = true without a bias tensor"):
        run(lib, "half", 16, 16, 32, bias_in_co1=2)


def test_fixpipe_channel_split_nz(lib):
    # float -> float NZ with isChannelSplit: 8-column Z blocks of mSize rows, dstStride 32 B units apart.
    m, n, k = 21, 40, 32  # nSize = 48: six Z blocks, the last two past n
    dst_stride = m * 8 * 4 // 32 + 2  # 21 rows of 32 B, then 2 units of gap
    pitch = dst_stride * 8
    c, av, bv, biasv = run(lib, "half_f32bias", m, n, k, nz_split=True, dst_stride=dst_stride, seed=7,
                           c_elems=6 * pitch)
    want = av @ bv.T + biasv[None, :]
    raw = c.view(np.uint32)
    for z in range(5):  # blocks holding columns < n
        cols = slice(z * 8, min(n, z * 8 + 8))
        block = c[z * pitch: z * pitch + m * 8].reshape(m, 8)[:, : cols.stop - cols.start]
        check_close(block, want[:, cols], av, bv[cols], biasv[cols], k)
        assert (raw[z * pitch + m * 8: (z + 1) * pitch] == 0x5A5A5A5A).all()  # the gap is not written


@pytest.mark.parametrize("mode, message", [
    (2, r"Fixpipe: param-range: isChannelSplit cannot be combined with NZ2ND"),
    (3, r"Fixpipe: param-range: nSize 20 is not a multiple of 16 without NZ2ND"),
])
def test_fixpipe_nz_rules(lib, mode, message):
    # Fixpipe.md: channelSplit never with NZ2ND; without NZ2ND nSize is whole Z blocks (16, 8 when split).
    with pytest.raises(RuntimeError, match=message):
        run(lib, "half_f32bias", 16, 20, 32, nz_split=mode, dst_stride=64, c_elems=4096)
