"""The timing model's cube side against Huawei's basic-API matmul example (8192^3 half on 24 AIC,
measured on A2; ascend_glm5.perf.calibration_matmul), on a cut of the launch: every core and every
k step, 4 of each core's output tiles.

Bands are the model's claim: the launch's cycles per k step within 10 % (the measured task time of a
core with a full share), the cube (M) within 5 %, MTE2 (GM -> L1, mostly L2 hits shared by the
cores of a grid row / column) within 10 %, the fixpipe's write of a half tile within 20 % (the
Matmul-API example's case without unitFlag; the model's pool share with the other cores' reads
bounds it), MTE1 (L1 -> L0A / L0B: one LoadData3D and four LoadData2D a step) within 5 %: its load
cost is fitted to this measurement at load_data_perf's stated rates (256 / 128 B a cycle), so the band
only says the fit holds. Not checked: the scalar unit (the model counts issued instructions only, not
the loop's own scalar work)."""

from __future__ import annotations

import numpy as np
import pytest

from ascend_glm5.perf import calibration_matmul as cal

BANDS = {"step": 0.10, "M": 0.05, "MTE1": 0.05, "MTE2": 0.10, "FIX": 0.20}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> cal.MatmulKernel:
    return cal.MatmulKernel(tmp_path_factory.mktemp("calibration_matmul"))


@pytest.fixture(scope="module")
def result(kernel) -> cal.MatmulResult:
    return cal.run_matmul(kernel, m_tiles=4)


@pytest.mark.parametrize("key", sorted(BANDS))
def test_matmul_example_is_within_its_band_of_the_measurement(result, key):
    assert abs(result.ratio(key) - 1) <= BANDS[key], cal.markdown_matmul(result)


def test_the_measurement_is_the_published_one():
    m = cal.Measured()
    # The README's own check: 8192^3 MACs at 16x16x16 a cycle on 24 cores at 1.85 GHz take 3,022.92 us,
    # and aic_mac_time is within 2 % of it (scenario 2: 3,082.158 us, +1.96 %).
    ideal_us = 8192**3 / (16**3 * 24 * 1.85e9) * 1e6
    assert ideal_us == pytest.approx(3022.92, abs=0.01)
    assert m.M / ideal_us == pytest.approx(1.0194, abs=1e-3)
    assert m.per_unit("M") == pytest.approx(512 * m.M / ideal_us, rel=1e-9)


def test_the_emulated_kernel_computes_the_matmul(kernel):
    # A small grid (2 x 2 cores, 2 x 2 tiles each, k = 1024: the packets turn over 2 / 4 times) in full.
    rng = np.random.default_rng(1)
    m, n, k = 512, 1024, 1024
    a = rng.uniform(-1, 1, (m, k)).astype(np.float16)
    b = rng.uniform(-1, 1, (n, k)).astype(np.float16)
    c = np.zeros((m, n), np.float16)
    kernel(a, b, c, m_tiles=2, n_tiles=2, single_m=256, single_n=512, cores=4)
    np.testing.assert_allclose(c.astype(np.float32), cal.expected(a, b, slice(0, m), slice(0, n)).astype(np.float32),
                               rtol=2e-3, atol=2e-2)
