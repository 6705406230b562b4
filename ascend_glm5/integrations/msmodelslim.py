"""Load an msModelSlim W8A8 / W4A8 export of GLM-5 or DeepSeek-V3.2 into the transformers model.

:func:`from_msmodelslim` builds ``GlmMoeDsaForCausalLM`` / ``DeepseekV32ForCausalLM`` from the
checkpoint's ``config.json`` without allocating weights (meta device), validates every tensor the
model needs against the description file and the config, and only then installs them:

* ``W8A8_DYNAMIC`` / ``W8A8`` linears -> :class:`~ascend_glm5.quant.linear.W8A8DynamicLinear` /
  :class:`~ascend_glm5.quant.linear.W8A8StaticLinear` (``dynamic_quant`` / static quant + ``quant_matmul``);
* routed experts -> :class:`~ascend_glm5.quant.moe.W4A8MoeExperts` (``W4A8_DYNAMIC``: the
  dynamic_quant -> grouped_matmul_a8w4 -> dequant_swiglu_quant -> grouped_matmul_a8w4 chain) or
  :class:`~ascend_glm5.quant.experts.W8A8DynamicExperts` (the same chain on per-expert quant_matmul);
* ``FLOAT`` tensors (router and its ``e_score_correction_bias``, norms, ``kv_b_proj``, indexer ``wk`` /
  ``weights_proj``, embeddings, ``lm_head``) -> the HF parameters, in ``dtype`` (the router and
  ``weights_proj`` in fp32, as transformers keeps them).

Tensors are memory-mapped views of the safetensors shards (int8 weights are never copied; FLOAT tensors
are copied only to change dtype). A bad checkpoint raises :class:`CheckpointError` naming the tensor;
no model is returned then. Formats and limits: docs/quantization.md.
"""

from __future__ import annotations

import json
import os
import re
import warnings

import torch
from torch import nn

from ..quant.checkpoint import CheckpointError, SafetensorsDir, read_description
from ..quant.experts import W8A8DynamicExperts
from ..quant.int4_pack import msmodelslim_to_int32, unpack_int4_int8
from ..quant.linear import W8A8DynamicLinear, W8A8StaticLinear, check_backend
from ..quant.moe import W4A8MoeExperts

__all__ = ["CheckpointError", "QUANT_MODULES", "from_msmodelslim", "quantized_modules", "set_backend"]

# The modules that replace HF's quantized linears / experts; each has a switchable ``backend``.
QUANT_MODULES = (W8A8DynamicLinear, W8A8StaticLinear, W8A8DynamicExperts, W4A8MoeExperts)

MODEL_TYPES = ("glm_moe_dsa", "deepseek_v32")
_SCALE_BIAS_RTOL = 1e-4  # fp32 summation noise of msModelSlim's 8 * sum_k(w * s) is far below this
_LAYER = re.compile(r"^model\.layers\.(\d+)\.")


def _model_class(model_type: str):
    from transformers import DeepseekV32ForCausalLM, GlmMoeDsaForCausalLM

    return {"glm_moe_dsa": GlmMoeDsaForCausalLM, "deepseek_v32": DeepseekV32ForCausalLM}[model_type]


class _Checkpoint:
    """The checkpoint's tensors with their description types; records which ones were used."""

    def __init__(self, path: str):
        self.types, self.globals = read_description(path)
        self.files = SafetensorsDir(path)
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self.files

    def qtype(self, name: str) -> str:
        if name not in self.files:
            raise CheckpointError(f"tensor {name} is missing from the checkpoint")
        if name not in self.types:
            raise CheckpointError(f"tensor {name} has no quant type in quant_model_description.json")
        return self.types[name]

    def get(self, name: str, qtype: str, dtypes: tuple, shapes: tuple) -> torch.Tensor:
        """The tensor ``name``, checked: its description type is ``qtype``, its dtype one of ``dtypes``
        and its shape one of ``shapes``."""
        found = self.qtype(name)
        if found != qtype:
            raise CheckpointError(f"tensor {name} is described as {found}, expected {qtype} like the rest of its layer")
        shape, dtype = self.files.spec(name)
        if dtype not in dtypes:
            raise CheckpointError(f"tensor {name} has dtype {dtype}, expected {' or '.join(map(str, dtypes))}")
        if shape not in shapes:
            want = " or ".join(str(list(s)) for s in shapes)
            raise CheckpointError(f"tensor {name} has shape {list(shape)}, but the config needs {want}")
        self.used.add(name)
        return self.files.get(name)


