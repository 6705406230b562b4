"""The discrete decisions of a DSA model, with their margins: record them in one run, check them and
impose them in another (tie-aware model comparisons, used by the tests and the demo).

A GLM-5 / DeepSeek-V3.2 forward takes three kinds of decision: the indexer's top-k keys per query,
the MoE router's experts per token and, when generating greedily, the next token. Two correct runs
that round differently (another BLAS summation order, the kernels' fp16/bf16 inputs) move the
scores behind them by a small relative amount, so where a decision's margin is that small either
choice is right -- and the other choice changes everything downstream. Comparisons of a run
against a reference run therefore

- assert a decision only where the reference's margin is clear of a stated tie band (:class:`TieBand`);
- make the compared run take the reference's choice at the reference's near-ties ("forcing":
  teacher forcing of decisions, as the fed tokens are teacher-forced), so later steps stay
  comparable, and report where that happened.

Margins: indexer ``(s_k - s_k+1) / S`` (``s`` the fp32 index scores of the row's visible keys,
``k = index_topk``; rows with at most k visible keys take no decision), where the scale
``S = max_t sum_h |w_h| relu(q_h . k_t)`` is the largest sum of absolute head terms: rounding moves
a score in proportion to its terms, not to the score itself, which cancels between heads of
opposite weight (measured: errors up to 5e-2 of ``max |s|`` where they are 1e-3 of ``S``); router
``c_k - c_k+1`` of the sigmoid routing scores plus correction bias (``k = num_experts_per_tok``);
token ``(l_1 - l_2) / max |l|`` of the next-token logits.

Everything is observed through a ``TorchDispatchMode``: HF's indexer and router end in
``torch.topk`` (its input is the score matrix; the indexer's per-head terms are the output of its
``relu``), a patched model's indexer is the ``ascend_glm5::lightning_indexer`` op; module hooks
tell which layer a call belongs to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Decisions", "NearTie", "TieBand", "run_steps"]

_VISIBLE = -1e30  # HF masks invisible keys with -inf (bool masks) or finfo.min (additive masks)


@dataclass(frozen=True)
class TieBand:
    """Margins below which a decision counts as a near-tie (see the module docstring)."""

    indexer: float
    routing: float
    token: float


@dataclass(frozen=True)
class NearTie:
    step: int
    kind: str  # "indexer", "routing" or "token"
    layer: int  # -1 for tokens
    row: int  # packed query row (indexer), valid token (routing) or batch row (token)
    margin: float

    def __str__(self) -> str:
        where = f"layer {self.layer} " if self.layer >= 0 else ""
        return f"step {self.step} {self.kind} {where}row {self.row} (margin {self.margin:.2g})"


@dataclass
class IndexerRow:
    """One query's choice: keys counted from the row's first real token, best first."""

    keys: list[int]
    margin: float
    scores: torch.Tensor | None = None  # HF: fp32 scores of the visible keys, by key
    scale: float = math.nan  # HF: S of the module docstring


@dataclass
class Routing:
    """One router call's choice per real token: expert sets, margins, routing scores ``[T, E]``."""

    experts: list[frozenset]
    margins: list[float]
    scores: torch.Tensor


@dataclass
class Step:
    indexer: dict[int, list[IndexerRow]] = field(default_factory=dict)  # per layer, per packed query row
    routing: dict[int, Routing] = field(default_factory=dict)  # per MoE layer
    logits: torch.Tensor | None = None  # [B, V]


def _margin(sorted_scores: torch.Tensor, k: int, scale: float = 1.0) -> float:
    """``(s_k - s_k+1) / scale`` of descending scores; inf when there is no (k+1)-th."""
    if sorted_scores.numel() <= k:
        return math.inf
    gap = float(sorted_scores[k - 1] - sorted_scores[k])
    return gap / scale if scale > 0 else (math.inf if gap > 0 else 0.0)


