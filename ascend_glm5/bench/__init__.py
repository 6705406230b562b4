"""Benchmarks: ``python -m ascend_glm5 bench <op>``.

Each prints the emulator's counters for the kernel against the minimum the op needs (bytes
that must cross GM), and CPU wall time of the emulated kernel and of the reference.
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


def run(op: str, quick: bool = False) -> int:
    if op not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {op!r}; available: {', '.join(BENCHMARKS)}")
    return importlib.import_module(f".{op}", __name__).main(quick)
