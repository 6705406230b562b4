"""lightning_indexer reference on hand-checkable cases and against a brute-force loop."""

import pytest
import torch

from ascend_glm5.reference import lightning_indexer


def brute_force(q, k, w, n_q, n_k, sparse_mode, count):
    """Rows of (indices, scores) by explicit loops: score = sum_h w * relu(q . k), sort by
    (-score, index), causal visibility t <= n_k - n_q + s for sparse_mode 3."""
    out = []
    for s in range(n_q):
        last = n_k - 1 if sparse_mode == 0 else n_k - n_q + s
        score = {}
        for t in range(min(last + 1, n_k)):
            score[t] = sum(float(w[s, h]) * max(0.0, float(q[s, h] @ k[t])) for h in range(q.shape[1]))
        order = sorted(score, key=lambda t: (-score[t], t))[:count]
        pad = count - len(order)
        out.append((order + [-1] * pad, [score[t] for t in order] + [float("-inf")] * pad))
    return out


def random_case(batch, s1, s2, heads, dim, seed):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, s1, heads, dim, generator=gen)
    k = torch.randn(batch, s2, 1, dim, generator=gen)
    w = torch.randn(batch, s1, heads, generator=gen)
    return q, k, w


def test_hand_checked_scores_relu_and_weight_sign():
    q = torch.tensor([[[[1.0, 0.0]]]])  # [B=1, S1=1, N1=1, D=2]
    k = torch.tensor([[3.0, 0.0], [1.0, 5.0], [-5.0, 0.0], [2.0, 0.0]]).view(1, 4, 1, 2)
    idx, val = lightning_indexer(q, k, torch.ones(1, 1, 1), sparse_count=3, return_value=True)
    assert idx.dtype == torch.int32 and idx.shape == (1, 1, 1, 3)
    assert idx.flatten().tolist() == [0, 3, 1]  # scores 3, 1, relu(-5) = 0, 2
    assert val.flatten().tolist() == [3.0, 2.0, 1.0]
    # A negative weight flips the order; relu still clamps the dot product, not the weighted score.
    idx, val = lightning_indexer(q, k, -torch.ones(1, 1, 1), sparse_count=4, return_value=True)
    assert idx.flatten().tolist() == [2, 1, 3, 0]
    assert val.flatten().tolist() == [0.0, -1.0, -2.0, -3.0]


def test_ties_go_to_the_lower_index():
    q = torch.ones(1, 1, 2, 4)
    k = torch.zeros(1, 6, 1, 4)
    k[0, [1, 4], 0] = 1.0  # two equal best keys; the other four tie at zero
    idx, _ = lightning_indexer(q, k, torch.ones(1, 1, 2), sparse_count=5, sparse_mode=0)
    assert idx.flatten().tolist() == [1, 4, 0, 2, 3]


def test_causal_mask_and_minus_one_tail():
    q, k, w = random_case(1, 3, 5, 2, 8, seed=3)
    idx, val = lightning_indexer(q, k, w, sparse_count=6, return_value=True)
    # Right-down aligned: row s sees keys t <= 5 - 3 + s, i.e. 3, 4, 5 keys.
    for s, visible in enumerate([3, 4, 5]):
        row = idx[0, s, 0].tolist()
        assert sorted(row[:visible]) == list(range(visible)) and row[visible:] == [-1] * (6 - visible)
        assert torch.isinf(val[0, s, 0, visible:]).all() and torch.isfinite(val[0, s, 0, :visible]).all()


def test_more_queries_than_keys_masks_leading_rows():
    q, k, w = random_case(1, 4, 2, 2, 8, seed=4)
    idx, _ = lightning_indexer(q, k, w, sparse_count=2)
    # Row s sees t <= 2 - 4 + s: rows 0 and 1 see nothing.
    assert idx[0, :, 0].tolist() == [[-1, -1], [-1, -1], [0, -1], idx[0, 3, 0].tolist()]
    assert sorted(idx[0, 3, 0].tolist()) == [0, 1]


