"""Run HF transformers GLM-5 (``GlmMoeDsa*``) and DeepSeek-V3.2 (``DeepseekV32*``) models on our ops.

:func:`patch_model` swaps, on every decoder layer, the attention for the absorbed-MLA path of a DSA
serving stack and the indexer for the Lightning Indexer op::

    mla_prolog: absorbed query, roped query, c^Q; latent c^KV and roped k written to one paged
      combined cache (PA_BSND + block_table, rows [c^KV 512 | k_rope 64]); the indexer keys to their own
      -> lightning_indexer: top-k cached keys per query ("shared" layers reuse the previous full layer's)
      -> sparse_flash_attention over the selected latent rows -> W_UV -> o_proj

The paged cache (:class:`PagedLatentCache`) takes the place of HF's cache layer inside the model's
``Cache``, so ``generate`` (prefill, then decode steps) works unchanged. It stores only each row's
valid tokens: left padding never reaches the kernels, whose per-row lengths and right-down causal
mask then match HF's padded causal mask. Contract, tolerances and limits: docs/integrations.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from transformers.cache_utils import CacheLayerMixin, DynamicLayer
from transformers.models.deepseek_v32.modeling_deepseek_v32 import DeepseekV32Attention
from transformers.models.glm_moe_dsa.modeling_glm_moe_dsa import GlmMoeDsaAttention

from ascend_glm5.ops import lightning_indexer, sparse_flash_attention
from ascend_glm5.ops._backend import cpu_module
from ascend_glm5.reference import rope_half_split, rope_interleaved

from .prolog import ModuleProlog, choose_prolog
from .prolog import kernel_dtype as _kernel_dtype
from .prolog import to_kernel as _to_kernel

__all__ = ["INDEXER_ROPE", "PagedLatentCache", "count_launches", "patch_model", "patched", "prolog_paths",
           "unpatch_model"]  # fmt: skip

# RoPE pairing of the DSA indexer per model type: GLM-5 interleaved, DeepSeek-V3.2 half-split (since
# its 2025-11 fix). MLA itself is interleaved in both (docs/ops/lightning_indexer.md).
INDEXER_ROPE = {"glm_moe_dsa": rope_interleaved, "deepseek_v32": rope_half_split}
_ATTENTION = {"glm_moe_dsa": GlmMoeDsaAttention, "deepseek_v32": DeepseekV32Attention}

# What the kernels take (docs/ops/lightning_indexer.md, docs/ops/sparse_flash_attention.md).
_KV_LORA_RANK, _ROPE_DIM, _INDEX_DIM = 512, 64, 128
_MAX_INDEX_HEADS, _MAX_TOPK, _SFA_HEADS = 64, 2048, (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass(frozen=True)
class _Plan:
    """What a patched attention module needs beyond its own weights."""

    indexer_rope: Callable  # rope_interleaved or rope_half_split
    returns_topk: bool  # GLM attention returns its top-k so that "shared" layers can reuse it
    block_size: int
    signature: inspect.Signature  # of the HF attention forward in use: the patched one takes the same arguments
    # attention modules only: how this module's MLA front end runs, with its kernel-layout weights
    # (integrations/prolog.py), chosen at patch time
    prolog: object = None


def _decoder_layers(model):
    base = getattr(model, "model", model)
    if not hasattr(base, "layers"):
        raise ValueError(f"{type(model).__name__} has no decoder layers (expected a *ForCausalLM or *Model)")
    return base.layers


def _check_servable(model) -> str:
    """The model type, or a ValueError naming what the kernels cannot serve."""
    config = model.config
    kind = getattr(config, "model_type", None)
    if kind not in _ATTENTION:
        raise ValueError(f"unsupported model {type(model).__name__} (model_type {kind!r}): ascend_glm5 patches "
                         f"GLM-5 (glm_moe_dsa) and DeepSeek-V3.2 (deepseek_v32) models")  # fmt: skip
    wanted = {
        "kv_lora_rank": (config.kv_lora_rank, _KV_LORA_RANK, "the sparse_flash_attention latent width"),
        "qk_rope_head_dim": (config.qk_rope_head_dim, _ROPE_DIM, "the sparse_flash_attention rope width"),
        "index_head_dim": (config.index_head_dim, _INDEX_DIM, "the lightning_indexer head dim"),
    }
    for name, (got, need, why) in wanted.items():
        if got != need:
            raise ValueError(f"config.{name} is {got}, but {why} is fixed at {need}")
    if config.index_n_heads > _MAX_INDEX_HEADS:
        raise ValueError(f"config.index_n_heads is {config.index_n_heads}; the lightning_indexer takes at most "
                         f"{_MAX_INDEX_HEADS} heads")  # fmt: skip
    if not 1 <= config.index_topk <= _MAX_TOPK:
        raise ValueError(f"config.index_topk is {config.index_topk}; the kernels take 1 .. {_MAX_TOPK}")
    if config.num_attention_heads not in _SFA_HEADS:
        raise ValueError(f"config.num_attention_heads is {config.num_attention_heads}; sparse_flash_attention "
                         f"takes {_SFA_HEADS}")  # fmt: skip
    if config.attention_bias:
        raise ValueError("config.attention_bias is set; the MLA prolog has no q_a / kv_a biases")
    for i, layer in enumerate(_decoder_layers(model)):
        kv_b = getattr(layer.self_attn, "kv_b_proj", None)
        if type(kv_b) is not torch.nn.Linear or not kv_b.weight.is_floating_point():
            raise ValueError(f"layer {i} kv_b_proj is {type(kv_b).__name__}; the absorbed attention needs its float "
                             f"weight (W_UK, W_UV)")  # fmt: skip
    if config._attn_implementation not in ("eager", "sdpa"):
        raise ValueError(f"attn_implementation {config._attn_implementation!r}: the patch reads HF's eager/sdpa "
                         f"attention mask to find the left padding")  # fmt: skip
    for i, layer in enumerate(_decoder_layers(model)):
        if type(layer.self_attn) is not _ATTENTION[kind]:
            raise ValueError(f"layer {i} attention is {type(layer.self_attn).__name__}, expected "
                             f"{_ATTENTION[kind].__name__}")  # fmt: skip
    return kind


def patch_model(model, *, block_size: int = 128):
    """Run every decoder layer's attention and indexer of ``model`` on the ascend_glm5 ops (in place).

    ``model`` is a ``GlmMoeDsaForCausalLM`` / ``DeepseekV32ForCausalLM`` (or their ``*Model``) in eval
    mode, fp32, fp16 or bf16. ``block_size`` is the token count of one paged-cache block (a multiple of
    16, at most 1024). Weights and ``state_dict`` are untouched; :func:`unpatch_model` restores the HF
    forward. Each attention's MLA front end is chosen here (float projections: the mla_prolog kernel;
    W8A8_DYNAMIC ones: its int8 modes; other quantized mixes: the projection modules one by one, said
    in one warning; :func:`prolog_paths`), and the kernel-layout weights built once: weights changed
    afterwards are seen (tensor identity, storage, in-place version) and re-laid on the next call.
    Modules carrying accelerate hooks keep them: the patched forward runs inside the hook.
    Raises ValueError naming the reason when the kernels cannot serve the model (nothing is changed
    then). Returns ``model``.
    """
    kind = _check_servable(model)
    if block_size % 16 or not 16 <= block_size <= 1024:
        raise ValueError(f"block_size must be a multiple of 16 in [16, 1024], got {block_size}")
    layers = _decoder_layers(model)
    for i, layer in enumerate(layers):
        for what, module in (("attention", layer.self_attn), ("indexer", layer.self_attn.indexer)):
            if module is not None:
                _check_swappable(module, f"layer {i} {what}")
    signature = inspect.signature(_ATTENTION[kind].forward)
    plan = _Plan(INDEXER_ROPE[kind], kind == "glm_moe_dsa", block_size, signature)
    prologs = [choose_prolog(layer.self_attn) for layer in layers]  # may raise (fp16 overflow): nothing patched yet
    for layer, prolog in zip(layers, prologs):
        _swap_forward(layer.self_attn, _attention_forward, dataclasses.replace(plan, prolog=prolog))
        if layer.self_attn.indexer is not None:
            _swap_forward(layer.self_attn.indexer, _indexer_forward, plan)
    _guard_steps(getattr(model, "model", model))
    separate = [i for i, p in enumerate(prologs) if isinstance(p, ModuleProlog)]
    if separate:
        warnings.warn(f"patch_model: the MLA prolog of layers {separate} runs {prologs[separate[0]].description}",
                      stacklevel=2)  # fmt: skip
    return model


def prolog_paths(model) -> dict[str, list[int]]:
    """How the patched ``model``'s attention front ends run: ``{description: [layer indices]}``."""
    paths: dict[str, list[int]] = {}
    for i, layer in enumerate(_decoder_layers(model)):
        plan = vars(layer.self_attn).get("_ascend_plan")
        if plan is not None:
            paths.setdefault(plan.prolog.description, []).append(i)
    return paths


