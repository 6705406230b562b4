"""Quantize a float GLM-5 / DeepSeek-V3.2 checkpoint on the CPU into msModelSlim's ascendV1 format.

``python -m ascend_glm5 quantize SRC DST --scheme w8a8|w4a8 [--quarot] [--smooth ALPHA]``:

1. load SRC (a transformers checkpoint of ``model_type`` glm_moe_dsa / deepseek_v32) in fp32;
2. optional QuaRot (:mod:`ascend_glm5.quant.quarot`): norms folded, Hadamard rotations folded in;
3. calibration: a forward pass over calibration tokens records every linear's per-channel input range;
4. optional SmoothQuant (:mod:`ascend_glm5.quant.smooth`) with those ranges;
5. per decoder layer (with a progress bar): each linear gets its recipe's type
   (:mod:`ascend_glm5.quant.recipes`): W8A8_DYNAMIC (int8 per-channel minmax), W8A8 static (the same
   weights, per-tensor asymmetric activation range from calibration), W4A8_DYNAMIC routed experts
   (int4 per-channel, SSZ scale search), FLOAT (original dtype) -- and is written with msModelSlim's
   names, dtypes and shapes (:mod:`ascend_glm5.quant.scales`, :mod:`ascend_glm5.quant.checkpoint`).

The whole float model is held in memory (fp32): fine for the CPU-sized models this is meant for; the
744B GLM-5 itself goes through msModelSlim on NPUs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from .checkpoint import SHARD_BYTES, CheckpointWriter, SafetensorsDir, copy_model_files
from .int4_pack import pack_int4_int8
from .recipes import Recipe, linear_type, recipe
from .scales import (
    SCALE_BIAS_CHUNKS,
    SSZ_STEPS,
    activation_params_asymmetric,
    msmodelslim_scale_bias,
    quantize_weight_minmax,
    quantize_weight_ssz,
    w8a8_static_tensors,
)
from .smooth import ChannelRange, smooth_norm_linear, smooth_ov, smooth_up_down


@dataclass
class Options:
    scheme: str = "w8a8"
    quarot: bool = False
    smooth: float | None = None  # SmoothQuant alpha
    calib_sequences: int = 8
    calib_length: int = 64
    seed: int = 0
    ssz_steps: int = SSZ_STEPS
    shard_bytes: int = SHARD_BYTES
    progress: bool = True


@dataclass
class Quantized:
    """What :func:`quantize_model` produced (the transformed float model stays in memory for reports)."""

    model: nn.Module  # the float model after QuaRot / smoothing: the one that was quantized
    types: dict[str, str] = field(default_factory=dict)  # linear / experts module -> quant type
    rotation: torch.Tensor | None = None
    seconds: float = 0.0


def calibration_ids(vocab: int, sequences: int, length: int, seed: int) -> torch.Tensor:
    """Random token ids ``[sequences, length]`` (a model-agnostic calibration set)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (sequences, length), generator=gen)


class _Progress:
    """``label [#####.....] i/n layers, t s`` on stderr, redrawn in place on a terminal."""

    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, done: int, note: str = "") -> None:
        if not self.enabled:
            return
        width = 30
        filled = width * done // max(self.total, 1)
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} layers, "
                f"{time.perf_counter() - self.start:.1f} s {note}")  # fmt: skip
        end = "" if self.tty and done < self.total else "\n"
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


