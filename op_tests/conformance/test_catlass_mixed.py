"""Mixed cube / vector catlass code on the emulator: int4 -> int8 unpacking on the AIVs
(TileCastInt4ToInt8) handed to the AIC's int8 GEMM through catlass's cross-core flags
(CrossCoreFlagWithReverse), and catlass's cross-core barriers, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .test_catlass_gemm import pack_int4


# K / N even (int4 rows start on a byte); tails in every dimension; more tiles than cores and more
# cores than tiles; enough K tiles (128 each) that the reverse flag (every 2 tiles) is exercised.
@pytest.mark.parametrize("m, n, k, cores", [(1, 64, 128, 1), (37, 130, 334, 2), (50, 98, 600, 1), (17, 200, 260, 4)])
def test_w4a8_cast_then_gemm_is_exact(catlass, m, n, k, cores):
    g = torch.Generator().manual_seed(m * n + k)
    a = torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int8)
    b = torch.randint(-8, 8, (k, n), generator=g)
    c = catlass.w4a8(a.numpy(), pack_int4(b), m, n, k, cores)
    torch.testing.assert_close(torch.from_numpy(c), a.int() @ b.int(), rtol=0, atol=0)


@pytest.mark.parametrize("cores", [1, 3, 8])
def test_cross_core_barriers(catlass, cores):
    got = catlass.barrier(cores)
    aivs = np.arange(2 * cores)
    np.testing.assert_array_equal(got[:, 0], 100 + (aivs + 1) % (2 * cores))  # mode 0: every AIV of the launch
    np.testing.assert_array_equal(got[:, 1], 200 + (aivs ^ 1))  # mode 1: the other AIV of the block
