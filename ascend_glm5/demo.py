"""The main job (``python -m ascend_glm5 demo``): a GLM-5 / DeepSeek-V3.2 transformers model generating
text on HF's own attention and on the ascend_glm5 ops (emulated AscendC kernels on the CPU).

It runs greedy generation of a left-padded batch twice (HF, then :func:`patch_model`) for the wall
times and the emulator counters, then the tie-aware comparison (:func:`compare_with_hf`): HF's
greedy run records every decision with its margin, the patched model is fed the same tokens and
takes HF's choice at HF's near-ties, and every clear-margin decision and every step's logits must
agree. Needs transformers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM
from transformers.generation.streamers import BaseStreamer

from .bench._common import COUNTER_COLUMNS
from .integrations.decisions import Comparison, Decisions, TieBand, compare, run_steps
from .integrations.tiny_models import build_tiny_model
from .integrations.transformers import count_launches, patch_model, patched, unpatch_model

MODELS = {"glm5": "glm_moe_dsa", "deepseek-v32": "deepseek_v32"}
PROMPT_LENGTHS = (16, 11)  # a batch of two prompts; the shorter one is left-padded


@dataclass(frozen=True)
class Tolerance:
    """What "agree" means (fp32 model; the kernels compute in fp16; docs/integrations.md)."""

    logits: float  # max |patched - HF| / max |HF| of the next-token logits, at every step
    attention: float  # the same for a layer's attention output, on rows whose top-k equals HF's
    rows: float  # least fraction of query rows whose top-k set equals HF's (identical inputs)


FP32 = Tolerance(logits=5e-3, attention=3e-3, rows=0.99)  # logits measured <= 3.0e-3 (seeds 0-7)

# Near-tie bands for an fp32 model against HF fp32 (docs/integrations.md). A decision can flip only
# where the two runs' scores move apart by more than its margin, so each band is twice the largest
# score distance the comparison allows (and checks). Index scores: 1.25e-2 of the row's scale (the
# kernels' fp16 inputs move layer-0 scores by <= 4e-4; the drift they cause grows with depth, up to
# 7.7e-3 in DeepSeek-V3.2's third layer on seeds 0-7); routing scores 2.5e-3 (measured <= 7e-4);
# logits FP32.logits.
FP32_SCORES = {"indexer": 1.25e-2, "routing": 2.5e-3}
FP32_BAND = TieBand(indexer=2 * FP32_SCORES["indexer"], routing=2 * FP32_SCORES["routing"], token=2 * FP32.logits)


class _Progress(BaseStreamer):
    """A line every couple of seconds while ``generate`` runs (it streams each new token here)."""

    def __init__(self, label: str, total: int, every: float = 2.0):
        self.label, self.total, self.every = label, total, every
        self.done, self.prompt_seen = 0, False
        self.start = self.last = time.perf_counter()

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        self.done += 1
        self.tick(self.done, self.total, "tokens")

    def tick(self, done: int, total: int, what: str) -> None:
        now = time.perf_counter()
        if done == total or now - self.last >= self.every:
            print(f"  [{self.label}] {done}/{total} {what}, {now - self.start:.1f} s", flush=True)
            self.last = now

    def end(self) -> None:
        pass


def left_padded_prompts(vocab: int, lengths, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids ``[B, max(lengths)]`` and the attention mask, row ``b`` left-padded."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(1, vocab, (len(lengths), width), generator=gen)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, width - n :] = 1
        ids[b, : width - n] = 0
    return ids, mask


def generate(model, ids, mask, tokens: int, label: str):
    """Greedy generation of exactly ``tokens`` new tokens; returns ``(output, seconds)``."""
    start = time.perf_counter()
    out = model.generate(
        ids, attention_mask=mask, max_new_tokens=tokens, do_sample=False, pad_token_id=0, eos_token_id=None,
        output_logits=True, return_dict_in_generate=True, streamer=_Progress(label, tokens),
    )  # fmt: skip
    return out, time.perf_counter() - start


def relative_error(reference: torch.Tensor, value: torch.Tensor) -> float:
    """``max |value - reference| / max |reference|``."""
    return float((value.float() - reference.float()).abs().max() / reference.float().abs().max())


def compare_with_hf(model, ids, mask, steps: int, *, band: TieBand = FP32_BAND, block_size: int = 16):
    """The tie-aware comparison of the patched ``model`` with HF's own forward, ``steps`` greedy steps
    from the left-padded ``ids`` / ``mask``: HF runs free (its decisions and margins recorded), then
    the patched model is fed HF's tokens and takes HF's choice at HF's near-ties (``band``).
    Returns ``(comparison, HF's run, the patched run, emulator counters of the patched run)``."""
    pad = (mask == 0).sum(-1)
    with Decisions(model, pad) as hf:
        tokens, _, _ = run_steps(model, ids, mask, steps, decisions=hf)
    with patched(model, block_size=block_size), count_launches() as launches:
        with Decisions(model, pad, force=(hf, band)) as ours:
            run_steps(model, ids, mask, steps, tokens=tokens, decisions=ours)
    return compare(hf, ours, band), hf, ours, launches


def failures(comparison: Comparison, ours: Decisions, tolerance: Tolerance = FP32,
             scores: dict[str, float] = FP32_SCORES) -> list[str]:
    """What breaks the fp32 agreement: clear-margin decisions that differ, logits beyond the
    tolerance, scores further from HF's than the bands assume."""
    out = [f"{d.kind} differs at {d}" for d in comparison.differences[:5]]
    worst = max(comparison.logits_error)
    if worst > tolerance.logits:
        out.append(f"logits error {worst:.2e} > {tolerance.logits:g}")
    for kind, limit in scores.items():
        if ours.score_error[kind] > limit:
            out.append(f"{kind} scores {ours.score_error[kind]:.2e} from HF's > {limit:g}")
    return out


def load_model(kind: str, model_path: str | None, seed: int):
    """A local checkpoint (loaded in fp32: the comparison needs HF's fp32 forward) or a tiny random
    fp32 model of ``kind``."""
    if model_path is None:
        return build_tiny_model(kind, seed=seed), f"tiny random {kind} (seed {seed})"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    return model, f"checkpoint {model_path}"


def _counter_table(totals: dict[str, dict[str, int]]) -> list[str]:
    columns = ["launches", *COUNTER_COLUMNS]
    lines = ["  " + f"{'kernel':24s}" + "".join(f"{c:>16s}" for c in columns)]
    for kernel, entry in sorted(totals.items()):
        lines.append("  " + f"{kernel:24s}" + "".join(f"{entry.get(c, 0):>16d}" for c in columns))
    return lines


def run(kind: str = "glm_moe_dsa", model_path: str | None = None, tokens: int = 32, seed: int = 1) -> int:
    """The demo; returns the process exit code: 0 the patched model agrees with HF, 1 it does not,
    2 the model cannot be patched."""
    from .quant import demo as quant_demo

    if quant_demo.is_msmodelslim(model_path):  # an msModelSlim W8A8 / W4A8 export
        return quant_demo.run(model_path, tokens, seed)
    model, source = load_model(kind, model_path, seed)
    config = model.config
    ids, mask = left_padded_prompts(config.vocab_size, PROMPT_LENGTHS, seed)
    print(f"{type(model).__name__}: {source}, {config.num_hidden_layers} layers, index_topk {config.index_topk}; "
          f"prompts of {list(PROMPT_LENGTHS)} tokens (left-padded), {tokens} new tokens, greedy", flush=True)

    hf_name = f"HF {config._attn_implementation}"
    hf, hf_seconds = generate(model, ids, mask, tokens, hf_name)
    try:
        patch_model(model)
    except ValueError as e:
        print(f"cannot patch this model: {e}")
        return 2
    try:
        with count_launches() as counters:
            ours, our_seconds = generate(model, ids, mask, tokens, "ascend_glm5")
    finally:
        unpatch_model(model)
    print("tie-aware comparison (HF's tokens fed to both; HF's choice taken at HF's near-ties):", flush=True)
    comparison, _, decisions, _ = compare_with_hf(model, ids, mask, tokens)

    errors = comparison.logits_error
    worst = max(range(len(errors)), key=errors.__getitem__)
    print(f"  next-token logits     max rel error {errors[worst]:.2e} (step {worst}; tolerance {FP32.logits:g})")
    print(f"  scores vs HF's        indexer {decisions.score_error['indexer']:.2e} (of the row's largest; allowed "
          f"{FP32_SCORES['indexer']:g}), routing {decisions.score_error['routing']:.2e} (allowed "
          f"{FP32_SCORES['routing']:g})")  # fmt: skip
    print(f"  decisions             {comparison.summary()}")
    for tie in (comparison.near_ties + comparison.token_ties)[:8]:
        print(f"    near-tie: {tie}")
    print("free-running greedy generation (HF's and the patched model's own tokens):")
    diverged = (hf.sequences != ours.sequences).any(0).nonzero()
    if len(diverged) == 0:
        print(f"  tokens generated      {ids.shape[0]} x {tokens} per path, identical")
    else:
        step = int(diverged[0]) - ids.shape[1]
        ties = sorted(t.step for t in comparison.near_ties + comparison.token_ties if t.step <= step)
        why = (f"after HF's near-tie at step {ties[0]}" if ties else "with no near-tie before it: a real difference")
        print(f"  tokens generated      {ids.shape[0]} x {tokens} per path, first differ at step {step} ({why})")
    print(f"  wall time             {hf_name} {hf_seconds:.2f} s, ascend_glm5 {our_seconds:.2f} s "
          f"(kernels emulated on the CPU)")  # fmt: skip
    print("emulator counters per kernel (the ascend_glm5 generation):")
    print("\n".join(_counter_table(counters)))
    problems = failures(comparison, decisions)
    print("result: " + ("AGREE" if not problems else "DISAGREE: " + "; ".join(problems)))
    return 0 if not problems else 1
