"""Masked-item baselines scored on the same hidden items as the model.

- popularity: product counts over the training weeks' items (baskets containing the product);
- co_purchase: for a basket, the sum over its visible items v of C[v, candidate], where C counts
  the training-week baskets holding both products;
- own_history: the customer's count of earlier baskets (strictly earlier (shop_date, shop_hour),
  any split) holding the candidate; anonymous customers and first baskets have none;
- decayed_history: the same baskets, each weighted by history.decay ^ (age in weeks);
- history_co_purchase: alpha * the candidate's share of the customer's decayed count + (1 - alpha)
  * the mean over the visible items v of the cosine-normalised co-purchase C[v, c] / sqrt(pop v
  * pop c); alpha is chosen on the validation split (evaluate.choose_alpha).
The history baselines read the tensor cache's purchase-history index (data/history.py: the as-of
rule the loader uses, untruncated). Co-purchase and the history counts add popularity / (max
popularity + 1) < 1, so equal counts are ordered by popularity and an all-zero row falls back to
popularity; decayed_history puts the history products at 1 + decayed count, the rest below 1e-6.
Every scorer (the model too) excludes the special ids and the basket's visible items
(metrics.exclude_known): products are distinct within a basket, so neither can be a hidden item.

BaselineScorer holds the baselines as a list of named scorers, each a function of one batch's
BatchContext (visible items and the customers' history, computed once per batch); a new baseline
is one more entry. Popularity and co-purchase counts come from DuckDB over the prepared views.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import torch

from retail_sim.arrays import ragged_ranges
from retail_sim.cache import sqlfiles
from retail_sim.data.history import HOURS_PER_WEEK, HistoryIndex, candidates
from retail_sim.metrics import exclude_known
from retail_sim.vocab import FIRST_PRODUCT_IDX

BASELINES = ("popularity", "co_purchase", "own_history", "decayed_history", "history_co_purchase")  # in order
ALPHA_GRID = tuple(round(0.1 * i, 1) for i in range(11))  # history_co_purchase weights tried on validation


@dataclass
class CoPurchase:
    """Co-purchase counts as CSR rows: row a holds (b, n) for every product b seen in n training-week
    baskets together with a (a != b). Symmetric."""

    indptr: np.ndarray  # [V+1] int64
    indices: np.ndarray  # [nnz] int64, sorted within a row
    counts: np.ndarray  # [nnz] float64
    n_products: int

    @property
    def nnz(self) -> int:
        return len(self.indices)

    def cosine(self, popularity: np.ndarray) -> CoPurchase:
        """The same pairs with counts C[a, b] / sqrt(pop a * pop b) (cosine of the basket sets)."""
        rows = np.repeat(np.arange(self.n_products), np.diff(self.indptr))
        norm = np.sqrt(np.maximum(popularity[rows], 1.0) * np.maximum(popularity[self.indices], 1.0))
        return CoPurchase(self.indptr, self.indices, self.counts / norm, self.n_products)

    def to_dense(self) -> torch.Tensor:
        dense = torch.zeros(self.n_products, self.n_products, dtype=torch.float64)
        rows = np.repeat(np.arange(self.n_products), np.diff(self.indptr))
        dense[torch.from_numpy(rows), torch.from_numpy(self.indices)] = torch.from_numpy(self.counts)
        return dense

    def basket_scores(self, basket_row: np.ndarray, product: np.ndarray, n_baskets: int) -> np.ndarray:
        """Σ of the rows of the (basket_row [k], product [k]) visible items per basket -> [n_baskets, V] float64.
        Work is the number of stored entries in the visited rows (no dense V x V product)."""
        start, stop = self.indptr[product], self.indptr[product + 1]
        n = stop - start
        owner = np.repeat(basket_row, n)
        idx = ragged_ranges(start, n)
        flat = np.bincount(owner * self.n_products + self.indices[idx], weights=self.counts[idx],
                           minlength=n_baskets * self.n_products)
        return flat.reshape(n_baskets, self.n_products)


def copurchase_from_pairs(product_a: np.ndarray, product_b: np.ndarray, n_baskets: np.ndarray,
                          n_products: int) -> CoPurchase:
    """Symmetric CSR co-purchase counts from unordered pair rows (product_a < product_b, n_baskets
    holding both), as sql/cache/02_copurchase_pairs.sql returns them: entry (a, b) = entry (b, a)."""
    a = np.asarray(product_a, dtype=np.int64)
    b = np.asarray(product_b, dtype=np.int64)
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    counts = np.concatenate([n_baskets, n_baskets]).astype(np.float64)
    order = np.lexsort((cols, rows))
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_products))].astype(np.int64)
    return CoPurchase(indptr=indptr, indices=cols[order], counts=counts[order], n_products=n_products)


def training_counts(con: duckdb.DuckDBPyConnection, train_weeks: tuple[int, int] | list[int],
                    n_products: int, items_per_slice: int) -> tuple[np.ndarray, CoPurchase, int]:
    """(popularity [n_products] float64, co-purchase counts, training lines) over the training weeks,
    counted by DuckDB with the cache's SQL (sql/cache/01_product_stats, 02_copurchase_pairs) over the
    `items` view, so the training items never enter Python and DuckDB spills what does not fit."""
    first, last = int(train_weeks[0]), int(train_weeks[1])
    stats = sqlfiles.run(con, "01_product_stats", train_first=first, train_last=last)
    popularity = np.zeros(n_products)
    popularity[stats["product_idx"].astype(np.int64)] = stats["n_baskets"]
    pairs = sqlfiles.copurchase_pairs(con, first, last, 1, items_per_slice)
    is_pair = pairs["product_a"] > 0
    co = copurchase_from_pairs(pairs["product_a"][is_pair], pairs["product_b"][is_pair],
                               pairs["n_baskets"][is_pair], n_products)
    return popularity, co, int(stats["n_lines"].sum())


@dataclass
class HistoryScores:
    """The untruncated purchase history of a batch's baskets as dense rows."""

    count: torch.Tensor  # [B, V] float64: earlier baskets holding the product
    decayed: torch.Tensor  # [B, V] float64: Σ history.decay ^ (age in weeks) over them

    def rows(self, rows) -> HistoryScores:
        return HistoryScores(self.count[rows], self.decayed[rows])