def _scale(ckpt: _Checkpoint, prefix: str, qtype: str, n: int) -> torch.Tensor:
    """``weight_scale`` [N, 1] (or [N]) fp32 > 0, and a ``weight_offset`` that must be zero."""
    name = f"{prefix}.weight_scale"
    if not ckpt.has(name):
        raise CheckpointError(f"tensor {name} is missing: a {qtype} layer needs its per-channel weight scale")
    scale = ckpt.get(name, qtype, (torch.float32,), ((n, 1), (n,))).reshape(n)
    if not bool(torch.isfinite(scale).all() & (scale > 0).all()):
        raise CheckpointError(f"tensor {name} has non-positive or non-finite scales")
    offset_name = f"{prefix}.weight_offset"
    if ckpt.has(offset_name):
        offset = ckpt.get(offset_name, qtype, (torch.float32, torch.float16, torch.bfloat16), ((n, 1), (n,)))
        if bool((offset != 0).any()):
            raise CheckpointError(f"tensor {offset_name} is not zero: asymmetric weights are not supported "
                                  f"(the kernels take symmetric per-channel int weights)")  # fmt: skip
    return scale


def _float_bias(ckpt: _Checkpoint, prefix: str, n: int) -> torch.Tensor | None:
    name = f"{prefix}.bias"
    if not ckpt.has(name):
        return None
    return ckpt.get(name, "FLOAT", (torch.float32, torch.bfloat16, torch.float16), ((n,),)).float()


def _linear(ckpt: _Checkpoint, prefix: str, module: nn.Linear, dtype: torch.dtype, backend: str):
    """The module that replaces ``module`` (an HF ``nn.Linear`` on the meta device), or None when it
    stays an HF float linear (its tensors are then loaded as FLOAT parameters)."""
    n, k = module.out_features, module.in_features
    qtype = ckpt.qtype(f"{prefix}.weight")
    if qtype == "FLOAT":
        return None
    if qtype == "W4A8_DYNAMIC":
        raise CheckpointError(f"tensor {prefix}.weight is W4A8_DYNAMIC, which the kernels serve for routed "
                              f"experts only (mlp.experts.E.*)")  # fmt: skip
    weight = ckpt.get(f"{prefix}.weight", qtype, (torch.int8,), ((n, k),))
    if qtype == "W8A8_DYNAMIC":
        return W8A8DynamicLinear(weight, _scale(ckpt, prefix, qtype, n), _float_bias(ckpt, prefix, n), backend=backend)
    # W8A8 static
    for part in ("input_scale", "input_offset", "deq_scale", "quant_bias"):
        if not ckpt.has(f"{prefix}.{part}"):
            raise CheckpointError(f"tensor {prefix}.{part} is missing: a W8A8 (static) layer needs input_scale, "
                                  f"input_offset, deq_scale and quant_bias")  # fmt: skip
    input_scale = ckpt.get(f"{prefix}.input_scale", qtype, (torch.float32, torch.bfloat16, torch.float16),
                           ((1,), ())).float().reshape(1)  # fmt: skip
    if not (torch.isfinite(input_scale).all() and input_scale.item() > 0):
        raise CheckpointError(f"tensor {prefix}.input_scale must be a positive finite scale, got {input_scale.item()}")
    input_offset = ckpt.get(f"{prefix}.input_offset", qtype, (torch.float32, torch.bfloat16, torch.float16, torch.int8),
                            ((1,), ())).float().reshape(1)  # fmt: skip
    o = input_offset.item()
    if o != round(o) or not -128 <= o <= 127:
        raise CheckpointError(f"tensor {prefix}.input_offset must be an integer in [-128, 127], got {o}")
    deq = ckpt.get(f"{prefix}.deq_scale", qtype, (torch.float32, torch.int64), ((n,), (n, 1))).reshape(n)
    if deq.dtype == torch.int64:  # fp32 bits in the low word (msModelSlim writes int64 for fp16 models)
        if bool(((deq >> 32) != 0).any()):
            raise CheckpointError(f"tensor {prefix}.deq_scale (int64) must hold fp32 bits in its low 32 bits")
        low = deq & 0xFFFFFFFF
        deq = torch.where(low >= 2**31, low - 2**32, low).to(torch.int32).view(torch.float32)
    if not bool(torch.isfinite(deq).all() & (deq > 0).all()):
        raise CheckpointError(f"tensor {prefix}.deq_scale has non-positive or non-finite values")
    quant_bias = ckpt.get(f"{prefix}.quant_bias", qtype, (torch.int32,), ((n,), (n, 1))).reshape(n)
    for extra in ("weight_scale", "weight_offset"):  # written by W8A8_MIX-style exports; unused here
        if ckpt.has(f"{prefix}.{extra}"):
            ckpt.get(f"{prefix}.{extra}", qtype, (torch.float32, torch.bfloat16, torch.float16), ((n, 1), (n,)))
    if ckpt.has(f"{prefix}.bias"):  # folded into quant_bias by the exporter
        _float_bias(ckpt, prefix, n)
    return W8A8StaticLinear(weight, input_scale, input_offset, deq.float(), quant_bias, backend=backend)


