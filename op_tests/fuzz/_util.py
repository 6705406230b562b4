"""Helpers the fuzz strategies share: loading a sibling or test helper file by path (the suite runs
in importlib mode, op_tests is not a package), non-contiguous views, NaN / inf planting."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import torch
from hypothesis import strategies as st

OP_TESTS = pathlib.Path(__file__).resolve().parent.parent
NONFINITE = [float("nan"), float("inf"), -float("inf")]


def load(relative: str):
    """The module at op_tests/<relative> (loaded once per session)."""
    name = "fuzz_helper_" + relative.replace("/", "_").removesuffix(".py")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, OP_TESTS / relative)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return load("ops/_ulps.py").ulp_distance(a, b)


def noncontiguous(t: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The same values as a view with a stride gap along `dim` (every other element of a wider tensor)."""
    shape = list(t.shape)
    shape[dim] *= 2
    wide = torch.zeros(shape, dtype=t.dtype)
    index = [slice(None)] * t.dim()
    index[dim] = slice(None, None, 2)
    wide[tuple(index)] = t
    return wide[tuple(index)]


def maybe_noncontiguous(draw, t: torch.Tensor) -> torch.Tensor:
    """t, a strided view of a copy of it, or (2-D) a transposed copy read back through .t()."""
    kind = draw(st.sampled_from(["contiguous", "contiguous", "strided", "transposed"]))
    if kind == "strided" and t.dim() >= 1 and t.numel():
        return noncontiguous(t, draw(st.integers(0, t.dim() - 1)))
    if kind == "transposed" and t.dim() == 2:
        return t.t().contiguous().t()
    return t


def plant(draw, t: torch.Tensor, values=NONFINITE, max_count: int = 3) -> list[tuple[int, ...]]:
    """Writes 1..max_count values of `values` at drawn positions of t (in place); returns the positions."""
    where = []
    if not t.numel():
        return where
    for value in draw(st.lists(st.sampled_from(values), min_size=1, max_size=max_count)):
        pos = tuple(draw(st.integers(0, n - 1)) for n in t.shape)
        t[pos] = value
        where.append(pos)
    return where


def mostly(small, *large):
    """Sizes from `small` three times in four, else one of `large` (big sizes cost emulator time)."""
    return st.one_of(small, small, small, st.sampled_from(large))


def seeded(draw) -> torch.Generator:
    return torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))


def saturated(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Where the reference overflowed to +-inf and the kernel gave the largest finite value of that
    sign: the fp32 -> fp16 / bf16 Cast saturates on CANN 8.5 (the brief's AscendC rules; Cast.md),
    a documented difference of the qgemm epilogues."""
    if not got.dtype.is_floating_point:
        return torch.zeros_like(got, dtype=torch.bool)
    big = torch.finfo(got.dtype).max
    return want.isinf() & (got.abs() == big) & (got.sign() == want.sign())
