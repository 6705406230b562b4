"""Sort32, MrgSort (+ GetMrgSortResult), Extract and CreateVecIndex against Python references.

The order the emulator defines: descending score, NaN first, +0 == -0, ties to the lower position
(Sort32) or the lower-numbered queue (MrgSort)."""

from __future__ import annotations

import math

import numpy as np
import pytest

# (score, index) pairs as Sort32 / MrgSort write them.
PAIR = {
    "float": np.dtype([("score", "<f4"), ("index", "<u4")]),
    "half": np.dtype([("score", "<f2"), ("rsv", "<u2"), ("index", "<u4")]),
}
SCORE = {"half": np.float16, "float": np.float32}
MARK = 0xAB  # initial byte of every dst image: bytes an instruction must not write keep it


def rank(score) -> tuple:
    """Sort key of a score: NaN first, then descending; Python's sort is stable."""
    s = float(score)
    return (0, 0.0) if math.isnan(s) else (1, -s)


def pairs(scores, index, dtype) -> np.ndarray:
    p = np.zeros(len(scores), PAIR[dtype])
    p["score"], p["index"] = scores, index
    return p


def sorted_pairs(p: np.ndarray) -> np.ndarray:
    return p[sorted(range(len(p)), key=lambda i: rank(p["score"][i]))]


def merge(queues: list[np.ndarray], exhausted: bool) -> tuple[np.ndarray, list[int]]:
    """Reference merge: take the best head (strictly better wins, so ties go to the lower queue);
    with `exhausted`, stop once any queue is empty. Returns the output and the pairs taken per queue."""
    pos, out = [0] * len(queues), []
    while True:
        live = [i for i, q in enumerate(queues) if pos[i] < len(q)]
        if not live or (exhausted and len(live) < len(queues)):
            break
        best = min(live, key=lambda i: (rank(queues[i]["score"][pos[i]]), i))
        out.append(queues[best][pos[best]])
        pos[best] += 1
    return np.array(out, queues[0].dtype), pos


