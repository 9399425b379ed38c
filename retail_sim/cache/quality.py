"""Quality figures of product embeddings: held-out link AUC and category coherence, with baselines."""

from __future__ import annotations

import numpy as np


def auc(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float:
    """Area under the ROC curve = P(positive scores above negative), ties counted half
    (Mann–Whitney U with average ranks). [n_pos], [n_neg] -> float in [0, 1]."""
    scores = np.concatenate([pos_scores, neg_scores]).astype(np.float64)
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average rank within each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    mean_rank = (starts + ends - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    n_pos, n_neg = len(pos_scores), len(neg_scores)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def cosine_pairs(emb: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of rows a[i] and b[i] of emb [N, D] -> [n]."""
    x = emb[a].astype(np.float64)
    y = emb[b].astype(np.float64)
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    return np.divide((x * y).sum(1), den, out=np.zeros(len(a)), where=den > 0)


def link_auc(emb: np.ndarray, pos_a: np.ndarray, pos_b: np.ndarray, neg_a: np.ndarray, neg_b: np.ndarray,
             score=cosine_pairs) -> float:
    """AUC of pair scores: held-out co-purchase pairs against random pairs (rows of emb)."""
    return auc(score(emb, pos_a, pos_b), score(emb, neg_a, neg_b))


def category_coherence(emb: np.ndarray, category: np.ndarray, k: int = 10, chunk: int = 1024) -> float:
    """Mean share of each row's k nearest other rows (cosine) that share its category.

    emb [N, D], category [N] -> float. Ties at the k-th similarity are cut deterministically.
    """
    x = emb.astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    n = len(x)
    k = min(k, n - 1)
    shares = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        sims = x[start : start + chunk] @ x.T  # [c, N]
        rows = np.arange(start, min(start + chunk, n))
        sims[rows - start, rows] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # the k most similar, in any order
        shares[rows] = (category[top] == category[rows][:, None]).mean(axis=1)
    return float(shares.mean())


def coherence_ceiling(category: np.ndarray, k: int = 10) -> float:
    """The highest category coherence any embedding can reach on these rows: a row whose category
    has m other rows can have at most min(k, m) of its k neighbours in it. category [N] -> float.
    One-hot hierarchy features reach it exactly (every class-mate is at distance 0)."""
    k = min(k, len(category) - 1)
    if k <= 0:
        return 0.0
    _, inverse, counts = np.unique(category, return_inverse=True, return_counts=True)
    return float((np.minimum(k, counts[inverse] - 1) / k).mean())


def random_embeddings(n: int, dim: int, seed: int) -> np.ndarray:
    """Baseline: [n, dim] standard normal rows."""
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def hierarchy_embeddings(codes: np.ndarray) -> np.ndarray:
    """Baseline: one-hot of each hierarchy level side by side, codes [N, L] int (0 = unknown, which
    gets no one-hot) -> [N, sum of level sizes] float32. Cosine = share of levels in common."""
    blocks = []
    for level in range(codes.shape[1]):
        size = int(codes[:, level].max()) + 1
        block = np.zeros((len(codes), size), dtype=np.float32)
        block[np.arange(len(codes)), codes[:, level]] = 1.0
        blocks.append(block[:, 1:])
    return np.concatenate(blocks, axis=1)
