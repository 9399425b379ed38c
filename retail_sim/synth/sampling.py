"""Vectorised sampling kernels: many categorical distributions drawn at once, duplicate lines.

Pure functions of their inputs (the random numbers are passed in), tested in isolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CategoricalRows:
    """R categorical distributions over K outcomes in one sorted array.

    keys [R*K] float64: row r's cumulative shares plus r, so they rise through (r, r+1]; a draw
    for row r with uniform u is the first key above r + u (one `searchsorted` for any number of
    draws). Zero-weight outcomes are never drawn.
    """

    keys: np.ndarray
    width: int

    @classmethod
    def from_weights(cls, weights: np.ndarray) -> CategoricalRows:
        """weights [R, K] >= 0, every row with a positive sum."""
        weights = np.asarray(weights, dtype=np.float64)
        cum = np.cumsum(weights, axis=1)
        cum /= cum[:, -1:]
        cum[cum > 1.0 - 1e-12] = 1.0
        cum += np.arange(len(weights), dtype=np.float64)[:, None]
        return cls(keys=cum.ravel(), width=weights.shape[1])

    def draw(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Outcome index 0..K-1 for each (row, uniform in [0, 1)) pair: [N] int64."""
        rows = np.asarray(rows, dtype=np.int64)
        pos = np.searchsorted(self.keys, rows + u, side="right")
        return np.clip(pos - rows * self.width, 0, self.width - 1)


@dataclass(frozen=True)
class CategoricalSegments:
    """S categorical distributions of different lengths over one sorted item list.

    Items are grouped by segment (seg_of non-decreasing); a draw for segment s returns the index
    of an item of s, chosen in proportion to its weight. Used for product-within-category.
    """

    keys: np.ndarray  # [N] float64, cumulative share within the segment plus the segment id

    @classmethod
    def from_weights(cls, weights: np.ndarray, seg_of: np.ndarray) -> CategoricalSegments:
        """weights [N] >= 0 of items sorted by segment; seg_of [N] their segment ids 0..S-1."""
        weights = np.asarray(weights, dtype=np.float64)
        seg_of = np.asarray(seg_of, dtype=np.int64)
        totals = np.bincount(seg_of, weights=weights)
        starts = np.searchsorted(seg_of, np.arange(len(totals)), side="left")
        cum = np.cumsum(weights)
        before = np.concatenate([[0.0], cum])[starts]
        share = (cum - before[seg_of]) / totals[seg_of]
        share[share > 1.0 - 1e-12] = 1.0
        return cls(keys=share + seg_of)

    def draw(self, segments: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Item index (into the sorted list) for each (segment, uniform) pair: [N] int64."""
        pos = np.searchsorted(self.keys, np.asarray(segments, dtype=np.float64) + u, side="right")
        return np.minimum(pos, len(self.keys) - 1)


def draw_rows(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Outcome per draw from its own small distribution: cumulative [N, K] (last column 1), u [N]."""
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), cumulative.shape[1] - 1)


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-normalised cumulative shares of weights [..., K], the last column exactly 1."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64), axis=-1)
    cum = cum / cum[..., -1:]
    cum[..., -1] = 1.0
    return cum


def duplicate_lines(basket: np.ndarray, product: np.ndarray, n_products: int) -> np.ndarray:
    """True for each line whose (basket, product) already occurred on an earlier line: [N] bool."""
    key = np.asarray(basket, dtype=np.int64) * n_products + product
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    dup = np.zeros(len(key), dtype=bool)
    dup[order[1:]] = ordered[1:] == ordered[:-1]
    return dup


def split_children(rng: np.random.Generator, n_parents: int, n_children: int,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Parent index of each of n_children (non-decreasing), every parent at least one child: [n_children]."""
    if n_children < n_parents:
        raise ValueError(f"{n_children} children cannot cover {n_parents} parents")
    p = np.full(n_parents, 1.0 / n_parents) if weights is None else weights / weights.sum()
    counts = 1 + rng.multinomial(n_children - n_parents, p)
    return np.repeat(np.arange(n_parents), counts)


def stratified_codes(rng: np.random.Generator, weight: np.ndarray, shares: np.ndarray,
                     block: int = 64) -> np.ndarray:
    """A code per unit with the given shares holding within every band of similar weight: [N] int64.

    Units are ranked by weight; each block of `block` consecutive units gets stratified uniforms
    (one per 1/block slice, shuffled), so heavy shoppers split between codes like everyone else
    and the row shares of a code stay close to `shares` even for a few hundred customers.
    """
    n = len(weight)
    order = np.argsort(-np.asarray(weight), kind="stable")
    position = np.arange(n)
    block_of = position // block
    block_size = np.minimum(block, n - block_of * block)
    shuffle = np.lexsort((rng.random(n), block_of))  # positions sorted by block, random within
    rank = np.empty(n, dtype=np.int64)
    rank[shuffle] = position - block_of[shuffle] * block
    u = (rank + rng.random(n)) / block_size
    cum = np.cumsum(np.asarray(shares, dtype=np.float64) / np.sum(shares))
    cum[-1] = 1.0
    codes = np.empty(n, dtype=np.int64)
    codes[order] = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    # every code with a positive share appears once at least (a 0.1% code among 400 customers),
    # taken from units of the most frequent code
    missing = [k for k in range(len(cum)) if shares[k] > 0 and not (codes == k).any()]
    if missing and n >= len(cum):
        donors = rng.permutation(np.flatnonzero(codes == np.bincount(codes).argmax()))[: len(missing)]
        codes[donors] = missing[: len(donors)]
    return codes