def marked(nbytes: int) -> np.ndarray:
    """A dst image of MARK bytes (a whole number of 32-byte blocks, as the kernel copies them)."""
    return np.full((nbytes + 31) // 32 * 32, MARK, np.uint8)


def assert_pairs_equal(got: np.ndarray, want: np.ndarray) -> None:
    # Compare bits: NaN scores and -0 must match exactly.
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


# ---- Sort32 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float", "half"])
def test_sort32_random_with_ties(kern, dtype):
    rng = np.random.default_rng(1)
    repeat = 5
    scores = (np.round(rng.standard_normal(32 * repeat) * 4) / 4).astype(SCORE[dtype])  # many ties
    index = rng.integers(0, 2**32, 32 * repeat, dtype=np.uint32)
    out, _ = kern.sort("Sort32", dtype, in0=scores, in1=index, out=marked(32 * repeat * 8 + 64), repeat=repeat)
    got = out[: 32 * repeat * 8].view(PAIR[dtype])
    groups = range(0, 32 * repeat, 32)
    want = np.concatenate([sorted_pairs(pairs(scores[r:r + 32], index[r:r + 32], dtype)) for r in groups])
    assert_pairs_equal(got, want)  # the half layout's reserved bytes are 0 in both
    assert (out[32 * repeat * 8:] == MARK).all()
    c = kern.counters()
    assert c["vecCalls"] == 1 and c["vecElemOps"] == 32 * repeat


@pytest.mark.parametrize("dtype", ["float", "half"])
def test_sort32_stable_and_nan_first(kern, dtype):
    special = [0.0, np.nan, -0.0, np.inf, 1.0, np.nan, -np.inf, 1.0, 0.0, -1.0]
    scores = np.array(special + [1.0] * 22, SCORE[dtype])
    index = np.arange(32, dtype=np.uint32)
    out, _ = kern.sort("Sort32", dtype, in0=scores, in1=index, out_bytes=256, repeat=1)
    got = out[:256].view(PAIR[dtype])
    # NaNs (positions 1, 5) first, then inf, the 1.0s in position order, +0 / -0 / +0, -1, -inf.
    ones = [4, 7] + list(range(10, 32))
    want_index = [1, 5, 3] + ones + [0, 2, 8, 9, 6]
    np.testing.assert_array_equal(got["index"], want_index)
    assert np.signbit(got["score"][len(ones) + 4])  # -0.0 keeps its bits and its place after +0.0


def test_sort32_repeat_limit(kern):
    with pytest.raises(kern.EmuError, match=r"Sort32: param-range: repeatTime 256 outside \[0, 255\]"):
        kern.sort("Sort32", "float", in0=np.zeros(32, np.float32), in1=np.zeros(32, np.uint32), out_bytes=256,
                  repeat=256)


# ---- MrgSort ----------------------------------------------------------------------------------
def make_queues(rng, lengths, dtype, *, nan=False):
    """Sorted queues with tie-heavy scores; index = 1000 * queue + position."""
    queues = []
    for q, n in enumerate(lengths):
        s = rng.integers(-4, 5, n).astype(SCORE[dtype])
        if nan and n:
            s[rng.integers(0, n)] = np.nan
        queues.append(sorted_pairs(pairs(s, 1000 * q + np.arange(n), dtype)))
    return queues


def place(queues, gap=8):
    """Queues laid out in one buffer with `gap` bytes after each (8-byte aligned, not 32).
    Returns the image and the byte offsets."""
    offsets, parts, at = [], [], 0
    for q in queues:
        offsets.append(at)
        parts += [q.view(np.uint8), np.zeros(gap, np.uint8)]
        at += q.nbytes + gap
    return np.concatenate(parts), offsets


@pytest.mark.parametrize("dtype", ["float", "half"])
@pytest.mark.parametrize("lengths", [(7, 13), (5, 0, 11), (9, 4, 17, 6)])
def test_mrgsort_queues(kern, dtype, lengths):
    rng = np.random.default_rng(len(lengths))
    queues = make_queues(rng, lengths, dtype, nan=True)
    image, offsets = place(queues)
    total = sum(lengths)
    unused = 4 - len(lengths)
    out, consumed = kern.sort("MrgSort", dtype, in0=image, out=marked(total * 8 + 64), lengths=lengths + (0,) * unused,
                              valid_bit=(1 << len(lengths)) - 1, src_offsets=offsets + [0] * unused)  # fmt: skip
    want, taken = merge(queues, exhausted=False)
    assert_pairs_equal(out[: total * 8].view(PAIR[dtype]), want)
    assert (out[total * 8:] == MARK).all()
    assert consumed[: len(lengths)] == tuple(lengths) == tuple(taken)
    assert kern.counters()["vecElemOps"] == total


def test_mrgsort_ties_go_to_the_lower_queue(kern):
    queues = [pairs(np.full(3, 2.0, np.float32), [10 * q, 10 * q + 1, 10 * q + 2], "float") for q in range(4)]
    image, offsets = place(queues)
    out, _ = kern.sort("MrgSort", "float", in0=image, out_bytes=96, lengths=(3, 3, 3, 3), valid_bit=0b1111,
                       src_offsets=offsets)  # fmt: skip
    np.testing.assert_array_equal(out[:96].view(PAIR["float"])["index"], [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32])


def test_mrgsort_exhausted_suspension(kern):
    # Queue 2 holds the largest scores and runs out first: the merge stops right there.
    queues = [pairs(np.array(s, np.float32), np.arange(len(s)) + 100 * q, "float")
              for q, s in enumerate([[9, 5, 3, 1, 0, -2], [8, 7, 6], [7.5, 4, 2, -1, -3]])]  # fmt: skip
    image, offsets = place(queues)
    out, consumed = kern.sort("MrgSort", "float", in0=image, out=marked(14 * 8), lengths=(6, 3, 5, 0), valid_bit=0b111,
                              exhausted=True, src_offsets=offsets + [0])  # fmt: skip
    want, taken = merge(queues, exhausted=True)
    assert taken == [1, 3, 1] and consumed == (1, 3, 1, 0)
    assert_pairs_equal(out[: 5 * 8].view(PAIR["float"]), want)
    assert (out[5 * 8:] == MARK).all()


@pytest.mark.parametrize("dtype", ["float", "half"])
def test_mrgsort_repeat_times(kern, dtype):
    rng = np.random.default_rng(7)
    run, repeat = 16, 3
    queues = make_queues(rng, [run] * 4 * repeat, dtype)
    image = np.concatenate([q.view(np.uint8) for q in queues])  # contiguous runs
    out, consumed = kern.sort("MrgSort", dtype, in0=image, out_bytes=image.size, lengths=(run,) * 4, valid_bit=0b1111,
                              src_offsets=[i * run * 8 for i in range(4)], repeat=repeat)  # fmt: skip
    want = np.concatenate([merge(queues[4 * r:4 * r + 4], exhausted=False)[0] for r in range(repeat)])
    assert_pairs_equal(out[: image.size].view(PAIR[dtype]), want)
    assert consumed == (run,) * 4


def _mrgsort_args(**override):
    q = np.zeros(64, PAIR["float"])
    args = dict(in0=q, out_bytes=q.nbytes, lengths=(8, 8, 8, 8), valid_bit=0b1111, src_offsets=[0, 64, 128, 192])
    args.update(override)
    return args


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(valid_bit=0b101), r"MrgSort: param-range: validBit 5 is not 0b11, 0b111 or 0b1111"),
        (dict(lengths=(4096, 8, 8, 8)), r"MrgSort: param-range: elementLengths\[0\] = 4096 exceeds 4095"),
        (dict(dst_in_in0=True, dst_offset=32), r"MrgSort: overlap: dst \[32, 288\) overlaps src1 \[0, 64\)"),
        (dict(repeat=2, src_offsets=[0, 64, 136, 200]), r"MrgSort: mrgsort-repeat: .*src3 is not src1 \+ 16 pairs"),
        (dict(repeat=2, valid_bit=0b111), r"MrgSort: mrgsort-repeat: repeatTimes 2 > 1 needs validBit 0b1111"),
        (dict(src_offsets=[4, 64, 128, 192]), r"MrgSort: alignment: src1 starts at UB address \d+, not 8-byte aligned"),
    ],
)
def test_mrgsort_rules(kern, override, message):
    with pytest.raises(kern.EmuError, match=message):
        kern.sort("MrgSort", "float", **_mrgsort_args(**override))