def unpatch_model(model):
    """Undo :func:`patch_model`: the layers run HF's own forward again (and any hook they carried
    before). Returns ``model``."""
    for layer in _decoder_layers(model):
        for module in (layer.self_attn, layer.self_attn.indexer):
            if module is not None and "_ascend_plan" in vars(module):
                _restore_forward(module)
    _unguard_steps(getattr(model, "model", model))
    return model


# ---------------------------------------------------------------------------------------------------
# Swapping a module's forward, inside whatever wrapper it already has

_MISSING = object()


def _check_swappable(module, what: str) -> None:
    own = vars(module)
    if "_ascend_plan" in own:
        raise ValueError(f"{what} is already patched (call unpatch_model first)")
    if "forward" in own and "_old_forward" not in own:
        raise ValueError(f"{what} has an instance-level forward that is not an accelerate hook; ascend_glm5 cannot "
                         f"run inside it (remove it before patching)")  # fmt: skip


def _swap_forward(module, forward: Callable, plan: _Plan) -> None:
    """Install ``forward`` as ``module``'s forward. An accelerate hook (``module.forward`` calls
    ``module._old_forward`` between its pre- and post-forward) keeps running around it."""
    slot = "_old_forward" if "_old_forward" in vars(module) else "forward"
    module._ascend_saved = (slot, vars(module).get(slot, _MISSING))
    module._ascend_plan = plan
    setattr(module, slot, types.MethodType(forward, module))


