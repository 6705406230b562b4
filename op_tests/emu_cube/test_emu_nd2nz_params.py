"""DataCopy ND2NZ (GM -> L1) with dstNzNStride 0, outside its documented range [1, 16384]
(随路转换ND2NZ搬运.md). One row never steps by it, and catlass's Atlas A2 CopyGmToL1 copies a matrix
with a leading dimension of 65536 or more one row at a time with it at 0: accepted. Two rows would land
on each other: refused, and the message names the field (it once read "16 is smaller than 1 x 0")."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    from ascend_glm5 import emu

    path = emu.compile_library([HERE / "nd2nz_params_kernels.cpp"], tmp_path_factory.mktemp("nd2nz"),
                               flags=("-fvisibility=hidden",))
    return ctypes.CDLL(str(path))


def run(lib, rows: int, n_stride: int) -> np.ndarray:
    src = np.arange(16 * rows, dtype=np.float16)
    out = np.full(16 * rows, -1, np.float16)
    err = ctypes.create_string_buffer(2048)
    rc = lib.nd2nz_launch(src.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p),
                          ctypes.c_uint16(rows), ctypes.c_uint16(n_stride), err, len(err))
    if rc:
        raise RuntimeError(err.value.decode())
    return out


@pytest.mark.parametrize("rows, n_stride", [(1, 1), (1, 0), (2, 1)])
def test_rows_land_in_the_fractal(lib, rows, n_stride):
    np.testing.assert_array_equal(run(lib, rows, n_stride), np.arange(16 * rows, dtype=np.float16))


def test_zero_n_stride_over_two_rows_is_refused_by_name(lib):
    with pytest.raises(RuntimeError, match=r"DataCopy\(ND2NZ\): param-range: dstNzNStride 0 is outside \[1, 16384\]"):
        run(lib, 2, 0)
