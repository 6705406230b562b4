"""RoPE references: hand-rotated pairs, HF transformers' implementations, relative-position property."""

import math

import pytest
import torch

from ascend_glm5.reference import rope_half_split, rope_interleaved


def half_layout(positions, inv_freq):
    angle = positions[:, None].double() * inv_freq[None, :].double()
    return torch.cat([angle.cos(), angle.cos()], -1).float(), torch.cat([angle.sin(), angle.sin()], -1).float()


def test_hand_rotated_pairs():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    w0, w1, p = 0.5, 0.125, 3.0
    cos, sin = half_layout(torch.tensor([p]), torch.tensor([w0, w1]))
    c0, s0, c1, s1 = math.cos(p * w0), math.sin(p * w0), math.cos(p * w1), math.sin(p * w1)
    # Interleaved: pairs (x0, x1) and (x2, x3); output [new x0, new x2 | new x1, new x3].
    want = [1 * c0 - 2 * s0, 3 * c1 - 4 * s1, 2 * c0 + 1 * s0, 4 * c1 + 3 * s1]
    torch.testing.assert_close(rope_interleaved(x, cos, sin), torch.tensor([want]))
    # Half-split: pairs (x0, x2) and (x1, x3); output in place.
    want = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1]
    torch.testing.assert_close(rope_half_split(x, cos, sin), torch.tensor([want]))


def test_matches_transformers():
    from transformers.models.deepseek_v32 import modeling_deepseek_v32 as modeling

    torch.manual_seed(0)
    q, k = torch.randn(2, 4, 5, 64), torch.randn(2, 1, 5, 64)  # [B, H, S, D] as HF passes them
    cos, sin = half_layout(torch.arange(10).float(), 1e4 ** (-torch.arange(0, 64, 2) / 64))
    cos, sin = cos.view(2, 5, 64), sin.view(2, 5, 64)
    for ours, theirs in (
        (rope_interleaved, modeling.apply_rotary_pos_emb_interleave),
        (rope_half_split, modeling.apply_rotary_pos_emb),
    ):
        hq, hk = theirs(q, k, cos, sin)
        torch.testing.assert_close(ours(q, cos[:, None], sin[:, None]), hq)
        torch.testing.assert_close(ours(k, cos[:, None], sin[:, None]), hk)


@pytest.mark.parametrize("rope", [rope_interleaved, rope_half_split])
def test_scores_depend_on_relative_position_only(rope):
    torch.manual_seed(1)
    q, k = torch.randn(64).double(), torch.randn(64).double()
    inv_freq = 1e4 ** (-torch.arange(0, 64, 2).double() / 64)
    cos, sin = half_layout(torch.tensor([3.0, 10.0, 103.0, 110.0]), inv_freq)
    dots = [rope(q, cos[i], sin[i]) @ rope(k, cos[j], sin[j]) for i, j in ((1, 0), (3, 2))]
    torch.testing.assert_close(dots[0], dots[1], rtol=1e-5, atol=1e-5)
    assert not torch.isclose(dots[0], q.float() @ k.float(), rtol=1e-3)