def _check_scale_bias(name: str, file_value: torch.Tensor, w_q: torch.Tensor, scale: torch.Tensor) -> None:
    """``file_value`` [N, C] must be ``8 * s * sum_{k in chunk} w`` of these weights (else the weights
    or scales changed after it was computed: a stale file that CANN's A8W4 kernel would misuse)."""
    n, k = w_q.shape
    chunks = file_value.shape[1]
    parts = w_q.to(torch.int64).reshape(n, chunks, k // chunks)
    expected = 8.0 * scale.double()[:, None] * parts.sum(dim=2).double()
    tol = _SCALE_BIAS_RTOL * 8.0 * scale.double()[:, None] * parts.abs().sum(dim=2).double() + 1e-30
    err = (file_value.double() - expected).abs()
    if bool((err > tol).any()):
        worst = int((err / tol).flatten().argmax()) // chunks
        raise CheckpointError(f"tensor {name} is stale: row {worst} is {file_value[worst].tolist()[:4]}..., but "
                              f"8 * sum_k(weight * weight_scale) of the checkpoint's weights gives "
                              f"{expected[worst].tolist()[:4]}...")  # fmt: skip


def _w4a8_proj(ckpt: _Checkpoint, prefix: str, n: int, k: int, chunk_options: tuple[int, ...]):
    """One expert projection: (packed int8 [N/2, K], scale fp32 [N]); its scale_bias must be current."""
    packed = ckpt.get(f"{prefix}.weight", "W4A8_DYNAMIC", (torch.int8,), ((n // 2, k),))
    scale = _scale(ckpt, prefix, "W4A8_DYNAMIC", n)
    name = f"{prefix}.scale_bias"
    if not ckpt.has(name):
        raise CheckpointError(f"tensor {name} is missing: W4A8_DYNAMIC experts need the A8W4 auxiliary bias")
    shapes = tuple((n, c) for c in chunk_options if k % c == 0)
    bias = ckpt.get(name, "W4A8_DYNAMIC", (torch.float32,), shapes)
    _check_scale_bias(name, bias, unpack_int4_int8(packed), scale)
    return packed, scale


def _experts(ckpt: _Checkpoint, prefix: str, module: nn.Module, backend: str):
    """Quantized experts for HF's fused ``*Experts`` at ``prefix`` (per-expert names in the checkpoint),
    or None when they are FLOAT (then fused float parameters are built)."""
    e_count, hidden, inter = module.num_experts, module.hidden_dim, module.intermediate_dim
    types = {ckpt.qtype(f"{prefix}.{e}.{p}.weight") for e in range(e_count) for p in ("gate_proj", "up_proj", "down_proj")}
    if len(types) != 1:
        raise CheckpointError(f"experts of {prefix} mix quant types {sorted(types)}")
    qtype = types.pop()
    if qtype == "FLOAT":
        return None
    if qtype == "W8A8":
        raise CheckpointError(f"tensor {prefix}.0.gate_proj.weight is W8A8 (static): experts must be W8A8_DYNAMIC "
                              f"or W4A8_DYNAMIC")  # fmt: skip
    if qtype == "W8A8_DYNAMIC":
        parts = {p: [] for p in ("gate_proj", "up_proj", "down_proj")}
        for e in range(e_count):
            for p, (n, k) in (("gate_proj", (inter, hidden)), ("up_proj", (inter, hidden)), ("down_proj", (hidden, inter))):
                name = f"{prefix}.{e}.{p}"
                w = ckpt.get(f"{name}.weight", qtype, (torch.int8,), ((n, k),))
                if ckpt.has(f"{name}.bias"):
                    raise CheckpointError(f"tensor {name}.bias: expert biases are not supported")
                parts[p].append((w, _scale(ckpt, name, qtype, n)))
        return W8A8DynamicExperts(parts["gate_proj"], parts["up_proj"], parts["down_proj"], backend=backend)
    # W4A8_DYNAMIC: msModelSlim packs along N, [N/2, K]; the kernels take vllm-ascend's int32 [K, N/8]
    if inter % 4 or hidden % 8:
        raise CheckpointError(f"{prefix}: W4A8 experts need moe_intermediate_size % 4 == 0 and hidden_size % 8 == 0 "
                              f"(int4 packed 8 per int32), got {inter} and {hidden}")  # fmt: skip
    w13, s13, w2, s2 = [], [], [], []
    for e in range(e_count):
        name = f"{prefix}.{e}"
        for p in ("gate_proj", "up_proj", "down_proj"):
            if ckpt.has(f"{name}.{p}.bias"):
                raise CheckpointError(f"tensor {name}.{p}.bias: expert biases are not supported")
        gate = _w4a8_proj(ckpt, f"{name}.gate_proj", inter, hidden, (1,))
        up = _w4a8_proj(ckpt, f"{name}.up_proj", inter, hidden, (1,))
        down = _w4a8_proj(ckpt, f"{name}.down_proj", hidden, inter, (16, 1))
        w13.append(msmodelslim_to_int32(torch.cat([gate[0], up[0]])))  # pairs of rows: cat of packed = packed cat
        s13.append(torch.cat([gate[1], up[1]]))
        w2.append(msmodelslim_to_int32(down[0]))
        s2.append(down[1])
    # scale_bias (checked above) is not passed: the grouped matmul computes int8 x int4 exactly
    return W4A8MoeExperts(torch.stack(w13), torch.stack(s13), torch.stack(w2), torch.stack(s2), backend=backend)


def _float_tensor(ckpt: _Checkpoint, name: str, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    qtype = ckpt.qtype(name)
    if qtype != "FLOAT":
        raise CheckpointError(f"tensor {name} is described as {qtype}, but it belongs to a layer that runs in float")
    t = ckpt.get(name, "FLOAT", (torch.float32, torch.bfloat16, torch.float16), (tuple(like.shape),))
    return t if t.dtype == dtype else t.to(dtype)


def _keep_fp32(model, name: str) -> bool:
    patterns = set(getattr(model, "_keep_in_fp32_modules", None) or ()) | set(
        getattr(model, "_keep_in_fp32_modules_strict", None) or ()
    )
    return any(p in name for p in patterns)


def _read_config(path: str):
    from transformers import AutoConfig

    file = os.path.join(path, "config.json")
    if not os.path.isfile(file):
        raise CheckpointError(f"{path} has no config.json")
    with open(file) as f:
        model_type = json.load(f).get("model_type")
    if model_type not in MODEL_TYPES:
        raise CheckpointError(f"config.json model_type is {model_type!r}; from_msmodelslim loads {MODEL_TYPES}")
    return AutoConfig.from_pretrained(path)


def _ignored(name: str, num_layers: int) -> bool:
    """Tensors the HF model does not hold: the MTP layer(s) after the decoder layers, and GLM-5's
    ``rot.weight`` (QuaRot fix-up for the MTP layer)."""
    m = _LAYER.match(name)
    return name == "rot.weight" or (m is not None and int(m.group(1)) >= num_layers)


def from_msmodelslim(path: str, *, dtype: torch.dtype = torch.bfloat16, backend: str = "kernels",
                     patch_attention: bool = True):  # fmt: skip
    """Load the msModelSlim export in ``path`` as a transformers model in eval mode.

    Args:
        path: directory with ``quant_model_description.json``, safetensors shards (with or without an
            index) and ``config.json`` of ``model_type`` ``glm_moe_dsa`` or ``deepseek_v32``.
        dtype: dtype of the float parts and of the activations (bf16 default; fp32 for comparisons).
        backend: "kernels" (the ascend_glm5 ops) or "reference" (their pure-torch references): the
            quantized linears and experts run on it (:func:`set_backend` switches later).
        patch_attention: also run DSA attention on the kernels (:func:`ascend_glm5.patch_model`) when
            the model's geometry fits them; otherwise HF's attention runs (a note is printed once).
            The MLA front end of ``W8A8_DYNAMIC`` (or float) projections runs on the mla_prolog
            kernel, static ``W8A8`` ones on the separate quantized linears (a warning says so).

    Raises:
        CheckpointError (a ValueError) naming the file or tensor at fault.
    """
    check_backend(backend)
    if dtype not in (torch.bfloat16, torch.float16, torch.float32):
        raise ValueError(f"dtype must be bfloat16, float16 or float32, got {dtype}")
    config = _read_config(path)
    ckpt = _Checkpoint(path)
    with torch.device("meta"):
        model = _model_class(config.model_type)(config)
    tied = bool(getattr(config, "tie_word_embeddings", False))

    # 1. validate and build everything, touching nothing of the model yet
    replace: dict[str, nn.Module] = {}
    tensors: dict[tuple[str, str], tuple[torch.Tensor, bool]] = {}  # (module, attr) -> (tensor, is_parameter)
    for prefix, module in model.named_modules():
        if prefix.endswith("rotary_emb"):
            continue
        if hasattr(module, "gate_up_proj") and hasattr(module, "num_experts"):  # HF fused experts
            new = _experts(ckpt, prefix, module, backend)
            if new is not None:
                replace[prefix] = new
                continue
            gate_up, down = [], []
            for e in range(module.num_experts):
                g, u, d = (_float_tensor(ckpt, f"{prefix}.{e}.{p}.weight", w, dtype) for p, w in (
                    ("gate_proj", module.gate_up_proj[e, : module.intermediate_dim]),
                    ("up_proj", module.gate_up_proj[e, module.intermediate_dim :]),
                    ("down_proj", module.down_proj[e])))  # fmt: skip
                gate_up.append(torch.cat([g, u]))
                down.append(d)
            tensors[prefix, "gate_up_proj"] = (torch.stack(gate_up), True)
            tensors[prefix, "down_proj"] = (torch.stack(down), True)
            continue
        if isinstance(module, nn.Linear):
            if tied and prefix == "lm_head":
                continue
            new = _linear(ckpt, prefix, module, dtype, backend)
            if new is not None:
                replace[prefix] = new
                continue
        persistent = [(k, v, False) for k, v in module._buffers.items()
                      if v is not None and k not in module._non_persistent_buffers_set]  # fmt: skip
        for attr, like, is_param in [(k, v, True) for k, v in module._parameters.items() if v is not None] + persistent:
            name = f"{prefix}.{attr}"
            want = torch.float32 if _keep_fp32(model, name) else dtype
            tensors[prefix, attr] = (_float_tensor(ckpt, name, like, want), is_param)
    unexpected = [n for n in ckpt.files.names() if n not in ckpt.used and not _ignored(n, config.num_hidden_layers)]
    if unexpected:
        raise CheckpointError(f"tensor {unexpected[0]} is not part of a {type(model).__name__} with this config"
                              + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))

    # 2. install
    modules = dict(model.named_modules())
    for (prefix, attr), (t, is_param) in tensors.items():
        target = modules[prefix]
        if is_param:
            target._parameters[attr] = nn.Parameter(t, requires_grad=False)
        else:
            target._buffers[attr] = t
    for prefix, new in replace.items():
        parent, _, child = prefix.rpartition(".")
        setattr(modules[parent] if parent else model, child, new)
    if tied:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.model.rotary_emb = type(model.model.rotary_emb)(config)  # non-persistent RoPE tables
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # an HF module this loader does not know
        raise CheckpointError(f"{left[0]} was not loaded (unknown module in {type(model).__name__})")
    model.config.dtype = dtype
    model._msmodelslim = {"path": path, "description": ckpt.globals, "files": ckpt.files}  # keeps the maps alive
    model.eval()
    if patch_attention:
        _patch_attention(model)
    return model


def set_backend(model, backend: str):
    """Switch every quantized module of ``model`` to ``backend`` ("kernels" / "reference"). Returns ``model``."""
    check_backend(backend)
    for module in quantized_modules(model).values():
        module.backend = backend
    return model


def quantized_modules(model) -> dict[str, nn.Module]:
    """``{name: module}`` of the quantized linears and experts of ``model``."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QUANT_MODULES)}


# ---------------------------------------------------------------------------------------------------
# DSA attention on the kernels for a quantized model


def _patch_attention(model) -> None:
    """:func:`ascend_glm5.patch_model` where the kernels can serve the model, else HF's attention (one note).
    patch_model picks each layer's MLA front end from its projections' quant types
    (integrations/prolog.py); ``model._msmodelslim["prolog"]`` records which."""
    from .transformers import patch_model, prolog_paths

    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            patch_model(model)
    except ValueError as e:
        warnings.warn(f"from_msmodelslim: DSA attention runs HF's implementation, not the kernels: {e}", stacklevel=3)
        model._msmodelslim["attention"] = f"HF ({e})"
        model._msmodelslim["prolog"] = {}
        return
    for note in notes:  # patch_model's note on layers whose prolog runs the separate quantized linears
        warnings.warn(f"from_msmodelslim: {note.message}", note.category, stacklevel=3)
    model._msmodelslim["attention"] = "ascend_glm5 kernels (lightning_indexer + sparse_flash_attention)"
    model._msmodelslim["prolog"] = prolog_paths(model)
