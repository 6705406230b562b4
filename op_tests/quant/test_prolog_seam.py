"""The MLA-prolog seam of ``patch_model`` on quantized models (integrations/prolog.py): which path each
projection type takes, that the mla_prolog kernel's int8 modes compute what the separate quantized
linears compute, launch counts, and the kernel-layout weights built once (and rebuilt when changed).

Tolerances of the kernel path against the separate-linears path, relative to each output's largest
value (docs/integrations.md, "MLA prolog per quant type"). Both paths quantize the layer input per token
with the same ``dynamic_quant`` and accumulate int8 products exactly; they differ in
  * c^Q, the indexer's input: the kernel hands it over as int8 + per-token scale (half an int8 step:
    <= 1/254 of the row's max), the linears in float;
  * rounding points: the kernel rounds its float cube operands (c^Q before W_uq in mode 0 only, q_nope,
    W_UK, the norm gammas) to the kernel dtype (fp16 for an fp32 model, else bf16) where the linears
    stay in the model dtype; a rounding that moves one int8 code of c^Q by a step moves the query by one
    step of that code's weight row.
"""

import warnings

import pytest
import torch
from torch import nn

from ascend_glm5 import from_msmodelslim, patch_model, unpatch_model
from ascend_glm5.integrations.prolog import KernelProlog, ModuleProlog, module_prolog
from ascend_glm5.integrations.tiny_models import build_tiny_model
from ascend_glm5.integrations.transformers import PagedLatentCache, prolog_paths
from ascend_glm5.quant.launches import count_kernel_launches
from ascend_glm5.quant.linear import W8A8DynamicLinear

from .test_roundtrip import assert_agrees_with_float

# (kind, scheme) -> weight_quant_mode patch_model picks (recipes.py: GLM-5 w4a8 has W8A8_DYNAMIC q_a / q_b /
# kv_a; DeepSeek-V3.2 w4a8 float q_a / kv_a and W8A8_DYNAMIC q_b; the w8a8 recipes static W8A8)
MODES = {("glm_moe_dsa", "w4a8"): 2, ("deepseek_v32", "w4a8"): 1}
HALF_INT8_STEP = 1 / 254
TOLERANCE = {  # model dtype -> output -> max |kernel path - linears path| / max |linears path|
    torch.float32: dict(c_q=HALF_INT8_STEP + 2**-10, query=1e-2, query_rope=1e-2, kv=2e-3, kr=2e-3),  # fp16 kernels
    torch.bfloat16: dict(c_q=HALF_INT8_STEP + 2 * 2**-8, query=2e-2, query_rope=2e-2, kv=1.2e-2, kr=1.2e-2),
}


def _prolog_outputs(prolog, attn, x, cos, sin, dtype):
    """Run one prolog on fresh paged caches; its outputs and the cache rows it wrote, in fp32."""
    tokens = x.shape[0]
    cache = PagedLatentCache(16, dtype, x.device, index_keys=False)
    slots = cache.append(torch.tensor([tokens]), tokens)
    query, query_rope, c_q = prolog(attn, x, cos, sin, cache, slots)
    combined = cache.kv.flatten(0, 1)[slots]  # c^KV (512) then the roped k (64) per row
    rows = {"kv": combined[..., :512], "kr": combined[..., 512:]}
    return {"query": query, "query_rope": query_rope, "c_q": c_q, **rows}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("kind", "scheme"), list(MODES))
def test_kernel_prolog_agrees_with_the_separate_linears(exported, kind, scheme, dtype):
    _, dst, _ = exported(kind, scheme)
    model = from_msmodelslim(dst, dtype=dtype, backend="kernels")
    gen = torch.Generator().manual_seed(11)
    tokens = 37  # a tail below the kernel's 64-row groups
    kernel_dtype = torch.bfloat16 if dtype == torch.bfloat16 else torch.float16
    for i, layer in enumerate(model.model.layers):
        attn = layer.self_attn
        prolog = attn._ascend_plan.prolog
        assert isinstance(prolog, KernelProlog) and prolog.mode == MODES[kind, scheme], (i, prolog.description)
        x = (2 * torch.randn(tokens, model.config.hidden_size, generator=gen)).to(dtype)
        cos, sin = (t[0] for t in model.model.rotary_emb(x[None], torch.arange(5, 5 + tokens)[None]))
        got = _prolog_outputs(prolog, attn, x, cos, sin, kernel_dtype)
        want = _prolog_outputs(lambda *a: module_prolog(*a), attn, x, cos, sin, kernel_dtype)
        for name, tol in TOLERANCE[dtype].items():
            g, w = got[name].float(), want[name].float()
            err = float((g - w).abs().max() / w.abs().max())
            assert err <= tol, (i, name, err, tol)
        # the kernel's c^Q is int8-valued per token: at most 255 levels in every row
        levels = got["c_q"].float() / got["c_q"].float().abs().amax(-1, keepdim=True) * 127
        assert torch.allclose(levels, levels.round(), atol=0.02 if dtype == torch.float32 else 0.6)


