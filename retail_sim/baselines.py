"""Masked-item baselines scored on the same hidden items as the model.

- popularity: product counts over the training weeks' items (baskets containing the product);
- co_purchase: for a basket, the sum over its visible items v of C[v, candidate], where C counts
  the training-week baskets holding both products;
- own_history: the customer's count of earlier baskets (strictly earlier (shop_date, shop_hour),
  any split) holding the candidate; anonymous customers and first baskets have none;
- decayed_history: the same baskets, each weighted by history.decay ^ (age in weeks);
- history_co_purchase: alpha * the candidate's share of the customer's decayed count + (1 - alpha)
  * the mean over the visible items v of the cosine-normalised co-purchase C[v, c] / sqrt(pop v
  * pop c); alpha is chosen on the validation split (evaluate.py).
The history baselines read the purchase-history index (data/history.py: the as-of rule the
loader uses, untruncated). Co-purchase and the history counts add popularity / (max popularity
+ 1) < 1, so equal counts are ordered by popularity and an all-zero row falls back to popularity;
the two [0, 1] scores (decayed_history's is shifted to [1, ...)) add it times 1e-6.
Every scorer (the model too) excludes the special ids and the basket's visible items: products
are distinct within a basket, so neither can be a hidden item.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import torch

from retail_sim.cache import sqlfiles
from retail_sim.data.history import HOURS_PER_WEEK, HistoryIndex, candidates
from retail_sim.vocab import FIRST_PRODUCT_IDX

BASELINES = ("popularity", "co_purchase", "own_history", "decayed_history", "history_co_purchase")
ALPHA_GRID = tuple(round(0.1 * i, 1) for i in range(11))  # history_co_purchase weights tried on validation
EXCLUDED_SCORE = float("-inf")


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
        idx = np.repeat(start, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
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


def training_counts(con: duckdb.DuckDBPyConnection, prepared: Path, train_weeks: list[int],
                    n_products: int) -> tuple[np.ndarray, CoPurchase, int]:
    """(popularity [n_products] float64, co-purchase counts, training lines) over the training weeks,
    counted by DuckDB with the cache's SQL (sql/cache/01_product_stats, 02_copurchase_pairs), so
    the training items never enter Python and DuckDB spills what does not fit its memory limit."""
    con.execute("set variable items_glob = ?", [str(Path(prepared) / "items" / "*" / "*.parquet")])
    # the `items` view of sql/prepared_views.sql, alone: evaluation needs no other view
    con.execute("create or replace temp view items as select * replace (week::integer as week) "
                "from read_parquet(getvariable('items_glob'), hive_partitioning = true)")
    first, last = int(train_weeks[0]), int(train_weeks[1])
    stats = sqlfiles.run(con, "01_product_stats", train_first=first, train_last=last)
    popularity = np.zeros(n_products)
    popularity[stats["product_idx"].astype(np.int64)] = stats["n_baskets"]
    pairs = sqlfiles.run(con, "02_copurchase_pairs", first_week=first, last_week=last, min_baskets=1)
    is_pair = pairs["product_a"] > 0
    co = copurchase_from_pairs(pairs["product_a"][is_pair], pairs["product_b"][is_pair],
                               pairs["n_baskets"][is_pair], n_products)
    return popularity, co, int(stats["n_lines"].sum())


def exclude_known(scores: torch.Tensor, product_ids: torch.Tensor) -> torch.Tensor:
    """scores [B, V] with the special ids and each basket's visible products ([B, S] ids, MASK at
    hidden positions) set to -inf (in place, returned)."""
    scores[:, :FIRST_PRODUCT_IDX] = EXCLUDED_SCORE
    visible = product_ids.clamp(min=0)
    scores.scatter_(1, visible, EXCLUDED_SCORE)  # ids < FIRST_PRODUCT_IDX land on already-excluded columns
    return scores


@dataclass
class HistoryScores:
    """The untruncated purchase history of a batch's baskets as dense rows."""

    count: torch.Tensor  # [B, V] float64: earlier baskets holding the product
    decayed: torch.Tensor  # [B, V] float64: Σ history.decay ^ (age in weeks) over them


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


class BaselineScorer:
    """Scores [B, V] per baseline for the baskets of one batch."""

    def __init__(self, popularity: np.ndarray, copurchase: CoPurchase, history: HistoryIndex, alpha: float = 0.5):
        self.popularity = torch.from_numpy(popularity.astype(np.float64))
        self.tiebreak = self.popularity / (self.popularity.max() + 1.0)  # [V] in [0, 1)
        self.copurchase = copurchase
        self.cosine = copurchase.cosine(popularity)
        self.history = history
        self.alpha = alpha
        self.n_products = len(popularity)

    def parts(self, product_ids: torch.Tensor, customer_idx: np.ndarray, shop_ts: np.ndarray):
        """(co-purchase sums [B, V], mean cosine co-purchase [B, V], HistoryScores) of a batch."""
        b = product_ids.shape[0]
        ids = product_ids.cpu().numpy()
        vis_row, vis_pos = np.nonzero(ids >= FIRST_PRODUCT_IDX)  # visible items (MASK/PAD excluded)
        vis = ids[vis_row, vis_pos]
        co = torch.from_numpy(self.copurchase.basket_scores(vis_row, vis, b))
        n_visible = torch.from_numpy(np.bincount(vis_row, minlength=b).astype(np.float64)).clamp(min=1)
        cos = torch.from_numpy(self.cosine.basket_scores(vis_row, vis, b)) / n_visible.unsqueeze(1)
        return co, cos, history_scores(self.history, customer_idx, shop_ts, self.n_products)

    def blend(self, cos: torch.Tensor, hist: HistoryScores, alpha: float) -> torch.Tensor:
        """history_co_purchase [B, V]: alpha * decayed share + (1 - alpha) * mean cosine co-purchase."""
        total = hist.decayed.sum(dim=1, keepdim=True).clamp(min=1e-300)
        return alpha * hist.decayed / total + (1 - alpha) * cos + 1e-6 * self.tiebreak

    def scores(self, product_ids: torch.Tensor, customer_idx: np.ndarray, shop_ts: np.ndarray) -> dict[str, torch.Tensor]:
        """product_ids [B, S] (MASK at hidden positions, PAD 0), customer_idx [B], shop_ts [B] ->
        name -> [B, V] float64, special ids and visible products at -inf."""
        b = product_ids.shape[0]
        co, cos, hist = self.parts(product_ids, customer_idx, shop_ts)
        out = {
            "popularity": self.popularity.unsqueeze(0).expand(b, -1).clone(),
            "co_purchase": co + self.tiebreak,
            "own_history": hist.count + self.tiebreak,
            "decayed_history": torch.where(hist.count > 0, 1.0 + hist.decayed, 0.0) + 1e-6 * self.tiebreak,
            "history_co_purchase": self.blend(cos, hist, self.alpha),
        }
        return {name: exclude_known(s, product_ids) for name, s in out.items()}