def _restore_forward(module) -> None:
    slot, saved = vars(module).pop("_ascend_saved")
    vars(module).pop("_ascend_plan")
    if saved is _MISSING:
        vars(module).pop(slot, None)
    else:
        setattr(module, slot, saved)


def _guard_steps(base) -> None:
    """A forward step of the patched model either completes or leaves every paged cache as it was:
    the layers snapshot their cache before writing (:meth:`PagedLatentCache.begin`), and a hook that
    runs even when the forward raises rolls back every layer the step had touched."""

    def before(module, args, kwargs):
        _OPEN_STEPS.append([])

    def after(module, args, kwargs, output):
        for layer in reversed(_OPEN_STEPS.pop() if _OPEN_STEPS else []):
            layer.commit() if output is not None else layer.rollback()

    base._ascend_step_hooks = (
        base.register_forward_pre_hook(before, with_kwargs=True),
        base.register_forward_hook(after, with_kwargs=True, always_call=True),
    )


def _unguard_steps(base) -> None:
    for handle in vars(base).pop("_ascend_step_hooks", ()):
        handle.remove()


_OPEN_STEPS: list[list] = []  # per running patched model forward: the cache layers it has written


@contextlib.contextmanager
def patched(model, **kwargs) -> Iterator:
    """``with patched(model): ...`` runs the block on the ascend_glm5 ops, then unpatches."""
    patch_model(model, **kwargs)
    try:
        yield model
    finally:
        unpatch_model(model)


# ---------------------------------------------------------------------------------------------------
# Per-kernel emulator counters