# ---- Extract ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float", "half"])
def test_extract(kern, dtype):
    rng = np.random.default_rng(3)
    n = 64
    p = pairs(rng.standard_normal(n).astype(SCORE[dtype]), rng.integers(0, 2**32, n, dtype=np.uint32), dtype)
    index_at = 512  # bytes: values first, then the indices
    out, _ = kern.sort("Extract", dtype, in0=p, out=marked(index_at + n * 4 + 32), repeat=n // 32, dst_offset=index_at)
    np.testing.assert_array_equal(out[: n * p["score"].itemsize].view(SCORE[dtype]), p["score"])
    assert (out[n * p["score"].itemsize:index_at] == MARK).all()
    np.testing.assert_array_equal(out[index_at:index_at + n * 4].view(np.uint32), p["index"])


# ---- CreateVecIndex -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype, np_dtype, first, count",
    [
        ("int32", np.int32, -100, 300),
        ("int32", np.int32, 2**24 - 8, 300),  # only the first block passes through float: exact
        ("int16", np.int16, 32700, 100),  # wraps past 32767
        ("half", np.float16, 1900.0, 130),  # below 2^11: exact
        ("float", np.float32, 16777000.0, 216),  # below 2^24: exact
        ("float", np.float32, -37.0, 1000),
    ],
)
def test_create_vec_index(kern, dtype, np_dtype, first, count):
    nbytes = count * np.dtype(np_dtype).itemsize
    out, _ = kern.sort("CreateVecIndex", dtype, out=marked(nbytes + 64), count=count, first=first)
    start = np.float64(first) if np.issubdtype(np_dtype, np.floating) else np.int64(first)
    np.testing.assert_array_equal(out[:nbytes].view(np_dtype), (start + np.arange(count)).astype(np_dtype))
    assert (out[nbytes:] == MARK).all()


@pytest.mark.parametrize(
    "dtype, first, count",
    [
        ("int32", 2**24 - 4, 64),  # the first block (scalar float) would hold 2^24 + 1, 2^24 + 3
        ("float", 2**24 - 10.0, 70),
        ("half", 2000.0, 130),
        ("float", -(2**24) - 2.0, 8),
    ],
)
def test_create_vec_index_refuses_inexact_indices(kern, dtype, first, count):
    # dav_c220 computes the first block as float(first) + float(i) and the rest by vector adds in T:
    # beyond 2^24 (half: 2^11) the NPU's indices would not be first + i.
    with pytest.raises(kern.EmuError, match=r"CreateVecIndex: index-range: indices .* pass through float on the NPU"):
        kern.sort("CreateVecIndex", dtype, out=marked(count * 4 + 64), count=count, first=first)


# ---- a full sort: Sort32, then 4-way MrgSort rounds (128, 512, 2048) -----------------------------
@pytest.mark.parametrize("dtype", ["float", "half"])
def test_full_sort_2048(kern, dtype):
    rng = np.random.default_rng(11)
    n = 2048
    scores = (np.round(rng.standard_normal(n) * 16) / 16).astype(SCORE[dtype])  # ties across runs
    out, _ = kern.sort("FullSort", dtype, in0=scores, in1=np.arange(n, dtype=np.uint32), out_bytes=n * 8, count=n)
    got = out.view(PAIR[dtype])
    order = np.argsort(-scores, kind="stable")
    np.testing.assert_array_equal(got["index"], order)
    np.testing.assert_array_equal(got["score"], scores[order])
