"""The main job (``python -m ascend_glm5 demo``): a GLM-5 / DeepSeek-V3.2 transformers model generating
text on HF's own attention and on the ascend_glm5 ops (emulated AscendC kernels on the CPU).

It runs greedy generation of a left-padded batch twice (HF eager, then :func:`patch_model`), replays
HF's recorded layer inputs through the patched layers to compare each op on identical inputs, and
prints the agreement, the wall times and the emulator counters of every kernel. Needs transformers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from transformers import AutoModelForCausalLM, DynamicCache
from transformers.generation.streamers import BaseStreamer

from .bench._common import COUNTER_COLUMNS
from .integrations.tiny_models import AttentionRecorder, build_tiny_model
from .integrations.transformers import count_launches, patch_model, unpatch_model

MODELS = {"glm5": "glm_moe_dsa", "deepseek-v32": "deepseek_v32"}
PROMPT_LENGTHS = (16, 11)  # a batch of two prompts; the shorter one is left-padded


@dataclass(frozen=True)
class Tolerance:
    """What "agree" means (fp32 model; the kernels compute in fp16; docs/integrations.md)."""

    logits: float  # max |patched - HF| / max |HF| of the next-token logits, at every step
    attention: float  # the same for a layer's attention output, on rows whose top-k equals HF's
    rows: float  # least fraction of query rows whose top-k set equals HF's (identical inputs)


FP32 = Tolerance(logits=3e-3, attention=3e-3, rows=0.99)


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
    """Greedy generation of exactly ``tokens`` new tokens with attention recording; returns
    ``(output, recorder, seconds)``."""
    with AttentionRecorder(model) as recorder:
        start = time.perf_counter()
        out = model.generate(
            ids, attention_mask=mask, max_new_tokens=tokens, do_sample=False, pad_token_id=0, eos_token_id=None,
            output_logits=True, return_dict_in_generate=True,
            streamer=_Progress(label, tokens),
        )  # fmt: skip
        seconds = time.perf_counter() - start
    return out, recorder, seconds


def relative_error(reference: torch.Tensor, value: torch.Tensor) -> float:
    """``max |value - reference| / max |reference|``."""
    return float((value.float() - reference.float()).abs().max() / reference.float().abs().max())


def _real_rows(call, pad: torch.Tensor) -> torch.Tensor:
    """bool ``[B, S]``: the real (not padding) query rows of a recorded attention call."""
    seq = call.hidden_states.shape[1]
    positions = call.attention_mask.shape[-1] - seq + torch.arange(seq)
    return positions[None, :] >= pad[:, None]


def _hf_sets(call, pad: torch.Tensor) -> list[set[int]]:
    """HF's top-k ``[B, S, k]`` (padded positions; masked picks where fewer than k keys are visible)
    as key sets per real query row, keys counted from the row's first real token."""
    seq = call.hidden_states.shape[1]
    past = call.attention_mask.shape[-1] - seq
    return [{i - p for i in call.topk[b, s].tolist() if p <= i <= past + s}
            for b, p in enumerate(pad.tolist()) for s in range(seq) if past + s >= p]  # fmt: skip


def _patched_sets(call, pad: torch.Tensor) -> list[set[int]]:
    """The lightning_indexer's packed ``[T, 1, k]`` (one row per real query token, -1 padded) as sets."""
    return [set(row) - {-1} for row in call.topk[:, 0].tolist()]


def _selections(calls, pad, to_sets) -> dict[tuple[int, int], list[set[int]]]:
    """Key sets per (step, layer); a layer without an indexer ("shared") uses the previous layer's."""
    out = {}
    for step in range(len(calls[0])):
        previous = None
        for layer in range(len(calls)):
            call = calls[layer][step]
            previous = out[step, layer] = previous if call.topk is None else to_sets(call, pad)
    return out


@dataclass
class OpAgreement:
    """The patched ops against HF on identical layer inputs."""

    rows_equal: int  # query rows (over layers and steps) whose top-k set equals HF's
    rows: int
    keys_common: int  # selected keys shared with HF's selection
    keys: int
    attention_error: float  # max relative error of the attention output on rows_equal rows


def compare_ops(hf_calls, patched_calls, pad: torch.Tensor) -> OpAgreement:
    """Top-k sets and attention outputs of the same attention calls, HF vs patched."""
    hf_sets, our_sets = _selections(hf_calls, pad, _hf_sets), _selections(patched_calls, pad, _patched_sets)
    rows_equal = rows = common = keys = 0
    error = 0.0
    for (step, layer), hf in hf_sets.items():
        ours = our_sets[step, layer]
        equal = torch.tensor([a == b for a, b in zip(hf, ours)])
        rows_equal, rows = rows_equal + int(equal.sum()), rows + len(hf)
        common, keys = common + sum(len(a & b) for a, b in zip(hf, ours)), keys + sum(len(a) for a in hf)
        call, mine = hf_calls[layer][step], patched_calls[layer][step]
        real = _real_rows(call, pad)
        ref, out = call.output[real].float(), mine.output[real].float()
        if equal.any():
            error = max(error, float((out - ref)[equal].abs().max() / ref.abs().max()))
    return OpAgreement(rows_equal, rows, common, keys, error)


