"""LoadDataWithTranspose (L1 -> L0A / L0B, square blocks transposed) against a numpy model of
LoadDataWithTranspose.md, for every A2 type; the L0 bytes are read back through an int8 identity
Mmad. Also: Mmad reduces over exactly k, so the never-written K tail of a transposed B does not leak."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import DTYPES, mte1_bytes, probe, transpose_model
from .test_emu_cube import run

CASES = [  # dtype, to L0A, params (startIndex, repeat, srcStride, dstGap, dstFracGap)
    ("int8", False, dict(startIndex=1, repeat=3, srcStride=2, dstGap=1, dstFracGap=0)),
    ("uint8", True, dict(startIndex=0, repeat=3, srcStride=1, dstGap=0, dstFracGap=2)),
    ("half", False, dict(startIndex=2, repeat=4, srcStride=1, dstGap=2, dstFracGap=5)),  # one fractal: no frac gap
    ("bf16", True, dict(startIndex=0, repeat=5, srcStride=3, dstGap=0, dstFracGap=0)),
    ("float", False, dict(startIndex=0, repeat=2, srcStride=1, dstGap=0, dstFracGap=1)),  # LoadDataWithTranspose.md ex. 3
    ("int32", True, dict(startIndex=1, repeat=2, srcStride=2, dstGap=3, dstFracGap=0)),
    ("int4", False, dict(startIndex=1, repeat=2, srcStride=1, dstGap=3, dstFracGap=0)),  # catlass's int4 B
    ("int4", False, dict(startIndex=0, repeat=2, srcStride=2, dstGap=0, dstFracGap=1)),
]


@pytest.mark.parametrize("dtype, to_l0a, params", CASES)
def test_transpose_matches_the_documented_blocks(kern, dtype, to_l0a, params):
    bits = DTYPES[dtype][1]
    frac = 2 if bits in (8, 32) else 4 if bits == 4 else 1
    rng = np.random.default_rng(len(params) * 7 + bits)
    src = rng.integers(0, 256, (params["startIndex"] + params["repeat"] * params["srcStride"] + 1) * frac * 512,
                       dtype=np.uint8)  # fmt: skip
    dst_bytes = 8192
    got = probe(kern, "transpose", dtype, src, dst_bytes, to_l0a=to_l0a, **params)
    np.testing.assert_array_equal(got, transpose_model(src, bits, dst_bytes, **params))
    assert mte1_bytes(kern) == params["repeat"] * frac * 512 + 1024  # + the probe's identity


@pytest.mark.parametrize("dtype, to_l0a, offset, message", [
    ("int4", True, 0, r"LoadDataWithTranspose: position: int4b_t is supported into L0B \(B2\) only"),
    ("half", False, 256, r"LoadDataWithTranspose: alignment: dst starts at L0B address 256, not 512-byte aligned"),
])  # fmt: skip
def test_transpose_rules(kern, dtype, to_l0a, offset, message):
    with pytest.raises(kern.EmuError, match=message):
        probe(kern, "transpose", dtype, np.zeros(2048, np.uint8), 4096, to_l0a=to_l0a, dst_offset=offset, repeat=1)


def test_transpose_source_bounds(kern):
    with pytest.raises(kern.EmuError, match=r"LoadDataWithTranspose: local-bounds: src touches L1 bytes \[0, 3072\) outside its buffer \[0, 2048\)"):
        probe(kern, "transpose", "int8", np.zeros(2048, np.uint8), 4096, repeat=2, srcStride=2)


@pytest.mark.parametrize("dtype", ["half", "bf16"])
@pytest.mark.parametrize("k", [40, 72])
def test_mmad_reduces_over_k_only(kern, dtype, k):
    # B [k, n] through ND2NZ leaves L1 rows k..16*ceil(k/16) unwritten (NaN poison); LoadData's
    # transpose carries them into L0B's K tail. Only the first k products may enter the sum (Mmad.md
    # allows any k; SetShape.md's K-tail dirty data does not participate): the result is exact and finite.
    c, ref = run(kern, dtype, 33, 40, k, trans_b=True, seed=k)
    assert np.isfinite(c).all()
    np.testing.assert_array_equal(c, ref)
