"""Shared fixtures: tiny float GLM-5 / DeepSeek-V3.2 checkpoints (kernel geometry) and their
msModelSlim exports, built once per test session (quantizing takes a few seconds each)."""

import pytest
import torch

from ascend_glm5.integrations.tiny_models import build_tiny_model
from ascend_glm5.quant.quantizer import Options, quantize

KINDS = ("glm_moe_dsa", "deepseek_v32")
SCHEMES = ("w8a8", "w4a8")
# index_topk above every sequence length used here: dense DSA, so the logit comparisons measure
# quantization error, not which keys a near-tie in the indexer selects.
DENSE = dict(index_topk=256)


def CALIBRATION(scheme: str) -> Options:  # noqa: N802  (a small calibration set keeps the suite fast)
    return Options(scheme=scheme, progress=False, calib_sequences=4, calib_length=32)


@pytest.fixture(scope="session")
def float_checkpoint(tmp_path_factory):
    """``float_checkpoint(kind)`` -> directory of a saved tiny float model (seed 0, dense DSA)."""
    made = {}

    def get(kind):
        if kind not in made:
            path = tmp_path_factory.mktemp(f"float_{kind}")
            build_tiny_model(kind, seed=0, **DENSE).save_pretrained(path)
            made[kind] = str(path)
        return made[kind]

    return get


@pytest.fixture(scope="session")
def exported(tmp_path_factory, float_checkpoint):
    """``exported(kind, scheme)`` -> (float dir, msModelSlim dir, Quantized) for the plain recipe."""
    made = {}

    def get(kind, scheme):
        if (kind, scheme) not in made:
            src = float_checkpoint(kind)
            dst = str(tmp_path_factory.mktemp(f"q_{kind}_{scheme}"))
            made[kind, scheme] = (src, dst, quantize(src, dst, CALIBRATION(scheme)))
        return made[kind, scheme]

    return get


@pytest.fixture
def eval_ids():
    return torch.randint(1, 64, (4, 24), generator=torch.Generator().manual_seed(123))