@torch.no_grad()
def collect_ranges(model, ids: torch.Tensor, batch: int = 4) -> dict[str, ChannelRange]:
    """Per-channel input min / max of every ``nn.Linear`` in the decoder layers over ``ids``."""
    ranges: dict[str, ChannelRange] = {}
    handles = []

    def hook(name):
        def fn(module, args, output):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
            lo, hi = x.amin(dim=0), x.amax(dim=0)
            old = ranges.get(name)
            ranges[name] = ChannelRange(lo, hi) if old is None else ChannelRange(torch.minimum(old.low, lo),
                                                                                torch.maximum(old.high, hi))  # fmt: skip

        return fn

    for name, module in model.model.layers.named_modules(prefix="model.layers"):
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(hook(name)))
    try:
        for start in range(0, ids.shape[0], batch):
            model(input_ids=ids[start : start + batch], use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return ranges


def _smooth(model, r: Recipe, ranges, alpha: float) -> dict[str, torch.Tensor]:
    """SmoothQuant on the recipe's subgraphs; returns ``{linear name: s}`` (that linear's input is now x / s)."""
    divisors: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(model.model.layers):
        p = f"model.layers.{i}"
        attn = layer.self_attn
        groups = [
            (layer.input_layernorm, [("self_attn.q_a_proj", attn.q_a_proj),
                                     ("self_attn.kv_a_proj_with_mqa", attn.kv_a_proj_with_mqa)]),
            (attn.q_a_layernorm, [("self_attn.q_b_proj", attn.q_b_proj)]),
        ]  # fmt: skip
        if attn.indexer is not None:
            groups[0][1].extend([("self_attn.indexer.wk", attn.indexer.wk),
                                 ("self_attn.indexer.weights_proj", attn.indexer.weights_proj)])  # fmt: skip
            groups[1][1].append(("self_attn.indexer.wq_b", attn.indexer.wq_b))
        for norm, members in groups:
            names = [f"{p}.{n}" for n, _ in members]
            if all(linear_type(r, n) == "FLOAT" for n in names):
                continue
            s = smooth_norm_linear(norm, [m for _, m in members], ranges[names[0]], alpha)
            divisors.update({n: s for n in names})
        o_name = f"{p}.self_attn.o_proj"
        if linear_type(r, o_name) != "FLOAT":
            divisors[o_name] = smooth_ov(attn, ranges[o_name], alpha)
        if r.smooth_up_down:
            mlp = layer.mlp.shared_experts if hasattr(layer.mlp, "experts") else layer.mlp
            prefix = f"{p}.mlp.shared_experts" if hasattr(layer.mlp, "experts") else f"{p}.mlp"
            divisors[f"{prefix}.down_proj"] = smooth_up_down(mlp, ranges[f"{prefix}.down_proj"], alpha)
    return divisors


class _Writer:
    """Writes one module's tensors with msModelSlim's names, dtypes and order."""

    def __init__(self, out: CheckpointWriter, source: SafetensorsDir | None, float_dtype: torch.dtype,
                 ranges, divisors, options: Options):  # fmt: skip
        self.out, self.source, self.float_dtype = out, source, float_dtype
        self.ranges, self.divisors, self.options = ranges, divisors, options
        self.deq_int64 = float_dtype != torch.bfloat16  # msModelSlim: fp32 deq_scale for bf16 models, else int64

    def floating(self, name: str, t: torch.Tensor) -> None:
        """A FLOAT tensor, in the dtype the source checkpoint stored it in (else the model's dtype)."""
        dtype = self.float_dtype
        if self.source is not None and name in self.source:
            dtype = self.source.spec(name)[1] or dtype
        self.out.add(name, t.detach().to(dtype), "FLOAT")

    def module_floats(self, prefix: str, module: nn.Module) -> None:
        for attr, t in module._parameters.items():
            if t is not None:
                self.floating(f"{prefix}.{attr}", t)
        for attr, t in module._buffers.items():
            if t is not None and attr not in module._non_persistent_buffers_set:
                self.floating(f"{prefix}.{attr}", t)

    def w8a8_dynamic(self, name: str, w: torch.Tensor, bias: torch.Tensor | None) -> None:
        q, s = quantize_weight_minmax(w, 8)
        add = self.out.add
        add(f"{name}.weight", q, "W8A8_DYNAMIC")
        add(f"{name}.weight_scale", s[:, None], "W8A8_DYNAMIC")
        add(f"{name}.weight_offset", torch.zeros_like(s)[:, None], "W8A8_DYNAMIC")
        if bias is not None:
            add(f"{name}.bias", bias.detach().float(), "FLOAT")

    def w8a8_static(self, name: str, w: torch.Tensor, bias: torch.Tensor | None) -> None:
        q, s = quantize_weight_minmax(w, 8)
        rng = self.ranges[name]
        div = self.divisors.get(name)
        low, high = (rng.low, rng.high) if div is None else (rng.low / div.float(), rng.high / div.float())
        in_scale, in_offset = activation_params_asymmetric(float(low.min()), float(high.max()))
        deq, quant_bias = w8a8_static_tensors(q, s, in_scale, in_offset, bias)
        if self.deq_int64:  # fp32 bit pattern in an int64 (msModelSlim deqscale2int64)
            deq = deq.view(torch.int32).to(torch.int64)
        add = self.out.add
        add(f"{name}.weight", q, "W8A8")
        add(f"{name}.quant_bias", quant_bias, "W8A8")
        add(f"{name}.input_scale", in_scale, "W8A8")
        add(f"{name}.input_offset", in_offset, "W8A8")
        add(f"{name}.deq_scale", deq, "W8A8")
        if bias is not None:
            add(f"{name}.bias", bias.detach().float(), "FLOAT")

    def w4a8(self, name: str, w: torch.Tensor, chunks: int) -> None:
        q, s = quantize_weight_ssz(w, 4, self.options.ssz_steps)
        add = self.out.add
        add(f"{name}.weight", pack_int4_int8(q), "W4A8_DYNAMIC")
        add(f"{name}.weight_scale", s[:, None], "W4A8_DYNAMIC")
        add(f"{name}.weight_offset", torch.zeros_like(s)[:, None], "W4A8_DYNAMIC")
        add(f"{name}.scale_bias", msmodelslim_scale_bias(q, s, chunks), "W4A8_DYNAMIC")

    def linear(self, name: str, module: nn.Linear, qtype: str) -> None:
        if qtype == "FLOAT":
            self.module_floats(name, module)
        elif qtype == "W8A8_DYNAMIC":
            self.w8a8_dynamic(name, module.weight, module.bias)
        elif qtype == "W8A8":
            self.w8a8_static(name, module.weight, module.bias)
        else:
            raise ValueError(f"{name}: {qtype} is only used for routed experts")

    def experts(self, prefix: str, module: nn.Module, qtype: str) -> None:
        inter = module.intermediate_dim
        for e in range(module.num_experts):
            parts = (("gate_proj", module.gate_up_proj[e, :inter], 1), ("up_proj", module.gate_up_proj[e, inter:], 1),
                     ("down_proj", module.down_proj[e], SCALE_BIAS_CHUNKS))  # fmt: skip
            for proj, w, chunks in parts:
                name = f"{prefix}.{e}.{proj}"
                if qtype == "W4A8_DYNAMIC":
                    self.w4a8(name, w, chunks)
                elif qtype == "W8A8_DYNAMIC":
                    self.w8a8_dynamic(name, w, None)
                else:
                    self.floating(f"{name}.weight", w)


def _write_layer(writer: _Writer, r: Recipe, prefix: str, layer: nn.Module, types: dict) -> None:
    for sub, module in layer.named_modules(prefix=prefix):
        if hasattr(module, "gate_up_proj") and hasattr(module, "num_experts"):
            qtype = linear_type(r, f"{sub}.0.gate_proj")
            types[sub] = qtype
            writer.experts(sub, module, qtype)
        elif isinstance(module, nn.Linear):
            qtype = linear_type(r, sub)
            types[sub] = qtype
            writer.linear(sub, module, qtype)
        elif not hasattr(module, "quant_type"):
            writer.module_floats(sub, module)


def _float_dtype(src: str) -> torch.dtype:
    """The source checkpoint's dtype (config.json ``dtype`` / ``torch_dtype``): FLOAT tensors keep it, and
    it decides fp32 (bf16 models) or int64 (others) ``deq_scale`` as in msModelSlim. Default bf16."""
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    name = config.get("dtype") or config.get("torch_dtype") or "bfloat16"
    dtype = getattr(torch, str(name).replace("torch.", ""), None)
    return dtype if isinstance(dtype, torch.dtype) else torch.bfloat16


def load_float_model(src: str):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    if model.config.model_type not in ("glm_moe_dsa", "deepseek_v32"):
        raise ValueError(f"{src}: model_type {model.config.model_type!r}; quantize takes glm_moe_dsa or deepseek_v32")
    return model


@torch.no_grad()
def quantize_model(model, src: str, dst: str, options: Options) -> Quantized:
    """Quantize the fp32 float ``model`` (loaded from ``src``; modified in place by QuaRot / smoothing)
    and write the msModelSlim checkpoint to ``dst``."""
    start = time.perf_counter()
    config = model.config
    r = recipe(config.model_type, options.scheme)
    rot = None
    if options.quarot:
        from .quarot import apply_quarot

        rot = apply_quarot(model, seed=1234 + options.seed)
    ranges = collect_ranges(model, calibration_ids(config.vocab_size, options.calib_sequences,
                                                   options.calib_length, options.seed))  # fmt: skip
    divisors = _smooth(model, r, ranges, options.smooth) if options.smooth is not None else {}
    out = CheckpointWriter(dst, options.shard_bytes)
    source = SafetensorsDir(src) if any(f.endswith(".safetensors") for f in os.listdir(src)) else None
    float_dtype = _float_dtype(src)
    writer = _Writer(out, source, float_dtype, ranges, divisors, options)
    types: dict[str, str] = {}
    writer.module_floats("model.embed_tokens", model.model.embed_tokens)
    layers = model.model.layers
    bar = _Progress(f"quantize {options.scheme}", len(layers), options.progress)
    bar.update(0)
    for i, layer in enumerate(layers):
        _write_layer(writer, r, f"model.layers.{i}", layer, types)
        bar.update(i + 1)
    writer.module_floats("model.norm", model.model.norm)
    writer.linear("lm_head", model.lm_head, "FLOAT")
    optional = {}
    if rot is not None:
        q = rot.hidden.float()
        out.add_side_file("optional/quarot.safetensors", {"global_rotation": q})
        optional = {"quarot": {"rotation_map": {"global_rotation": "optional/quarot.safetensors"}}}
        if config.model_type == "glm_moe_dsa":  # GLM-5 export: the MTP layer's fix-up for the folded final norm
            gain = _original_final_norm(source, model)
            out.add_side_file("rot.safetensors", {"rot.weight": ((q.T * gain) @ q).to(float_dtype)},
                              index_names=["rot.weight"])  # fmt: skip
            out.extra_globals["is_rot_used"] = True
    out.close(optional=optional)
    copy_model_files(src, dst)
    return Quantized(model, types, None if rot is None else rot.hidden, time.perf_counter() - start)


def _original_final_norm(source: SafetensorsDir | None, model) -> torch.Tensor:
    if source is not None and "model.norm.weight" in source:
        return source.get("model.norm.weight").float()
    return torch.ones(model.config.hidden_size)


def quantize(src: str, dst: str, options: Options) -> Quantized:
    """Load ``src`` and run :func:`quantize_model` (the float model is modified in memory only)."""
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("DST must differ from SRC")
    return quantize_model(load_float_model(src), src, dst, options)
