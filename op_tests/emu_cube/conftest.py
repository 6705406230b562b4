"""Self-tests of the emulator's sorting, cube and cross-core APIs: cube_sort_kernels.cpp is built once
per session against the installed emulator (ascend_glm5.emu.compile_library), loaded with ctypes
and wrapped for the tests as the ``kern`` fixture."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent

SORT_OPS = {"Sort32": 0, "MrgSort": 1, "Extract": 2, "CreateVecIndex": 3, "FullSort": 4}
SORT_DTYPES = {"half": 0, "float": 1, "int16": 2, "int32": 3}
CUBE_DTYPES = {"half": 0, "bf16": 1, "int8": 2, "int4": 3}
CUBE_OUT = {"acc": 0, "half": 1, "bf16": 2}
CUBE_RULES = ["MmadOnAiv", "LoadDataToL1", "Nd2NzC0Stride", "MmadOutside"]
XCASES = {"ring": 0, "mode1": 1, "mode0": 2, "ids": 3, "flagId11": 4, "mode3": 5, "neverSet": 6, "flagOverflow": 7,
          "flagPending": 8}
COUNTERS = ["vecCalls", "vecElemOps", "cubeCalls", "cubeMacs", "fixpipeBytes"]


class EmuError(RuntimeError):
    """A rule violation reported by the emulator (its message names kernel, core, call and rule)."""


class SortArgs(ctypes.Structure):
    _fields_ = [
        ("op", ctypes.c_int32), ("dtype", ctypes.c_int32), ("repeat", ctypes.c_int32), ("count", ctypes.c_int32),
        ("first", ctypes.c_double), ("lengths", ctypes.c_uint16 * 4), ("validBit", ctypes.c_uint16),
        ("exhausted", ctypes.c_uint8), ("dstInIn0", ctypes.c_uint8), ("srcOffsets", ctypes.c_uint32 * 4),
        ("dstOffset", ctypes.c_uint32), ("bytes", ctypes.c_uint32 * 3), ("consumed", ctypes.c_uint16 * 4),
    ]  # fmt: skip


class CubeArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("dtype", "out", "m", "n", "k", "splitK", "transB", "relu", "nz")] + [
        ("dstStride", ctypes.c_uint32), ("deqScalar", ctypes.c_uint64), ("ndL0a", ctypes.c_int32)]  # fmt: skip


class XArgs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("kase", "tiles", "rounds", "lazySub")]


def _image(a: np.ndarray | None, nbytes: int = 0) -> np.ndarray:
    """Raw bytes of `a`, zero-extended to a multiple of 32 and at least max(nbytes, 32)."""
    raw = np.zeros(0, np.uint8) if a is None else np.ascontiguousarray(a).view(np.uint8).ravel()
    out = np.zeros((max(raw.size, nbytes, 32) + 31) // 32 * 32, np.uint8)
    out[: raw.size] = raw
    return out


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return a.ctypes.data_as(ctypes.c_void_p)


class Kernels:
    """ctypes front end of cube_sort_kernels.cpp; every call raises EmuError on a violated rule."""

    EmuError = EmuError

    def __init__(self, lib_path: Path):
        self.lib = ctypes.CDLL(str(lib_path))
        self._err = ctypes.create_string_buffer(4096)

    def _check(self, rc: int) -> None:
        if rc:
            raise EmuError(self._err.value.decode())

    def sort(self, op, dtype, *, in0=None, in1=None, out=None, out_bytes=0, lengths=(0, 0, 0, 0), valid_bit=0,
             exhausted=False, src_offsets=(0, 0, 0, 0), dst_offset=0, dst_in_in0=False, repeat=1, count=0, first=0.0):
        """Runs sort_kernel on UB images of in0 / in1 / out (out: the initial dst image, or zeros of
        out_bytes). Returns (the out image as uint8, GetMrgSortResult)."""
        bufs = [_image(in0), _image(in1), _image(out, out_bytes)]
        a = SortArgs(op=SORT_OPS[op], dtype=SORT_DTYPES[dtype], repeat=repeat, count=count, first=first,
                     validBit=valid_bit, exhausted=exhausted, dstInIn0=dst_in_in0, dstOffset=dst_offset)  # fmt: skip
        a.lengths[:], a.srcOffsets[:] = lengths, src_offsets
        for i, b in enumerate(bufs):
            a.bytes[i] = b.size
        self._check(self.lib.emu_sort(ctypes.byref(a), *map(_ptr, bufs), self._err, len(self._err)))
        return bufs[2], tuple(a.consumed)

    def cube(self, dtype, a, b, *, c_bytes, out="acc", split_k=False, trans_b=False, relu=False, nz=False,
             dst_stride=0, deq_scalar=0, c_init=None, nd_l0a=False):
        """Runs cube_kernel: C = A @ B^T (A [m, k], B [n, k]) or A @ B (trans_b: B [k, n]). Returns the
        raw GM bytes of C (c_bytes; initialised with c_init, else zeros)."""
        m, k = a.shape
        n = b.shape[1] if trans_b else b.shape[0]
        k *= 2 if dtype == "int4" else 1  # int4 operands arrive packed two per byte along k
        p = CubeArgs(dtype=CUBE_DTYPES[dtype], out=CUBE_OUT[out], m=m, n=n, k=k, splitK=split_k, transB=trans_b,
                     relu=relu, nz=nz, dstStride=dst_stride, deqScalar=deq_scalar, ndL0a=nd_l0a)  # fmt: skip
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        c = np.zeros(c_bytes, np.uint8) if c_init is None else np.ascontiguousarray(c_init).view(np.uint8).copy()
        self._check(self.lib.emu_cube(ctypes.byref(p), _ptr(a), ctypes.c_uint64(a.nbytes), _ptr(b),
                                      ctypes.c_uint64(b.nbytes), _ptr(c), ctypes.c_uint64(c.nbytes), self._err,
                                      len(self._err)))  # fmt: skip
        return c

    def cube_rule(self, name):
        self._check(self.lib.emu_cube_rule(CUBE_RULES.index(name), self._err, len(self._err)))

    def xcore(self, kase, block_dim, *, src=None, ws_bytes=32, out_bytes=32, tiles=0, rounds=0, lazy_sub=-1):
        """Runs xcore_kernel in MIX_MODE; returns the output GM bytes."""
        x = XArgs(kase=XCASES[kase], tiles=tiles, rounds=rounds, lazySub=lazy_sub)
        s = _image(src)
        out = np.zeros(out_bytes, np.uint8)
        self._check(self.lib.emu_xcore(ctypes.byref(x), block_dim, _ptr(s), ctypes.c_uint64(s.nbytes),
                                       ctypes.c_uint64(ws_bytes), _ptr(out), ctypes.c_uint64(out_bytes), self._err,
                                       len(self._err)))  # fmt: skip
        return out

    def counters(self) -> dict:
        """Totals of the last launch."""
        v = (ctypes.c_uint64 * len(COUNTERS))()
        self.lib.emu_last_counters(v)
        return dict(zip(COUNTERS, v))


@pytest.fixture(scope="session")
def kern(tmp_path_factory) -> Kernels:
    from ascend_glm5 import emu

    out_dir = tmp_path_factory.mktemp("emu_cube")
    # -O0: compiling is most of what these kernels cost (as op_tests/emu/conftest.py's self-test kernels).
    return Kernels(emu.compile_library([HERE / "cube_sort_kernels.cpp", HERE / "init_const_kernels.cpp",
                                        HERE / "ext_kernels.cpp"], out_dir, flags=("-O0",)))
