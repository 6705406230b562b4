"""Sanity of the timing model (ascend_glm5.perf) on micro-kernels whose bound is known: a streaming
copy on every vector core must take its HBM roofline, a double-buffered fp32 matmul on every cube
core its cube roofline (each within 10 %), and the variants without double buffering must come
out slower, as their instruction mix says. Plus: the trace is recorded only when asked, and a
truncated trace is refused."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5 import perf
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.perf import soc as socs

SOC = "Ascend910B3"  # 20 AIC + 40 AIV at 1.8 GHz
AIV, AIC = 40, 20
COPY_BYTES = 1 << 20  # per core
TILE = 32 << 10


def _copy(kern, buffers: int, src: np.ndarray, cores: int = AIV):
    with perf.tracing() as traces:
        out = kern.stream_copy(src, cores, TILE, buffers)
    assert np.array_equal(out, src)
    assert len(traces) == 1
    return perf.replay(traces[0], SOC)


@pytest.fixture(scope="module")
def src() -> np.ndarray:
    return np.random.default_rng(0).integers(-30000, 30000, AIV * COPY_BYTES // 2, dtype=np.int16)


def test_trace_only_when_enabled(kern, src):
    c = cpu_module()
    c.set_trace(False)
    part = src[: 4 * 8 * 4096]  # 4 cores x 8 tiles of 8 KiB
    kern.stream_copy(part, 4, 8192, 2)
    assert c.take_traces() == []
    with perf.tracing() as traces:
        kern.stream_copy(part, 4, 8192, 2)
    (t,) = traces
    # Per tile: copy in, EnQue (set), DeQue (wait), copy out, FreeTensor (set); AllocTensor waits
    # for the buffer's last FreeTensor from the third tile on (two buffers).
    tiles = 8
    assert t.cores == 4 and t.records == 4 * (5 * tiles + (tiles - 2)) and t.bytes == 32 * t.records


def test_truncated_trace_is_refused(kern, src):
    with perf.tracing(max_records=10) as traces:
        kern.stream_copy(src[: 4 * 4096], 4, 8192, 2)
    assert traces[0].truncated
    with pytest.raises(RuntimeError, match="record limit"):
        perf.replay(traces[0], SOC)


def test_streaming_copy_takes_the_hbm_roofline(kern, src):
    rep = _copy(kern, 2, src)
    roofline = perf.Roofline(bytes=2 * src.nbytes)  # read it once, write it once
    ratio = rep.time_us / roofline.time_us(SOC)
    assert 0.9 <= ratio <= 1.1, perf.format_report(rep, roofline)
    # HBM moves whole L2 lines: the source and the destination once, up to a line more per core slice.
    assert src.nbytes <= rep.hbm_read_bytes <= src.nbytes + AIV * 256
    assert src.nbytes <= rep.hbm_write_bytes <= src.nbytes + AIV * 256


def test_copy_without_double_buffering_is_slower(kern, src):
    # On 8 cores HBM is not the limit, each core's pipeline is: one buffer serialises copy-in,
    # the read latency and copy-out; two buffers keep MTE2 streaming. (On all 40 cores both
    # variants saturate HBM, and the model says so.)
    part = src[: 8 * COPY_BYTES // 2]
    single, double = _copy(kern, 1, part, 8), _copy(kern, 2, part, 8)
    assert single.time_us > 1.5 * double.time_us
    assert single.utilisation("MTE2") < double.utilisation("MTE2")


@pytest.fixture(scope="module")
def matmul(kern):
    """The fp32 matmul (20 cores x 128 rows, N 768, K 512) with and without overlapped copies."""
    rng = np.random.default_rng(1)
    n, k = 768, 512  # 6 output tiles per core: pipeline fill and drain stay under 10 %
    a = rng.standard_normal((AIC * 128, k), dtype=np.float32)
    bt = rng.standard_normal((n, k), dtype=np.float32)
    reports = {}
    for overlap in (True, False):
        with perf.tracing() as traces:
            c = kern.matmul(a, bt, AIC, overlap)
        np.testing.assert_allclose(c, a @ bt.T, rtol=1e-4, atol=1e-3)
        reports[overlap] = perf.replay(traces[0], SOC)
    roofline = perf.Roofline(bytes=a.nbytes + bt.nbytes + a.shape[0] * n * 4, macs=a.shape[0] * n * k, mac_bits=32)
    return reports, roofline


def test_matmul_takes_the_cube_roofline(matmul):
    reports, roofline = matmul
    rep = reports[True]
    assert roofline.which(SOC) == "cube"
    ratio = rep.time_us / roofline.time_us(SOC)
    assert 0.9 <= ratio <= 1.1, perf.format_report(rep, roofline)
    assert rep.cube_macs[32] == roofline.macs


def test_matmul_without_overlapped_copies_is_slower(matmul):
    reports, _ = matmul
    serial, overlapped = reports[False], reports[True]
    assert serial.time_us > 1.2 * overlapped.time_us
    assert serial.utilisation("M") < overlapped.utilisation("M")


def test_soc_table_is_the_documented_one():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text()
    assert socs.markdown(SOC) in doc and perf.costs.markdown() in doc
