"""Count the kernel launches of every ``ascend_glm5`` op inside a block, per op, with the emulator's
counters (CPU only): a ``TorchDispatchMode`` sees each call of a ``torch.ops.ascend_glm5.*`` op, whoever
makes it (quantized linears, the W4A8 experts chain, the patched attention)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch.utils._python_dispatch import TorchDispatchMode


class _Counter(TorchDispatchMode):
    def __init__(self, totals: dict):
        super().__init__()
        self.totals = totals
        from ..ops._backend import cpu_module

        self.cpu = cpu_module()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace != "ascend_glm5":
            return func(*args, **kwargs)
        before_n, before = self.cpu.cumulative_launches(), self.cpu.cumulative_counters()
        out = func(*args, **kwargs)
        launches = self.cpu.cumulative_launches() - before_n
        entry = self.totals.setdefault(func._opname, {"calls": 0, "launches": 0})
        entry["calls"] += 1
        entry["launches"] += launches
        for name, value in self.cpu.cumulative_counters().items():
            entry[name] = entry.get(name, 0) + value - before.get(name, 0)
        return out


@contextlib.contextmanager
def count_kernel_launches() -> Iterator[dict]:
    """``with count_kernel_launches() as totals:`` -> ``totals[op] = {"calls", "launches", <counters>}``
    for every ascend_glm5 op called in the block (a call of an op that launched nothing -- e.g. zero
    rows -- counts a call and no launch)."""
    totals: dict[str, dict[str, int]] = {}
    with _Counter(totals):
        yield totals
