"""GmFlagAdd / GmFlagWaitAtLeast (csrc/kernels/common/gm_flag.h) on the emulator and in the timing
model, through gm_flag_kernels.cpp: producers on many vector cores write a row and add 1 to a GM
counter, a consumer waits for the counter and copies every row out.

Emulator: the consumer sees every row (a late producer sleeps first, so a wait that returned early
would read the sentinel, as the control with a too-low target does); the trace holds one wait record
and the same records and counters however often the consumer polled; a wait nobody can satisfy is a
deadlock error naming kernel, core and counter.
Model: the consumer's poll (on the scalar: a dcci and a GetValue that misses the DataCache) starts at
the last producer's signal (at once when the counter's value at launch already meets the target) and
the consumer issues its next copy when the poll ends;
the same kernel models to the same time whatever the threads did; a
wait on a block of a later wave (it cannot start before the waiter ends) is a replay error."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf import costs, soc as socs

HERE = Path(__file__).resolve().parent
KERNELS = HERE.parents[1] / "csrc" / "kernels"
SENTINEL = -7
N = 24  # int32 per row: 96 B, not a multiple of 32 B
SOC = "Ascend910B3"


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    from ascend_glm5 import emu

    path = emu.compile_library([HERE / "gm_flag_kernels.cpp"], tmp_path_factory.mktemp("gm_flag"),
                               flags=(f"-I{KERNELS}", "-fvisibility=hidden"))  # fmt: skip
    lib = ctypes.CDLL(str(path))
    lib.gm_flag_run.argtypes = [ctypes.c_uint32] + [ctypes.c_int32] * 5 + [ctypes.c_uint32] + [ctypes.c_void_p] * 4 + [
        ctypes.c_char_p, ctypes.c_int]  # fmt: skip
    lib.gm_flag_last_trace.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    return lib


def _at(shape, fill, shift: int) -> np.ndarray:
    """An int32 array of `shape` filled with `fill`, starting `shift` int32 into a fresh host buffer."""
    n = int(np.prod(shape))
    a = np.empty(n + shift + 8, np.int32)[shift : shift + n].reshape(shape)
    a[...] = fill
    return a


def run(lib, cores, *, target=None, start=0, late=-1, sleep_ms=0, extra=0, kind=0, seed=0, shift=0):
    """Returns (src, out, counters) after the launch; raises RuntimeError with the emulator's message.
    shift: every buffer starts that many int32 into its host allocation."""
    producers = cores - 1
    src = _at((producers, N), np.random.default_rng(seed).integers(0, 1 << 30, (producers, N), dtype=np.int32), shift)
    data = _at(src.shape, SENTINEL, shift)
    out = _at(src.shape, SENTINEL, shift)
    counters = _at(16, 0, shift)
    counters[0] = start
    target = start + producers if target is None else target
    err = ctypes.create_string_buffer(4096)
    rc = lib.gm_flag_run(cores, kind, target, late, sleep_ms, extra, N, src.ctypes.data, data.ctypes.data,
                         out.ctypes.data, counters.ctypes.data, err, len(err))  # fmt: skip
    if rc:
        raise RuntimeError(err.value.decode())
    return src, out, counters


def trace_summary(lib, cores) -> np.ndarray:
    """Per core: records, kGmWait records, kGmSignal records, MTE2 copies, scalar accesses + waits."""
    v = np.zeros((cores, 5), np.uint64)
    assert lib.gm_flag_last_trace(v.ctypes.data, cores) == 0
    return v


# ---- emulator -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cores, late, start", [(2, -1, 0), (9, 5, 3), (40, 39, -2)])
def test_consumer_sees_every_producers_row(lib, cores, late, start):
    src, out, counters = run(lib, cores, late=late, sleep_ms=30 if late > 0 else 0, start=start, seed=cores)
    np.testing.assert_array_equal(out, src)
    assert counters[0] == start + cores - 1


def test_control_early_target_reads_the_late_row_unwritten(lib):
    # The consumer waits for one producer fewer; the late one writes only after the consumer has read.
    src, out, counters = run(lib, 6, target=4, late=3, kind=1, seed=1)
    np.testing.assert_array_equal(np.delete(out, 2, axis=0), np.delete(src, 2, axis=0))
    assert (out[2] == SENTINEL).all()
    assert counters[0] == 5 and counters[8] == 1


def test_unsatisfiable_wait_is_a_deadlock_error(lib):
    with pytest.raises(RuntimeError) as e:
        run(lib, 5, target=5)  # 4 producers add 1 each
    msg = str(e.value)
    for part in ("kernel 'gm_flag_test'", "deadlock", "AIV 0 in GmFlagWaitAtLeast",
                 "the counter at byte 0 of GM argument 3 to reach 5", "4 core(s) already finished"):
        assert part in msg, msg


def test_one_wait_record_whatever_the_polls(lib):
    cores = 8
    with perf.tracing():
        run(lib, cores)
        quick = trace_summary(lib, cores)
    with perf.tracing():
        run(lib, cores, late=6, sleep_ms=40)  # the consumer polls, finds 6 of 7, sleeps, polls again
        slow = trace_summary(lib, cores)
    assert quick[0, 1] == 1 and quick[1:, 1].sum() == 0  # one wait record, on the consumer
    assert (quick[1:, 2] == 1).all() and quick[0, 2] == 0  # one signal per producer
    np.testing.assert_array_equal(slow, quick)  # records and counters as if it had polled once
    assert quick[0, 3] == 1  # MTE2: only the data (the scalar polls)


# ---- timing model ---------------------------------------------------------------------------------
def _replay(trace, detail_core=-1, **overrides):
    params = socs.params(SOC)
    params.update(overrides)
    return cpu_module().perf_replay(trace, params, costs.api_costs(), 0.0, detail_core)


def _records(rep) -> list[tuple[str, float, float, float]]:
    names = [a[0] for a in rep["apis"]]
    d = rep["detail"]
    return [(names[a], float(i), float(s), float(e)) for a, i, s, e in zip(d["api"], d["issue"], d["start"], d["end"])]


def _trace(lib, cores, **kw):
    with perf.tracing() as traces:
        run(lib, cores, **kw)
    (t,) = traces
    return t


@pytest.mark.parametrize("late, start", [(3, 0), (5, 4)])  # start: the counter's value at launch
def test_replay_starts_the_poll_at_the_last_signal(lib, late, start):
    cores = 6
    t = _trace(lib, cores, late=late, extra=1000, start=start)  # the late producer signals well after the others
    signals = {}
    for core in range(1, cores):
        recs = _records(_replay(t, core))
        (sig,) = [r for r in recs if r[0] == "GmFlagAdd"]
        signals[core] = sig[3]
    assert max(signals, key=signals.get) == late
    assert signals[late] > 1.5 * max(v for k, v in signals.items() if k != late)
    consumer = _records(_replay(t, 0))
    i = [r[0] for r in consumer].index("GmFlagWaitAtLeast")
    wait, after = consumer[i], consumer[i + 1]
    assert wait[1] < min(signals.values())  # the consumer arrived first ...
    assert wait[2] == pytest.approx(signals[late], rel=1e-6)  # ... and polls once, when the last add lands
    p = socs.params(SOC)
    assert wait[3] - wait[2] == pytest.approx(p["scalar_gm_hit_cycles"] + p["scalar_gm_miss_cycles"])  # dcci + miss
    assert wait[3] <= after[1] <= wait[3] + 16  # then issues the data's copy (a few issue slots, not a poll period)


def test_replay_poll_does_not_queue_behind_the_loads(lib):
    # The consumer issues 30 copies of every row (fewer than a pipe's queue holds) before it waits:
    # its scalar poll still starts at the last signal, while MTE2 works through them; the data's copy,
    # issued when the poll ends, runs after them.
    cores = 10
    t = _trace(lib, cores, late=9, extra=30, kind=2)
    last = max(r[3] for core in range(1, cores) for r in _records(_replay(t, core)) if r[0] == "GmFlagAdd")
    consumer = _records(_replay(t, 0))
    i = [r[0] for r in consumer].index("GmFlagWaitAtLeast")
    loads, wait, data = consumer[:i], consumer[i], consumer[i + 1]
    assert len(loads) == 30 and all(r[0].startswith("DataCopyPad") for r in loads + [data])
    assert wait[2] == pytest.approx(last, rel=1e-6) and wait[3] < loads[-1][3]  # polled beside the loads
    assert data[1] == pytest.approx(wait[3], abs=16) and data[2] >= loads[-1][3] - 1e-3


def test_replay_passes_a_wait_met_at_launch_at_once(lib):
    # The counter holds the target before anyone adds: the consumer's one poll starts when it arrives.
    # (The only producer waits for the consumer's second counter, so nothing races the consumer's read.)
    t = _trace(lib, 2, start=5, target=5, late=1, kind=1)
    (wait,) = [r for r in _records(_replay(t, 0)) if r[0] == "GmFlagWaitAtLeast"]
    (sig,) = [r for r in _records(_replay(t, 1)) if r[0] == "GmFlagAdd"]
    assert wait[2] == wait[1] and wait[3] < sig[3]


def test_model_is_the_same_whatever_the_threads_did(lib):
    cores = 10
    with perf.tracing() as traces:
        first = run(lib, cores, late=4, extra=50)
        second = run(lib, cores, late=4, extra=50, sleep_ms=40, shift=5)  # other host addresses, other polls
    quick, slow = traces
    assert first[2].ctypes.data != second[2].ctypes.data
    assert quick.records == slow.records
    a, b = perf.replay(quick, SOC), perf.replay(slow, SOC)
    assert a.cycles == b.cycles and a.cycles > 0
    # The consumer's poll is on the critical path, and it is named for what it waited on.
    path = a.path
    assert "GM counter" in {path["reasons"][int(r)] for r in path["reason"]}
    # The late producer's make-work is on the consumer's path: less of it, less time.
    assert perf.replay(_trace(lib, cores, late=4, extra=5), SOC).cycles < a.cycles


def test_replay_rejects_a_wait_on_a_later_wave(lib):
    # 6 blocks on a SoC of 4 vector cores: block 4 starts when block 0 (the consumer) ends, but the
    # consumer waits for block 4's add. The threads of the emulator all ran at once; the NPU would hang.
    t = _trace(lib, 6)
    with pytest.raises(RuntimeError, match=r"core 0 \(AIV 0\) waits in GmFlagWaitAtLeast .* to reach 5, .* only to 4"):
        _replay(t, aiv_cores=4)
    assert _replay(t)["cycles"] > 0  # on 40 cores it is fine
