"""Round trips: float tiny GLM-5 / DeepSeek-V3.2 -> `quantize` -> msModelSlim files -> `from_msmodelslim`
-> run, on the reference ops and on the kernels.

Tolerances (docs/quantization.md): the models are random and tiny, so one quantized linear's ~1%
error grows through 3 layers and flips some routing decisions; the logit tolerances below are set
from seeds 0-7 with margin (measured worst: mean rel error 0.055 (w8a8) / 0.073 (w4a8), top-1 >= 96%),
and each layer's own SQNR is checked against what its number format allows.
"""

import ctypes
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from ascend_glm5 import from_msmodelslim
from ascend_glm5.integrations.msmodelslim import quantized_modules, set_backend
from ascend_glm5.quant.launches import count_kernel_launches
from ascend_glm5.quant.quantizer import load_float_model
from ascend_glm5.quant.report import layer_kind, layer_sqnr, logit_agreement

from .conftest import KINDS, SCHEMES

MEAN_REL_ERROR = {"w8a8": 0.12, "w4a8": 0.15}  # mean |q - f| / mean |f| of the final logits
TOP1 = 0.85  # top-1 agreement on positions whose float top-1 margin is clear (report.TIE_BAND)
SQNR_FLOOR = {"W8A8": 25.0, "W8A8_DYNAMIC": 30.0, "W4A8_DYNAMIC": 10.0}  # dB; see docs/quantization.md


def assert_agrees_with_float(src, model, eval_ids, scheme: str) -> None:
    """The loaded `model`'s logits against the float model saved in `src`, within the tolerances above."""
    with torch.no_grad():
        want = load_float_model(src)(input_ids=eval_ids).logits
        got = model(input_ids=eval_ids).logits
    agreement = logit_agreement(want, got)
    assert agreement.mean_rel_error <= MEAN_REL_ERROR[scheme], agreement
    assert agreement.positions >= 0.5 * agreement.total and agreement.top1 >= TOP1, agreement


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_loaded_model_matches_the_float_model(exported, eval_ids, kind, scheme):
    src, dst, quantized = exported(kind, scheme)
    model = from_msmodelslim(dst, dtype=torch.float32, backend="reference", patch_attention=False)
    assert type(model).__name__ == {"glm_moe_dsa": "GlmMoeDsaForCausalLM", "deepseek_v32": "DeepseekV32ForCausalLM"}[kind]
    assert_agrees_with_float(src, model, eval_ids, scheme)
    sqnr = layer_sqnr(quantized.model, quantized_modules(model), eval_ids)
    assert len(sqnr) == len([t for t in quantized.types.values() if t != "FLOAT"])
    for name, db in sqnr.items():
        assert db >= SQNR_FLOOR[quantized.types[name]], (name, db)


@pytest.mark.parametrize(("kind", "scheme"), [("glm_moe_dsa", "w8a8"), ("deepseek_v32", "w4a8")])
def test_kernels_compute_what_the_reference_ops_compute(exported, kind, scheme):
    """The same loaded model on the kernels and on the references (fp32 float parts): every quantized
    op is integer-exact, so only fp32-vs-fp64 dequantisation rounding differs."""
    _, dst, _ = exported(kind, scheme)
    model = from_msmodelslim(dst, dtype=torch.float32, backend="kernels", patch_attention=False)
    ids = torch.randint(1, 64, (2, 8), generator=torch.Generator().manual_seed(5))
    with torch.no_grad(), count_kernel_launches() as launches:
        got = model(input_ids=ids).logits
    with torch.no_grad():
        want = set_backend(model, "reference")(input_ids=ids).logits
    assert float((got - want).abs().max() / want.abs().max()) < 1e-4
    expected = {"dynamic_quant", "quant_matmul", "dequant_swiglu_quant"}
    expected |= {"quantize"} if scheme == "w8a8" else {"grouped_matmul_a8w4"}
    assert expected <= {op for op, entry in launches.items() if entry["launches"] > 0}, launches
    assert "lightning_indexer" not in launches  # patch_attention=False: HF's attention


def test_patched_dsa_attention_on_a_quantized_model(exported):
    """DSA attention on the lightning_indexer / sparse_flash_attention kernels, the MLA prolog on the
    mla_prolog kernel in weight_quant_mode 2 (W8A8_DYNAMIC q_a / q_b / kv_a), against HF's attention on
    the reference ops.

    Layer 0 sees identical inputs both ways: its output differs by the attention kernels' fp16
    rounding, which can move an int8 rounding of o_proj's per-token quantization by one step (<= 1/127
    of a row's max). Later layers compound that through the random model, so the generation is checked
    by running at all and launching every kernel."""
    from ascend_glm5.integrations.tiny_models import AttentionRecorder

    _, dst, _ = exported("glm_moe_dsa", "w4a8")
    model = from_msmodelslim(dst, dtype=torch.float32, backend="kernels")
    assert model._msmodelslim["attention"].startswith("ascend_glm5 kernels")
    reference = from_msmodelslim(dst, dtype=torch.float32, backend="reference", patch_attention=False)
    ids = torch.randint(1, 64, (2, 10), generator=torch.Generator().manual_seed(7))
    mask = torch.ones_like(ids)
    ids[1, :3], mask[1, :3] = 0, 0  # left padding
    with torch.no_grad(), AttentionRecorder(reference) as hf:
        reference(input_ids=ids, attention_mask=mask)
    with torch.no_grad(), AttentionRecorder(model) as ours, count_kernel_launches() as launches:
        model(input_ids=ids, attention_mask=mask)
    real = mask.bool()
    want, got = hf.calls[0][0].output[real], ours.calls[0][0].output[real]
    assert float((got - want).abs().max() / want.abs().max()) < 1e-2
    for op in ("mla_prolog", "lightning_indexer", "sparse_flash_attention", "quant_matmul", "grouped_matmul_a8w4"):
        assert launches.get(op, {}).get("launches", 0) > 0, (op, launches)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=2, do_sample=False, pad_token_id=0)
    assert out.shape == (2, 12)


