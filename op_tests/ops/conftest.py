"""Fixtures shared by the op tests."""

import pytest
import torch


@pytest.fixture
def deterministic_algorithms():
    """torch.use_deterministic_algorithms(True) for one test; the previous setting restored after."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