@pytest.mark.parametrize("sparse_mode", [0, 3])
@pytest.mark.parametrize("count", [1, 4, 12])
def test_matches_brute_force_with_lengths(sparse_mode, count):
    q, k, w = random_case(2, 5, 9, 4, 16, seed=count + sparse_mode)
    lens_q, lens_k = [5, 2], [9, 6]
    idx, val = lightning_indexer(
        q, k, w, actual_seq_lengths_query=torch.tensor(lens_q, dtype=torch.int32),
        actual_seq_lengths_key=torch.tensor(lens_k, dtype=torch.int32), sparse_count=count,
        sparse_mode=sparse_mode, return_value=True,
    )
    assert idx.shape == (2, 5, 1, count) and val.dtype == torch.float32
    for b in range(2):
        want = brute_force(q[b], k[b, :, 0], w[b], lens_q[b], lens_k[b], sparse_mode, count)
        for s, (want_idx, want_val) in enumerate(want):
            assert idx[b, s, 0].tolist() == want_idx
            torch.testing.assert_close(val[b, s, 0], torch.tensor(want_val), rtol=1e-5, atol=1e-5)
        assert (idx[b, lens_q[b]:] == -1).all()  # rows beyond the valid query length


def test_tnd_prefix_sums_equal_bsnd():
    q, k, w = random_case(2, 6, 10, 4, 16, seed=5)
    lens_q, lens_k = [6, 3], [10, 7]
    want, want_val = lightning_indexer(
        q, k, w, actual_seq_lengths_query=torch.tensor(lens_q), actual_seq_lengths_key=torch.tensor(lens_k),
        sparse_count=5, return_value=True,
    )
    pack = lambda x, lens: torch.cat([x[b, :n] for b, n in enumerate(lens)])  # noqa: E731
    idx, val = lightning_indexer(
        pack(q, lens_q), pack(k, lens_k), pack(w, lens_q), actual_seq_lengths_query=torch.tensor([6, 9]),
        actual_seq_lengths_key=torch.tensor([10, 17]), layout_query="TND", layout_key="TND", sparse_count=5,
        return_value=True,
    )
    assert idx.shape == (9, 1, 5)
    assert torch.equal(idx, pack(want, lens_q)) and torch.equal(val, pack(want_val, lens_q))


def test_paged_keys_with_shuffled_blocks_equal_bsnd():
    q, k, w = random_case(2, 3, 40, 4, 16, seed=6)
    lens_k = torch.tensor([40, 23], dtype=torch.int32)
    want, want_val = lightning_indexer(q, k, w, actual_seq_lengths_key=lens_k, sparse_count=8, return_value=True)
    block = 16
    table = torch.tensor([[5, 0, 3], [6, 2, -1]], dtype=torch.int32)  # batch 1 needs 2 blocks
    cache = torch.randn(7, block, 1, 16)
    for b, n in enumerate(lens_k.tolist()):
        for t in range(n):
            cache[table[b, t // block], t % block] = k[b, t]
    idx, val = lightning_indexer(
        q, cache, w, actual_seq_lengths_key=lens_k, block_table=table, layout_key="PA_BSND", sparse_count=8,
        return_value=True,
    )
    assert torch.equal(idx, want) and torch.equal(val, want_val)


def test_bf16_inputs():
    q, k, w = random_case(1, 2, 6, 2, 8, seed=7)
    idx, _ = lightning_indexer(q.bfloat16(), k.bfloat16(), w.bfloat16(), sparse_count=3)
    want = brute_force(q.bfloat16().float()[0], k.bfloat16().float()[0, :, 0], w.bfloat16().float()[0], 2, 6, 3, 3)
    assert idx[0, :, 0].tolist() == [row for row, _ in want]


def test_rejects_bad_arguments():
    q, k, w = random_case(1, 2, 4, 2, 8, seed=8)
    with pytest.raises(ValueError, match="actual_seq_lengths_query"):
        lightning_indexer(q[0], k[0], w[0], layout_query="TND", layout_key="TND")
    with pytest.raises(ValueError, match="non-decreasing"):
        lightning_indexer(q[0], k[0], w[0], actual_seq_lengths_query=[2, 1], actual_seq_lengths_key=[4, 4],
                          layout_query="TND", layout_key="TND")
    with pytest.raises(ValueError, match="weights"):
        lightning_indexer(q, k, w[..., :1])
    with pytest.raises(ValueError, match="sparse_mode"):
        lightning_indexer(q, k, w, sparse_mode=1)
    with pytest.raises(ValueError, match="block_table"):
        lightning_indexer(q, k, w, actual_seq_lengths_key=[4], layout_key="PA_BSND")
    with pytest.raises(ValueError, match="pre_tokens"):
        lightning_indexer(q, k, w, pre_tokens=16)
    with pytest.raises(TypeError, match="dtype"):
        lightning_indexer(q, k.half(), w)
