"""Which linear gets which quant type: msModelSlim's GLM-5 and DeepSeek-V3.2 recipes.

From msModelSlim's ``lab_practice/glm_5/glm_5_{w8a8,w4a8}.yaml`` and
``lab_practice/deepseek_v3_2/deepseek_{w8a8,w4a8}.yaml``:

| linears | GLM-5 w8a8 | GLM-5 w4a8 | DSV3.2 w8a8 | DSV3.2 w4a8 |
|---|---|---|---|---|
| q_a_proj, kv_a_proj_with_mqa | W8A8 | W8A8_DYNAMIC | W8A8 | FLOAT |
| q_b_proj, o_proj | W8A8 | W8A8_DYNAMIC | W8A8 | W8A8_DYNAMIC |
| indexer.wq_b | W8A8 | W8A8_DYNAMIC | FLOAT | FLOAT |
| kv_b_proj, indexer.wk, indexer.weights_proj | FLOAT | FLOAT | FLOAT | FLOAT |
| dense MLP, shared experts | W8A8_DYNAMIC | W8A8_DYNAMIC | W8A8_DYNAMIC | W8A8_DYNAMIC |
| routed experts | W8A8_DYNAMIC | W4A8_DYNAMIC | W8A8_DYNAMIC | W4A8_DYNAMIC |
| router gate (+ e_score_correction_bias), norms, embed, lm_head | FLOAT | FLOAT | FLOAT | FLOAT |

The MTP layer (``model.layers.{num_hidden_layers}``) stays FLOAT in every recipe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMES = ("w8a8", "w4a8")
MODEL_TYPES = ("glm_moe_dsa", "deepseek_v32")

ATTENTION_LINEARS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
                     "indexer.wq_b", "indexer.wk", "indexer.weights_proj")  # fmt: skip
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Recipe:
    attention: str  # type of the quantized attention projections
    attention_float: tuple[str, ...]  # attention projections kept in float
    mlp: str  # dense MLP and shared experts
    experts: str  # routed experts
    smooth_up_down: bool  # SmoothQuant also on the up -> down pair of dense / shared MLPs


_FLOAT_GLM = ("kv_b_proj", "indexer.wk", "indexer.weights_proj")
_FLOAT_DSV32 = ("kv_b_proj", "indexer.wq_b", "indexer.wk", "indexer.weights_proj")
RECIPES = {
    ("glm_moe_dsa", "w8a8"): Recipe("W8A8", _FLOAT_GLM, "W8A8_DYNAMIC", "W8A8_DYNAMIC", False),
    ("glm_moe_dsa", "w4a8"): Recipe("W8A8_DYNAMIC", _FLOAT_GLM, "W8A8_DYNAMIC", "W4A8_DYNAMIC", True),
    ("deepseek_v32", "w8a8"): Recipe("W8A8", _FLOAT_DSV32, "W8A8_DYNAMIC", "W8A8_DYNAMIC", False),
    ("deepseek_v32", "w4a8"): Recipe(
        "W8A8_DYNAMIC", ("q_a_proj", "kv_a_proj_with_mqa", *_FLOAT_DSV32), "W8A8_DYNAMIC", "W4A8_DYNAMIC", True
    ),
}


def recipe(model_type: str, scheme: str) -> Recipe:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is not supported; expected one of {MODEL_TYPES}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    return RECIPES[model_type, scheme]


_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def linear_type(r: Recipe, name: str) -> str:
    """The quant type of the linear ``name`` (a module path such as ``model.layers.3.mlp.experts.7.up_proj``)."""
    m = _LAYER.match(name)
    if not m:
        return "FLOAT"  # lm_head
    rest = m.group(2)
    if rest.startswith("self_attn."):
        proj = rest[len("self_attn.") :]
        if proj not in ATTENTION_LINEARS:
            raise ValueError(f"unknown attention linear {name}")
        return "FLOAT" if proj in r.attention_float else r.attention
    if rest.startswith("mlp.experts."):
        return r.experts
    if rest == "mlp.gate":
        return "FLOAT"
    if rest.startswith(("mlp.shared_experts.", "mlp.")) and rest.rsplit(".", 1)[-1] in MLP_LINEARS:
        return r.mlp
    raise ValueError(f"unknown linear {name}")