def selection_differences(hf_calls, patched_calls, pad: torch.Tensor) -> list[tuple[int, int]]:
    """``(step, layer)`` of the calls whose top-k sets differ from HF's, in call order."""
    hf_sets, our_sets = _selections(hf_calls, pad, _hf_sets), _selections(patched_calls, pad, _patched_sets)
    return [key for key in sorted(hf_sets) if hf_sets[key] != our_sets[key]]


@torch.no_grad()
def replay(model, hf_calls, progress: _Progress | None = None):
    """Feed every recorded HF attention call's inputs, step by step, through the (patched) attention
    layers with a fresh cache; returns the recorded patched calls (same structure as ``hf_calls``)."""
    cache = DynamicCache(config=model.config)
    layers = model.model.layers
    steps = len(hf_calls[0])
    with AttentionRecorder(model) as recorder:
        for step in range(steps):
            shared = None  # GLM-5 "shared" layers take the previous full layer's top-k
            for layer, module in enumerate(layers):
                call = hf_calls[layer][step]
                result = module.self_attn(
                    hidden_states=call.hidden_states, position_embeddings=(call.cos, call.sin),
                    attention_mask=call.attention_mask, cache=cache, prev_topk_indices=shared,
                )  # fmt: skip
                shared = result[2] if len(result) == 3 else None
            if progress is not None:
                progress.tick(step + 1, steps, "steps")
    return recorder.calls


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
    pad = (mask == 0).sum(-1)
    print(f"{type(model).__name__}: {source}, {config.num_hidden_layers} layers, index_topk {config.index_topk}; "
          f"prompts of {list(PROMPT_LENGTHS)} tokens (left-padded), {tokens} new tokens, greedy", flush=True)

    hf_name = f"HF {config._attn_implementation}"
    hf, hf_rec, hf_seconds = generate(model, ids, mask, tokens, hf_name)
    try:
        patch_model(model)
    except ValueError as e:
        print(f"cannot patch this model: {e}")
        return 2
    try:
        with count_launches() as counters:
            ours, our_rec, our_seconds = generate(model, ids, mask, tokens, "ascend_glm5")
        replayed = replay(model, hf_rec.calls, _Progress("replay", tokens))
    finally:
        unpatch_model(model)

    errors = [relative_error(a, b) for a, b in zip(hf.logits, ours.logits)]
    worst = max(range(len(errors)), key=errors.__getitem__)
    same_tokens = torch.equal(hf.sequences, ours.sequences)
    ops = compare_ops(hf_rec.calls, replayed, pad)
    flips = selection_differences(hf_rec.calls, our_rec.calls, pad)
    row_share = ops.rows_equal / ops.rows
    print("per-op agreement (HF's recorded layer inputs replayed through the patched layers):")
    print(f"  lightning_indexer     top-k sets equal HF's on {ops.rows_equal}/{ops.rows} query rows "
          f"({100 * row_share:.1f}%), keys in common {100 * ops.keys_common / ops.keys:.1f}%")  # fmt: skip
    print(f"  attention layer       max rel error {ops.attention_error:.2e} on those rows (MLA prolog + "
          f"sparse_flash_attention + W_UV + o_proj; tolerance {FP32.attention:g})")  # fmt: skip
    print("end to end (free-running greedy generation):")
    print(f"  tokens generated      {ids.shape[0]} x {tokens} per path, identical: {'yes' if same_tokens else 'NO'}")
    print(f"  next-token logits     max rel error {errors[worst]:.2e} (step {worst}; tolerance {FP32.logits:g})")
    if not flips:
        print("  top-k selections      equal HF's at every step")
    else:
        step, layer = flips[0]
        replay_note = ("the replay on HF's inputs agrees there: the kernels' fp16 rounding drifted a key across "
                       "the top-k boundary" if flips[0] not in selection_differences(hf_rec.calls, replayed, pad)
                       else "the replay on HF's inputs differs there too")  # fmt: skip
        print(f"  top-k selections      first differ from HF's at step {step}, layer {layer} ({replay_note})")
    print(f"  wall time             {hf_name} {hf_seconds:.2f} s, ascend_glm5 {our_seconds:.2f} s "
          f"(kernels emulated on the CPU)")  # fmt: skip
    print("emulator counters per kernel (the ascend_glm5 generation):")
    print("\n".join(_counter_table(counters)))
    failures = [
        *(["generated tokens differ"] if not same_tokens else []),
        *([f"logits error {errors[worst]:.2e} > {FP32.logits:g}"] if errors[worst] > FP32.logits else []),
        *([f"attention error {ops.attention_error:.2e} > {FP32.attention:g}"] if ops.attention_error > FP32.attention
          else []),
        *([f"top-k agreement {100 * row_share:.1f}% < {100 * FP32.rows:g}%"] if row_share < FP32.rows else []),
    ]  # fmt: skip
    print("result: " + ("AGREE" if not failures else "DISAGREE: " + "; ".join(failures)))
    return 0 if not failures else 1