def test_bf16_load_maps_the_files(exported, eval_ids):
    """bf16: int8 weights are views of the memory-mapped shards (no copy), the router stays fp32."""
    _, dst, _ = exported("glm_moe_dsa", "w4a8")
    model = from_msmodelslim(dst, dtype=torch.bfloat16, backend="reference", patch_attention=False)
    files = model._msmodelslim["files"]
    regions = []
    for shard in files._shards.values():
        start = ctypes.addressof(ctypes.c_char.from_buffer(shard.map))
        regions.append((start, start + len(shard.map)))
    linear = model.model.layers[1].self_attn.q_b_proj
    ptr = linear.weight.data_ptr()
    assert linear.weight.dtype == torch.int8 and any(lo <= ptr < hi for lo, hi in regions)
    assert model.model.layers[1].mlp.gate.weight.dtype == torch.float32
    assert model.model.layers[1].mlp.gate.e_score_correction_bias.dtype == torch.float32
    assert model.model.layers[1].self_attn.kv_b_proj.weight.dtype == torch.bfloat16
    with torch.no_grad():
        logits = model(input_ids=eval_ids[:1]).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()


def test_sharded_index_with_another_name(exported, eval_ids, tmp_path):
    """A checkpoint resharded into three files with a ``model.safetensors.index.json`` loads the same."""
    _, dst, _ = exported("deepseek_v32", "w8a8")
    out = tmp_path / "resharded"
    shutil.copytree(dst, out, ignore=shutil.ignore_patterns("*.safetensors", "*.index.json"))
    tensors = {}
    for f in os.listdir(dst):
        if f.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(dst, f)))
    names = sorted(tensors)
    weight_map = {}
    for i, part in enumerate((names[0::3], names[1::3], names[2::3])):
        file = f"model-{i + 1:05d}-of-00003.safetensors"
        save_file({n: tensors[n] for n in part}, out / file)
        weight_map.update({n: file for n in part})
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    a = from_msmodelslim(dst, dtype=torch.float32, backend="reference", patch_attention=False)
    b = from_msmodelslim(str(out), dtype=torch.float32, backend="reference", patch_attention=False)
    with torch.no_grad():
        assert torch.equal(a(input_ids=eval_ids[:2]).logits, b(input_ids=eval_ids[:2]).logits)


def test_layer_kinds_cover_the_model(exported):
    _, dst, quantized = exported("glm_moe_dsa", "w8a8")
    kinds = {layer_kind(name) for name, t in quantized.types.items() if t != "FLOAT"}
    assert {"q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "o_proj", "indexer.wq_b", "experts", "dense.gate_proj",
            "shared_experts.down_proj"} <= kinds  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_module_prolog_equals_patch_models_prolog(kind):
    """The MLA prolog that calls the projection modules (what static-W8A8 models use) gives the same
    logits as patch_model's kernel prolog on a float model (sparse DSA, left padding), within the fp16
    rounding of the mla_prolog kernel, which runs an fp32 model in fp16 with CANN's rounding points
    (measured 1.2e-3; the integration tests' fp32 logit tolerance, 3e-3). That rounding may flip a
    decision (indexer top-k, MoE routing) whose margin is a near-tie: the module run takes the kernel
    run's choice there (ascend_glm5.integrations.decisions, the fp32 tie band), as the integration
    tests do, and every clear-margin decision must agree."""
    import dataclasses

    from ascend_glm5 import patch_model
    from ascend_glm5.demo import FP32_BAND
    from ascend_glm5.integrations.decisions import Decisions, compare
    from ascend_glm5.integrations.prolog import KernelProlog, ModuleProlog
    from ascend_glm5.integrations.tiny_models import build_tiny_model

    model = build_tiny_model(kind, seed=3, num_hidden_layers=2)  # 1 dense + 1 MoE layer
    ids = torch.randint(1, 64, (2, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    ids[0, :4], mask[0, :4] = 0, 0
    pad = (1 - mask).sum(-1).tolist()
    patch_model(model)
    assert all(isinstance(layer.self_attn._ascend_plan.prolog, KernelProlog) for layer in model.model.layers)

    def run(decisions: Decisions) -> torch.Tensor:
        with torch.no_grad(), decisions:
            decisions.begin_step(*ids.shape, 0)
            logits = model(input_ids=ids, attention_mask=mask).logits
        decisions.steps[-1].logits = logits[:, -1].float()
        return logits

    kernel_run = Decisions(model, pad)
    want = run(kernel_run)
    calls = []

    class Counted(ModuleProlog):
        def __call__(self, *args, **kwargs):
            calls.append(1)
            return super().__call__(*args, **kwargs)

    for layer in model.model.layers:
        attn = layer.self_attn
        attn._ascend_plan = dataclasses.replace(attn._ascend_plan, prolog=Counted("test"))
    module_run = Decisions(model, pad, force=(kernel_run, FP32_BAND))
    got = run(module_run)
    assert len(calls) == model.config.num_hidden_layers
    comparison = compare(kernel_run, module_run, FP32_BAND)
    assert not comparison.differences, comparison.summary()
    real = mask.bool()
    assert float((got[real] - want[real]).abs().max() / want[real].abs().max()) < 3e-3
