"""Masked-item baselines scored on the same hidden items as the model.

- popularity: product counts over the training weeks' items (baskets containing the product);
- co-purchase: for a basket, the sum over its visible items v of C[v, candidate], where C counts
  the training-week baskets holding both products;
- own history: the customer's count of earlier baskets (strictly earlier (shop_date, shop_hour),
  any split) holding the candidate; anonymous / cold-start customers have none.
Co-purchase and own history add popularity / (max popularity + 1) < 1 to their integer counts, so
equal counts are ordered by popularity and an all-zero row falls back to popularity.
Every scorer (the model too) excludes the special ids and the basket's visible items
(metrics.exclude_known): products are distinct within a basket, so neither can be a hidden item.

BaselineScorer holds the baselines as a list of named scorers, each a function of one batch's
visible items and basket ids; a new baseline is one more entry. The counts come from DuckDB over
the prepared views (Prepared.connect): the cache's SQL for popularity and co-purchase,
sql/evaluate/own_history.sql for the own history.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import torch

from retail_sim import sqlrun
from retail_sim.arrays import ragged_ranges
from retail_sim.cache import sqlfiles
from retail_sim.metrics import exclude_known
from retail_sim.vocab import FIRST_PRODUCT_IDX

BASELINES = ("popularity", "co_purchase", "own_history")  # BaselineScorer's scorers, in order


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
                    n_products: int) -> tuple[np.ndarray, CoPurchase, int]:
    """(popularity [n_products] float64, co-purchase counts, training lines) over the training weeks,
    counted by DuckDB with the cache's SQL (sql/cache/01_product_stats, 02_copurchase_pairs) over the
    `items` view, so the training items never enter Python and DuckDB spills what does not fit."""
    first, last = int(train_weeks[0]), int(train_weeks[1])
    stats = sqlfiles.run(con, "01_product_stats", train_first=first, train_last=last)
    popularity = np.zeros(n_products)
    popularity[stats["product_idx"].astype(np.int64)] = stats["n_baskets"]
    pairs = sqlfiles.run(con, "02_copurchase_pairs", first_week=first, last_week=last, min_baskets=1)
    is_pair = pairs["product_a"] > 0
    co = copurchase_from_pairs(pairs["product_a"][is_pair], pairs["product_b"][is_pair],
                               pairs["n_baskets"][is_pair], n_products)
    return popularity, co, int(stats["n_lines"].sum())


@dataclass
class OwnHistory:
    """Sparse rows (basket_id sorted, product_idx, n_baskets): for each evaluated basket of a known
    customer, how many of the customer's strictly earlier baskets held the product."""

    basket_id: np.ndarray  # [n] int64, sorted
    product_idx: np.ndarray  # [n] int64
    n_baskets: np.ndarray  # [n] float64

    def lookup(self, basket_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """basket_ids [B] -> (row [k] in 0..B-1, product_idx [k], n_baskets [k]) of those baskets."""
        basket_ids = np.asarray(basket_ids, dtype=np.int64)
        lo = np.searchsorted(self.basket_id, basket_ids, side="left")
        hi = np.searchsorted(self.basket_id, basket_ids, side="right")
        n = hi - lo
        row = np.repeat(np.arange(len(basket_ids)), n)
        idx = ragged_ranges(lo, n)
        return row, self.product_idx[idx], self.n_baskets[idx]


def own_history(con: duckdb.DuckDBPyConnection, split: str, basket_ids: np.ndarray) -> OwnHistory:
    """OwnHistory of the baskets `basket_ids` [n] of `split` (point-in-time; items of all splits count),
    by sql/evaluate/own_history.sql over the `samples` and `items` views. Its size is the sum over
    those baskets of the products their customer bought before, which is why `evaluate` scores a
    sample of baskets on a large split."""
    con.register("evaluated_baskets", pa.table({"basket_id": np.asarray(basket_ids, dtype=np.int64)}))
    try:
        table = sqlrun.select(con, "evaluate/own_history.sql", split=split)
    finally:
        con.unregister("evaluated_baskets")
    return OwnHistory(
        basket_id=table.column("basket_id").to_numpy().astype(np.int64),
        product_idx=table.column("product_idx").to_numpy().astype(np.int64),
        n_baskets=table.column("n_baskets").to_numpy().astype(np.float64),
    )


@dataclass
class Popularity:
    """Training-week baskets holding the product, the same row for every basket."""

    counts: torch.Tensor  # [V] float64
    name: str = "popularity"

    def scores(self, product_ids: np.ndarray, basket_ids: np.ndarray) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(product_ids.shape[0], -1).clone()


@dataclass
class CoPurchaseScorer:
    """Σ over the basket's visible items of their co-purchase counts, + the popularity tiebreak."""

    counts: CoPurchase
    tiebreak: torch.Tensor  # [V] in [0, 1)
    name: str = "co_purchase"

    def scores(self, product_ids: np.ndarray, basket_ids: np.ndarray) -> torch.Tensor:
        vis_row, vis_pos = np.nonzero(product_ids >= FIRST_PRODUCT_IDX)  # visible items (MASK/PAD excluded)
        co = self.counts.basket_scores(vis_row, product_ids[vis_row, vis_pos], product_ids.shape[0])
        return torch.from_numpy(co) + self.tiebreak


@dataclass
class OwnHistoryScorer:
    """The customer's earlier baskets holding the product, + the popularity tiebreak."""

    history: OwnHistory
    tiebreak: torch.Tensor
    name: str = "own_history"

    def scores(self, product_ids: np.ndarray, basket_ids: np.ndarray) -> torch.Tensor:
        row, product, count = self.history.lookup(basket_ids)
        hist = torch.zeros(product_ids.shape[0], len(self.tiebreak), dtype=torch.float64)
        hist.index_put_((torch.from_numpy(row), torch.from_numpy(product)), torch.from_numpy(count), accumulate=True)
        return hist + self.tiebreak


class BaselineScorer:
    """Scores [B, V] per baseline for the baskets of one batch: a list of named scorers."""

    def __init__(self, popularity: np.ndarray, copurchase: CoPurchase, history: OwnHistory):
        counts = torch.from_numpy(popularity.astype(np.float64))
        tiebreak = counts / (counts.max() + 1.0)  # [V] in [0, 1)
        self.copurchase = copurchase
        self.history = history
        self.scorers = [Popularity(counts), CoPurchaseScorer(copurchase, tiebreak), OwnHistoryScorer(history, tiebreak)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scorers)

    def scores(self, product_ids: torch.Tensor, basket_ids: np.ndarray) -> dict[str, torch.Tensor]:
        """product_ids [B, S] (MASK at hidden positions, PAD 0), basket_ids [B] -> name -> [B, V] float64,
        special ids and visible items excluded."""
        ids = product_ids.cpu().numpy()
        return {s.name: exclude_known(s.scores(ids, basket_ids), product_ids) for s in self.scorers}
