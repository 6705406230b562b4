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


def with_plan_times(fn: Callable[[], object]) -> tuple[Callable[[], object], list[float]]:
    """fn, and the list its calls fill with their launch's plan time: the host microseconds the launch
    took to make its plan (Make*Plan, the same host code that runs before every NPU launch)."""
    plan_us: list[float] = []

    def run():
        out = fn()
        plan_us.append(cpu_module().last_plan_us())
        return out

    return run, plan_us


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


# ---- timing model (`bench <op> --soc SOC [--plot out.png] [--floors]`) -------------------------------
_MODEL = {"soc": None, "plot": None, "floors": False, "rows": []}


def set_model_options(soc: str | None, plot: str | None, floors: bool = False) -> None:
    """Set by `bench` from --soc / --plot / --floors before the op's main() runs."""
    if (plot or floors) and not soc:
        soc = "Ascend910B3"
    _MODEL.update(soc=soc, plot=plot, floors=floors, rows=[])


def model_case(case: str, fn: Callable[[], object], roofline) -> list | None:
    """With --soc: runs `fn` (the op on one case) again with tracing, replays each kernel launch on
    the timing model, prints the report against `roofline` (an ascend_glm5.perf.Roofline), draws the
    timeline with --plot, and remembers a summary row. Without --soc: does nothing. Every bench calls
    this once per case."""
    soc = _MODEL["soc"]
    if not soc:
        return None
    from .. import perf  # lazy: plain benches do not need the model

    with perf.emulated_soc(soc), perf.tracing() as traces:
        fn()
    reports = [perf.replay(t, soc) for t in traces]
    for i, rep in enumerate(reports):
        print(f"\n[{case}] " + perf.format_report(rep, roofline if i == len(reports) - 1 else None))
        if _MODEL["plot"]:
            path = _plot_path(_MODEL["plot"], case, i if len(reports) > 1 else None)
            perf.plot_timeline(rep, path)
            print(f"  timeline: {path}")
    print_floors(traces, soc, roofline.time_us(soc))
    total_us = sum(r.time_us for r in reports)
    _MODEL["rows"].append((case, total_us, roofline.time_us(soc), reports[-1].bound() if reports else "-"))
    return reports


def print_floors(traces, soc: str, roofline_us: float) -> None:
    """With --floors: the case's launches (`traces`) replayed with their data movement free, against the
    op's roofline (perf/floors.py). Without it: nothing."""
    if _MODEL["floors"]:
        from ..perf import floors

        print(floors.format_floors(traces, soc, roofline_us))


def print_model_summary() -> None:
    """The modeled time of every case against its roofline (after the last model_case)."""
    rows = _MODEL["rows"]
    if not rows:
        return
    print(f"\ntiming model, {_MODEL['soc']}: modeled kernel time against the op's roofline "
          "max(bytes / HBM bandwidth, MACs / cube peak)")
    widths = [max(14, *(len(r[0]) for r in rows)), 12, 12, 7, 0]
    print_row(["case", "modeled us", "roofline us", "ratio", "bound"], widths)
    for case, t, r, bound in rows:
        print_row([case, f"{t:.2f}", f"{r:.2f}", f"{t / r:.2f}x" if r > 0 else "-", bound], widths)
    _MODEL["rows"] = []


def _plot_path(base: str, case: str, launch: int | None) -> str:
    import os
    import re

    root, ext = os.path.splitext(base)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", case).strip("_").lower()
    return f"{root}_{slug}{'' if launch is None else f'_{launch}'}{ext or '.png'}"
