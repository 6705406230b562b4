"""The in-core happens-before check ("pipe-hazard", docs/emulator.md): an access to local memory from
one pipe that another pipe wrote (or reads, for a write) must be ordered after it by SetFlag /
WaitFlag (the kernel's own or a queue's), PipeBarrier<PIPE_ALL> or a chain of them; otherwise the
emulator refuses the kernel, naming both instructions and their pipes. Kernels: hazard_kernels.cpp."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent

CASES = {
    "LoadThenVectorNoFlag": 0, "VectorThenLoadNoFlag": 1, "VectorThenScalarNoFlag": 2, "ScalarThenVectorNoFlag": 3,
    "WrongEvent": 4, "MmadThenFixpipeNoFlag": 5, "LoadThenStoreNoFlag": 6,
    "Flagged": 100, "Chain": 101, "BarrierAll": 102, "SamePipe": 103, "Queues": 104, "OtherBlock": 105,
    "MmadFixpipe": 106, "ScalarWaitOrders": 107,
}
HAZARD = r"^\[ascendc-emu\] kernel '{kernel}', core {core}: {api}: pipe-hazard: "
REFUSED = {
    "LoadThenVectorNoFlag": ("Adds", r"PIPE_V reads UB bytes \[0, 32\), which DataCopy\(GM->local\) on PIPE_MTE2 wrote, "
                                     r"with no SetFlag<MTE2_V>"),
    "VectorThenLoadNoFlag": ("DataCopy\\(GM->local\\)", r"PIPE_MTE2 writes UB bytes \[0, 32\), which Adds on PIPE_V reads"),
    "VectorThenScalarNoFlag": ("LocalTensor::GetValue", r"PIPE_S reads UB bytes \[12, 16\), which Duplicate on PIPE_V wrote"),
    "ScalarThenVectorNoFlag": ("Duplicate", r"PIPE_V writes UB bytes \[0, 32\), which LocalTensor::GetValue on PIPE_S "
                                            r"reads, with no SetFlag<S_V>"),
    "WrongEvent": ("Adds", r"PIPE_V reads UB bytes \[0, 32\), which DataCopy\(GM->local\) on PIPE_MTE2 wrote"),
    "LoadThenStoreNoFlag": ("DataCopy\\(local->GM\\)", r"PIPE_MTE3 reads UB bytes \[0, 32\), which DataCopy\(GM->local\) "
                                                       r"on PIPE_MTE2 wrote, with no SetFlag<MTE2_MTE3>"),
    "MmadThenFixpipeNoFlag": ("Fixpipe", r"PIPE_FIX reads L0C bytes \[0, 32\), which Mmad on PIPE_M wrote, with no "
                                         r"SetFlag<M_FIX>"),
}


class EmuError(RuntimeError):
    """A rule violation reported by the emulator."""


class HazardKernels:
    def __init__(self, lib_path):
        self.lib = ctypes.CDLL(str(lib_path))
        self._err = ctypes.create_string_buffer(4096)

    def run(self, case: str, x: np.ndarray) -> np.ndarray:
        """Runs a case on `x` (64 floats for the vector cases, 512 halves for the cube ones)."""
        cube = case.startswith("Mmad")
        out = np.zeros(256 if cube else 64, np.float32)
        fn = self.lib.emu_hazard_cube if cube else self.lib.emu_hazard_vector
        rc = fn(CASES[case], x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), self._err,
                len(self._err))
        if rc:
            raise EmuError(self._err.value.decode())
        return out


@pytest.fixture(scope="module")
def kern(tmp_path_factory) -> HazardKernels:
    lib = emu_sdk.compile_library([HERE / "hazard_kernels.cpp"], tmp_path_factory.mktemp("hazard"), flags=("-O0",))
    return HazardKernels(lib)


def vector_input() -> np.ndarray:
    return np.arange(64, dtype=np.float32) * 0.5 - 7.0


def cube_input() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-4, 5, 512).astype(np.float16)  # A then B, 16 x 16 each; small integers: exact sums


@pytest.mark.parametrize("case", list(REFUSED))
def test_missing_flag_is_refused_naming_both_instructions(kern, case):
    api, detail = REFUSED[case]
    cube = case.startswith("Mmad")
    prefix = HAZARD.format(kernel="hazard_cube_kernel" if cube else "hazard_vector_kernel", core="AIC 0" if cube else "AIV 0",
                           api=api)
    with pytest.raises(EmuError, match=prefix + detail):
        kern.run(case, cube_input() if cube else vector_input())


@pytest.mark.parametrize("case", ["Flagged", "BarrierAll", "ScalarWaitOrders"])
def test_flagged_or_barriered_order_runs(kern, case):
    # ScalarWaitOrders: the scalar unit blocks in WaitFlag<MTE2_S> and issues the Adds after it.
    x = vector_input()
    np.testing.assert_array_equal(kern.run(case, x), x + 1)


def test_order_through_a_chain_of_flags(kern):
    # MTE3 reads what MTE2 wrote, with no MTE2 -> MTE3 flag: MTE2 -> V -> MTE3 orders them.
    x = vector_input()
    np.testing.assert_array_equal(kern.run("Chain", x), x)


def test_one_pipe_runs_in_order(kern):
    np.testing.assert_array_equal(kern.run("SamePipe", vector_input()), np.full(64, 7.0, np.float32))


def test_queue_events_order_the_pipeline(kern):
    x = vector_input()
    np.testing.assert_array_equal(kern.run("Queues", x), x + 1)


def test_disjoint_blocks_need_no_flag(kern):
    # MTE2 writes one 32-byte block while V writes the next, unordered: no shared block, no hazard.
    x = vector_input()
    out = kern.run("OtherBlock", x)
    np.testing.assert_array_equal(out[:8], x[:8])
    np.testing.assert_array_equal(out[8:16], np.full(8, 7.0, np.float32))


def test_cube_pipes_with_their_flags(kern):
    x = cube_input()
    a, b = x[:256].astype(np.float32).reshape(16, 16), x[256:].astype(np.float32).reshape(16, 16)
    want = a @ b.T  # B is held n x k (as the other cube self-tests load it)
    np.testing.assert_array_equal(kern.run("MmadFixpipe", x).reshape(16, 16), want)
