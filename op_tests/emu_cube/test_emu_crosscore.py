"""Cross-core flags in a KERNEL_TYPE_MIX_AIC_1_2 launch (1 AIC + 2 AIVs per block, all threads).

Every exchange goes through GM that starts poisoned, and the cores run concurrently: a flag the
emulator failed to honour would let a core read a slot before it was written (poison) or after it
was overwritten (a later tile), and the data checks below would see it."""

from __future__ import annotations

import numpy as np
import pytest

TILE = 256  # 16 x 16


def test_ring_aic_to_both_aivs(kern):
    # The AIC computes tile t (A_t @ I on the cube, Fixpipe to GM) into a 2-slot ring, signals both
    # AIVs with mode 2; each AIV copies the tile out and releases the slot (mode 2 back to the AIC).
    blocks, tiles = 2, 48
    rng = np.random.default_rng(0)
    data = rng.standard_normal((blocks, tiles, TILE)).astype(np.float16)
    src = np.concatenate([np.eye(16, dtype=np.float16).ravel(), data.ravel()])
    out = kern.xcore("ring", blocks, src=src, ws_bytes=blocks * 2 * TILE * 4, out_bytes=2 * blocks * tiles * TILE * 4,
                     tiles=tiles)  # fmt: skip
    seen = out.view(np.float32).reshape(2 * blocks, tiles, TILE)
    for aiv in range(2 * blocks):  # AIVs 2b and 2b + 1 belong to block b
        np.testing.assert_array_equal(seen[aiv], data[aiv // 2].astype(np.float32))


@pytest.mark.parametrize("lazy_sub", [0, 1])
def test_mode2_aic_wait_needs_both_aivs(kern, lazy_sub):
    # One AIV never releases a slot: the AIC's wait must not pass on the other AIV's set alone.
    blocked = r"deadlock: every unfinished core is blocked:.*AIC 0 in CrossCoreWaitFlag\(flag 1, mode 2\)"
    with pytest.raises(kern.EmuError, match=blocked):
        kern.xcore("ring", 1, src=np.zeros(TILE * 9, np.float16), ws_bytes=2 * TILE * 4, out_bytes=2 * 8 * TILE * 4,
                   tiles=8, lazy_sub=lazy_sub)  # fmt: skip


def test_mode1_between_the_aivs_of_a_block(kern):
    blocks, rounds = 3, 16
    rng = np.random.default_rng(1)
    src = rng.integers(-(2**31), 2**31, (blocks, rounds, 2, 8), dtype=np.int32)
    out = kern.xcore("mode1", blocks, src=src, ws_bytes=blocks * 2 * 2 * 32, out_bytes=blocks * 2 * rounds * 32,
                     rounds=rounds)
    got = out.view(np.int32).reshape(blocks, 2, rounds, 8)
    for sub in range(2):  # each AIV saw its sibling's value of every round
        np.testing.assert_array_equal(got[:, sub], src[:, :, 1 - sub])


def test_mode0_among_all_aivs_and_all_aics(kern):
    n, rounds = 2, 12
    rng = np.random.default_rng(2)
    aiv_src = rng.integers(-(2**31), 2**31, (rounds, 2 * n, 8), dtype=np.int32)
    aic_src = rng.integers(-(2**31), 2**31, (rounds, n, 8), dtype=np.int32)
    src = np.concatenate([aiv_src.ravel(), aic_src.ravel()])
    out = kern.xcore("mode0", n, src=src, ws_bytes=2 * 3 * n * 32, out_bytes=3 * n * rounds * 32, rounds=rounds)
    got = out.view(np.int32)
    aiv = got[: 2 * n * rounds * 8].reshape(2 * n, rounds, 8)
    aic = got[2 * n * rounds * 8:].reshape(n, rounds, 8)
    for me in range(2 * n):  # each core saw its right neighbour's value in its group
        np.testing.assert_array_equal(aiv[me], aiv_src[:, (me + 1) % (2 * n)])
    for me in range(n):
        np.testing.assert_array_equal(aic[me], aic_src[:, (me + 1) % n])


def test_mix_numbering(kern):
    n = 3
    rows = kern.xcore("ids", n, out_bytes=3 * n * 32).view(np.int32).reshape(3 * n, 8)
    aic, aiv = 1, 2
    # coreType, GetBlockIdx, GetSubBlockIdx, GetBlockNum, GetSubBlockNum, GetTaskRatio, ASCEND_IS_AIV, ASCEND_IS_NOT_AIC
    for b in range(n):
        np.testing.assert_array_equal(rows[b], [aic, b, 0, n, 1, 1, 0, 0])
    for v in range(2 * n):
        np.testing.assert_array_equal(rows[n + v], [aiv, v, v % 2, n, 2, 2, 1, 1])


@pytest.mark.parametrize(
    "kase, message",
    [
        ("flagId11", r"core AIC 0: CrossCoreSetFlag: param-range: flagId 11 outside \[0, 10\]"),
        ("flagOverflow", r"core AIC 0: CrossCoreSetFlag: flag-overflow: flag 5 \(mode 2\) of AIV 0 already has 15 "
                         r"pending sets"),
        ("flagPending", r"core AIV [01]: kernel end: flag-pending: cross-core flag 6 \(mode 2\) still has 1 pending"),
        ("mode3", r"core AIV \d: CrossCoreSetFlag: param-range: mode 3 is not 0, 1 or 2"),
        ("neverSet", r"deadlock: every unfinished core is blocked: AIV \d in CrossCoreWaitFlag\(flag 7, mode 2\)"),
    ],
)
def test_flag_rules(kern, kase, message):
    with pytest.raises(kern.EmuError, match=message):
        kern.xcore(kase, 1)
