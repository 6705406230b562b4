"""The scalar DataCache (csrc/emu/include/emu/data_cache.h) through data_cache_kernels.cpp: a scalar
read returns the line as the core first cached it until DataCacheCleanAndInvalid drops it; a scalar
write reaches GM (and other cores' DMA reads) only when its line is cleaned, or when its core ends;
the core reads its own writes; only the bytes a core wrote go back. In the timing model the read after a clean misses the cache."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf import costs, soc as socs

HERE = Path(__file__).resolve().parent
SOC = "Ascend910B3"
NONE, SINGLE, ENTIRE = 0, 1, 2


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    from ascend_glm5 import emu

    path = emu.compile_library([HERE / "data_cache_kernels.cpp"], tmp_path_factory.mktemp("data_cache"),
                               flags=("-fvisibility=hidden",))  # fmt: skip
    lib = ctypes.CDLL(str(path))
    lib.data_cache_run.argtypes = [ctypes.c_int32] + [ctypes.c_void_p] * 4 + [ctypes.c_char_p, ctypes.c_int]
    return lib


def run(lib, dcci):
    data = np.arange(48, dtype=np.int32)
    pub = np.zeros(16, np.int32)
    out = np.full(32, -1, np.int32)
    share = np.arange(1, 17, dtype=np.int32)
    err = ctypes.create_string_buffer(4096)
    if lib.data_cache_run(dcci, data.ctypes.data, pub.ctypes.data, out.ctypes.data, share.ctypes.data, err, len(err)):
        raise RuntimeError(err.value.decode())
    return data, pub, out, share


def test_without_a_clean_the_reader_keeps_its_stale_line_and_the_writer_its_writes(lib):
    data, pub, out, _ = run(lib, NONE)
    np.testing.assert_array_equal(data[:32], 100 + np.arange(32))  # AIV 1's DMA write reached GM
    assert out[0] == 0 and out[1] == 7  # first read; AIV 0 reads its own cached write
    assert out[2] == 1  # data[1]'s line was cached before AIV 1 rewrote it: the old value
    assert out[3] == 116  # data[16]'s line was never cached: the new value
    np.testing.assert_array_equal(out[16:18], [0, 0])  # AIV 1's DMA did not see AIV 0's unpublished writes
    np.testing.assert_array_equal(pub[:2], [7, 8])  # they reached GM when AIV 0 ended


@pytest.mark.parametrize("dcci", [SINGLE, ENTIRE])
def test_a_clean_publishes_writes_and_drops_stale_lines(lib, dcci):
    data, pub, out, _ = run(lib, dcci)
    np.testing.assert_array_equal(out[:4], [0, 7, 101, 116])
    np.testing.assert_array_equal(out[16:18], [7, 8])
    np.testing.assert_array_equal(pub[:2], [7, 8])


@pytest.mark.parametrize("dcci", [NONE, SINGLE, ENTIRE])
def test_only_written_bytes_go_back(lib, dcci):
    *_, share = run(lib, dcci)
    assert share[0] == 44
    assert share[1] == 55  # AIV 1's write survives AIV 0's write-back of the same line
    np.testing.assert_array_equal(share[2:], np.arange(3, 17))


def _reads_after_the_syncs(lib, dcci):
    """(api, start, end) of AIV 0's GM reads and cleans after its last SyncAll and before its first write
    there, in the model's replay."""
    with perf.tracing() as traces:
        run(lib, dcci)
    (t,) = traces
    rep = cpu_module().perf_replay(t, socs.params(SOC), costs.api_costs(), 0.0, 0)
    names = [a[0] for a in rep["apis"]]
    d = rep["detail"]
    recs = [(names[a], float(s), float(e)) for a, s, e in zip(d["api"], d["start"], d["end"])]
    last_sync = max(i for i, r in enumerate(recs) if r[0] == "SyncAll")
    tail = recs[last_sync:]
    tail = tail[: [r[0] for r in tail].index("GlobalTensor::SetValue")]
    return [r for r in tail if r[0] in ("GlobalTensor::GetValue", "DataCacheCleanAndInvalid")]


def test_model_charges_a_miss_after_a_clean(lib):
    p = socs.params(SOC)
    hit, miss = p["scalar_gm_hit_cycles"], p["scalar_gm_miss_cycles"]
    plain = _reads_after_the_syncs(lib, NONE)
    assert [r[0] for r in plain] == ["GlobalTensor::GetValue"] * 2
    assert plain[0][2] - plain[0][1] == pytest.approx(hit)  # data[1]: its line is cached
    assert plain[1][2] - plain[1][1] == pytest.approx(miss)  # data[16]: a new line
    cleaned = _reads_after_the_syncs(lib, SINGLE)
    assert [r[0] for r in cleaned] == ["DataCacheCleanAndInvalid"] + ["GlobalTensor::GetValue"] * 2
    assert cleaned[1][2] - cleaned[1][1] == pytest.approx(miss)  # data[1] after the clean
