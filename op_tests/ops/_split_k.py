"""The split-K tail-unit rule of qgemm_cube.h (TailUnit), restated for the plan tests of both matmuls."""

from __future__ import annotations


def split_tails(tiles: int, steps: int, cores: int, unit: int, shift: int) -> list[tuple[int, bool]]:
    """Per block: (K steps of its last piece, whether that piece loads its last step as a unit of its own).

    The tiles' steps are cut evenly over the blocks; odd blocks' load units start `shift` steps in. A
    piece takes the tail when its last step is not the first step of its load unit.
    """
    out = []
    for b in range(cores):
        start, end = b * tiles * steps // cores, (b + 1) * tiles * steps // cores
        piece = end - max(start, (end - 1) // steps * steps)
        pos = piece + (shift if b & 1 else 0) - 1  # the last step's position in the piece's units
        first = (shift if b & 1 else 0) if pos < unit else pos // unit * unit
        out.append((piece, pos > first))
    return out
