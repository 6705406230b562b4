"""GM atomic add across cores (SetAtomicAdd.md / SetAtomicType.md / SetAtomicNone.md): atomic_kernels.cpp
adds every core's rows into shared GM `rounds` times; the result must be the exact sum (integer-valued
data, so float / half sums are exact in any order), with GM not cleared first (SetAtomicAdd.md: the
add starts from whatever GM holds). Atomic max / min (SetAtomicMax(ISASI).md / SetAtomicMin(ISASI).md)
keep the element-wise extremes of GM and every core's row, for all six element types. Unsupported
element types compile (CANN 8.5 checks them with an ASCENDC_ASSERT) and fail when called, as CANN's
CPU-debug build does (test_unsupported_element_types_fail_when_called)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent

F, I, H = 64, 60, 48  # elements per row, as in atomic_kernels.cpp


@pytest.fixture(scope="module")
def atomic_lib(tmp_path_factory):
    from ascend_glm5 import emu

    lib = emu.compile_library([HERE / "atomic_kernels.cpp"], tmp_path_factory.mktemp("atomic"),
                              flags=("-fvisibility=hidden",))  # fmt: skip
    return ctypes.CDLL(str(lib))


def run(lib, cores: int, rounds: int, seed: int):
    rng = np.random.default_rng(seed)
    # Integers small enough that every partial sum is exact: float < 2^24, half < 2^11.
    bufs = {
        "f_in": rng.integers(-1000, 1000, (cores, F)).astype(np.float32),
        "i_in": rng.integers(-(2**31), 2**31, (cores, I), dtype=np.int64).astype(np.int32),  # sums wrap
        "h_in": rng.integers(-4, 5, (cores, H)).astype(np.float16),
        "f_sum": rng.integers(-1000, 1000, F).astype(np.float32),  # not zero: the add starts from GM
        "i_sum": rng.integers(-1000, 1000, I).astype(np.int32),
        "h_sum": rng.integers(-8, 9, H).astype(np.float16),
        "counter": np.array([0, 7, 7, 7, 7, 7, 7, 7], np.int32),  # words 1.. stay untouched
        "seen": np.full(cores, -1, np.int32),
        "f_own": np.full((cores, F), 12345.0, np.float32),
    }
    initial = {k: v.copy() for k, v in bufs.items()}
    ptrs = (ctypes.c_void_p * 9)(*[v.ctypes.data for v in bufs.values()])
    sizes = (ctypes.c_uint64 * 9)(*[v.nbytes for v in bufs.values()])
    err = ctypes.create_string_buffer(4096)
    rc = lib.atomic_launch(ctypes.c_uint32(cores), ctypes.c_int32(rounds), ptrs, sizes, err, len(err))
    if rc:
        raise RuntimeError(err.value.decode())
    return initial, bufs


@pytest.mark.parametrize("cores, rounds, seed", [(1, 1, 0), (8, 3, 1), (20, 5, 2)])
def test_cores_add_into_the_same_gm(atomic_lib, cores, rounds, seed):
    initial, got = run(atomic_lib, cores, rounds, seed)
    want_f = initial["f_sum"].astype(np.float64) + rounds * initial["f_in"].astype(np.float64).sum(0)
    np.testing.assert_array_equal(got["f_sum"], want_f.astype(np.float32))
    want_i = (initial["i_sum"].astype(np.int64) + rounds * initial["i_in"].astype(np.int64).sum(0)) % 2**32
    np.testing.assert_array_equal(got["i_sum"].view(np.uint32), want_i.astype(np.uint32))
    # SetAtomicType<half> after SetAtomicAdd<int8_t>: added as halves.
    want_h = initial["h_sum"].astype(np.float64) + rounds * initial["h_in"].astype(np.float64).sum(0)
    assert np.abs(want_h).max() < 2048
    np.testing.assert_array_equal(got["h_sum"], want_h.astype(np.float16))


@pytest.mark.parametrize("cores", [1, 8, 20])
def test_last_finisher_counter(atomic_lib, cores):
    _, got = run(atomic_lib, cores, 1, cores)
    np.testing.assert_array_equal(got["counter"], [cores, 7, 7, 7, 7, 7, 7, 7])
    seen = got["seen"]
    # Each core reads the counter after its own add: at least 1, at most all; the last sees all.
    assert seen.min() >= 1 and seen.max() == cores, seen
    assert (np.sort(seen) >= np.arange(1, cores + 1)).all(), seen  # the k-th smallest saw >= k adds


def test_set_atomic_none_restores_overwrite(atomic_lib):
    initial, got = run(atomic_lib, 4, 2, 7)
    np.testing.assert_array_equal(got["f_own"], initial["f_in"])  # not 12345 + f_in


@pytest.mark.parametrize("cores", [1, 6])
def test_fixpipe_adds_into_gm(atomic_lib, cores):
    init = np.random.default_rng(cores).integers(-100, 100, 256).astype(np.float32)
    out = init.copy()
    err = ctypes.create_string_buffer(4096)
    if atomic_lib.atomic_fixpipe_launch(ctypes.c_uint32(cores), out.ctypes.data_as(ctypes.c_void_p), err, len(err)):
        raise RuntimeError(err.value.decode())
    # Block b adds 16 * (b + 1) (a 16-deep dot product of (b + 1)s and 1s) to every element.
    np.testing.assert_array_equal(out, init + 16 * sum(range(1, cores + 1)))


# SetAtomicMax / SetAtomicMin: the element types and row lengths of atomic_kernels.cpp's MaxMinBody.
MAXMIN_ROWS = [(np.float32, 40), (np.int32, 24), (np.float16, 48), ("bf16", 32), (np.int16, 20), (np.int8, 37)]


def _random_row(rng, kind, shape):
    """Values of `kind` with ties and extremes; bf16 as its uint16 bits (numpy has no bfloat16)."""
    if kind == "bf16":
        f = rng.choice([-3.0e38, -1.5, -0.0, 0.0, 0.75, 2.0, 1.0e30], size=shape).astype(np.float32)
        f += rng.integers(-4, 5, shape).astype(np.float32) * (np.abs(f) < 10)  # small integers are exact in bf16
        return (f.view(np.uint32) >> 16).astype(np.uint16)
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        return rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.int64).astype(kind)
    return (rng.integers(-60000, 60000, shape) / 16).astype(kind)  # exact in half and float


def _as_float(kind, a):
    return (a.astype(np.uint32) << 16).view(np.float32) if kind == "bf16" else a


@pytest.mark.parametrize("cores", [1, 7, 20])
def test_cores_keep_the_max_and_min_in_gm(atomic_lib, cores):
    rng = np.random.default_rng(100 + cores)
    bufs = []
    for kind, n in MAXMIN_ROWS:
        bufs += [_random_row(rng, kind, (cores, n)), _random_row(rng, kind, n), _random_row(rng, kind, n)]
    initial = [b.copy() for b in bufs]
    ptrs = (ctypes.c_void_p * 18)(*[b.ctypes.data for b in bufs])
    sizes = (ctypes.c_uint64 * 18)(*[b.nbytes for b in bufs])
    err = ctypes.create_string_buffer(4096)
    if atomic_lib.atomic_maxmin_launch(ctypes.c_uint32(cores), ptrs, sizes, err, len(err)):
        raise RuntimeError(err.value.decode())
    for t, (kind, _) in enumerate(MAXMIN_ROWS):
        rows, gm_max, gm_min = (_as_float(kind, a) for a in initial[3 * t : 3 * t + 3])
        want_max = np.maximum(gm_max, rows.max(0))  # GM is not cleared first: it takes part
        want_min = np.minimum(gm_min, rows.min(0))
        got_max, got_min = _as_float(kind, bufs[3 * t + 1]), _as_float(kind, bufs[3 * t + 2])
        np.testing.assert_array_equal(got_max, want_max, err_msg=f"SetAtomicMax<{kind}>")
        np.testing.assert_array_equal(got_min, want_min, err_msg=f"SetAtomicMin<{kind}>")
        np.testing.assert_array_equal(bufs[3 * t], initial[3 * t])  # the inputs are untouched


# dav_c220 kernel_operator_set_atomic_impl.h: ASCENDC_ASSERT(SupportType<T, half, float, int16_t, int32_t,
# int8_t, bfloat16_t>()) in each of the four; a run-time abort in CPU-debug, compiled out on the device.
@pytest.mark.parametrize("which, api", [(0, "SetAtomicAdd"), (1, "SetAtomicType"), (2, "SetAtomicMax"),
                                        (3, "SetAtomicMin")])
def test_unsupported_element_types_fail_when_called(atomic_lib, which, api):
    err = ctypes.create_string_buffer(4096)
    rc = atomic_lib.atomic_bad_type_launch(ctypes.c_int(which), err, len(err))
    msg = err.value.decode()
    assert rc == 1 and api in msg and "dtype" in msg, msg
