"""LoadData 3Dv2 (image to column into L0A) in its three forms: parameters, the feature map from
SetFmatrix (IsResetLoad3dConfig {false, ...}), and the packed LoadData3DParamsV2Pro with
Load3DSetFMatrixCal, against a numpy im2col (Load3D.md); the L0A bytes are read back through an
int8 identity Mmad. These are the 1 x 1 (GEMM) uses over every element type; general filters,
dilations and catlass's conv uses are in test_emu_load3d_conv.py. L0B, enTranspose, fMatrixCtrl,
partial C0 blocks and SetLoadDataPaddingValue stay refused."""

from __future__ import annotations

import numpy as np
import pytest

from .ext_api import DTYPES, probe, im2col_model

CASES = [  # the GEMM use (catlass: H = 1, W = rows, C = K), then strides and padding
    ("half", dict(l1H=1, l1W=37, channels=64, kExt=48, mExt=37, kStart=16, mStart=0)),
    ("float", dict(l1H=1, l1W=40, channels=32, kExt=24, mExt=21, kStart=8, mStart=16)),
    ("int8", dict(l1H=1, l1W=20, channels=64, kExt=64, mExt=20)),
    ("half", dict(l1H=3, l1W=5, channels=32, kExt=32, mExt=8, strideW=2, strideH=2, pad=(1, 2, 1, 0))),
]


# The packed form pads with SetLoadDataPaddingValue's value, which is not emulated: no padded case
# for it (test_packed_form_refuses_padding).
RUNS = [(api, dtype, params) for api in ("load3d", "load3d_fmatrix", "load3d_pro") for dtype, params in CASES
        if api != "load3d_pro" or not any(params.get("pad", ()))]  # fmt: skip


@pytest.mark.parametrize("api, dtype, params", RUNS)
def test_im2col_matches_numpy(kern, api, dtype, params):
    bits = DTYPES[dtype][1]
    c0 = 256 // bits
    rng = np.random.default_rng(params["l1W"] + params["channels"])
    src = rng.integers(0, 256, params["channels"] // c0 * params["l1H"] * params["l1W"] * 32, dtype=np.uint8)
    src = np.concatenate([src, np.zeros(-src.size % 32, np.uint8)])
    got = probe(kern, api, dtype, src, 8192, to_l0a=True, **params)
    np.testing.assert_array_equal(got, im2col_model(src, bits, 8192, **params))


def test_packed_form_refuses_padding(kern):
    with pytest.raises(kern.EmuError, match=r"LoadData\(3Dv2Pro\): not-emulated: padding with isSetPadding = false"):
        probe(kern, "load3d_pro", "half", np.zeros(4096, np.uint8), 4096, to_l0a=True, l1H=3, l1W=5, channels=16,
              kExt=16, mExt=8, strideW=2, strideH=2, pad=(1, 2, 1, 0))


@pytest.mark.parametrize("to_l0a, params, message", [
    (False, dict(channels=16), r"LoadData\(3Dv2\): not-emulated: dst in L0B"),
    (True, dict(channels=20), r"LoadData\(3Dv2\): not-emulated: channelSize 20: only whole C0 blocks of 16"),
    # Rows past the 8 positions are allowed to the end of their fractal (catlass loads howo rounded to 16).
    (True, dict(channels=16, mExt=17),
     r"LoadData\(3Dv2\): param-range: rows \[0, 17\) reach past the fractal holding the last of the 8 output"),
])  # fmt: skip
def test_load3d_rules(kern, to_l0a, params, message):
    p = dict(l1H=1, l1W=8, kExt=16, mExt=8) | params
    with pytest.raises(kern.EmuError, match=message):
        probe(kern, "load3d", "half", np.zeros(4096, np.uint8), 4096, to_l0a=to_l0a, **p)
