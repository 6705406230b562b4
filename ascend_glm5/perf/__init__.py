"""Pipe-level timing model of Ascend A2/A3 (910B1-B4, 910_93xx dies), driven by the emulator's
instruction trace. See docs/performance.md.

    from ascend_glm5 import perf
    reports = perf.model(lambda: ops.lightning_indexer(q, k, w), soc="Ascend910B3")
    print(perf.format_report(reports[0], perf.Roofline(bytes=..., macs=...)))
    perf.plot_timeline(reports[0], "li.png")   # needs matplotlib (the `perf` extra)
"""

from __future__ import annotations

from .model import LaunchReport, Roofline, emulated_soc, kernel_roofline_us, model, replay, tracing
from .report import format_report
from .soc import names as soc_names

__all__ = ["LaunchReport", "Roofline", "emulated_soc", "format_report", "kernel_roofline_us", "model", "plot_timeline",
           "replay", "soc_names", "tracing"]


def plot_timeline(report: LaunchReport, path: str, max_cores: int | None = None) -> None:
    """Draws the per-core pipe timeline of `report` into `path` (matplotlib, imported here)."""
    from .plot import plot_timeline as _plot

    _plot(report, path, max_cores)
