"""Run-to-run reproducibility of the ops whose cores combine partial results (docs/architecture.md,
"Reproducibility").

The emulator runs every AI core on a thread of its own, so cores reach a shared GM word in an order
that changes from run to run, as on the NPU. An op whose partial sums meet in GM in arrival order
(fp32 atomic adds from three or more cores) would then differ in its last bits between runs. Each
case runs the op three times on the same inputs, at GLM-5 decode shapes where work is split across
the cores (split rows and their merges, K-split int32 sums, top-k merges), under
torch.use_deterministic_algorithms(True): every output must be bit-identical. Only SFA's
one-reference rows (decode B = 1) add fp32 in arrival order; in that mode the host does not plan them
(test_sparse_flash_attention.py::test_deterministic_algorithms_give_bit_identical_runs).
"""

from __future__ import annotations

import pytest
import torch

from ascend_glm5.perf import glm5

# GLM-5 shapes: each case 0.3-2.6 s here, several times that under the sanitizers, whose stage skips them.
pytestmark = pytest.mark.heavy

WANTED = [("lightning_indexer", 16, 8192, ""), ("sparse_flash_attention", 1, 8192, ""),
          ("sparse_flash_attention", 16, 8192, ""), ("mla_prolog", 16, 0, "TP1"), ("quant_matmul", 16, 0, "q_a_proj"),
          ("grouped_matmul_a8w4", 16, 0, "down")]  # fmt: skip
# The GLM-5 table's own cases (glm5.cases): the shapes and inputs of docs/performance.md's rows.
CASES = [c for c in glm5.cases(None) if c.phase == "decode" and (c.op, c.batch, c.ctx, c.linear) in WANTED]
assert len(CASES) == len(WANTED), "a wanted case is no longer in the GLM-5 table"


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for x in out for t in _tensors(x)]
    return []


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}-B{c.batch}{'-' + c.linear if c.linear else ''}")
def test_runs_are_bit_identical(case, deterministic_algorithms):
    fn, _ = glm5.build(case, torch.Generator().manual_seed(3))
    first = _tensors(fn())
    assert first and all(t.numel() > 0 for t in first)
    for _ in range(2):
        again = _tensors(fn())
        assert len(again) == len(first)
        for got, want in zip(again, first):
            assert got.dtype == want.dtype and torch.equal(got, want)
