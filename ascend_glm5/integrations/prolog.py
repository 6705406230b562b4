"""How a patched attention module runs its MLA front end, decided once at ``patch_model`` time.

:func:`choose_prolog` looks at the module's ``q_a_proj`` / ``q_b_proj`` / ``kv_a_proj_with_mqa``:

| projections | prolog | launches per call |
|---|---|---|
| float ``nn.Linear`` | ``mla_prolog`` kernel, ``weight_quant_mode`` 0 | 1 |
| q_a, kv_a float; q_b ``W8A8_DYNAMIC`` | ``mla_prolog`` mode 1 (int8 ``W_uq_qr``) | 1 |
| all three ``W8A8_DYNAMIC`` | ``dynamic_quant`` of the layer input, ``mla_prolog`` mode 2 | 2 |
| anything else (static ``W8A8``, biases, other mixes) | the projection modules one by one | 6 quantized + torch |

The kernel prologs keep the weights in the kernel's layout (dtype cast, ``[K, N]``, the ``W_UK``
slice of ``kv_b_proj``, int8 weights transposed with their scales as ``[1, N]``) built once, and
rebuild them when a source tensor changed (another tensor object, storage, dtype, device, or an
in-place write seen by its version counter); see docs/integrations.md.
"""

from __future__ import annotations

import torch
from torch import nn

from ..quant.linear import W8A8DynamicLinear

__all__ = ["KernelProlog", "ModuleProlog", "choose_prolog", "module_prolog"]

PROJECTIONS = ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa")


def kernel_dtype(dtype: torch.dtype) -> torch.dtype:
    """The kernels take bf16 or fp16: bf16 models stay bf16, fp16/fp32 models use fp16 (3 more
    mantissa bits than bf16, so closer to an fp32 model)."""
    return torch.bfloat16 if dtype == torch.bfloat16 else torch.float16


