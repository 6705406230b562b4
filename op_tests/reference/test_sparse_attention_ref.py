"""sparse_flash_attention reference against dense attention and a brute-force loop."""

import math

import pytest
import torch

from ascend_glm5.reference import sparse_flash_attention

DN, DR = 32, 8  # small latent / rope widths: the reference does not depend on 512 / 64


def random_case(batch, s1, s2, heads, count, seed):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, s1, heads, DN, generator=gen)
    qr = torch.randn(batch, s1, heads, DR, generator=gen)
    kv = torch.randn(batch, s2, 1, DN, generator=gen)
    kr = torch.randn(batch, s2, 1, DR, generator=gen)
    idx = torch.randint(-1, s2 + 2, (batch, s1, 1, count), generator=gen, dtype=torch.int32)
    return q, qr, kv, kr, idx


def brute_force(q, qr, kv, kr, idx, scale, n_q, n_kv, sparse_mode, block=1):
    """Per row: read ids until the first -1, expand blocks, keep tokens < the visible end, then
    softmax attention in fp64 over the kept tokens (with repeats). Returns out, max, sum per row."""
    out = torch.zeros(q.shape[0], q.shape[1], DN, dtype=torch.float64)
    stats = torch.zeros(2, q.shape[0], q.shape[1], dtype=torch.float64)
    for s in range(n_q):
        end = n_kv if sparse_mode == 0 else n_kv - n_q + s + 1
        tokens = []
        for j in idx[s].tolist():
            if j == -1:
                break
            tokens += [t for t in range(j * block, (j + 1) * block) if 0 <= t < end]
        if not tokens:
            continue
        z = (q[s].double() @ kv[tokens].double().T + qr[s].double() @ kr[tokens].double().T) * scale
        m = z.max(-1, keepdim=True).values
        e = (z - m).exp()
        out[s] = (e / e.sum(-1, keepdim=True)) @ kv[tokens].double()
        stats[0, s], stats[1, s] = m[:, 0], e.sum(-1)
    return out, stats


def run(q, qr, kv, kr, idx, scale=0.3, **kw):
    return sparse_flash_attention(q, kv, kv, idx, scale, query_rope=qr, key_rope=kr, **kw)


@pytest.mark.parametrize("sparse_mode", [0, 3])
def test_all_indices_equal_dense_attention(sparse_mode):
    q, qr, kv, kr, _ = random_case(1, 3, 7, 4, 7, seed=1)
    idx = torch.arange(7, dtype=torch.int32).expand(1, 3, 1, 7).contiguous()
    out, _, _ = run(q, qr, kv, kr, idx, sparse_mode=sparse_mode)
    z = (torch.einsum("snd,td->snt", q[0], kv[0, :, 0]) + torch.einsum("snd,td->snt", qr[0], kr[0, :, 0])) * 0.3
    if sparse_mode == 3:  # right-down causal: query s of 3 sees keys t <= 7 - 3 + s
        z = z.masked_fill(torch.arange(7)[None, None, :] > 4 + torch.arange(3)[:, None, None], float("-inf"))
    torch.testing.assert_close(out[0], torch.einsum("snt,td->snd", z.softmax(-1), kv[0, :, 0]))


