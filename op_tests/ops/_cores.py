"""Runs host tilings and emulated launches on another core count (tests of one core, few cores)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ascend_glm5.ops._backend import cpu_module


@contextlib.contextmanager
def ai_cores(n: int) -> Iterator[None]:
    """Host tilings and launches see n AI cores (n cubes + 2n vector cores) inside the block."""
    c = cpu_module()
    before = c.emulator_limits()
    c.select_soc(f"test{n}", n, 2 * n)
    try:
        yield
    finally:
        c.select_soc(before["soc"], before["aic_cores"], before["aiv_cores"])
