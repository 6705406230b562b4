"""Quality report of a quantized model against its float model.

* per-layer output SQNR: every quantized linear (and each layer's routed experts as one block) is fed
  the float model's own input to that layer, and ``10 log10(sum y**2 / sum (y - y_q)**2)`` is
  accumulated over the evaluation tokens (each layer in isolation: errors do not compound);
* final logits: the quantized model end to end vs the float model (kept from before QuaRot /
  smoothing): top-1 agreement on positions whose float top-1 margin is clear of a tie band, and the
  relative logit error.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

import torch

TIE_BAND = 0.02  # top-1 decisions are compared where top1 - top2 > TIE_BAND * max|logit| (float model)


def sqnr_db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


@dataclass
class LayerSqnr:
    signal: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    noise: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def db(self) -> dict[str, float]:
        return {name: sqnr_db(self.signal[name], self.noise[name]) for name in self.signal}


@torch.no_grad()
def layer_sqnr(float_model, quant_modules: dict, ids: torch.Tensor, batch: int = 4) -> dict[str, float]:
    """SQNR (dB) per quantized module name: the float module's output vs the quantized module's, both
    on the float model's input to that module."""
    acc = LayerSqnr()
    handles = []
    modules = dict(float_model.named_modules())

    def hook(name):
        qmod = quant_modules[name]

        def fn(module, args, output):
            y = output.float()
            yq = qmod(*args).float()
            acc.signal[name] += float(y.pow(2).sum())
            acc.noise[name] += float((y - yq).pow(2).sum())

        return fn

    for name in quant_modules:
        handles.append(modules[name].register_forward_hook(hook(name)))
    try:
        for start in range(0, ids.shape[0], batch):
            float_model(input_ids=ids[start : start + batch], use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return acc.db()


def layer_kind(name: str) -> str:
    """``model.layers.3.mlp.shared_experts.up_proj`` -> ``shared_experts.up_proj``; dense MLP linears
    are ``dense.*``, routed experts ``experts``."""
    rest = re.sub(r"^model\.layers\.\d+\.", "", name)
    rest = rest.replace("self_attn.", "")
    if rest.startswith("mlp.experts"):
        return "experts"
    if rest.startswith("mlp.shared_experts."):
        return rest[len("mlp.") :]
    if rest.startswith("mlp."):
        return "dense." + rest[len("mlp.") :]
    return rest


@dataclass
class LogitAgreement:
    positions: int  # positions compared (clear float top-1 margin)
    total: int
    top1_equal: int
    max_rel_error: float  # max |q - f| / max |f|
    mean_rel_error: float  # mean |q - f| / mean |f|

    @property
    def top1(self) -> float:
        return self.top1_equal / max(self.positions, 1)


def logit_agreement(float_logits: torch.Tensor, quant_logits: torch.Tensor, band: float = TIE_BAND) -> LogitAgreement:
    f, q = float_logits.float().reshape(-1, float_logits.shape[-1]), quant_logits.float().reshape(-1, float_logits.shape[-1])
    top2 = f.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1]) > band * f.abs().max()
    equal = (f.argmax(-1) == q.argmax(-1)) & clear
    return LogitAgreement(int(clear.sum()), f.shape[0], int(equal.sum()),
                          float((q - f).abs().max() / f.abs().max()),
                          float((q - f).abs().mean() / f.abs().mean()))  # fmt: skip