def to_kernel(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    out = t.to(dtype)
    if dtype == torch.float16 and not torch.isfinite(out).all():
        raise ValueError("activations overflow fp16, the kernels' dtype for fp32 models; run the model in bf16")
    return out


def _is_float_linear(m) -> bool:
    return type(m) is nn.Linear and m.weight.is_floating_point() and m.bias is None


def _is_dynamic(m) -> bool:
    return isinstance(m, W8A8DynamicLinear) and m.bias is None


def _describe(m) -> str:
    if isinstance(m, nn.Linear):
        return "float" + (" with bias" if m.bias is not None else "")
    kind = getattr(m, "quant_type", type(m).__name__)
    return kind + (" with bias" if getattr(m, "bias", None) is not None else "")


def choose_prolog(attn):
    """The prolog for ``attn`` (a GLM-5 / DeepSeek-V3.2 attention module; ``kv_b_proj`` must be a
    float linear, checked by the caller)."""
    q_a, q_b, kv_a = (getattr(attn, name) for name in PROJECTIONS)
    if all(map(_is_float_linear, (q_a, q_b, kv_a))):
        return KernelProlog(attn, mode=0)
    if _is_float_linear(q_a) and _is_float_linear(kv_a) and _is_dynamic(q_b):
        return KernelProlog(attn, mode=1)
    if all(map(_is_dynamic, (q_a, q_b, kv_a))):
        return KernelProlog(attn, mode=2)
    kinds = ", ".join(f"{name} {_describe(getattr(attn, name))}" for name in PROJECTIONS)
    if any(getattr(getattr(attn, name), "quant_type", "") == "W8A8" for name in PROJECTIONS):
        why = "static W8A8's per-tensor activation quantization with offset is not an mla_prolog mode"
    else:
        why = "no mla_prolog mode takes this mix"
    return ModuleProlog(f"the separate projection modules ({kinds}: {why})")


class ModuleProlog:
    """The MLA front end computed by calling the attention's own projection modules, so quantized
    ones run their own ops (``dynamic_quant`` or static ``quantize``, then ``quant_matmul``)."""

    mode = None

    def __init__(self, reason: str):
        self.description = reason

    def __call__(self, attn, x, cos, sin, layer, slots, record=None):
        return module_prolog(attn, x, cos, sin, layer, slots)


@torch.no_grad()
def module_prolog(attn, x, cos, sin, layer, slots):
    """Same arguments, cache writes and results as :class:`KernelProlog`: norms are the modules' own;
    RoPE interleaved and written de-interleaved (``rope_interleaved``); ``W_UK`` absorbed per head in
    fp32. Returns the absorbed query ``[T, N, kv_lora_rank]``, the roped query ``[T, N, rope]`` (model
    dtype) and c^Q ``[T, q_lora_rank]`` (the indexer's input)."""
    from ..reference import rope_interleaved

    dtype = attn.kv_b_proj.weight.dtype
    heads, nope, rope_dim, rank = attn.num_heads, attn.qk_nope_head_dim, attn.qk_rope_head_dim, attn.kv_lora_rank
    c_q = attn.q_a_layernorm(attn.q_a_proj(x))
    q = attn.q_b_proj(c_q).view(-1, heads, nope + rope_dim)
    q_nope, q_pe = q.split([nope, rope_dim], dim=-1)
    w_uk = attn.kv_b_proj.weight.view(heads, -1, rank)[:, :nope]
    query = torch.einsum("tnd,ndc->tnc", q_nope.float(), w_uk.float()).to(dtype)
    query_rope = rope_interleaved(q_pe, cos[:, None], sin[:, None]).to(dtype)
    c_kv, k_pe = attn.kv_a_proj_with_mqa(x).split([rank, rope_dim], dim=-1)
    # The combined cache row, as mla_prolog writes it with kr_cache=None: c^KV, then the roped k.
    row = torch.cat([attn.kv_a_layernorm(c_kv).to(layer.dtype), rope_interleaved(k_pe, cos, sin).to(layer.dtype)], -1)
    layer.write("kv", slots, row)
    return query, query_rope, c_q


class KernelProlog:
    """The ``mla_prolog`` kernel in ``weight_quant_mode`` 0, 1 or 2, with its weights prepared once."""

    _DESCRIPTIONS = {
        0: "mla_prolog kernel, weight_quant_mode 0 (float weights)",
        1: "mla_prolog kernel, weight_quant_mode 1 (W8A8_DYNAMIC q_b_proj as int8 weight_uq_qr)",
        2: "dynamic_quant + mla_prolog kernel, weight_quant_mode 2 (W8A8_DYNAMIC q_a / q_b / kv_a)",
    }

    def __init__(self, attn, mode: int):
        self.mode = mode
        self.description = self._DESCRIPTIONS[mode]
        self.builds = 0  # how often the kernel-layout weights were built (tests, docs)
        self._key = None
        self._weights: dict[str, torch.Tensor] = {}
        self.prepare(attn, kernel_dtype(attn.kv_b_proj.weight.dtype))

    # -- the weights in the kernel's layout ---------------------------------------------------------
    def _sources(self, attn) -> list[torch.Tensor]:
        tensors = [attn.kv_b_proj.weight, attn.q_a_layernorm.weight, attn.kv_a_layernorm.weight]
        for name in PROJECTIONS:
            m = getattr(attn, name)
            tensors += [m.weight, m.weight_scale] if isinstance(m, W8A8DynamicLinear) else [m.weight]
        return tensors

    def _stamp(self, attn, dtype: torch.dtype) -> tuple:
        """What the prepared weights were built from: changes when any source tensor is replaced,
        re-allocated or written in place (``_version``), or the kernel dtype changes."""
        return (dtype, *((id(t), t.data_ptr(), t._version, t.dtype, t.device) for t in self._sources(attn)))

    @torch.no_grad()
    def prepare(self, attn, dtype: torch.dtype) -> None:
        """Build the kernel-layout weights (contiguous, so the op copies nothing per call)."""
        def kn(linear):  # float [N, K] -> [K, N] in the kernel dtype
            return linear.weight.detach().to(dtype).t().contiguous()

        def int8_kn(linear):  # int8 [N, K] -> [K, N], fp32 scales [1, N]
            return linear.weight.t().contiguous(), linear.weight_scale.float().reshape(1, -1).contiguous()

        w = {}
        w_uk = attn.kv_b_proj.weight.detach().view(attn.num_heads, -1, attn.kv_lora_rank)[:, : attn.qk_nope_head_dim]
        w["weight_uk"] = w_uk.to(dtype).contiguous()
        w["rmsnorm_gamma_cq"] = attn.q_a_layernorm.weight.detach().to(dtype).contiguous()
        w["rmsnorm_gamma_ckv"] = attn.kv_a_layernorm.weight.detach().to(dtype).contiguous()
        if self.mode == 2:
            w["weight_dq"], w["dequant_scale_w_dq"] = int8_kn(attn.q_a_proj)
            w["weight_dkv_kr"], w["dequant_scale_w_dkv_kr"] = int8_kn(attn.kv_a_proj_with_mqa)
        else:
            w["weight_dq"], w["weight_dkv_kr"] = kn(attn.q_a_proj), kn(attn.kv_a_proj_with_mqa)
        if self.mode in (1, 2):
            w["weight_uq_qr"], w["dequant_scale_w_uq_qr"] = int8_kn(attn.q_b_proj)
        else:
            w["weight_uq_qr"] = kn(attn.q_b_proj)
        if dtype == torch.float16 and attn.kv_b_proj.weight.device.type != "meta":  # meta: offloaded, refused later
            for name, t in w.items():
                if t.is_floating_point() and not name.startswith("dequant") and not torch.isfinite(t).all():
                    raise ValueError(f"{name} overflows fp16, the kernels' dtype for fp32 / fp16 models")
        self._weights = w
        self._key = self._stamp(attn, dtype)
        self.builds += 1

    def weights(self, attn, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The prepared weights, rebuilt first if a source changed since they were built."""
        if self._stamp(attn, dtype) != self._key:
            self.prepare(attn, dtype)
        return self._weights

    # -- one call ------------------------------------------------------------------------------------
    backend = None  # "kernels" / "reference" to override; None: the quantized projections' backend

    def ops(self, attn):
        """The ops of ``backend``, else of the quantized projections' backend; float: the kernels."""
        backend = self.backend or ("kernels" if self.mode == 0 else attn.q_b_proj.backend)
        if backend == "kernels":
            from .. import ops

            return ops
        from .. import reference

        return reference

    def __call__(self, attn, x, cos, sin, layer, slots, record=None):
        """Writes c^KV and the roped k to ``layer``'s paged combined cache (one 576-wide row per
        token, ``kr_cache=None``); returns the absorbed query
        ``[T, N, 512]``, the roped query ``[T, N, 64]`` (kernel dtype) and c^Q ``[T, q_lora_rank]``
        (the indexer's input, in the model dtype; modes 1, 2: the kernel's int8 c^Q dequantized).
        ``record(device)`` is called after each kernel launch (launch counters)."""
        dtype = layer.dtype
        w = self.weights(attn, dtype)
        ops = self.ops(attn)
        if record is None or ops.__name__.endswith("reference"):
            record = lambda device: None  # noqa: E731  (the references launch nothing)
        token_x = to_kernel(x, dtype)
        extra = {}
        if self.mode == 2:  # the layer input quantized per token, as the W8A8_DYNAMIC linears do
            token_x, scale = ops.dynamic_quant(token_x)
            extra["dequant_scale_x"] = scale.reshape(-1, 1)
            record(x.device)
        query, query_rope, _, query_norm, norm_scale = ops.mla_prolog(
            token_x, w["weight_dq"], w["weight_uq_qr"], w["weight_uk"], w["weight_dkv_kr"], w["rmsnorm_gamma_cq"],
            w["rmsnorm_gamma_ckv"], sin.to(dtype), cos.to(dtype), layer.kv, None, cache_index=slots,
            rmsnorm_epsilon_cq=attn.q_a_layernorm.variance_epsilon,
            rmsnorm_epsilon_ckv=attn.kv_a_layernorm.variance_epsilon, query_norm_flag=True,
            weight_quant_mode=self.mode, **extra,
            **{k: v for k, v in w.items() if k.startswith("dequant_scale_w")},
        )  # fmt: skip
        record(x.device)
        if self.mode == 0:
            c_q = query_norm
        else:  # int8 c^Q and its per-token scale: a W8A8_DYNAMIC wq_b re-quantizes it to the same codes
            c_q = query_norm.float() * norm_scale.reshape(-1, 1)
        return query, query_rope, c_q.to(x.dtype)