_COLLECTORS: list[dict] = []


@contextlib.contextmanager
def count_launches() -> Iterator[dict]:
    """Collect, per kernel name, ``{"launches": n, **summed counters}`` of every emulated launch the
    patched models make inside the block (CPU only; see ascend_glm5._C.last_launch)."""
    totals: dict[str, dict[str, int]] = {}
    _COLLECTORS.append(totals)
    try:
        yield totals
    finally:
        _COLLECTORS.remove(totals)


def _record_launch(device: torch.device) -> None:
    if not _COLLECTORS or device.type != "cpu":
        return
    launch = cpu_module().last_launch()
    for totals in _COLLECTORS:
        entry = totals.setdefault(launch["kernel"], {"launches": 0})
        entry["launches"] += 1
        for name, value in launch["total"].items():
            entry[name] = entry.get(name, 0) + value


# ---------------------------------------------------------------------------------------------------
# The paged latent cache


class PagedLatentCache(CacheLayerMixin):
    """One decoder layer's cache of a patched model, in the model's ``Cache`` in place of HF's layer.

    ``kv`` ``[num_blocks, block_size, 1, 576]``, the combined latent cache: each row c^KV in
    ``[0, 512)`` and the roped k in ``[512, 576)`` (de-interleaved, as mla_prolog writes it with
    ``kr_cache=None``; sparse_flash_attention reads it with ``key_rope=None``, one copy per selected
    row) and, for layers with an indexer, ``index_k`` ``[.., 1, 128]``, all in the kernel dtype.
    Row ``b``'s ``lengths[b]`` valid tokens sit in the blocks ``block_table[b]`` lists; padding is
    never stored. ``get_seq_length`` still counts padded positions, as HF's masks do.
    Beam search, assisted and contrastive decoding (which reorder or crop the cache) are not supported.
    """

    is_compileable = False
    is_sliding = False
    is_croppable = False
    supports_early_init = False

    def __init__(self, block_size: int, dtype: torch.dtype, device: torch.device, index_keys: bool):
        super().__init__()
        self.block_size, self.dtype, self.device = block_size, dtype, device
        self.dims = {"kv": _KV_LORA_RANK + _ROPE_DIM, **({"index_k": _INDEX_DIM} if index_keys else {})}
        self.reset()

    def reset(self) -> None:
        self._saved = None  # the state before the current step (begin / commit / rollback)
        self.seq_len = 0  # padded positions per row, as HF counts them
        self.used_blocks = 0
        self.lengths = self.block_table = None
        for name in self.dims:
            setattr(self, name, None)
        self.is_initialized = False

    def append(self, new_tokens: torch.Tensor, padded: int) -> torch.Tensor:
        """Reserve slots for ``new_tokens[b]`` valid tokens of each row (the forward covers ``padded``
        positions); returns their flat slots ``block * block_size + offset``, row after row."""
        batch = len(new_tokens)
        if not self.is_initialized:
            self.lengths = torch.zeros(batch, dtype=torch.int32)
            self.block_table = torch.full((batch, 0), -1, dtype=torch.int32)
            self.is_initialized = True
        ends = self.lengths + new_tokens.to(torch.int32)
        need = (ends + self.block_size - 1) // self.block_size
        if need.max() > self.block_table.shape[1]:
            grow = torch.full((batch, int(need.max()) - self.block_table.shape[1]), -1, dtype=torch.int32)
            self.block_table = torch.cat([self.block_table, grow], dim=1)
        slots = []
        for b in range(batch):
            have = -(-int(self.lengths[b]) // self.block_size)
            fresh = int(need[b]) - have
            self.block_table[b, have : need[b]] = torch.arange(self.used_blocks, self.used_blocks + fresh)
            self.used_blocks += fresh
            pos = torch.arange(int(self.lengths[b]), int(ends[b]))
            slots.append(self.block_table[b, pos // self.block_size].long() * self.block_size + pos % self.block_size)
        self._grow(self.used_blocks)
        self.lengths, self.seq_len = ends, self.seq_len + padded
        return torch.cat(slots)

    def _grow(self, blocks: int) -> None:
        capacity = 0 if self.kv is None else self.kv.shape[0]
        if blocks <= capacity:
            return
        extra = max(blocks, 2 * capacity) - capacity  # doubling keeps the copies amortized O(1)
        for name, dim in self.dims.items():
            fresh = torch.zeros(extra, self.block_size, 1, dim, dtype=self.dtype, device=self.device)
            old = getattr(self, name)
            setattr(self, name, fresh if old is None else torch.cat([old, fresh]))

    def write(self, name: str, slots: torch.Tensor, values: torch.Tensor) -> None:
        storage, where = getattr(self, name), (slots // self.block_size, slots % self.block_size, 0)
        if self._saved is not None:
            self._saved["undo"].append((storage, where, storage[where].clone()))
        storage[where] = values.to(self.dtype)

    # A step either completes or leaves the cache as it was.
    def begin(self) -> None:
        """Snapshot the state before a step writes anything (commits the previous step)."""
        self._saved = {
            "scalars": (self.seq_len, self.used_blocks, self.is_initialized, self.lengths),
            "block_table": None if self.block_table is None else self.block_table.clone(),
            "storage": {name: getattr(self, name) for name in self.dims},
            "undo": [],
        }

    def commit(self) -> None:
        self._saved = None

    def rollback(self) -> None:
        """Back to the state :meth:`begin` saw: bookkeeping, block table and every written row."""
        saved, self._saved = self._saved, None
        if saved is None:
            return
        for storage, where, old in reversed(saved["undo"]):
            storage[where] = old
        self.seq_len, self.used_blocks, self.is_initialized, self.lengths = saved["scalars"]
        self.block_table = saved["block_table"]
        for name, storage in saved["storage"].items():
            setattr(self, name, storage)

    # HF's cache-layer interface
    def lazy_initialization(self, key_states, value_states) -> None:
        raise NotImplementedError("PagedLatentCache is written by the patched attention only")

    def update(self, key_states, value_states, *args, **kwargs):
        raise NotImplementedError("PagedLatentCache is written by the patched attention only")

    def get_seq_length(self) -> int:
        return self.seq_len

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seq_len + query_length, 0

    def get_max_length(self) -> int:
        return -1

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove:
            raise NotImplementedError("PagedLatentCache cannot be cropped (assisted decoding is not supported)")

    def _no_reordering(self, *_):
        if self.seq_len:
            raise NotImplementedError("PagedLatentCache rows cannot be reordered, repeated or selected "
                                      "(beam search and contrastive search are not supported)")  # fmt: skip

    reorder_cache = batch_repeat_interleave = batch_select_indices = _no_reordering


def _cache_layer(attn, cache, batch_dtype: torch.dtype, device: torch.device) -> PagedLatentCache:
    """This layer's PagedLatentCache inside HF's ``cache`` (installed on first use), or a fresh one
    for this call only when the model runs without a cache."""
    plan = attn._ascend_plan

    def fresh():
        return PagedLatentCache(plan.block_size, _kernel_dtype(batch_dtype), device, attn.indexer is not None)

    if cache is None:
        return fresh()
    layers = cache.layers
    while len(layers) <= attn.layer_idx:  # a DynamicCache without config grows its layers lazily
        layers.append(cache.layer_class_to_replicate())
    layer = layers[attn.layer_idx]
    if not isinstance(layer, PagedLatentCache):
        if not isinstance(layer, DynamicLayer) or layer.is_initialized:
            raise ValueError(f"the patched model needs a fresh DynamicCache (generate's default); layer "
                             f"{attn.layer_idx} holds a {type(layer).__name__} already in use")  # fmt: skip
        layer = layers[attn.layer_idx] = fresh()
    return layer


# ---------------------------------------------------------------------------------------------------
# The patched forward passes


def _valid_queries(attention_mask, batch: int, seq: int, past: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(valid, pad)``: bool ``[B, S]`` marking which of the ``S`` new positions are real tokens, and
    each row's left padding ``[B]``. The mask must be HF's causal mask over left-padded rows (the only
    padding the kernels' per-row lengths can express)."""
    total = past + seq
    allowed = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
    allowed = allowed[:, 0].expand(batch, seq, -1)
    if allowed.shape[-1] != total:
        raise ValueError(f"attention mask covers {allowed.shape[-1]} keys, expected {total} (cache + new tokens)")
    pad = total - allowed[:, -1].sum(-1)  # keys the last query cannot see: the left padding
    keys, queries = torch.arange(total), past + torch.arange(seq)
    valid = queries[None, :] >= pad[:, None]
    expected = (keys >= pad[:, None, None]) & (keys <= queries[None, :, None])
    if not valid[:, -1].all() or ((allowed != expected) & valid[..., None]).any():
        raise ValueError("the patched attention serves causal masks over left-padded rows only "
                         "(no right padding, packed sequences or custom masks)")  # fmt: skip
    return valid, pad


@torch.no_grad()
def _indexer_forward(self, x, query_norm, cos, sin, layer: PagedLatentCache, slots, cu_seqlens):
    """Patched ``*Indexer.forward``: the top-k cached keys of each packed query token, int32
    ``[T, 1, index_topk]`` counted from the row's first valid token, ``-1`` padded (the
    lightning_indexer layout). Writes this step's indexer keys to ``layer``."""
    rope = self._ascend_plan.indexer_rope
    d_rope = self.qk_rope_head_dim
    q = self.wq_b(query_norm).unflatten(-1, (self.n_heads, self.head_dim))
    q = torch.cat([rope(q[..., :d_rope], cos[:, None], sin[:, None]), q[..., d_rope:].float()], -1)
    k = self.k_norm(self.wk(x))
    layer.write("index_k", slots, torch.cat([rope(k[..., :d_rope], cos, sin), k[..., d_rope:].float()], -1))
    # The op applies no scale: fold the head scale and the q.k softmax scale (> 0, so it commutes
    # with the ReLU) into the weights.
    weights = self.weights_proj(x.to(self.weights_proj.weight.dtype)).float()
    weights = weights * (self.n_heads**-0.5 * self.softmax_scale)
    indices, _ = lightning_indexer(
        _to_kernel(q, layer.dtype), layer.index_k, weights, actual_seq_lengths_query=cu_seqlens,
        actual_seq_lengths_key=layer.lengths, block_table=layer.block_table, layout_query="TND",
        layout_key="PA_BSND", sparse_count=self.index_topk, sparse_mode=3,
    )  # fmt: skip
    _record_launch(q.device)
    return indices


# Keywords HF's decoder layer passes that the patched attention honours as HF's does: ``use_cache``
# (the attention writes the cache it is given either way), ``output_attentions`` when false (the
# absorbed form never builds attention weights).
_HONOURED = {"use_cache": lambda value: True, "output_attentions": lambda value: not value}


def _arguments(self, args, kwargs) -> dict:
    """The call's arguments by the HF forward's own parameter names (so the patch takes exactly what
    the transformers version in use takes: positional or keyword, ``cache`` or ``past_key_values``).
    Extra keywords the patch cannot honour raise instead of being ignored."""
    signature = self._ascend_plan.signature
    try:
        bound = signature.bind(self, *args, **kwargs)
    except TypeError as e:
        raise TypeError(f"patched {type(self).__name__}.forward: {e}") from None
    bound.apply_defaults()
    named = dict(bound.arguments)
    extra = {}
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            extra = named.pop(p.name, {})
    for key, value in extra.items():
        if key not in _HONOURED:
            raise TypeError(f"patched {type(self).__name__}.forward got the keyword {key!r}, which the ascend_glm5 "
                            f"kernels cannot honour")  # fmt: skip
        if not _HONOURED[key](value):
            raise ValueError(f"patched {type(self).__name__}.forward cannot honour {key}={value!r}")
    if "cache" not in named:  # older transformers name it past_key_values
        named["cache"] = named.pop("past_key_values", None)
    return named


def _attention_forward(self, *args, **kwargs):
    """Patched ``*Attention.forward`` (same parameters as HF's): absorbed MLA over the paged latent
    cache with DSA top-k. Either completes or leaves the cache as it was."""
    a = _arguments(self, args, kwargs)
    if self.training:
        raise ValueError("the patched attention is inference-only (the kernels have no backward); call model.eval()")
    if self.kv_b_proj.weight.device.type == "meta":
        raise ValueError("the attention weights are on the meta device (offloaded by accelerate?); the patched "
                         "attention reads them directly and needs them in memory")  # fmt: skip
    hidden_states = a["hidden_states"]
    layer = _cache_layer(self, a["cache"], hidden_states.dtype, hidden_states.device)
    layer.begin()
    if _OPEN_STEPS:
        _OPEN_STEPS[-1].append(layer)
    try:
        with torch.no_grad():
            out, topk = _attention_step(self, hidden_states, a["position_embeddings"], a["attention_mask"], layer,
                                        a.get("prev_topk_indices"))  # fmt: skip
    except BaseException:
        layer.rollback()
        raise
    if not _OPEN_STEPS:  # called on its own, not inside a patched model's forward
        layer.commit()
    return (out, None, topk) if self._ascend_plan.returns_topk else (out, None)


def _attention_step(self, hidden_states, position_embeddings, attention_mask, layer: PagedLatentCache,
                    prev_topk_indices):  # fmt: skip
    """One attention call: MLA prolog -> indexer (or the previous layer's top-k) -> sparse attention
    -> W_UV, o_proj. Returns the output ``[B, S, hidden]`` and the top-k it used."""
    batch, seq = hidden_states.shape[:2]
    past = layer.get_seq_length()
    valid, pad = _valid_queries(attention_mask, batch, seq, past)
    if layer.is_initialized and not torch.equal(layer.lengths, (past - pad).clamp(min=0).int()):
        raise ValueError("the cache does not hold this batch's past tokens (was it used with other inputs?)")
    new_tokens = valid.sum(-1)
    slots = layer.append(new_tokens, seq)
    cu_seqlens = new_tokens.cumsum(0).to(torch.int32)
    x, (cos, sin) = hidden_states[valid], (t.expand(batch, seq, -1)[valid] for t in position_embeddings)

    query, query_rope, query_norm = self._ascend_plan.prolog(self, x, cos, sin, layer, slots, _record_launch)
    if self.indexer is not None:
        topk = self.indexer(x, query_norm, cos, sin, layer, slots, cu_seqlens)
    elif prev_topk_indices is None:
        raise ValueError("shared DSA layers need the top-k of a previous full indexer layer")
    else:
        topk = prev_topk_indices
    latent = _sparse_attention(self, query, query_rope, topk, layer, cu_seqlens)
    w_uv = self.kv_b_proj.weight.view(self.num_heads, -1, self.kv_lora_rank)[:, self.qk_nope_head_dim :]
    heads = torch.einsum("tnc,nvc->tnv", latent.to(w_uv.dtype), w_uv).flatten(1)
    out = heads.new_zeros(batch, seq, heads.shape[-1])
    out[valid] = heads  # padding positions attend nothing
    return self.o_proj(out), topk


def _sparse_attention(attn, query, query_rope, topk, layer: PagedLatentCache, cu_seqlens):
    """sparse_flash_attention of the packed queries over the selected rows of the combined latent
    cache (``key_rope=None``: each row c^KV then its roped k; V is its c^KV): ``[T, N, 512]``."""
    latent, _, _ = sparse_flash_attention(
        _to_kernel(query, layer.dtype), layer.kv, layer.kv, topk, attn.scaling, block_table=layer.block_table,
        actual_seq_lengths_query=cu_seqlens, actual_seq_lengths_kv=layer.lengths,
        query_rope=_to_kernel(query_rope, layer.dtype), key_rope=None, layout_query="TND", layout_kv="PA_BSND",
        sparse_mode=3,
    )  # fmt: skip
    _record_launch(query.device)
    return latent