def summarize(sqnr: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Per layer kind: (min, median) SQNR over layers."""
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, db in sqnr.items():
        kinds[layer_kind(name)].append(db)
    return {k: (min(v), sorted(v)[len(v) // 2]) for k, v in sorted(kinds.items())}


def format_report(sqnr: dict[str, float], agreement: LogitAgreement, baseline: dict[str, float] | None = None,
                  types: dict[str, str] | None = None) -> str:  # fmt: skip
    """The per-layer SQNR table (with the SQNR without QuaRot and the gain, when ``baseline`` is given)
    and the logit agreement."""
    lines = ["per-layer output SQNR (dB; each quantized layer on the float model's own inputs):"]
    head = f"  {'layer':44s} {'type':13s} {'SQNR':>7s}"
    if baseline is not None:
        head += f" {'no QuaRot':>10s} {'gain':>7s}"
    lines.append(head)
    for name, db in sqnr.items():
        line = f"  {name:44s} {(types or {}).get(name, ''):13s} {db:7.1f}"
        if baseline is not None and name in baseline:
            line += f" {baseline[name]:10.1f} {db - baseline[name]:+7.1f}"
        lines.append(line)
    lines.append("per layer kind (min / median over layers):")
    base_summary = summarize(baseline) if baseline is not None else {}
    for kind, (lo, med) in summarize(sqnr).items():
        extra = ""
        if kind in base_summary:
            extra = f"   without QuaRot {base_summary[kind][0]:.1f} / {base_summary[kind][1]:.1f}"
        lines.append(f"  {kind:30s} {lo:6.1f} / {med:6.1f}{extra}")
    a = agreement
    lines.append(f"final logits vs the float model: top-1 equal on {a.top1_equal}/{a.positions} positions "
                 f"({100 * a.top1:.1f}%) whose float top-1 margin exceeds {TIE_BAND:g} x max|logit| "
                 f"({a.total} positions in all); relative error max {a.max_rel_error:.3f}, mean {a.mean_rel_error:.4f}")  # fmt: skip
    return "\n".join(lines)


# Linears that read the residual stream through a norm: the ones injected outliers reach.
RESIDUAL_READERS = ("q_a_proj", "kv_a_proj_with_mqa", "dense.gate_proj", "dense.up_proj", "shared_experts.gate_proj",
                    "shared_experts.up_proj", "experts")  # fmt: skip


@torch.no_grad()
def inject_channel_outliers(model, channels: int = 1, factor: float = 100.0, seed: int = 0) -> list[int]:
    """Give a float model the residual-stream outlier channels of trained LLMs (LLM.int8()'s outlier
    features, arXiv 2208.07339; "massive activations", arXiv 2402.17762), in place:

    * the token embeddings are rescaled to the largest RMS the residual stream reaches in the decoder
      layers (a random model's layers add far more than its embeddings, which would dilute the outliers);
    * ``channels`` random hidden channels of every embedding are set to ``+-factor`` times that RMS, so
      they persist through the residual into every norm output;
    * the input columns of those channels in every linear reading the residual are divided by
      ``sqrt(factor)`` (trained models give such channels small weights: they set the per-token
      activation range while contributing to the outputs only ``sqrt(factor)`` times a usual channel).

    Returns the outlier channels."""
    gen = torch.Generator().manual_seed(seed)
    picked = torch.randperm(model.config.hidden_size, generator=gen)[:channels]
    ids = torch.randint(0, model.config.vocab_size, (2, 32), generator=gen)
    hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
    level = max(float(h.float().pow(2).mean().sqrt()) for h in hidden[1:-1])
    emb = model.model.embed_tokens.weight
    emb *= level / float(emb.float().pow(2).mean().sqrt())
    signs = torch.randint(0, 2, (channels,), generator=gen).to(emb.dtype) * 2 - 1
    emb[:, picked] = factor * level * signs
    readers = [model.lm_head.weight]
    for layer in model.model.layers:
        attn, mlp = layer.self_attn, layer.mlp
        readers += [attn.q_a_proj.weight, attn.kv_a_proj_with_mqa.weight]
        if attn.indexer is not None:
            readers += [attn.indexer.wk.weight, attn.indexer.weights_proj.weight]
        if hasattr(mlp, "experts"):
            readers += [mlp.gate.weight, mlp.experts.gate_up_proj, mlp.shared_experts.gate_proj.weight,
                        mlp.shared_experts.up_proj.weight]  # fmt: skip
        else:
            readers += [mlp.gate_proj.weight, mlp.up_proj.weight]
    for w in readers:
        w[..., picked] /= factor**0.5
    return picked.tolist()
