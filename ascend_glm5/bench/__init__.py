"""Benchmarks: ``python -m ascend_glm5 bench <op>``.

Each prints the emulator's counters for the kernel against the minimum the op needs (bytes
that must cross GM), and CPU wall time of the emulated kernel and of the reference. With
``--soc`` each case also runs on the timing model (ascend_glm5.perf): modeled time against the
roofline, pipe utilisation and the critical path; ``--plot out.png`` draws the timelines;
``--floors`` replays each case with its data movement free (ascend_glm5.perf.floors).
"""

from __future__ import annotations

import importlib

BENCHMARKS = (
    "dequant_swiglu_quant",
    "dynamic_quant",
    "grouped_matmul_a8w4",
    "lightning_indexer",
    "mla_prolog",
    "moe_init_routing_v2",
    "quant_matmul",
    "quantize",
    "sparse_flash_attention",
)


def run(op: str, quick: bool = False, soc: str | None = None, plot: str | None = None, floors: bool = False) -> int:
    """Runs the benchmark of `op`; with `soc` also the timing model of every case (with `plot` its
    per-core pipe timeline, with `floors` its replays with data movement free), see docs/performance.md."""
    if op not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {op!r}; available: {', '.join(BENCHMARKS)}")
    from ._common import print_model_summary, set_model_options

    set_model_options(soc, plot, floors)
    rc = importlib.import_module(f".{op}", __name__).main(quick)
    print_model_summary()
    return rc
