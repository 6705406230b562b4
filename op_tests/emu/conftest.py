"""The emulator self-test library: selftest_kernels.cpp built once per session with g++ against the
installed AscendC emulator (what `python -m ascend_glm5 emu --cflags --libs` gives users), loaded
with ctypes and wrapped for the tests as the ``emu`` fixture."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent

OPS = {
    "Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Max": 4, "Min": 5,
    "Exp": 10, "Ln": 11, "Abs": 12, "Sqrt": 13, "Relu": 14,
    "Adds": 20, "Muls": 21, "Maxs": 22, "Mins": 23,
    "Duplicate": 30, "Cast": 40,
    "ReduceMax": 50, "ReduceSum": 51, "WholeReduceMax": 52, "WholeReduceSum": 53, "Brcb": 54, "BlockReduceMax": 55,
    "BlockReduceMin": 56, "BlockReduceSum": 57,
    "Compare": 60, "CompareScalar": 61, "Select": 62, "GatherMask": 63, "Gather": 64,
    "Axpy": 70, "ShiftRight": 71, "MulAddDst": 72, "Copy": 73, "TransDataTo5HD": 74,
}
DTYPES = {"half": 0, "float": 1, "bf16": 2, "int8": 3, "uint8": 4, "int16": 5, "int32": 6, "int64": 7, "int4": 8,
          "uint16": 9, "uint32": 10}
FORMS = {"count": 0, "mask": 1, "bits": 2, "counter_regs": 3, "mask_regs": 4}
POISON = np.array([0xC0, 0xFF, 0xC0, 0xFF], dtype=np.uint8)  # 0xFFC0FFC0: NaN as fp32, fp16 and bf16
RULES = ["UbOverflow", "MisalignedCopy", "GmOutOfBounds", "LocalOutOfBounds", "VectorOutOfBounds", "WaitWithoutSet",
         "SetTwice", "EventId8", "NinthBuffer", "CopyCountUnaligned", "VectorOnAic", "SyncAllAivOnly", "SetNeverWaited",
         "DequeEmpty", "Poison", "NineTBufs", "Buffer65", "QueueFull", "EnQuePastDepth", "ForeignFreeTensor",
         "GmBufferSize", "OffsetAlignment", "DefaultTensor", "SliceBounds", "SliceIndexBounds", "TopOfUb", "KernelType",
         "SyncScope", "FlagPending", "GatherMaskV1", "GatherRepeats", "VectorEventOnAic",
         "PipeBarrierScalar"]
COUNTERS = ["mte2Bytes", "mte3Bytes", "mte1Bytes", "mte2Calls", "mte3Calls", "mte1Calls", "vecElemOps", "vecCalls",
            "cubeMacs", "cubeCalls", "fixpipeBytes", "scalarOps", "syncWaits"]


class EmuError(RuntimeError):
    """A rule violation reported by the emulator (its message names kernel, core, call and rule)."""


class VecArgs(ctypes.Structure):
    _fields_ = (
        [(n, ctypes.c_int32) for n in ("op", "dtype", "dtype2", "form", "count", "repeat", "aux", "aux2")]
        + [("mask", ctypes.c_uint64), ("maskBits", ctypes.c_uint64 * 2)]
        + [(n, ctypes.c_uint16) for n in ("dstBlk", "src0Blk", "src1Blk", "dstRep", "src0Rep", "src1Rep")]
        + [("scalar", ctypes.c_double), ("bytes", ctypes.c_uint32 * 4)]
    )


class CopyArgs(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int32), ("ubBytes", ctypes.c_uint32), ("count", ctypes.c_uint32), ("tiles", ctypes.c_uint32),
        ("blockCount", ctypes.c_uint16), ("blockLen", ctypes.c_uint32), ("srcStride", ctypes.c_uint32),
        ("dstStride", ctypes.c_uint32), ("isPad", ctypes.c_uint8), ("leftPad", ctypes.c_uint8),
        ("rightPad", ctypes.c_uint8), ("padValue", ctypes.c_int16),
    ]


def build(out_dir: Path) -> tuple[Path, list[str]]:
    """Compiles the self-test kernels against the installed emulator; returns the library and the compile flags."""
    # -O0: these kernels call each API once per test, so compiling is most of their cost (stop 41: the
    # emu, emu_cube, perf and conformance tests at -O0 took 81 CPU-s against 106 at -O1).
    return emu_sdk.compile_library([HERE / "selftest_kernels.cpp"], out_dir, flags=("-O0",)), emu_sdk.cflags()


def _padded(a: np.ndarray | None, nbytes: int = 0) -> np.ndarray:
    """Raw bytes of `a`, zero-extended to a multiple of 32 and at least max(nbytes, 32)."""
    raw = np.zeros(0, np.uint8) if a is None else np.ascontiguousarray(a).view(np.uint8).ravel()
    size = max(raw.size, nbytes, 32)
    out = np.zeros((size + 31) // 32 * 32, np.uint8)
    out[: raw.size] = raw
    return out


class Emu:
    """ctypes front end of selftest_kernels.cpp; every call raises EmuError on a violated rule."""

    EmuError = EmuError

    def __init__(self, lib_path: Path, cflags: list[str]):
        self.cflags = cflags  # what the library was compiled with: the emulator's headers
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.emu_last_counters.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
        self._err = ctypes.create_string_buffer(4096)

    def _check(self, rc: int) -> None:
        if rc:
            raise EmuError(self._err.value.decode())

    def vec(self, op, dtype, *, out, in0=None, in1=None, in2=None, dtype2="half", form="count", count=0, repeat=1,
            mask=0, bits=(0, 0), aux=0, aux2=0, scalar=0.0, dst_blk=1, src0_blk=1, src1_blk=1, dst_rep=8, src0_rep=8,
            src1_rep=8):
        """Runs one vector instruction on UB images: in0/in1/in2 are copied into UB buffers, `out` is the
        initial image of the dst buffer; returns (the dst image as out's dtype, GatherMask's rsvdCnt)."""
        bufs = [_padded(in0), _padded(in1), _padded(in2), _padded(out)]
        a = VecArgs(op=OPS[op], dtype=DTYPES[dtype], dtype2=DTYPES[dtype2], form=FORMS[form], count=count,
                    repeat=repeat, aux=aux, aux2=aux2, mask=mask, scalar=scalar, dstBlk=dst_blk, src0Blk=src0_blk,
                    src1Blk=src1_blk, dstRep=dst_rep, src0Rep=src0_rep, src1Rep=src1_rep)
        a.maskBits[0], a.maskBits[1] = bits
        for i, b in enumerate(bufs):
            a.bytes[i] = b.size
        kept = ctypes.c_uint64()
        ptrs = [b.ctypes.data_as(ctypes.c_void_p) for b in bufs]
        self._check(self.lib.emu_vec(ctypes.byref(a), *ptrs, ctypes.byref(kept), self._err, len(self._err)))
        res = bufs[3][: out.nbytes].view(out.dtype).reshape(out.shape)
        return res, kept.value

    def copy(self, kind, src, dst, **params):
        """copy_kernel on int16 data: returns the final dst GM contents."""
        a = CopyArgs(kind=kind, **params)
        src, dst = np.ascontiguousarray(src, np.int16), np.ascontiguousarray(dst, np.int16).copy()
        self._check(self.lib.emu_copy(ctypes.byref(a), src.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(src.nbytes),
                                      dst.ctypes.data_as(ctypes.c_void_p), ctypes.c_uint64(dst.nbytes), self._err,
                                      len(self._err)))
        return dst

    def syncall(self, block_dim, skip=-1):
        out = np.zeros((block_dim, 8), np.int32)
        ptr = out.ctypes.data_as(ctypes.c_void_p)
        self._check(self.lib.emu_syncall(block_dim, skip, ptr, self._err, len(self._err)))
        return out

    def rule(self, name):
        """Runs rule_kernel's case `name`; returns the 64 floats it left in the output GM."""
        out = np.zeros(64, np.float32)
        ptr = out.ctypes.data_as(ctypes.c_void_p)
        self._check(self.lib.emu_rule(RULES.index(name), ptr, self._err, len(self._err)))
        return out

    def counters(self):
        """Total counters of the last launch, and the number of cores it ran."""
        v = (ctypes.c_uint64 * len(COUNTERS))()
        cores = self.lib.emu_last_counters(v)
        return dict(zip(COUNTERS, v)), cores

    # ---- helpers for expected values ------------------------------------------------------
    @staticmethod
    def poison(nbytes: int) -> np.ndarray:
        return np.resize(POISON, nbytes)

    @staticmethod
    def active_lanes(lanes: int, repeat: int, *, mask=None, bits=None, count=None):
        """(repeat, lane) index arrays of the active lanes, repeat-major, for a continuous mask,
        a (low, high) bit mask or a counter-mode element count."""
        if count is not None:
            idx = np.arange(count)
            return idx // lanes, idx % lanes
        if mask is not None:
            on = np.arange(lanes) < mask
        else:
            lane = np.arange(lanes)
            word = np.array(bits, dtype=np.uint64)[lane // 64]
            on = ((word >> (lane % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)
        lane = np.flatnonzero(on)
        return np.repeat(np.arange(repeat), lane.size), np.tile(lane, repeat)

    @staticmethod
    def elem_index(r, lane, elt_bytes, blk=1, rep=8):
        """Element index of (repeat, lane) in an operand with blk/rep strides in 32-byte blocks."""
        per_block = 32 // elt_bytes
        return ((r * rep + (lane // per_block) * blk) * 32) // elt_bytes + lane % per_block


@pytest.fixture(scope="session")
def emu(tmp_path_factory) -> Emu:
    return Emu(*build(tmp_path_factory.mktemp("emu_selftest")))
