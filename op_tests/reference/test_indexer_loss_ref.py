"""Tests of the DSA indexer KL loss reference: brute force, closed-form gradient vs autograd, edges."""

import math

import pytest
import torch

from ascend_glm5.reference.indexer_loss import indexer_loss, indexer_loss_grad, indexer_loss_target


def _inputs(b, s1, s2, n1, n2, d, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(b, s1, n1, d, generator=g, dtype=dtype)
    key = torch.randn(b, s2, n2, d, generator=g, dtype=dtype)
    index_scores = torch.randn(b, s1, s2, generator=g, dtype=dtype) * 2
    return query, key, index_scores


def _topk_indices(b, s1, s2, k, seed=0):
    """Random distinct visible keys per row (causal, right-down aligned), -1 padded at the tail."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.full((b, s1, k), -1, dtype=torch.int32)
    for bi in range(b):
        for t in range(s1):
            visible = max(0, t + s2 - s1 + 1)
            chosen = torch.randperm(visible, generator=g)[: min(k, visible)]
            idx[bi, t, : len(chosen)] = chosen.to(torch.int32)
    return idx


def _bruteforce(query, key, index_scores, scale, sparse_indices=None, sparse_mode=3):
    """Loops over (b, t) with Python floats: returns (loss, {(b, t): {s: p}})."""
    b, s1, n1, _ = query.shape
    s2, n2 = key.shape[1], key.shape[2]
    loss, targets = 0.0, {}
    for bi in range(b):
        for t in range(s1):
            keys = [s for s in range(s2) if sparse_mode == 0 or s <= t + s2 - s1]
            if sparse_indices is not None:
                keys = [s for s in keys if s in set(sparse_indices[bi, t].reshape(-1).tolist())]
            if not keys:
                continue
            acc = dict.fromkeys(keys, 0.0)
            for h in range(n1):
                kh = h // (n1 // n2)
                logits = [scale * float(query[bi, t, h] @ key[bi, s, kh]) for s in keys]
                top = max(logits)
                z = sum(math.exp(v - top) for v in logits)
                for s, v in zip(keys, logits):
                    acc[s] += math.exp(v - top) / z
            total = sum(acc.values())
            p = {s: acc[s] / total for s in keys}
            top = max(float(index_scores[bi, t, s]) for s in keys)
            log_z = top + math.log(sum(math.exp(float(index_scores[bi, t, s]) - top) for s in keys))
            loss += sum(p[s] * (math.log(p[s]) - (float(index_scores[bi, t, s]) - log_z)) for s in keys if p[s] > 0)
            targets[bi, t] = p
    return loss, targets


CASES = [
    # b, s1, s2, n1, n2, d, topk
    (2, 5, 5, 4, 1, 8, 3),  # MQA (absorbed MLA), prefill
    (1, 3, 7, 4, 4, 6, 4),  # MHA, queries at the end of a longer key sequence
    (2, 4, 6, 4, 2, 5, 2),  # grouped heads
]


@pytest.mark.parametrize("b, s1, s2, n1, n2, d, topk", CASES)
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_bruteforce(b, s1, s2, n1, n2, d, topk, sparse):
    query, key, index_scores = _inputs(b, s1, s2, n1, n2, d)
    idx = _topk_indices(b, s1, s2, topk) if sparse else None
    scale = d**-0.5
    expected_loss, expected_p = _bruteforce(query, key, index_scores, scale, idx)
    p = indexer_loss_target(query, key, scale, sparse_indices=idx)
    for (bi, t), row in expected_p.items():
        want = torch.zeros(s2, dtype=torch.float64)
        want[list(row)] = torch.tensor(list(row.values()), dtype=torch.float64)
        torch.testing.assert_close(p[bi, t], want, rtol=1e-12, atol=1e-14)
    loss = indexer_loss(query, key, index_scores, scale, sparse_indices=idx)
    assert loss.dim() == 0 and math.isclose(loss.item(), expected_loss, rel_tol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_closed_form_gradient_equals_autograd(sparse, dtype, tol):
    b, s1, s2, n1, n2, d, topk = 2, 6, 9, 4, 1, 8, 4
    query, key, index_scores = _inputs(b, s1, s2, n1, n2, d, seed=1, dtype=dtype)
    idx = _topk_indices(b, s1, s2, topk, seed=1) if sparse else None
    index_scores.requires_grad_(True)
    loss = indexer_loss(query, key, index_scores, 0.3, sparse_indices=idx)
    (auto,) = torch.autograd.grad(loss, index_scores)
    closed = indexer_loss_grad(query, key, index_scores.detach(), 0.3, sparse_indices=idx)
    assert closed.shape == (b, s1, s2) and not closed.isnan().any()
    torch.testing.assert_close(closed, auto, rtol=tol, atol=tol)
    assert closed.abs().sum() > 0.1  # not trivially zero


def test_sparse_with_every_visible_key_equals_dense():
    query, key, index_scores = _inputs(2, 5, 8, 2, 1, 4, seed=2)
    idx = _topk_indices(2, 5, 8, 12, seed=2)  # k exceeds every row's visible count: -1 padded
    assert (idx == -1).any()
    dense = indexer_loss(query, key, index_scores, 0.5)
    sparse = indexer_loss(query, key, index_scores, 0.5, sparse_indices=idx[:, :, None, :])  # [B, S1, 1, K]
    torch.testing.assert_close(sparse, dense, rtol=1e-12, atol=0)


def test_minimum_when_indexer_matches_target():
    query, key, _ = _inputs(1, 6, 6, 4, 1, 8, seed=3)
    p = indexer_loss_target(query, key, 0.35)
    index_scores = torch.where(p > 0, p.log(), -3.0) + 1.7  # softmax over the causal support is p
    assert indexer_loss(query, key, index_scores, 0.35).abs() < 1e-12
    assert indexer_loss_grad(query, key, index_scores, 0.35).abs().max() < 1e-12
    assert indexer_loss(query, key, index_scores.flip(-1), 0.35) > 1e-3


def test_rows_without_keys_contribute_nothing():
    query, key, index_scores = _inputs(1, 5, 3, 2, 1, 4, seed=4)  # S1 > S2: rows 0, 1 see no key
    idx = _topk_indices(1, 5, 3, 2, seed=4)
    idx[0, 3] = -1  # a row with no selected key
    for sparse in (None, idx):
        p = indexer_loss_target(query, key, 0.5, sparse_indices=sparse)
        grad = indexer_loss_grad(query, key, index_scores, 0.5, sparse_indices=sparse)
        loss = indexer_loss(query, key, index_scores, 0.5, sparse_indices=sparse)
        assert (p[0, :2] == 0).all() and (grad[0, :2] == 0).all() and not loss.isnan()
        assert math.isclose(loss.item(), _bruteforce(query, key, index_scores, 0.5, sparse)[0], rel_tol=1e-10)
    assert (indexer_loss_grad(query, key, index_scores, 0.5, sparse_indices=idx)[0, 3] == 0).all()


def test_future_indices_are_masked_by_causality():
    query, key, index_scores = _inputs(1, 4, 4, 2, 1, 4, seed=5)
    idx = torch.tensor([[[0, 3], [1, 2], [2, 3], [3, 0]]], dtype=torch.int64)  # 3 is future for rows 0..2
    p = indexer_loss_target(query, key, 0.5, sparse_indices=idx)
    assert p[0, 0, 3] == 0 and p[0, 0, 0] == 1 and p[0, 1, 1] == 1 and p[0, 2, 2] == 1
    loss = indexer_loss(query, key, index_scores, 0.5, sparse_indices=idx)
    assert math.isclose(loss.item(), _bruteforce(query, key, index_scores, 0.5, idx)[0], rel_tol=1e-10)


def test_no_mask_mode():
    query, key, index_scores = _inputs(1, 3, 4, 2, 2, 4, seed=6)
    loss = indexer_loss(query, key, index_scores, 0.5, sparse_mode=0)
    assert math.isclose(loss.item(), _bruteforce(query, key, index_scores, 0.5, sparse_mode=0)[0], rel_tol=1e-10)


def test_rope_part_adds_to_the_score():
    query, key, index_scores = _inputs(2, 4, 4, 4, 1, 8, seed=7)
    q_rope, k_rope, _ = _inputs(2, 4, 4, 4, 1, 3, seed=8)
    split = indexer_loss(query, key, index_scores, 0.2, query_rope=q_rope, key_rope=k_rope)
    joined = indexer_loss(torch.cat([query, q_rope], -1), torch.cat([key, k_rope], -1), index_scores, 0.2)
    torch.testing.assert_close(split, joined, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(key=torch.zeros(1, 4, 3, 4)), "N1 % N2"),
        (dict(index_scores=torch.zeros(1, 4, 5)), "index_scores"),
        (dict(sparse_indices=torch.full((1, 4, 2), 4)), r"\[-1, S2\)"),
        (dict(sparse_indices=torch.zeros(1, 4, 2)), "int32/int64"),
        (dict(sparse_mode=1), "sparse_mode"),
        (dict(query_rope=torch.zeros(1, 4, 2, 2)), "together"),
        (dict(query_rope=torch.zeros(1, 4, 2, 2), key_rope=torch.zeros(1, 4, 1, 3)), "query_rope"),
    ],
)
def test_rejects_bad_input(change, match):
    args = dict(query=torch.zeros(1, 4, 2, 4), key=torch.zeros(1, 4, 1, 4), index_scores=torch.zeros(1, 4, 4))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        indexer_loss(scale_value=1.0, **args)
