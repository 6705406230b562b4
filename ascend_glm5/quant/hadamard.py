"""Hadamard matrices of any order ``m * 2**a`` with a Paley block ``m``, and random orthogonal
rotations built from them (QuaRot).

QuaRot rotates the residual stream by ``Q = diag(d) H / sqrt(n)`` (``d`` random signs). Sizes that
are not powers of two need a Hadamard "seed" block: GLM-5's hidden size 6144 = 12 * 512 and
DeepSeek-V3.2's 7168 = 28 * 256. The block is built by Paley's constructions from quadratic
residues modulo a prime ``p`` (order ``p + 1`` for ``p % 4 == 3``, order ``2 (p + 1)`` for
``p % 4 == 1``), then enlarged by Kronecker products with Sylvester's ``[[1, 1], [1, -1]]``.
"""

from __future__ import annotations

import functools

import torch


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, int(p**0.5) + 1))


def _jacobsthal(p: int) -> torch.Tensor:
    """``Q[i, j] = chi(j - i)`` with chi the Legendre symbol mod the prime ``p`` (0 on the diagonal)."""
    residues = {(x * x) % p for x in range(1, p)}
    chi = torch.tensor([0] + [1 if r in residues else -1 for r in range(1, p)], dtype=torch.int64)
    idx = torch.arange(p)
    return chi[(idx[None, :] - idx[:, None]) % p]


def _paley(m: int) -> torch.Tensor | None:
    """A Hadamard matrix of order ``m`` by Paley I or II, or None when neither applies."""
    if _is_prime(m - 1) and (m - 1) % 4 == 3:  # Paley I: H = I + S, S skew conference matrix
        p = m - 1
        s = torch.zeros(m, m, dtype=torch.int64)
        s[0, 1:], s[1:, 0], s[1:, 1:] = 1, -1, _jacobsthal(p)
        return torch.eye(m, dtype=torch.int64) + s
    if m % 2 == 0 and _is_prime(m // 2 - 1) and (m // 2 - 1) % 4 == 1:  # Paley II from a symmetric one
        p = m // 2 - 1
        c = torch.zeros(p + 1, p + 1, dtype=torch.int64)
        c[0, 1:], c[1:, 0], c[1:, 1:] = 1, 1, _jacobsthal(p)
        a = torch.tensor([[1, 1], [1, -1]])
        b = torch.tensor([[1, -1], [-1, -1]])
        return torch.kron(c, a) + torch.kron(torch.eye(p + 1, dtype=torch.int64), b)
    return None


def _split(n: int) -> tuple[int, int]:
    """``(m, 2**a)`` with ``n = m * 2**a`` and the smallest ``m`` that has a known Hadamard matrix."""
    if n < 1:
        raise ValueError(f"Hadamard order must be positive, got {n}")
    power = n & -n  # largest power of two dividing n
    odd = n // power
    m = odd
    while m <= n:
        if m == 1 or _paley(m) is not None:
            return m, n // m
        m *= 2
    raise ValueError(f"no Hadamard matrix of order {n} from Sylvester x Paley (n = m * 2**a with m - 1 a "
                     f"prime = 3 mod 4, or m / 2 - 1 a prime = 1 mod 4); {odd} * 2**k is not covered")  # fmt: skip


@functools.lru_cache(maxsize=8)
def hadamard_matrix(n: int) -> torch.Tensor:
    """A Hadamard matrix of order ``n``: int8 entries +-1 with ``H @ H.T == n * I``.

    ``n = m * 2**a`` where ``m`` is 1 or a Paley order (12, 20, 24, 28, 36, 44, ...). Raises
    ValueError for orders this construction does not reach (e.g. odd ``n > 1``).
    """
    m, power = _split(n)
    h = (torch.ones(1, 1, dtype=torch.int64) if m == 1 else _paley(m)).to(torch.int8)
    sylvester = torch.tensor([[1, 1], [1, -1]], dtype=torch.int8)
    while power > 1:
        h = torch.kron(h, sylvester)
        power //= 2
    return h


def random_hadamard(n: int, seed: int = 1234, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Orthogonal ``Q = diag(d) @ H / sqrt(n)``, ``d`` random signs from ``seed`` (``Q @ Q.T = I``).

    ``x @ Q`` spreads any single large channel of ``x`` evenly over all ``n`` channels.
    """
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (n,), generator=gen).to(dtype) * 2 - 1
    return signs[:, None] * hadamard_matrix(n).to(dtype) / n**0.5
