"""The timing model's micro-kernels (perf_kernels.cpp), built once per session against the installed
emulator and wrapped for the tests as the ``kern`` fixture."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent


class Kernels:
    def __init__(self, path: Path):
        self.lib = ctypes.CDLL(str(path))
        self.lib.perf_stream_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64,
                                              ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p,
                                              ctypes.c_int]
        self.lib.perf_late_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64,
                                            ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_int]
        self.lib.perf_late_cross_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64,
                                                  ctypes.c_uint32, ctypes.c_char_p, ctypes.c_int]
        self.lib.perf_matmul.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_uint32] * 4 + [ctypes.c_char_p, ctypes.c_int]
        self.lib.perf_dependencies.argtypes = [ctypes.c_void_p] + [ctypes.c_uint32] * 6 + [ctypes.c_char_p, ctypes.c_int]

    def _check(self, rc: int, err) -> None:
        if rc:
            raise RuntimeError(err.value.decode())

    def stream_copy(self, src: np.ndarray, cores: int, tile_bytes: int, buffers: int, leads=None) -> np.ndarray:
        """`leads`: per core, scalar UB writes before its first copy (a head start in modeled time)."""
        dst = np.zeros_like(src)
        err = ctypes.create_string_buffer(2048)
        lead = None if leads is None else np.ascontiguousarray(leads, dtype=np.uint32)
        assert lead is None or lead.shape == (cores,)
        rc = self.lib.perf_stream_copy(src.ctypes.data, dst.ctypes.data, cores, src.nbytes // cores, tile_bytes,
                                       buffers, None if lead is None else lead.ctypes.data, err, len(err))
        self._check(rc, err)
        return dst

    def late_copy(self, src: np.ndarray, cores: int, tile_bytes: int, streamers: int) -> np.ndarray:
        """The late-copy micro-kernel (perf_kernels.cpp LateCopy): blocks < `streamers` copy their slice
        of src, the others fill theirs with 7s."""
        dst = np.zeros_like(src)
        err = ctypes.create_string_buffer(2048)
        self._check(self.lib.perf_late_copy(src.ctypes.data, dst.ctypes.data, cores, src.nbytes // cores, tile_bytes,
                                            streamers, err, len(err)), err)
        return dst

    def late_cross_copy(self, src: np.ndarray, blocks: int, tile_bytes: int) -> np.ndarray:
        """The mixed late-copy micro-kernel (perf_kernels.cpp LateCrossCopy) on `blocks` x (1 AIC + 2 AIV):
        src holds 3 x blocks slices; each AIV fills the first half of its slice of dst with 7s."""
        dst = np.zeros_like(src)
        err = ctypes.create_string_buffer(2048)
        self._check(self.lib.perf_late_cross_copy(src.ctypes.data, dst.ctypes.data, blocks, src.nbytes // (3 * blocks),
                                                  tile_bytes, err, len(err)), err)
        return dst

    def matmul(self, a: np.ndarray, bt: np.ndarray, cores: int, overlap: bool) -> np.ndarray:
        n, k = bt.shape
        c = np.zeros((a.shape[0], n), np.float32)
        err = ctypes.create_string_buffer(2048)
        rc = self.lib.perf_matmul(a.ctypes.data, bt.ctypes.data, c.ctypes.data, cores, n, k, int(overlap), err, len(err))
        self._check(rc, err)
        return c


    DEPS = {"none": 0, "barrier": 1, "sync_all": 2, "cross_core": 3, "cross_core_mte2": 4}

    def dependencies(self, cores: int, tile_bytes: int, copies: int, vecs: int, kind: str, mix: bool) -> None:
        """The dependency micro-kernel (perf_kernels.cpp): a copy part and a vector part ordered by `kind`."""
        src = np.arange(tile_bytes // 2, dtype=np.int16)
        err = ctypes.create_string_buffer(2048)
        self._check(self.lib.perf_dependencies(src.ctypes.data, cores, tile_bytes, copies, vecs, self.DEPS[kind],
                                               int(mix), err, len(err)), err)


@pytest.fixture(scope="session")
def kern(tmp_path_factory) -> Kernels:
    return Kernels(emu_sdk.compile_library([HERE / "perf_kernels.cpp"], tmp_path_factory.mktemp("perf_kernels")))