def history_scores(index: HistoryIndex, customer_idx: np.ndarray, shop_ts: np.ndarray, n_products: int) -> HistoryScores:
    """HistoryScores of baskets (customer_idx [B], shop_ts [B] hours since the calendar origin)."""
    b = len(customer_idx)
    cand = candidates(index, customer_idx, shop_ts)
    count = np.zeros((b, n_products))
    decayed = np.zeros((b, n_products))
    count[cand.row, cand.product] = index.cum_baskets[cand.event]
    factor = np.exp(np.log(index.decay) * np.asarray(shop_ts, dtype=np.float64)[cand.row] / HOURS_PER_WEEK)
    decayed[cand.row, cand.product] = index.cum_decay[cand.event, 0] * factor
    return HistoryScores(torch.from_numpy(count), torch.from_numpy(decayed))


@dataclass
class BatchContext:
    """What the baselines see of one batch, computed once for all of them."""

    product_ids: np.ndarray  # [B, S] input ids (MASK at hidden positions, PAD 0)
    visible_row: np.ndarray  # [k] basket row of each visible item
    visible_product: np.ndarray  # [k]
    history: HistoryScores

    @property
    def n(self) -> int:
        return self.product_ids.shape[0]


@dataclass
class Popularity:
    """Training-week baskets holding the product, the same row for every basket."""

    counts: torch.Tensor  # [V] float64
    name: str = "popularity"

    def scores(self, ctx: BatchContext) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(ctx.n, -1).clone()


@dataclass
class CoPurchaseScorer:
    """Σ over the basket's visible items of their co-purchase counts, + the popularity tiebreak."""

    counts: CoPurchase
    tiebreak: torch.Tensor  # [V] in [0, 1)
    name: str = "co_purchase"

    def scores(self, ctx: BatchContext) -> torch.Tensor:
        return torch.from_numpy(self.counts.basket_scores(ctx.visible_row, ctx.visible_product, ctx.n)) + self.tiebreak


