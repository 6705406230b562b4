"""lightning_indexer at GLM-5 serving shapes (32 heads x 128, sparse_count 2048, bf16, paged key
cache of 128-token blocks in decode, causal prefill): CPU wall time of the emulated kernel against
the torch reference on the same inputs, and with --soc the timing model's time against the roofline
(and the top-k's share of it)."""

from __future__ import annotations

import torch

from .. import ops, reference
from ..ops._backend import cpu_module
from ..perf import glm5
from ..perf.report import format_report
from . import _common
from ._common import print_row, wall_time, with_plan_times

# (phase, batch, keys per sequence / prompt length); the inputs are perf.glm5's (seed 0).
CASES = [("decode", b, ctx) for ctx in (8192, 32768) for b in (1, 16, 64)]
CASES += [("decode", 1, 131072), ("decode", 16, 131072), ("prefill", 1, 1024), ("prefill", 1, 2048)]
QUICK_CASES = [("decode", 1, 8192), ("decode", 16, 8192), ("prefill", 1, 256)]


def _same_sets(got: torch.Tensor, want: torch.Tensor) -> bool:
    return torch.equal(got.sort(dim=-1).values, want.sort(dim=-1).values)


def _reference_time(ref) -> float:
    """The reference's best wall time with torch's thread count and with one thread (on a loaded
    machine one thread can be several times faster): the emulator is compared with the faster."""
    threads = torch.get_num_threads()
    t = wall_time(ref)
    torch.set_num_threads(1)
    try:
        return min(t, wall_time(ref))
    finally:
        torch.set_num_threads(threads)


def main(quick: bool) -> int:
    soc = _common._MODEL["soc"]
    print(f"lightning_indexer, GLM-5 indexer: {glm5.LI_HEADS} heads x {glm5.DIM}, sparse_count {glm5.TOPK}, bf16, "
          f"causal; decode: paged cache ({glm5.BLOCK}-token blocks)")
    rows = []
    for phase, batch, ctx in QUICK_CASES if quick else CASES:
        case = glm5.Case("lightning_indexer", phase, batch, ctx, 0)
        name = f"{phase} {case.shape}"
        (q, k, w), kw, key_bytes = glm5.li_inputs(case, torch.Generator().manual_seed(0))
        run, plan_us = with_plan_times(lambda: ops.lightning_indexer(q, k, w, **kw))
        ref = lambda: reference.lightning_indexer(q, k, w, **kw)  # noqa: E731
        agree = _same_sets(run()[0], ref()[0])
        cores = cpu_module().last_launch()["block_dim"]
        t_emu, t_ref = wall_time(run), _reference_time(ref)
        row = [name, str(cores), f"{t_emu:.3f}", f"{t_ref:.3f}", f"{t_emu / t_ref:.2f}x", "==" if agree else "DIFFER",
               f"{min(plan_us):.1f}"]  # fmt: skip
        if soc:
            r = glm5.run_case(case, soc, keep_traces=_common._MODEL["floors"])
            print(f"\n[{name}] " + format_report(r["report"], r["roof"]))
            if _common._MODEL["plot"]:
                path = _common._plot_path(_common._MODEL["plot"], name, None)
                from .. import perf

                perf.plot_timeline(r["report"], path)
                print(f"  timeline: {path}")
            if _common._MODEL["floors"]:
                _common.print_floors(r["traces"], soc, r["roofline_us"])
            row += [f"{r['modeled_us']:.1f}", f"{r['roofline_us']:.1f}", f"{r['modeled_us'] / r['roofline_us']:.2f}x",
                    f"{r['topk_share']:.0%}", r["bound"]]  # fmt: skip
        rows.append(row)
        print("  " + "  ".join(row), flush=True)
    print()
    head = ["case", "cores", "emulated s", "reference s", "emu/ref", "sets", "plan us"]
    widths = [max(len(r[0]) for r in rows), 5, 10, 11, 8, 6, 7]
    if soc:
        head += ["modeled us", "roofline us", "model/roof", "top-k", "bound"]
        widths += [10, 11, 10, 6, 0]
    print_row(head, widths)
    for r in rows:
        print_row(r, widths)
    print()
    print("emu/ref: CPU wall time of the emulated kernel over the torch reference's (its faster of torch's threads and")
    print("one thread), best of 3 each, same inputs.")
    print("sets: the kernel's index set of every row equals the reference's.")
    print("plan us: host time to make the launch's plan (best of the runs), which the NPU path spends before every")
    print("launch too (same host code).")
    if soc:
        print(f"model/roof: the timing model's kernel time on {soc} over max(bytes / HBM bandwidth, MACs / cube peak);")
        print("top-k: the share of the modeled time the top-k's vector instructions take (the time saved without them).")
    return 0
