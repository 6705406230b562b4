"""Bad msModelSlim checkpoints: a CheckpointError (a ValueError) naming the tensor or file at fault,
and no model is returned."""

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ascend_glm5 import from_msmodelslim
from ascend_glm5.quant.checkpoint import CheckpointError

Q_B = "model.layers.1.self_attn.q_b_proj"
EXPERT = "model.layers.1.mlp.experts.2.down_proj"
STATIC = "model.layers.2.self_attn.o_proj"


def _copy(src: str, dst) -> str:
    shutil.copytree(src, dst)
    return str(dst)


def _edit_tensors(path: str, edit) -> None:
    """Apply ``edit(tensors: dict)`` to the checkpoint's tensors (rewriting the shards in place)."""
    index_file = os.path.join(path, "quant_model_weights.safetensors.index.json")
    with open(index_file) as f:
        index = json.load(f)
    tensors = {}
    for file in sorted(set(index["weight_map"].values())):
        tensors.update(load_file(os.path.join(path, file)))
        os.remove(os.path.join(path, file))
    edit(tensors)
    save_file(tensors, os.path.join(path, "quant_model_weights-00001-of-00001.safetensors"))
    index["weight_map"] = {k: "quant_model_weights-00001-of-00001.safetensors" for k in tensors}
    with open(index_file, "w") as f:
        json.dump(index, f)


def _edit_description(path: str, edit) -> None:
    file = os.path.join(path, "quant_model_description.json")
    with open(file) as f:
        desc = json.load(f)
    edit(desc)
    with open(file, "w") as f:
        json.dump(desc, f)


def _load(path: str):
    return from_msmodelslim(path, dtype=torch.float32, backend="reference", patch_attention=False)


@pytest.fixture
def w4a8(exported, tmp_path):
    return _copy(exported("glm_moe_dsa", "w4a8")[1], tmp_path / "ckpt")


@pytest.fixture
def w8a8(exported, tmp_path):
    return _copy(exported("glm_moe_dsa", "w8a8")[1], tmp_path / "ckpt")


def _expect(path: str, *needles: str):
    with pytest.raises(CheckpointError) as info:
        _load(path)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def test_the_unmodified_copy_loads(w4a8):
    assert _load(w4a8) is not None  # the fixtures below break exactly one thing each


def test_missing_weight_scale(w4a8):
    _edit_tensors(w4a8, lambda t: t.pop(f"{Q_B}.weight_scale"))
    _expect(w4a8, f"{Q_B}.weight_scale", "missing")


def test_missing_expert_scale_bias(w4a8):
    _edit_tensors(w4a8, lambda t: t.pop(f"{EXPERT}.scale_bias"))
    _expect(w4a8, f"{EXPERT}.scale_bias", "missing")


def test_missing_static_quant_bias(w8a8):
    _edit_tensors(w8a8, lambda t: t.pop(f"{STATIC}.quant_bias"))
    _expect(w8a8, f"{STATIC}.quant_bias", "missing")


def test_unknown_quant_type(w4a8):
    _edit_description(w4a8, lambda d: d.update({f"{Q_B}.weight": "W4A4_MXFP4"}))
    _expect(w4a8, f"{Q_B}.weight", "W4A4_MXFP4")


def test_types_mixed_within_a_layer(w4a8):
    _edit_description(w4a8, lambda d: d.update({f"{Q_B}.weight_scale": "W8A8"}))
    _expect(w4a8, f"{Q_B}.weight_scale", "W8A8")


def test_shape_that_does_not_match_the_config(w4a8):
    def cut(t):
        t[f"{Q_B}.weight"] = t[f"{Q_B}.weight"][:-4].contiguous()

    _edit_tensors(w4a8, cut)
    _expect(w4a8, f"{Q_B}.weight", "shape")


def test_config_that_does_not_match_the_tensors(w4a8):
    file = os.path.join(w4a8, "config.json")
    with open(file) as f:
        config = json.load(f)
    config["moe_intermediate_size"] = 64
    with open(file, "w") as f:
        json.dump(config, f)
    _expect(w4a8, "shape", "experts")


def test_nonzero_weight_offset(w4a8):
    def offset(t):
        t[f"{EXPERT}.weight_offset"][3] = 1.0

    _edit_tensors(w4a8, offset)
    _expect(w4a8, f"{EXPERT}.weight_offset", "asymmetric")


def test_stale_scale_bias(w4a8):
    """The weights changed after scale_bias was computed (here: one int4 value moved by 1)."""

    def poke(t):
        packed = t[f"{EXPERT}.weight"]
        low = packed[5, 7] & 0xF
        packed[5, 7] = (packed[5, 7] & ~0xF) | ((low + 1) & 0x7)  # a different, still valid int4 value

    _edit_tensors(w4a8, poke)
    _expect(w4a8, f"{EXPERT}.scale_bias", "stale")


def test_non_integer_input_offset(w8a8):
    _edit_tensors(w8a8, lambda t: t[f"{STATIC}.input_offset"].add_(0.5))
    _expect(w8a8, f"{STATIC}.input_offset", "integer")


def test_unexpected_tensor(w4a8):
    _edit_tensors(w4a8, lambda t: t.update({"model.layers.1.self_attn.q_proj.weight": torch.zeros(4, 4)}))
    _edit_description(w4a8, lambda d: d.update({"model.layers.1.self_attn.q_proj.weight": "FLOAT"}))
    _expect(w4a8, "model.layers.1.self_attn.q_proj.weight", "not part of")


def test_mtp_layer_and_rot_weight_are_ignored(w4a8):
    """GLM-5 exports carry the MTP layer (model.layers.<num_hidden_layers>) and rot.weight: not errors."""
    _edit_tensors(w4a8, lambda t: t.update({"model.layers.3.eh_proj.weight": torch.zeros(4, 8),
                                            "rot.weight": torch.eye(4)}))  # fmt: skip
    _edit_description(w4a8, lambda d: d.update({"model.layers.3.eh_proj.weight": "FLOAT"}))
    assert _load(w4a8) is not None


def test_missing_description_and_wrong_model_type(w4a8, tmp_path):
    other = _copy(w4a8, tmp_path / "other")
    os.remove(os.path.join(w4a8, "quant_model_description.json"))
    _expect(w4a8, "quant_model_description.json")
    file = os.path.join(other, "config.json")
    with open(file) as f:
        config = json.load(f)
    config["model_type"] = "deepseek_v3"
    with open(file, "w") as f:
        json.dump(config, f)
    _expect(other, "model_type", "deepseek_v3")


def test_per_group_weights_are_refused(w4a8):
    _edit_description(w4a8, lambda d: d.update({"group_size": 256}))
    _expect(w4a8, "group_size")


def test_truncated_shard(w4a8):
    shard = [f for f in os.listdir(w4a8) if f.endswith(".safetensors")][0]
    with open(os.path.join(w4a8, shard), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(w4a8, shard)) - 100)
    _expect(w4a8, shard)