class Decisions(TorchDispatchMode):
    """``with Decisions(model, pad) as rec: run_steps(...)`` records every step's decisions.

    ``pad`` is the left padding per batch row. With ``force=(reference, band)`` the run takes the
    reference's indexer and routing choice wherever the reference's margin is within ``band``
    (a patched model's indexer rows, any model's routing)."""

    def __init__(self, model, pad, *, force: tuple[Decisions, TieBand] | None = None):
        super().__init__()
        self.model, self.pad = model, [int(p) for p in pad]
        self.config = model.config
        self.steps: list[Step] = []
        self.force = force
        self.forced: list[NearTie] = []
        # Largest score distance to the reference seen in a forced run: indexer |s - s_ref| / S_ref
        # (the patched indexer's own scores; HF's when both runs are HF), routing |c - c_ref|.
        self.score_error = {"indexer": 0.0, "routing": 0.0}
        self.score_error_by_layer: dict[tuple[str, int], float] = {}
        self._where: tuple[str, int] | None = None
        self._head_weights = self._head_terms = None  # |w| [B, S, H] and relu(q.k) [B, S, H, T] of HF's indexer
        self._handles = []
        self._shape: tuple[int, int, int] = (0, 0, 0)  # batch, new positions, past positions of this step

    # -- step bookkeeping (run_steps calls these) --
    def begin_step(self, batch: int, seq: int, past: int) -> None:
        self.steps.append(Step())
        self._shape = (batch, seq, past)

    def _rows(self) -> list[tuple[tuple[int, int], int]]:
        """``((batch row, its first real key), position)`` of each real query of this step, in the
        packed order of the patched attention (row by row)."""
        batch, seq, past = self._shape
        return [((b, self.pad[b]), s) for b in range(batch) for s in range(seq) if past + s >= self.pad[b]]

    def _reference(self, kind: str, layer: int):
        if self.force is None:
            return None, None
        reference, band = self.force
        step = reference.steps[len(self.steps) - 1]
        return getattr(step, kind).get(layer), band

    # -- module hooks: which layer is running --
    def __enter__(self):
        for i, layer in enumerate(self.model.model.layers):
            for kind, module in (("indexer", layer.self_attn.indexer), ("routing", getattr(layer.mlp, "gate", None))):
                if module is not None:
                    self._handles.append(module.register_forward_pre_hook(self._enter(kind, i)))
                    self._handles.append(module.register_forward_hook(self._leave))
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        return super().__exit__(*exc)

    def _enter(self, kind, layer):
        def hook(module, args):
            self._where = (kind, layer)
            if kind == "indexer" and "_ascend_plan" not in vars(module):  # HF's own indexer: its head weights
                x = args[0]
                self._head_weights = module.weights_proj(x.to(module.weights_proj.weight.dtype)).float().abs()

        return hook

    def _leave(self, module, args, output):
        self._where = None

    # -- the interception --
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._where is not None and self.steps:
            kind, layer = self._where
            if kind == "indexer" and func is torch.ops.aten.relu.default:
                self._head_terms = func(*args, **kwargs)
                return self._head_terms
            if kind == "indexer" and func is torch.ops.aten.topk.default:
                return self._hf_indexer(layer, func, args, kwargs)
            if kind == "indexer" and func is torch.ops.ascend_glm5.lightning_indexer.default:
                return self._our_indexer(layer, func, args, kwargs)
            if kind == "routing" and func is torch.ops.aten.topk.default and self._is_expert_choice(args):
                return self._router(layer, func, args, kwargs)
        return func(*args, **kwargs)

    def _hf_indexer(self, layer, func, args, kwargs):
        scores, k = args[0], self.config.index_topk
        result = func(*args, **kwargs)
        chosen = result[1].tolist()  # HF's own choice (torch.topk breaks exact ties its own way)
        terms = torch.einsum("bsh,bsht->bst", self._head_weights, self._head_terms.float())
        past, rows = self._shape[2], []
        for (b, first), s in self._rows():
            visible = scores[b, s, first : past + s + 1].float()
            keys = [i - first for i in chosen[b][s] if first <= i <= past + s and visible[i - first] > _VISIBLE]
            ordered = torch.sort(visible, descending=True).values
            scale = float(terms[b, s, first : past + s + 1].max())
            row = IndexerRow(keys, _margin(ordered, k, scale), visible, scale)
            rows.append(row)
            self._force_hf_row(layer, len(rows) - 1, row, result, b, s, first)
        self.steps[-1].indexer[layer] = rows
        return result

    def _force_hf_row(self, layer, r, row: IndexerRow, result, b, s, first) -> None:
        reference, band = self._reference("indexer", layer)
        if reference is None:
            return
        ref = reference[r]
        if ref.scale > 0 and math.isfinite(ref.margin):  # rows that select (see _our_indexer)
            self._score_error("indexer", layer, float((row.scores - ref.scores).abs().max()) / ref.scale)
        if ref.margin <= band.indexer and set(row.keys) != set(ref.keys):  # a forced row has k visible keys
            self.forced.append(NearTie(len(self.steps) - 1, "indexer", layer, r, ref.margin))
            result[1][b, s] = torch.tensor(ref.keys, dtype=result[1].dtype) + first
            row.keys = list(ref.keys)

    def _our_indexer(self, layer, func, args, kwargs):
        args = list(args)
        wanted_values = args[10]
        args[10] = True  # return_value: our scores, to measure their distance to HF's
        indices, values = func(*args, **kwargs)
        reference, band = self._reference("indexer", layer)
        rows = []
        for r in range(indices.shape[0]):
            keys = [i for i in indices[r, 0].tolist() if i >= 0]
            rows.append(IndexerRow(keys, math.nan))
            if reference is None:
                continue
            ref = reference[r]
            # Score distances are measured on rows that select (more visible keys than k): the tie
            # band is about them. A row that keeps every key decides nothing, and its few early
            # keys can cancel between heads to a score far below the row's scale (measured 1.8e-2
            # of it on a 2-key row of DeepSeek-V3.2's third layer, seed 0).
            if keys and ref.scale > 0 and math.isfinite(ref.margin):
                err = float((values[r, 0, : len(keys)] - ref.scores[keys]).abs().max()) / ref.scale
                self._score_error("indexer", layer, err)
            if ref.margin <= band.indexer and set(keys) != set(ref.keys):
                self.forced.append(NearTie(len(self.steps) - 1, "indexer", layer, r, ref.margin))
                indices[r, 0] = -1
                indices[r, 0, : len(ref.keys)] = torch.tensor(ref.keys, dtype=indices.dtype)
                rows[-1].keys = list(ref.keys)
        self.steps[-1].indexer[layer] = rows
        if not wanted_values:
            values = values.new_empty((0,))
        return indices, values

    def _score_error(self, kind: str, layer: int, error: float) -> None:
        self.score_error[kind] = max(self.score_error[kind], error)
        self.score_error_by_layer[kind, layer] = max(self.score_error_by_layer.get((kind, layer), 0.0), error)

    def _is_expert_choice(self, args) -> bool:
        scores, k = args[0], args[1]
        return scores.dim() == 2 and scores.shape[-1] == self.config.n_routed_experts and k == self.config.num_experts_per_tok

    def _router(self, layer, func, args, kwargs):
        choice = args[0].float()
        k = self.config.num_experts_per_tok
        batch, seq, _ = self._shape
        real = [b * seq + s for b in range(batch) for s in range(seq) if self._shape[2] + s >= self.pad[b]]
        ordered = torch.sort(choice[real], dim=-1, descending=True).values
        margins = [_margin(row, k) for row in ordered]
        values, indices = func(*args, **kwargs)
        sets = [frozenset(indices[t].tolist()) for t in real]
        reference, band = self._reference("routing", layer)
        if reference is not None:
            self._score_error("routing", layer, float((choice[real] - reference.scores).abs().max()) if real else 0.0)
            for i, (t, ref_set, ref_margin) in enumerate(zip(real, reference.experts, reference.margins)):
                if ref_margin <= band.routing and sets[i] != ref_set:
                    self.forced.append(NearTie(len(self.steps) - 1, "routing", layer, i, ref_margin))
                    chosen = torch.tensor(sorted(ref_set), dtype=indices.dtype)
                    indices[t] = chosen
                    values[t] = args[0][t, chosen]
                    sets[i] = ref_set
        self.steps[-1].routing[layer] = Routing(sets, margins, choice[real])
        return values, indices


