"""The GM happens-before check ("gm-hazard", docs/emulator.md): two accesses to the same GM bytes, one
of them a write, must be ordered like local ones are. Within a core an access from one pipe (MTE2
load, MTE3 store, scalar GetValue / SetValue) that another pipe wrote (or reads, for a write) needs
SetFlag / WaitFlag or PipeBarrier<PIPE_ALL>; across cores it needs a cross-core flag set on the pipe
of the access (a flag set on PIPE_S right after a copy does not wait for the copy), SyncAll, or a
GmFlagAdd -> GmFlagWaitAtLeast counter. Otherwise the emulator refuses the kernel, naming both
accesses, their pipes and cores and the conflicting bytes. Atomic adds from several cores to the same
bytes, and writes of different cores to disjoint bytes of one 32-byte block, need no order.
Between the cube and the vector cores of a MIX block the same holds for the cube's Fixpipe (PIPE_FIX):
a mode-2 flag set on PIPE_M after it does not order it. Kernels: gm_hazard_kernels.cpp."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import emu as emu_sdk

HERE = Path(__file__).resolve().parent
KERNELS = HERE.parents[1] / "csrc" / "kernels"

CASES = {
    "InCoreStoreThenLoadNoFlag": 0, "InCoreLoadThenStoreNoFlag": 1, "InCoreStoreThenScalarNoFlag": 2,
    "CrossCoreWrongPipe": 3, "CrossCoreWarNoOrder": 4, "CrossCoreAddThenReadWrongPipe": 5,
    "InCoreFlagged": 100, "CrossCoreRightPipe": 101, "CrossCoreWarOrdered": 102, "SyncAllOrders": 103,
    "GmCounterOrders": 104, "DisjointBytesOneBlock": 105, "AtomicAddsUnordered": 106, "ScalarAfterFlagAndDcci": 107,
    "CubeFixpipeThenVectorWrongPipe": 6, "VectorThenCubeOverwriteWrongPipe": 7, "CubeAtomicAddThenVectorWrongPipe": 8,
    "GmCounterWriteAfterAdd": 9,
    "CubeFixpipeThenVectorRightPipe": 108, "VectorThenCubeOverwriteRightPipe": 109, "CubeAtomicAddRightPipe": 110,
}  # fmt: skip
MIX = {"CrossCoreWrongPipe", "CrossCoreWarNoOrder", "CrossCoreAddThenReadWrongPipe"}

HAZARD = r"^\[ascendc-emu\] kernel '{kernel}', core {core}: {api}: gm-hazard: "
WS, OUT = "of argument 1", "of argument 2"  # the kernels' GM arguments: in, ws, out, ...
SAME_CORE = r", with no SetFlag<{event}> / WaitFlag chain or PipeBarrier<PIPE_ALL> between them"
OTHER_CORE = r", with no cross-core flag, SyncAll or GM counter ordering them"
LOAD, STORE = r"DataCopy\(GM->local\)", r"DataCopy\(local->GM\)"
GET_VALUE = r"(?:GlobalTensor::)?GetValue"
FIXPIPE = r"Fixpipe"

# case -> (core, api of the refused access, the rest of the message)
REFUSED = {
    "InCoreStoreThenLoadNoFlag": (
        "AIV 0", LOAD,
        rf"PIPE_MTE2 reads GM bytes \[0, 32\) {WS}, which {STORE} on PIPE_MTE3 wrote" + SAME_CORE.format(event="MTE3_MTE2")),
    "InCoreLoadThenStoreNoFlag": (
        "AIV 0", STORE,
        rf"PIPE_MTE3 writes GM bytes \[0, 32\) {WS}, which {LOAD} on PIPE_MTE2 reads" + SAME_CORE.format(event="MTE2_MTE3")),
    "InCoreStoreThenScalarNoFlag": (
        "AIV 0", GET_VALUE,
        rf"PIPE_S reads GM bytes \[12, 16\) {WS}, which {STORE} on PIPE_MTE3 wrote" + SAME_CORE.format(event="MTE3_S")),
    "CrossCoreWrongPipe": (
        "AIV 1", LOAD,
        rf"PIPE_MTE2 reads GM bytes \[0, 32\) {WS}, which {STORE} on PIPE_MTE3 of core AIV 0 wrote" + OTHER_CORE),
    "CrossCoreWarNoOrder": (
        "AIV 0", STORE,
        rf"PIPE_MTE3 writes GM bytes \[0, 32\) {WS}, which {LOAD} on PIPE_MTE2 of core AIV 1 reads" + OTHER_CORE),
    "CrossCoreAddThenReadWrongPipe": (
        "AIV 1", LOAD,
        rf"PIPE_MTE2 reads GM bytes \[0, 32\) {OUT}, which {STORE} on PIPE_MTE3 of core AIV 0 added to" + OTHER_CORE),
}  # fmt: skip

# The cube <-> vector cases (gm_hazard_cube_kernel, MIX_AIC_1_2, one block): case -> (core, api, rest).
CUBE_REFUSED = {
    "CubeFixpipeThenVectorWrongPipe": (
        "AIV 0", LOAD,
        rf"PIPE_MTE2 reads GM bytes \[0, 32\) {WS}, which {FIXPIPE} on PIPE_FIX of core AIC 0 wrote" + OTHER_CORE),
    "VectorThenCubeOverwriteWrongPipe": (
        "AIC 0", FIXPIPE,
        rf"PIPE_FIX writes GM bytes \[0, 32\) {WS}, which {LOAD} on PIPE_MTE2 of core AIV 0 reads" + OTHER_CORE),
    "CubeAtomicAddThenVectorWrongPipe": (
        "AIV 0", LOAD,
        rf"PIPE_MTE2 reads GM bytes \[0, 32\) {WS}, which {FIXPIPE} on PIPE_FIX of core AIC 0 added to" + OTHER_CORE),
}  # fmt: skip


class EmuError(RuntimeError):
    """A rule violation reported by the emulator."""


class GmHazardKernels:
    def __init__(self, lib_path: Path):
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.emu_gm_hazard.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.emu_gm_hazard_cube.argtypes = self.lib.emu_gm_hazard.argtypes
        self._err = ctypes.create_string_buffer(4096)

    def run(self, case: str, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Runs a case on `x` (64 floats); returns the 32 floats of `out` (initially `out`, else zeros)."""
        x = np.ascontiguousarray(x, np.float32)
        assert x.shape == (64,)
        o = np.zeros(32, np.float32) if out is None else np.array(out, np.float32)
        assert o.shape == (32,)
        if self.lib.emu_gm_hazard(CASES[case], x.ctypes.data, o.ctypes.data, self._err, len(self._err)):
            raise EmuError(self._err.value.decode())
        return o

    def run_cube(self, case: str, ab: np.ndarray, base: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Runs a cube <-> vector case on `ab` (A then B, 512 halves) and `base` (256 floats); returns
        the 256 floats of `out` (initially `out`, else zeros)."""
        ab = np.ascontiguousarray(ab, np.float16)
        base = np.ascontiguousarray(base, np.float32)
        assert ab.shape == (512,) and base.shape == (256,)
        x = np.concatenate([ab.view(np.uint8), base.view(np.uint8)])
        o = np.zeros(256, np.float32) if out is None else np.array(out, np.float32)
        assert o.shape == (256,)
        if self.lib.emu_gm_hazard_cube(CASES[case], x.ctypes.data, o.ctypes.data, self._err, len(self._err)):
            raise EmuError(self._err.value.decode())
        return o


@pytest.fixture(scope="module")
def kern(tmp_path_factory) -> GmHazardKernels:
    lib = emu_sdk.compile_library([HERE / "gm_hazard_kernels.cpp"], tmp_path_factory.mktemp("gm_hazard"),
                                  flags=("-O0", f"-I{KERNELS}", "-fvisibility=hidden"))  # fmt: skip
    return GmHazardKernels(lib)


def data() -> np.ndarray:
    # Small integers (and halves): every sum and product below is exact in float32.
    return np.arange(64, dtype=np.float32) * 0.5 - 9.0


def cube_data() -> tuple[np.ndarray, np.ndarray]:
    # A and B (16 x 16 halves each) and a base of 256 floats: small integers, so C = A B^T and base + C are exact.
    rng = np.random.default_rng(5)
    return rng.integers(-4, 5, 512).astype(np.float16), rng.integers(-50, 51, 256).astype(np.float32)


def cube_product(ab: np.ndarray) -> np.ndarray:
    a, b = ab[:256].astype(np.float32).reshape(16, 16), ab[256:].astype(np.float32).reshape(16, 16)
    return (a @ b.T).reshape(256)  # B is held n x k (as the other cube self-tests load it)


@pytest.mark.parametrize("case", list(REFUSED))
def test_unordered_gm_access_is_refused_naming_both(kern, case):
    core, api, detail = REFUSED[case]
    kernel = "gm_hazard_mix_kernel" if case in MIX else "gm_hazard_vector_kernel"
    with pytest.raises(EmuError, match=HAZARD.format(kernel=kernel, core=core, api=api) + detail):
        kern.run(case, data())


def test_in_core_flags_order_store_load_and_overwrite(kern):
    # ws = in[0:8]; read back; ws = in[8:16]; read back: each step after its MTE3_MTE2 / MTE2_MTE3 flag.
    x = data()
    out = kern.run("InCoreFlagged", x)
    np.testing.assert_array_equal(out[:16], x[:16])
    np.testing.assert_array_equal(out[16:], 0)


@pytest.mark.parametrize("case", ["CrossCoreRightPipe", "CrossCoreWarOrdered"])
def test_flag_on_the_access_pipe_orders_other_cores(kern, case):
    # AIV 0 writes ws = in[0:8]; AIV 1 copies it to out (and, for the WAR case, AIV 0 rewrites ws
    # only after AIV 1's load: AIV 1 still sees the first value).
    x = data()
    out = kern.run(case, x)
    np.testing.assert_array_equal(out[:8], x[:8])
    np.testing.assert_array_equal(out[8:], 0)


def test_syncall_orders_other_cores(kern):
    x = data()
    out = kern.run("SyncAllOrders", x)
    np.testing.assert_array_equal(out[:8], x[:8])
    np.testing.assert_array_equal(out[8:], 0)


def test_gm_counter_orders_producers_before_the_consumer(kern):
    # AIVs 1, 2, 3 each write one row of 8 floats and add 1; AIV 0 waits for 3, copies the 3 rows.
    x = data()
    out = kern.run("GmCounterOrders", x)
    np.testing.assert_array_equal(out[:24], x[:24])
    np.testing.assert_array_equal(out[24:], 0)


def test_disjoint_bytes_of_one_block_need_no_order(kern):
    # AIV b writes out[b] = in[b] * (b + 1): 4 bytes each, all in one 32-byte block.
    x = data()
    init = np.full(32, -1.0, np.float32)
    out = kern.run("DisjointBytesOneBlock", x, init)
    np.testing.assert_array_equal(out[:8], x[:8] * np.arange(1, 9, dtype=np.float32))
    np.testing.assert_array_equal(out[8:], init[8:])


def test_atomic_adds_need_no_order_among_themselves(kern):
    # AIVs 0-3 add in[8b : 8b + 8] into out[0:8] under SetAtomicAdd<float>.
    x = data()
    init = np.zeros(32, np.float32)
    init[:8] = np.arange(8) * 10.0
    out = kern.run("AtomicAddsUnordered", x, init)
    want = init[:8].astype(np.float64) + x[:32].astype(np.float64).reshape(4, 8).sum(axis=0)
    np.testing.assert_array_equal(out[:8], want.astype(np.float32))
    np.testing.assert_array_equal(out[8:], init[8:])


def test_scalar_reads_after_flag_and_dcci(kern):
    x = data()
    init = np.full(32, 5.0, np.float32)
    out = kern.run("ScalarAfterFlagAndDcci", x, init)
    np.testing.assert_array_equal(out[:2], [x[3], x[6]])
    np.testing.assert_array_equal(out[2:], init[2:])


def test_write_after_the_counter_add_is_refused(kern):
    # AIV 1 writes row 1 of ws again after its GmFlagAdd, which orders only what came before it. Which
    # side is refused depends on which core's thread gets there first: AIV 0's read of row 1 (it
    # holds AIV 1's stamp from before the late write) or AIV 1's late write (AIV 0's read came first).
    late_write_first = HAZARD.format(kernel="gm_hazard_vector_kernel", core="AIV 0", api=LOAD) + (
        rf"PIPE_MTE2 reads GM bytes \[32, 64\) {WS}, which {STORE} on PIPE_MTE3 of core AIV 1 wrote" + OTHER_CORE)
    read_first = HAZARD.format(kernel="gm_hazard_vector_kernel", core="AIV 1", api=STORE) + (
        rf"PIPE_MTE3 writes GM bytes \[32, 64\) {WS}, which {LOAD} on PIPE_MTE2 of core AIV 0 reads" + OTHER_CORE)
    with pytest.raises(EmuError, match=f"(?:{late_write_first})|(?:{read_first})"):
        kern.run("GmCounterWriteAfterAdd", data())


@pytest.mark.parametrize("case", list(CUBE_REFUSED))
def test_unordered_gm_access_between_cube_and_vector_is_refused(kern, case):
    core, api, detail = CUBE_REFUSED[case]
    with pytest.raises(EmuError, match=HAZARD.format(kernel="gm_hazard_cube_kernel", core=core, api=api) + detail):
        kern.run_cube(case, *cube_data())


def test_flag_on_pipe_fix_orders_the_fixpipe_before_the_vector(kern):
    # The AIC Fixpipes C = A B^T into ws and sets the flag on PIPE_FIX; AIV 0 copies ws to out.
    ab, base = cube_data()
    np.testing.assert_array_equal(kern.run_cube("CubeFixpipeThenVectorRightPipe", ab, base), cube_product(ab))


def test_flag_on_pipe_mte2_orders_the_vector_read_before_the_fixpipe_overwrite(kern):
    # AIV 0 reads C from ws and sets the flag back on PIPE_MTE2; only then the AIC Fixpipes 2 C into
    # ws: AIV 0's copy still shows C.
    ab, base = cube_data()
    np.testing.assert_array_equal(kern.run_cube("VectorThenCubeOverwriteRightPipe", ab, base), cube_product(ab))


def test_flag_on_pipe_fix_orders_the_atomic_fixpipe_before_the_vector(kern):
    # AIV 0 writes the base into ws (flag on PIPE_MTE3); the AIC adds C into it under SetAtomicAdd<float>
    # (flag on PIPE_FIX); AIV 0 copies ws to out.
    ab, base = cube_data()
    np.testing.assert_array_equal(kern.run_cube("CubeAtomicAddRightPipe", ab, base), base + cube_product(ab))
