"""Row-stable numerics: a row's result never depends on how many other rows share the call.

OpenBLAS picks different kernels (gemv, edge tiles) by matrix size, so `A @ W` gives a row a result that can
differ in the last bit depending on the batch it arrived in. Streaming equality (a month in one call equals
30 daily calls, exactly) needs every row computed identically, so products are taken on zero-padded blocks
of a fixed height, where every row lands in a full tile.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 512


def matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`a @ w` with each row's result independent of the other rows in `a`."""
    n = a.shape[0]
    if n == 0:
        return np.zeros((0, w.shape[1]))
    padded = np.zeros((-(-n // BLOCK_ROWS) * BLOCK_ROWS, a.shape[1]))
    padded[:n] = a
    return np.concatenate([padded[i : i + BLOCK_ROWS] @ w for i in range(0, padded.shape[0], BLOCK_ROWS)])[:n]


def row_sumsq(a: np.ndarray) -> np.ndarray:
    """Sum of squares along rows, accumulated column by column (a fixed order for every row)."""
    out = np.zeros(a.shape[0])
    for j in range(a.shape[1]):
        out += a[:, j] * a[:, j]
    return out


def row_sum(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[0])
    for j in range(a.shape[1]):
        out += a[:, j]
    return out
