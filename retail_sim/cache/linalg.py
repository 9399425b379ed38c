"""Small deterministic linear-algebra kernels: weighted PCA, row-wise projection, z-scores.

Every row of a result depends only on that row's input (numpy's einsum without BLAS), so a row
comes out bit-identical whatever other rows share the array — the leak test relies on it.
"""

from __future__ import annotations

import numpy as np


def pca_fit(x: np.ndarray, k: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted PCA of rows x [n, d] -> (mean [d], components [d, k]) float64.

    Components are the top-k eigenvectors of the weighted covariance, each signed so that its
    largest-magnitude loading is positive; when d < k the extra columns are zeros.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    d = x.shape[1]
    components = np.zeros((d, k))
    if len(x) == 0 or w.sum() <= 0:
        return np.zeros(d), components
    w = w / w.sum()
    mean = np.einsum("n,nd->d", w, x)
    centred = x - mean
    cov = np.einsum("n,ni,nj->ij", w, centred, centred)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][: min(k, d)]
    top = vectors[:, order]
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(top.shape[1])])
    components[:, : top.shape[1]] = top * np.where(signs == 0, 1.0, signs)
    return mean, components


def project(x: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(x - mean) @ components, row by row: [n, d] -> [n, k] float64."""
    return np.einsum("nd,dk->nk", np.asarray(x, dtype=np.float64) - mean, components)


def zscore_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and std of x [n, d] (std 0 -> 1, so a constant column maps to 0)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def shares(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """counts [n, k] / totals [n] with 0 where the total is 0."""
    totals = np.asarray(totals, dtype=np.float64)[:, None]
    return np.divide(counts, totals, out=np.zeros(np.shape(counts)), where=totals > 0)
