"""Property-based fuzzing of every op: each drawn case either matches the reference or is refused
with TypeError / ValueError before any kernel launch, and a refused call modifies no tensor.

Each op has one strategy file here, ``op_tests/fuzz/<op>.py``, defining ``cases()``: a hypothesis
strategy of :class:`Case`. Adding an op = adding its file (picked up by name; ``test_every_op_is_fuzzed``
fails while an op in ``ascend_glm5.ops`` has none). Profiles and counts: conftest.py.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from hypothesis import given, note, settings

import ascend_glm5.ops
from ascend_glm5.ops._backend import cpu_module

HERE = pathlib.Path(__file__).parent


@dataclass
class Case:
    """One fuzzed call. ``valid``: the arguments are in the op's contract, so it must run and
    ``check(op_outputs, reference_outputs)`` must pass; else it must raise TypeError/ValueError.
    ``tensors``: every tensor the call can see (inputs and caches), which must come out unmodified."""

    call: Callable[[], object]
    reference: Callable[[], object] | None
    check: Callable[[object, object], None] | None
    valid: bool
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    what: str = ""


def _strategy_module(op: str):
    spec = importlib.util.spec_from_file_location(f"fuzz_{op}", HERE / f"{op}.py")
    module = sys.modules.setdefault(f"fuzz_{op}", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


FUZZED = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith(("test_", "conftest", "_")))
# Ops merged without a strategy file yet: listed here so that the gap is explicit (each needs its
# op_tests/fuzz/<op>.py; then remove it from this set).
NOT_YET_FUZZED: set[str] = set()


def test_every_op_is_fuzzed():
    assert sorted(ascend_glm5.ops.__all__) == sorted([*FUZZED, *NOT_YET_FUZZED]) and not NOT_YET_FUZZED & set(FUZZED)


def _bytes(t: torch.Tensor) -> torch.Tensor:
    """The tensor's values as raw bytes (a fresh contiguous copy: NaN payloads compare too)."""
    flat = torch.empty(t.numel(), dtype=t.dtype)
    flat.copy_(t.detach().reshape(-1))
    return flat.view(torch.uint8)


def run_case(case: Case, outcomes: dict[str, int]) -> None:
    note(case.what)
    before = {name: (_bytes(t).clone(), t.stride(), t.storage_offset()) for name, t in case.tensors.items()}
    launches = cpu_module().cumulative_launches()
    try:
        got = case.call()
    except (TypeError, ValueError) as e:
        assert not case.valid, f"valid case refused: {type(e).__name__}: {e}"
        assert cpu_module().cumulative_launches() == launches, "refused after launching a kernel"
        outcome = "refused"
    else:
        assert case.valid, "invalid case accepted"
        case.check(got, case.reference())
        outcome = "matched"
    for name, t in case.tensors.items():
        data, stride, offset = before[name]
        assert torch.equal(_bytes(t), data) and t.stride() == stride and t.storage_offset() == offset, f"{name} modified"
    outcomes[outcome] = outcomes.get(outcome, 0) + 1


@pytest.mark.parametrize("op", FUZZED)
def test_fuzz(op, fuzz_outcomes):
    module = _strategy_module(op)
    outcomes = fuzz_outcomes.setdefault(op, {})

    @given(module.cases(Case))
    def prop(case):
        run_case(case, outcomes)

    # A heavy op may run fewer cases in the quick (CI) profile: QUICK_CASES in its strategy file.
    quick_cases = getattr(module, "QUICK_CASES", None)
    if quick_cases is not None and settings.get_current_profile_name() == "quick":
        prop = settings(max_examples=quick_cases)(prop)
    prop()
