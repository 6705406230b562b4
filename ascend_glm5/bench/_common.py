"""Timing and counter reporting shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..ops._backend import cpu_module


def wall_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best of `repeat` runs, in seconds (the first run also warms up)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def launch_counters(fn: Callable[[], object]) -> dict[str, int]:
    """Counters summed over every kernel launch `fn` makes."""
    c = cpu_module()
    c.reset_counters()
    fn()
    return c.cumulative_counters()


def print_row(cells: list[str], widths: list[int]) -> None:
    print("  ".join(cell.rjust(w) for cell, w in zip(cells, widths)))


COUNTER_COLUMNS = ["mte2_bytes", "mte3_bytes", "fixpipe_bytes", "vector_elem_ops", "cube_macs", "scalar_ops", "sync_waits"]


def print_counters(rows: list[tuple[str, dict[str, int]]]) -> None:
    """One line of launch-total emulator counters per case."""
    widths = [10] + [15] * len(COUNTER_COLUMNS)
    print_row(["case", *COUNTER_COLUMNS], widths)
    for name, total in rows:
        print_row([name, *(str(total[c]) for c in COUNTER_COLUMNS)], widths)
