"""``python -m ascend_glm5 demo --model-path DIR`` for an msModelSlim W8A8 / W4A8 export.

The checkpoint is loaded with :func:`ascend_glm5.from_msmodelslim` (fp32 float parts) as

* the **kernel model**: quantized linears and experts on the ascend_glm5 kernels, DSA attention
  patched onto the lightning_indexer / sparse_flash_attention kernels (where the geometry fits);
* the **reference model**: the same checkpoint on the ops' pure-torch references, HF's attention.

It reports (1) per quantized op kind, the kernel modules against the reference modules on identical
inputs (the reference model's own activations); (2) the quantized ops end to end: the kernel model
with HF's attention against the reference model, teacher-forced on the reference's greedy tokens;
(3) the whole kernel model (attention kernels too): its greedy generation and, teacher-forced, its
top-1 agreement with the reference model where the reference's top-1 margin is clear of a tie band
(information: the attention kernels compute in fp16, the MLA prolog kernel hands c^Q over in int8
where the projections are W8A8_DYNAMIC, and a near-tie in the indexer's top-k or an
int8 rounding that moves by one step then grows through a random model); (4) the launches and
emulator counters of every kernel. Pass: (1) and (2) within OP_TOLERANCE.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

import torch

from .checkpoint import DESCRIPTION

PROMPT_LENGTHS = (16, 11)
OP_TOLERANCE = 1e-3  # max |kernel - reference| / max |reference|: one module on identical inputs, or the logits
TIE_BAND = 0.02  # a position counts when the reference's top1 - top2 > TIE_BAND * max |logit|


def is_msmodelslim(path: str | None) -> bool:
    return path is not None and os.path.isfile(os.path.join(path, DESCRIPTION))


def _prompts(vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    width = max(PROMPT_LENGTHS)
    ids = torch.randint(1, vocab, (len(PROMPT_LENGTHS), width), generator=gen)
    mask = torch.zeros_like(ids)
    for b, n in enumerate(PROMPT_LENGTHS):
        mask[b, width - n :] = 1
        ids[b, : width - n] = 0
    return ids, mask


@torch.no_grad()
def op_agreement(reference, kernels, ids, mask) -> dict[str, float]:
    """Max relative error per quantized module kind: each kernel module run on the inputs its
    reference twin saw in the reference model's forward."""
    from ..integrations.msmodelslim import quantized_modules
    from .report import layer_kind

    ours = quantized_modules(kernels)
    errors: dict[str, float] = defaultdict(float)
    handles = []

    def hook(name):
        def fn(module, args, output):
            got = ours[name](*args).float()
            want = output.float()
            scale = float(want.abs().max()) or 1.0
            kind = f"{layer_kind(name)} ({module.quant_type if hasattr(module, 'quant_type') else 'W4A8_DYNAMIC'})"
            errors[kind] = max(errors[kind], float((got - want).abs().max()) / scale)

        return fn

    for name, module in quantized_modules(reference).items():
        handles.append(module.register_forward_hook(hook(name)))
    try:
        reference(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return dict(sorted(errors.items()))


# The mla_prolog kernel against its reference on identical inputs (docs/ops/mla_prolog.md, Numerics):
# float outputs within 2 ulps of the kernel dtype (fp16 for the demo's fp32 model) of each output's
# max; c^Q (int8 in modes 1, 2) within one int8 step of its row's max (1/127).
PROLOG_TOLERANCE = {"query": 2 * 2**-10, "query_rope": 2 * 2**-10, "kv": 2 * 2**-10, "kr": 2 * 2**-10,
                    "c_q": 1 / 127 + 2**-10}  # fmt: skip


@torch.no_grad()
def prolog_agreement(reference, kernels, ids, mask) -> dict[str, float]:
    """Per MLA-prolog path of the kernel model, max over layers of the kernel prolog's error against
    the same prolog on the reference ops, on the attention inputs of the reference model's forward
    (relative to each output's max, divided by that output's tolerance: pass <= 1)."""
    from ..integrations.prolog import KernelProlog
    from ..integrations.transformers import PagedLatentCache

    inputs = {}

    def grab(i):
        def fn(module, args, kwargs):
            inputs[i] = (kwargs["hidden_states"], kwargs["position_embeddings"])

        return fn

    handles = [layer.self_attn.register_forward_pre_hook(grab(i), with_kwargs=True)
               for i, layer in enumerate(reference.model.layers)]  # fmt: skip
    try:
        reference(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    valid = mask.bool()
    errors: dict[str, float] = defaultdict(float)
    for i, layer in enumerate(kernels.model.layers):
        plan = vars(layer.self_attn).get("_ascend_plan")
        if plan is None or not isinstance(plan.prolog, KernelProlog) or i not in inputs:
            continue
        hidden, (cos, sin) = inputs[i]
        x, cos, sin = hidden[valid], cos.expand(*valid.shape, -1)[valid], sin.expand(*valid.shape, -1)[valid]
        dtype = torch.bfloat16 if x.dtype == torch.bfloat16 else torch.float16
        outs = []
        for backend in ("kernels", "reference"):
            cache = PagedLatentCache(16, dtype, x.device, index_keys=False)
            slots = cache.append(torch.tensor([x.shape[0]]), x.shape[0])
            plan.prolog.backend = backend
            try:
                query, query_rope, c_q = plan.prolog(layer.self_attn, x, cos, sin, cache, slots)
            finally:
                plan.prolog.backend = None
            rows = cache.kv.flatten(0, 1)[slots]  # the combined cache: c^KV (512) then the roped k (64)
            outs.append({"query": query, "query_rope": query_rope, "c_q": c_q,
                         "kv": rows[..., :512], "kr": rows[..., 512:]})  # fmt: skip
        got, want = outs
        kind = f"mla_prolog (weight_quant_mode {plan.prolog.mode})"
        for name, tol in PROLOG_TOLERANCE.items():
            g, w = got[name].float(), want[name].float()
            errors[kind] = max(errors[kind], float((g - w).abs().max() / w.abs().max()) / tol)
    return dict(errors)


def _generate(model, ids, mask, tokens):
    start = time.perf_counter()
    out = model.generate(ids, attention_mask=mask, max_new_tokens=tokens, do_sample=False, pad_token_id=0,
                         eos_token_id=None, output_logits=True, return_dict_in_generate=True)  # fmt: skip
    return out, time.perf_counter() - start


def _counter_table(totals: dict) -> list[str]:
    columns = ["calls", "launches", "mte2_bytes", "mte3_bytes", "cube_macs", "vector_elem_ops"]
    lines = ["  " + f"{'kernel':24s}" + "".join(f"{c:>16s}" for c in columns)]
    for op, entry in sorted(totals.items()):
        lines.append("  " + f"{op:24s}" + "".join(f"{entry.get(c, 0):>16d}" for c in columns))
    return lines


@torch.no_grad()
def run(path: str, tokens: int = 32, seed: int = 1) -> int:
    """The demo for a quantized checkpoint; exit code 0 (agree), 1 (disagree)."""
    from ..integrations.msmodelslim import from_msmodelslim
    from ..integrations.transformers import patch_model, unpatch_model
    from .launches import count_kernel_launches
    from .report import logit_agreement

    reference = from_msmodelslim(path, dtype=torch.float32, backend="reference", patch_attention=False)
    kernels = from_msmodelslim(path, dtype=torch.float32, backend="kernels")
    config = kernels.config
    with open(os.path.join(path, DESCRIPTION)) as f:
        description = json.load(f)
    types = defaultdict(int)
    for key, value in description.items():
        if key.endswith(".weight") and isinstance(value, str):
            types[value] += 1
    ids, mask = _prompts(config.vocab_size, seed)
    print(f"{type(kernels).__name__}: msModelSlim export {path} ({description.get('model_quant_type')}; weights per "
          f"type: {', '.join(f'{k} {v}' for k, v in sorted(types.items()))}), {config.num_hidden_layers} layers; "
          f"prompts of {list(PROMPT_LENGTHS)} tokens (left-padded), {tokens} new tokens, greedy", flush=True)  # fmt: skip
    print(f"  attention: {kernels._msmodelslim['attention']}")
    for path, layers in kernels._msmodelslim.get("prolog", {}).items():
        print(f"  MLA prolog of layers {layers}: {path}")

    ops = op_agreement(reference, kernels, ids, mask)
    print("per-op agreement (each kernel module on the reference model's own inputs; max rel error):")
    for kind, err in ops.items():
        print(f"  {kind:44s} {err:.2e}")

    prologs = prolog_agreement(reference, kernels, ids, mask)
    for kind, ratio in prologs.items():
        print(f"  {kind:44s} {ratio:.2f} of its tolerance (2 fp16 ulps of max; c^Q one int8 step)")

    ref_out, ref_seconds = _generate(reference, ids, mask, tokens)
    full = ref_out.sequences
    full_mask = torch.cat([mask, torch.ones(mask.shape[0], tokens, dtype=mask.dtype)], dim=1)
    real = full_mask.bool()
    truth = reference(input_ids=full, attention_mask=full_mask, use_cache=False).logits
    unpatch_model(kernels)
    quant_only = kernels(input_ids=full, attention_mask=full_mask, use_cache=False).logits
    quant_error = float((quant_only[real] - truth[real]).abs().max() / truth[real].abs().max())
    if kernels._msmodelslim["attention"].startswith("ascend_glm5"):
        patch_model(kernels)
    with count_kernel_launches() as totals:
        ker_out, ker_seconds = _generate(kernels, ids, mask, tokens)
    same = torch.equal(ref_out.sequences, ker_out.sequences)
    teacher = kernels(input_ids=full, attention_mask=full_mask).logits
    agree = logit_agreement(truth[real], teacher[real], TIE_BAND)
    print("end to end (kernel model vs reference model, teacher-forced on the reference's greedy tokens):")
    print(f"  quantized ops only    (HF attention in both) logits max rel error {quant_error:.2e} "
          f"(tolerance {OP_TOLERANCE:g})")  # fmt: skip
    print(f"  with attention kernels top-1 equal on {agree.top1_equal}/{agree.positions} clear-margin positions "
          f"({100 * agree.top1:.1f}%); logits rel error max {agree.max_rel_error:.2e}, mean {agree.mean_rel_error:.2e}")
    print(f"  greedy tokens         {ids.shape[0]} x {tokens}, identical: {'yes' if same else 'no'}")
    print(f"  wall time             reference {ref_seconds:.2f} s, kernels {ker_seconds:.2f} s (emulated on the CPU)")
    print("kernel launches and emulator counters (the kernel model's generation):")
    print("\n".join(_counter_table(totals)))
    failures = [f"{k} error {e:.2e} > {OP_TOLERANCE:g}" for k, e in ops.items() if e > OP_TOLERANCE]
    failures += [f"{k} error {r:.2f} x its tolerance" for k, r in prologs.items() if r > 1]
    if quant_error > OP_TOLERANCE:
        failures.append(f"quantized-ops logits error {quant_error:.2e} > {OP_TOLERANCE:g}")
    print("result: " + ("AGREE" if not failures else "DISAGREE: " + "; ".join(failures)))
    return 0 if not failures else 1