@torch.no_grad()
def run_steps(model, ids, mask, steps: int, *, tokens: torch.Tensor | None = None, decisions: Decisions | None = None):
    """Greedy decoding by hand: a prefill, then one token per step with the model's cache, position
    ids counting real tokens as ``generate`` does. Feeds ``tokens[:, t]`` after step ``t`` when
    given (teacher forcing), else the step's argmax. Returns ``(argmax tokens [B, steps], logits
    per step [B, V], the cache)``."""
    batch = ids.shape[0]
    inputs, cache, chosen, logits = ids, None, [], []
    for t in range(steps):
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -inputs.shape[1] :]
        past = mask.shape[1] - inputs.shape[1]
        if decisions is not None:
            decisions.begin_step(batch, inputs.shape[1], past)
        out = model(inputs, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        cache, step_logits = out.cache, out.logits[:, -1].float()
        if decisions is not None:
            decisions.steps[-1].logits = step_logits
        logits.append(step_logits)
        chosen.append(step_logits.argmax(-1))
        fed = tokens[:, t] if tokens is not None else chosen[-1]
        inputs = fed[:, None]
        mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
    return torch.stack(chosen, 1), logits, cache


@dataclass
class Comparison:
    """A run against a reference run of the same tokens (see :func:`compare`)."""

    near_ties: list[NearTie]  # the reference's near-ties where the runs chose differently (the run was forced)
    token_ties: list[NearTie]  # steps whose reference token margin is within the band (not compared)
    differences: list[NearTie]  # decisions that differ although the reference's margin is clear: failures
    logits_error: list[float]  # per step: max |run - reference| / max |reference| of the next-token logits

    def summary(self) -> str:
        ties = self.near_ties + self.token_ties
        first = f", first at {min(ties, key=lambda t: t.step)}" if ties else ""
        return (f"{len(self.differences)} clear-margin differences, {len(self.near_ties)} forced near-ties and "
                f"{len(self.token_ties)} token near-ties{first}; max logits error {max(self.logits_error):.2e}")


def compare(reference: Decisions, run: Decisions, band: TieBand) -> Comparison:
    """Decisions of ``run`` (forced with ``reference`` and ``band``) against ``reference``'s."""
    differences, token_ties, errors = [], [], []
    for t, (ref, mine) in enumerate(zip(reference.steps, run.steps)):
        for layer, rows in ref.indexer.items():
            for r, (a, b) in enumerate(zip(rows, mine.indexer[layer])):
                if a.margin > band.indexer and set(a.keys) != set(b.keys):
                    differences.append(NearTie(t, "indexer", layer, r, a.margin))
        for layer, routing in ref.routing.items():
            for r, (a, b, m) in enumerate(zip(routing.experts, mine.routing[layer].experts, routing.margins)):
                if m > band.routing and a != b:
                    differences.append(NearTie(t, "routing", layer, r, m))
        top2 = ref.logits.topk(2, dim=-1).values
        margins = (top2[:, 0] - top2[:, 1]) / ref.logits.abs().amax(-1)
        for b, (m, same) in enumerate(zip(margins.tolist(), (ref.logits.argmax(-1) == mine.logits.argmax(-1)).tolist())):
            if m <= band.token:
                token_ties.append(NearTie(t, "token", -1, b, m))
            elif not same:
                differences.append(NearTie(t, "token", -1, b, m))
        errors.append(float((mine.logits - ref.logits).abs().max() / ref.logits.abs().max()))
    return Comparison(list(run.forced), token_ties, differences, errors)