def _projection_calls(model) -> tuple[dict, list]:
    calls = {}
    handles = []
    for i, layer in enumerate(model.model.layers):
        for name in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa"):
            key = (i, name)
            calls[key] = 0
            hook = lambda m, a, o, key=key: calls.__setitem__(key, calls[key] + 1)  # noqa: E731
            handles.append(getattr(layer.self_attn, name).register_forward_hook(hook))
    return calls, handles


@pytest.mark.parametrize(("kind", "scheme", "path"), [("glm_moe_dsa", "w4a8", 2), ("deepseek_v32", "w4a8", 1),
                                                      ("glm_moe_dsa", "w8a8", None)])  # fmt: skip
def test_which_path_each_projection_type_takes(exported, kind, scheme, path):
    """One mla_prolog launch per layer (after one dynamic_quant in mode 2) and no projection module
    called, or, for static W8A8, no mla_prolog and the three quantized projections called, with one
    warning for the model."""
    _, dst, _ = exported(kind, scheme)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        model = from_msmodelslim(dst, dtype=torch.float32, backend="kernels")
    layers = model.config.num_hidden_layers
    separate = [str(n.message) for n in notes if "separate projection modules" in str(n.message)]
    (description, used_by), = prolog_paths(model).items()  # fmt: skip
    assert used_by == list(range(layers))
    assert model._msmodelslim["prolog"] == {description: used_by}
    ids = torch.randint(1, 64, (2, 6), generator=torch.Generator().manual_seed(3))
    calls, handles = _projection_calls(model)
    try:
        with torch.no_grad(), count_kernel_launches() as launches:
            model(input_ids=ids)
    finally:
        for h in handles:
            h.remove()
    if path is None:
        assert len(separate) == 1 and "W8A8" in separate[0], [str(n.message) for n in notes]
        assert "mla_prolog" not in launches
        assert set(calls.values()) == {1}
        assert launches["quantize"]["launches"] >= 3 * layers  # q_a, kv_a, q_b (+ o_proj, indexer wq_b)
    else:
        assert not separate
        assert f"weight_quant_mode {path}" in description
        assert launches["mla_prolog"] == launches["mla_prolog"] | {"calls": layers, "launches": layers}
        assert set(calls.values()) == {0}


def test_mixes_the_kernel_cannot_take_use_the_linears(exported):
    """A W8A8_DYNAMIC projection with a bias (the kernel has none) sends that layer, and only it, to
    the separate linears, said once; a quantized kv_b_proj is refused (the absorbed attention reads its
    float weight)."""
    _, dst, _ = exported("glm_moe_dsa", "w4a8")
    model = from_msmodelslim(dst, dtype=torch.float32, backend="kernels", patch_attention=False)
    q_b = model.model.layers[1].self_attn.q_b_proj
    q_b.bias = torch.zeros(q_b.out_features)
    with pytest.warns(UserWarning, match=r"layers \[1\] runs the separate projection modules") as notes:
        patch_model(model)
    assert len([n for n in notes if "separate" in str(n.message)]) == 1
    paths = prolog_paths(model)
    assert sorted(paths.values()) == [[0, 2], [1]]
    assert isinstance(model.model.layers[1].self_attn._ascend_plan.prolog, ModuleProlog)
    unpatch_model(model)
    attn = model.model.layers[0].self_attn
    w = torch.zeros(attn.kv_b_proj.out_features, attn.kv_b_proj.in_features, dtype=torch.int8)
    attn.kv_b_proj = W8A8DynamicLinear(w, torch.ones(w.shape[0]))
    with pytest.raises(ValueError, match="layer 0 kv_b_proj is W8A8DynamicLinear"):
        patch_model(model)
    assert "_ascend_plan" not in vars(model.model.layers[1].self_attn)  # nothing patched