@dataclass
class OwnHistoryScorer:
    """The customer's earlier baskets holding the product, + the popularity tiebreak."""

    tiebreak: torch.Tensor
    name: str = "own_history"

    def scores(self, ctx: BatchContext) -> torch.Tensor:
        return ctx.history.count + self.tiebreak


@dataclass
class DecayedHistoryScorer:
    """The customer's decayed count: history products at 1 + decayed count, the rest by popularity below 1e-6."""

    tiebreak: torch.Tensor
    name: str = "decayed_history"

    def scores(self, ctx: BatchContext) -> torch.Tensor:
        h = ctx.history
        return torch.where(h.count > 0, 1.0 + h.decayed, 0.0) + 1e-6 * self.tiebreak


@dataclass
class HistoryCoPurchaseScorer:
    """alpha * decayed share + (1 - alpha) * mean cosine co-purchase with the visible items."""

    cosine: CoPurchase
    tiebreak: torch.Tensor
    alpha: float = 0.5
    name: str = "history_co_purchase"

    def mean_cosine(self, ctx: BatchContext) -> torch.Tensor:
        """[B, V] mean over the basket's visible items of the cosine co-purchase (0 with none)."""
        total = torch.from_numpy(self.cosine.basket_scores(ctx.visible_row, ctx.visible_product, ctx.n))
        n_visible = torch.from_numpy(np.bincount(ctx.visible_row, minlength=ctx.n).astype(np.float64))
        return total / n_visible.clamp(min=1).unsqueeze(1)

    @staticmethod
    def share(history: HistoryScores) -> torch.Tensor:
        """[B, V] each product's share of the customer's decayed count (0 without history)."""
        return history.decayed / history.decayed.sum(dim=1, keepdim=True).clamp(min=1e-300)

    def blend(self, cosine: torch.Tensor, share: torch.Tensor, alpha: float) -> torch.Tensor:
        return alpha * share + (1 - alpha) * cosine + 1e-6 * self.tiebreak

    def scores(self, ctx: BatchContext) -> torch.Tensor:
        return self.blend(self.mean_cosine(ctx), self.share(ctx.history), self.alpha)


class BaselineScorer:
    """Scores [B, V] per baseline for the baskets of one batch: a list of named scorers."""

    def __init__(self, popularity: np.ndarray, copurchase: CoPurchase, history: HistoryIndex, alpha: float = 0.5):
        counts = torch.from_numpy(popularity.astype(np.float64))
        tiebreak = counts / (counts.max() + 1.0)  # [V] in [0, 1)
        self.copurchase = copurchase
        self.history = history
        self.n_products = len(popularity)
        self.blend = HistoryCoPurchaseScorer(copurchase.cosine(popularity), tiebreak, alpha)
        self.scorers = [Popularity(counts), CoPurchaseScorer(copurchase, tiebreak), OwnHistoryScorer(tiebreak),
                        DecayedHistoryScorer(tiebreak), self.blend]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scorers)

    def context(self, product_ids: torch.Tensor, customer_idx: np.ndarray, shop_ts: np.ndarray) -> BatchContext:
        ids = product_ids.cpu().numpy()
        row, pos = np.nonzero(ids >= FIRST_PRODUCT_IDX)  # visible items (MASK/PAD excluded)
        return BatchContext(ids, row, ids[row, pos], history_scores(self.history, customer_idx, shop_ts, self.n_products))

    def scores(self, product_ids: torch.Tensor, customer_idx: np.ndarray, shop_ts: np.ndarray) -> dict[str, torch.Tensor]:
        """product_ids [B, S] (MASK at hidden positions, PAD 0), the baskets' customer_idx [B] and
        shop_ts [B] -> name -> [B, V] float64, special ids and visible items excluded."""
        ctx = self.context(product_ids, customer_idx, shop_ts)
        return {s.name: exclude_known(s.scores(ctx), product_ids) for s in self.scorers}
