"""Cross-core flags as dav_c220 implements them: a wait ignores its mode (WaitEventImpl:
`(void)modeId; wait_flag_dev(flagId)`), so catlass's mode-less CrossCoreWaitFlag after a mode-2 set
works; flag ids never alias each other; a mode-0 / mode-1 group delivers one flag per member per
round, however many members (no 4-bit overflow with 20 AIVs)."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import flags


@pytest.mark.parametrize("blocks", [1, 3])
def test_wait_takes_any_mode(kern, blocks):
    got = flags(kern, 0, blocks)
    np.testing.assert_array_equal(got[:blocks], 21 + 4 * np.arange(blocks))  # (10 + 2b) + (10 + 2b + 1)


def test_flag_ids_do_not_alias(kern):
    with pytest.raises(kern.EmuError, match=r"deadlock: every unfinished core is blocked: AIC 0 in "
                                            r"CrossCoreWaitFlag\(flag 4, mode 0\)"):
        flags(kern, 1, 1)


def test_mode0_rounds_with_more_than_15_members(kern):
    got = flags(kern, 2, 10)  # 20 AIVs, 3 rounds
    np.testing.assert_array_equal(got[:20], 3)