def _builds(model) -> list[int]:
    return [layer.self_attn._ascend_plan.prolog.builds for layer in model.model.layers]


def test_weights_prepared_once_and_rebuilt_when_changed():
    """Kernel-layout weights are built at patch time only; an in-place write, a replaced parameter or a
    changed scale is seen on the next call and gives what a fresh patch_model gives."""
    model = build_tiny_model("glm_moe_dsa", seed=2, num_hidden_layers=2)
    ids = torch.randint(1, 64, (1, 6), generator=torch.Generator().manual_seed(4))
    patch_model(model)
    with torch.no_grad():
        before = model(input_ids=ids).logits
        model(input_ids=ids)
    assert _builds(model) == [1, 1]
    attn0, attn1 = (layer.self_attn for layer in model.model.layers)
    with torch.no_grad():
        attn0.q_a_proj.weight.mul_(-1.5)  # in place: the version counter moves
    attn1.kv_b_proj.weight = nn.Parameter(attn1.kv_b_proj.weight.detach() * 0.5)  # a new tensor
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert _builds(model) == [2, 2]
    unpatch_model(model)
    patch_model(model)
    with torch.no_grad():
        fresh = model(input_ids=ids).logits
    assert torch.equal(after, fresh)
    assert not torch.allclose(after, before, atol=1e-3)


def test_int8_scales_changed_after_patching_are_seen(exported):
    _, dst, _ = exported("glm_moe_dsa", "w4a8")
    model = from_msmodelslim(dst, dtype=torch.float32, backend="reference")
    attn = model.model.layers[0].self_attn
    x = torch.randn(5, model.config.hidden_size, generator=torch.Generator().manual_seed(2))
    cos, sin = (t[0] for t in model.model.rotary_emb(x[None], torch.arange(5)[None]))
    prolog = attn._ascend_plan.prolog
    first = _prolog_outputs(prolog, attn, x, cos, sin, torch.float16)
    attn.kv_a_proj_with_mqa.weight_scale = attn.kv_a_proj_with_mqa.weight_scale * 2  # new buffer
    second = _prolog_outputs(prolog, attn, x, cos, sin, torch.float16)
    assert prolog.builds == 2
    want = _prolog_outputs(lambda *a: module_prolog(*a), attn, x, cos, sin, torch.float16)
    assert float((second["kr"].float() - want["kr"].float()).abs().max() / want["kr"].float().abs().max()) < 2e-3
    assert float((second["kr"].float() - 2 * first["kr"].float()).abs().max()) < 1e-2 * float(first["kr"].abs().max())


@pytest.mark.parametrize(("kind", "scheme"), list(MODES))
def test_patched_quantized_model_within_documented_logit_tolerance(exported, eval_ids, kind, scheme):
    """The loaded model with every kernel (attention patched, prolog in its int8 mode) against the float
    model: within the tolerances docs/quantization.md states for the loaded model."""
    src, dst, _ = exported(kind, scheme)
    model = from_msmodelslim(dst, dtype=torch.float32, backend="kernels")
    assert all(f"weight_quant_mode {MODES[kind, scheme]}" in d for d in model._msmodelslim["prolog"])
    assert_agrees_with_float(src, model, eval_ids, scheme)


def test_demo_reports_the_prolog_path_and_its_launches(exported, capsys):
    from ascend_glm5.__main__ import main

    _, dst, _ = exported("glm_moe_dsa", "w4a8")
    assert main(["demo", "--model-path", dst, "--tokens", "2"]) == 0
    out = capsys.readouterr().out
    assert "MLA prolog of layers [0, 1, 2]: dynamic_quant + mla_prolog kernel, weight_quant_mode 2" in out
    assert "mla_prolog (weight_quant_mode 2)" in out and "result: AGREE" in out
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith("  mla_prolog ")}
    assert rows["mla_prolog"][0] == rows["mla_prolog"][1] != "0"  # calls == launches > 0
