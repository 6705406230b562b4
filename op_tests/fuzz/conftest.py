"""Hypothesis profiles for the op fuzzers (op_tests/fuzz/test_fuzz.py).

``quick`` (the default; CI): 100 cases per op (fewer for an op whose strategy file sets
QUICK_CASES: mla_prolog 50), derandomized so that CI sees the same cases on every run. ``long``: 1,000 cases per op, random (a new sample each run):
``pytest op_tests/fuzz -p no:randomly --hypothesis-profile=long`` (add ``-k lightning_indexer`` for
one op). The outcome counts per op are printed at the end of the run.
"""

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("quick", max_examples=100, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=1000, **_COMMON)

OUTCOMES: dict[str, dict[str, int]] = {}


def pytest_configure(config):
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("quick")


@pytest.fixture(scope="session")
def fuzz_outcomes():
    return OUTCOMES


def pytest_terminal_summary(terminalreporter):
    for op, counts in sorted(OUTCOMES.items()):
        detail = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        terminalreporter.write_line(f"fuzz {op}: {sum(counts.values())} cases ({detail})")