@pytest.mark.parametrize("sparse_mode", [0, 3])
@pytest.mark.parametrize("block", [1, 2])
def test_matches_brute_force(sparse_mode, block):
    # Random ids in [-1, S2 + 2): -1 in the middle of rows, ids past the kv length, repeats.
    q, qr, kv, kr, idx = random_case(2, 5, 9, 4, 6, seed=2 + block)
    lens_q, lens_kv = [5, 3], [9, 6]
    out, m, l = run(
        q, qr, kv, kr, idx, actual_seq_lengths_query=torch.tensor(lens_q), actual_seq_lengths_kv=torch.tensor(lens_kv),
        sparse_mode=sparse_mode, sparse_block_size=block, return_softmax_lse=True,
    )
    assert m.shape == l.shape == (2, 1, 5, 4) and m.dtype == torch.float32
    for b in range(2):
        want, stats = brute_force(
            q[b], qr[b], kv[b, :, 0], kr[b, :, 0], idx[b, :, 0], 0.3, lens_q[b], lens_kv[b], sparse_mode, block
        )
        torch.testing.assert_close(out[b], want.float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m[b, 0], stats[0].float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(l[b, 0], stats[1].float(), rtol=1e-5, atol=1e-5)


def test_ids_after_the_first_minus_one_are_ignored():
    q, qr, kv, kr, _ = random_case(1, 1, 5, 2, 4, seed=4)
    a, _, _ = run(q, qr, kv, kr, torch.tensor([[[[3, 1, -1, 0]]]], dtype=torch.int32), sparse_mode=0)
    b, _, _ = run(q, qr, kv, kr, torch.tensor([[[[3, 1, -1, -1]]]], dtype=torch.int32), sparse_mode=0)
    c, _, _ = run(q, qr, kv, kr, torch.tensor([[[[3, 1, 0, -1]]]], dtype=torch.int32), sparse_mode=0)
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_row_without_valid_index_gives_zeros():
    q, qr, kv, kr, _ = random_case(1, 3, 4, 2, 3, seed=5)
    idx = torch.tensor([[[-1, 2, 0]], [[3, 9, -1]], [[0, -1, -1]]], dtype=torch.int32)[None]
    # Row 0: stops at once. Row 1: sees t <= 4 - 3 + 1 = 2, so 3 and 9 are skipped. Row 2: attends key 0.
    out, m, l = run(q, qr, kv, kr, idx, return_softmax_lse=True)
    assert (out[0, :2] == 0).all() and (m[0, 0, :2] == 0).all() and (l[0, 0, :2] == 0).all()
    torch.testing.assert_close(out[0, 2], kv[0, 0, 0].expand(2, DN))  # a single key: its value
    torch.testing.assert_close(l[0, 0, 2], torch.ones(2))
    # More queries than keys: leading rows are fully masked by the causal rule.
    out, _, _ = run(q, qr, kv[:, :1], kr[:, :1], torch.zeros(1, 3, 1, 1, dtype=torch.int32))
    assert (out[0, :2] == 0).all() and (out[0, 2] != 0).all()


def test_lse_is_logsumexp_over_attended_tokens():
    q, qr, kv, kr, _ = random_case(1, 1, 6, 3, 3, seed=6)
    idx = torch.tensor([[[[4, 1, 2]]]], dtype=torch.int32)
    _, m, l = run(q, qr, kv, kr, idx, scale=0.5, sparse_mode=0, return_softmax_lse=True)
    z = (q[0, 0] @ kv[0, [4, 1, 2], 0].T + qr[0, 0] @ kr[0, [4, 1, 2], 0].T) * 0.5
    torch.testing.assert_close(m[0, 0, 0] + l[0, 0, 0].log(), z.logsumexp(-1))


def test_tnd_and_paged_kv_equal_bsnd():
    q, qr, kv, kr, idx = random_case(2, 4, 20, 4, 5, seed=7)
    lens_q, lens_kv = [4, 2], [20, 11]
    want, want_m, want_l = run(
        q, qr, kv, kr, idx, actual_seq_lengths_query=torch.tensor(lens_q),
        actual_seq_lengths_kv=torch.tensor(lens_kv), return_softmax_lse=True,
    )
    pack = lambda x, lens: torch.cat([x[b, :n] for b, n in enumerate(lens)])  # noqa: E731
    out, m, l = run(
        pack(q, lens_q), pack(qr, lens_q), pack(kv, lens_kv), pack(kr, lens_kv), pack(idx, lens_q),
        actual_seq_lengths_query=torch.tensor([4, 6]), actual_seq_lengths_kv=torch.tensor([20, 31]),
        layout_query="TND", layout_kv="TND", return_softmax_lse=True,
    )
    assert m.shape == (1, 6, 4)
    torch.testing.assert_close(out, pack(want, lens_q))
    torch.testing.assert_close(m[0], pack(want_m[:, 0], lens_q))
    torch.testing.assert_close(l[0], pack(want_l[:, 0], lens_q))

    block = 16
    table = torch.tensor([[4, 1], [0, -1]], dtype=torch.int32)
    kv_cache, kr_cache = torch.full((5, block, 1, DN), float("nan")), torch.full((5, block, 1, DR), float("nan"))
    for b, n in enumerate(lens_kv):
        for t in range(n):
            kv_cache[table[b, t // block], t % block], kr_cache[table[b, t // block], t % block] = kv[b, t], kr[b, t]
    out, _, _ = run(
        q, qr, kv_cache, kr_cache, idx, block_table=table, actual_seq_lengths_query=torch.tensor(lens_q),
        actual_seq_lengths_kv=torch.tensor(lens_kv), layout_kv="PA_BSND",
    )
    torch.testing.assert_close(out, want)


def test_bf16_output_dtype_and_accuracy():
    q, qr, kv, kr, idx = random_case(1, 3, 8, 2, 4, seed=8)
    want, _, _ = run(q, qr, kv, kr, idx, scale=1 / math.sqrt(DN + DR))
    out, _, _ = run(q.bfloat16(), qr.bfloat16(), kv.bfloat16(), kr.bfloat16(), idx, scale=1 / math.sqrt(DN + DR))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), want, rtol=3e-2, atol=3e-2)


def test_value_is_what_attention_averages():
    """value is its own tensor: an equal copy of key changes nothing, another tensor is averaged
    with the weights that q . key gives."""
    q, qr, kv, kr, _ = random_case(1, 3, 7, 4, 7, seed=2)
    idx = torch.arange(7, dtype=torch.int32).expand(1, 3, 1, 7).contiguous()
    same, _, _ = run(q, qr, kv, kr, idx)
    copy, _, _ = sparse_flash_attention(q, kv, kv.clone(), idx, 0.3, query_rope=qr, key_rope=kr)
    torch.testing.assert_close(copy, same, rtol=0, atol=0)
    v = torch.randn(kv.shape, generator=torch.Generator().manual_seed(3))
    out, _, _ = sparse_flash_attention(q, kv, v, idx, 0.3, query_rope=qr, key_rope=kr, sparse_mode=0)
    z = (torch.einsum("snd,td->snt", q[0], kv[0, :, 0]) + torch.einsum("snd,td->snt", qr[0], kr[0, :, 0])) * 0.3
    torch.testing.assert_close(out[0], torch.einsum("snt,td->snd", z.softmax(-1), v[0, :, 0]))


def test_rejects_bad_arguments():
    q, qr, kv, kr, idx = random_case(1, 2, 4, 2, 3, seed=9)
    with pytest.raises(ValueError, match="value must have key's shape"):
        sparse_flash_attention(q, kv, kv[:, :, :, :-1], idx, 0.1, query_rope=qr, key_rope=kr)
    with pytest.raises(ValueError, match="attention_mode"):
        run(q, qr, kv, kr, idx, attention_mode=0)
    with pytest.raises(ValueError, match="query_rope"):
        sparse_flash_attention(q, kv, kv, idx, 0.1, key_rope=kr)
    with pytest.raises(ValueError, match="actual_seq_lengths_kv"):
        run(q, qr, kv, kr, idx, layout_kv="PA_BSND", block_table=torch.zeros(1, 1, dtype=torch.int32))
    with pytest.raises(ValueError, match="sparse_indices"):
        run(q, qr, kv, kr, idx[:, :1])
    with pytest.raises(TypeError, match="dtype"):
        run(q, qr.half(), kv, kr, idx)
