"""The emulated adv_api Silu (CANN 8.5 Silu.md; dav_c220 runs Muls(-1), Exp, Adds(1), Div in counter mode) against
torch.nn.functional.silu, the mask state it leaves, its rules (no dst / src overlap, dataSize within the
tensors), and kernel `assert` (kernel_operator_dump_tensor_intf.h, assert.md), from silu_kernels.cpp."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent
NP = {"half": np.float16, "float": np.float32}


class SiluArgs(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int32), ("count", ctypes.c_uint32), ("dataSize", ctypes.c_uint32),
                ("dstOff", ctypes.c_uint32), ("srcOff", ctypes.c_uint32), ("sameBuffer", ctypes.c_int32),
                ("mode", ctypes.c_int32)]


@pytest.fixture(scope="module")
def silu_lib(tmp_path_factory):
    lib = emu_sdk.compile_library([HERE / "silu_kernels.cpp"], tmp_path_factory.mktemp("silu"), flags=("-O0",))
    return ctypes.CDLL(str(lib))


def run(lib, x: np.ndarray, data_size: int, dst_off=0, src_off=0, same=False, mode=0) -> np.ndarray:
    out = np.full_like(x, np.nan)
    err = ctypes.create_string_buffer(2048)
    args = SiluArgs(0 if x.dtype == np.float16 else 1, x.size, data_size, dst_off, src_off, int(same), mode)
    rc = lib.silu_run(ctypes.byref(args), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(out.ctypes.data),
                      ctypes.c_uint64(x.nbytes), err, len(err))
    if rc:
        raise RuntimeError(err.value.decode())
    return out


def silu_steps(x: np.ndarray) -> np.ndarray:
    """x / (1 + exp(-x)) with each step rounded to x's type; exp rounded to fp32 first, as the emulator's Exp
    (the C library's expf, within an ulp of this)."""
    t = x.dtype
    with np.errstate(over="ignore"):  # exp(20) overflows half: inf, as the NPU's rounding gives
        e = np.exp(-x.astype(np.float64)).astype(np.float32).astype(t)
    d = (e.astype(np.float32) + np.float32(1)).astype(t)
    return (x.astype(np.float32) / d.astype(np.float32)).astype(t)


@pytest.mark.parametrize("dtype", ["half", "float"])
@pytest.mark.parametrize("data_size", [1, 77, 300, 1000])
def test_silu_matches_torch(silu_lib, dtype, data_size):
    rng = np.random.default_rng(data_size)
    x = rng.uniform(-10, 10, 1024).astype(NP[dtype])
    x[1:5] = [0, -0.0, 20, -20]
    got = run(silu_lib, x, data_size)
    # The rounded steps: bit for bit in half; in float within 2 ulp (expf against exp rounded to fp32).
    steps = silu_steps(x[:data_size])
    if dtype == "half":
        np.testing.assert_array_equal(got[:data_size], steps)
    else:
        np.testing.assert_allclose(got[:data_size], steps, rtol=2.0**-22, atol=0)
    # Against torch: 3 roundings to the type after the fp32 exp (2^-11 each in half, 2^-24 in float) plus the
    # exp's own error; a result below half's normal range is absolute (2^-24 spacing).
    want = torch.nn.functional.silu(torch.from_numpy(x[:data_size].astype(np.float64))).numpy()
    rtol, atol = (4 * 2.0**-11, 2.0**-24) if dtype == "half" else (4 * 2.0**-23, 1e-30)
    np.testing.assert_allclose(got[:data_size].astype(np.float64), want, rtol=rtol, atol=atol)
    np.testing.assert_array_equal(got[data_size:], x[data_size:])  # dst beyond dataSize is not written


@pytest.mark.parametrize("dtype", ["half", "float"])
def test_silu_leaves_normal_mode_with_a_full_mask(silu_lib, dtype):
    x = np.linspace(-3, 3, 512).astype(NP[dtype])
    got = run(silu_lib, x, 10, mode=1)
    lanes = 256 // x.itemsize  # one repeat of Adds(1) under the registers: every lane, not 10
    want = x.copy()
    want[:10] = silu_steps(x[:10])
    want[:lanes] = (want[:lanes].astype(np.float32) + 1).astype(x.dtype)
    np.testing.assert_array_equal(got, want)


def test_silu_refuses_overlapping_dst_and_src(silu_lib):
    x = np.linspace(-3, 3, 512).astype(np.float32)
    with pytest.raises(RuntimeError, match="Silu: overlap"):
        run(silu_lib, x, 64, dst_off=0, src_off=0, same=True)  # in place
    with pytest.raises(RuntimeError, match="Silu: overlap"):
        run(silu_lib, x, 64, dst_off=8, src_off=0, same=True)  # dst inside src
    got = run(silu_lib, x[:256].copy(), 64, dst_off=64, src_off=0, same=True)  # adjacent: allowed
    np.testing.assert_array_equal(got[:64], silu_steps(x[:64]))


def test_silu_refuses_data_size_beyond_the_tensors(silu_lib):
    x = np.zeros(512, np.float32)
    with pytest.raises(RuntimeError, match="Silu: param-range"):
        run(silu_lib, x, 4096, src_off=8)  # src holds 4096 - 8 elements


def test_kernel_assert_fails_the_launch(silu_lib):
    x = np.zeros(64, np.float32)
    run(silu_lib, x, 7, mode=2)
    with pytest.raises(RuntimeError, match=r"assert: assert: .*Assertion `a.dataSize < 8' failed"):
        run(silu_lib, x, 8, mode=2)


def compiles(tmp_path, body: str) -> bool:
    src = tmp_path / "probe.cpp"
    src.write_text('#include "kernel_operator.h"\nusing namespace AscendC;\n' + body + "\n")
    run = subprocess.run(["g++", "-fsyntax-only", *emu_sdk.cflags(), str(src)], capture_output=True, text=True)
    return run.returncode == 0


def test_silu_and_assert_declarations_compile(tmp_path):
    # Silu.md's prototype (half, float; isReuseSource defaulted or given), assert(expr) and the deprecated
    # assert(expr, fmt, args...) of assert.md.
    assert compiles(tmp_path, """
        void f(const LocalTensor<half>& dh, const LocalTensor<half>& sh, const LocalTensor<float>& df,
               const LocalTensor<float>& sf, uint32_t n) {
          Silu(dh, sh, n);
          Silu<float, false>(df, sf, n);
          assert(n > 0);
          assert(n > 0, "n = %u", n);
        }""")


@pytest.mark.parametrize("t", ["bfloat16_t", "int16_t", "int32_t"])
def test_silu_other_types_do_not_compile(tmp_path, t):
    # CANN: Silu's Muls / Exp static_assert their types (dav_c220 kernel_operator_vec_{binary_scalar,unary}_impl.h).
    assert not compiles(tmp_path, f"void f(const LocalTensor<{t}>& d, const LocalTensor<{t}>& s) {{ Silu(d, s, 64u); }}")
