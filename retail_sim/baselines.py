"""Masked-item baselines scored on the same hidden items as the model.

- popularity: product counts over the training weeks' items (baskets containing the product);
- co-purchase: for a basket, the sum over its visible items v of C[v, candidate], where C counts
  the training-week baskets holding both products;
- own history: the customer's count of earlier baskets (strictly earlier (shop_date, shop_hour),
  any split) holding the candidate; anonymous / cold-start customers have none.
Co-purchase and own history add popularity / (max popularity + 1) < 1 to their integer counts, so
equal counts are ordered by popularity and an all-zero row falls back to popularity.
Every scorer (the model too) excludes the special ids and the basket's visible items: products
are distinct within a basket, so neither can be a hidden item.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import torch

from retail_sim.vocab import FIRST_PRODUCT_IDX

BASELINES = ("popularity", "co_purchase", "own_history")
EXCLUDED_SCORE = float("-inf")


def popularity_counts(product_idx: np.ndarray, n_products: int) -> np.ndarray:
    """[n] product ids of training-week (basket, product) rows -> [n_products] float64 counts."""
    return np.bincount(np.asarray(product_idx, dtype=np.int64), minlength=n_products).astype(np.float64)


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
        idx = np.repeat(start, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        flat = np.bincount(owner * self.n_products + self.indices[idx], weights=self.counts[idx],
                           minlength=n_baskets * self.n_products)
        return flat.reshape(n_baskets, self.n_products)


def copurchase_counts(basket_id: np.ndarray, product_idx: np.ndarray, n_products: int,
                      chunk_pairs: int = 20_000_000) -> CoPurchase:
    """Co-purchase counts from (basket, product) rows (distinct per basket): entry (a, b), a != b,
    = number of baskets holding both. Pairs are enumerated per chunk of baskets (at most
    ~chunk_pairs pairs in memory at once)."""
    basket_id = np.asarray(basket_id, dtype=np.int64)
    product_idx = np.asarray(product_idx, dtype=np.int64)
    order = np.lexsort((product_idx, basket_id))
    basket_id, product_idx = basket_id[order], product_idx[order]
    starts = np.flatnonzero(np.r_[True, basket_id[1:] != basket_id[:-1]]) if len(basket_id) else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, len(basket_id)])
    pair_cost = np.cumsum(sizes.astype(np.int64) ** 2)
    codes, counts = [], []
    first = 0
    while first < len(starts):
        last = int(np.searchsorted(pair_cost, (pair_cost[first - 1] if first else 0) + chunk_pairs, side="right"))
        last = max(last, first + 1)
        s, n = starts[first:last], sizes[first:last]
        row_start = np.repeat(s, n)  # [rows] start of each row's basket
        row_size = np.repeat(n, n)  # [rows] size of each row's basket
        rows = np.arange(s[0], s[-1] + n[-1])
        left = np.repeat(rows, row_size)  # each row paired with every row of its basket
        offset = np.arange(len(left)) - np.repeat(np.cumsum(row_size) - row_size, row_size)
        right = np.repeat(row_start, row_size) + offset
        keep = left != right
        code = product_idx[left[keep]] * n_products + product_idx[right[keep]]
        uniq, cnt = np.unique(code, return_counts=True)
        codes.append(uniq)
        counts.append(cnt)
        first = last
    if codes:
        uniq, inverse = np.unique(np.concatenate(codes), return_inverse=True)
        total = np.bincount(inverse, weights=np.concatenate(counts))
    else:
        uniq, total = np.zeros(0, np.int64), np.zeros(0)
    row, col = uniq // n_products, uniq % n_products  # uniq is sorted: rows ascending, columns within
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=n_products))].astype(np.int64)
    return CoPurchase(indptr=indptr, indices=col.astype(np.int64), counts=total.astype(np.float64),
                      n_products=n_products)


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
        idx = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        return row, self.product_idx[idx], self.n_baskets[idx]


OWN_HISTORY_SQL = """
-- one row per (evaluated basket of a known customer, product bought in a strictly earlier basket)
with evaluated as (
    select basket_id, customer_idx, shop_date, shop_hour
    from read_parquet(getvariable('samples_glob'), hive_partitioning = true)
    where split = getvariable('split') and customer_idx > 0
),
earlier_items as (
    select customer_idx, shop_date, shop_hour, product_idx
    from read_parquet(getvariable('items_glob'), hive_partitioning = true)
    where customer_idx > 0
),
final as (
    select e.basket_id, i.product_idx, count(*) as n_baskets
    from evaluated e
    join earlier_items i
      on i.customer_idx = e.customer_idx
     and (i.shop_date < e.shop_date or (i.shop_date = e.shop_date and i.shop_hour < e.shop_hour))
    group by e.basket_id, i.product_idx
)
select basket_id, product_idx, n_baskets from final order by basket_id, product_idx
"""

TRAINING_ITEMS_SQL = """
-- one row per (training-week basket, product)
select basket_id, product_idx
from read_parquet(getvariable('items_glob'), hive_partitioning = true)
where week between getvariable('first_week') and getvariable('last_week')
"""


def own_history(con: duckdb.DuckDBPyConnection, prepared: Path, split: str) -> OwnHistory:
    """OwnHistory of every basket of `split` (point-in-time; items of all splits count)."""
    con.execute("set variable samples_glob = ?", [str(Path(prepared) / "samples" / "*" / "*" / "*.parquet")])
    con.execute("set variable items_glob = ?", [str(Path(prepared) / "items" / "*" / "*.parquet")])
    con.execute("set variable split = ?", [split])
    table = con.sql(OWN_HISTORY_SQL).to_arrow_table()
    return OwnHistory(
        basket_id=table.column("basket_id").to_numpy().astype(np.int64),
        product_idx=table.column("product_idx").to_numpy().astype(np.int64),
        n_baskets=table.column("n_baskets").to_numpy().astype(np.float64),
    )


def training_items(con: duckdb.DuckDBPyConnection, prepared: Path, train_weeks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(basket_id [n], product_idx [n]) of the training weeks' items."""
    con.execute("set variable items_glob = ?", [str(Path(prepared) / "items" / "*" / "*.parquet")])
    con.execute("set variable first_week = ?", [int(train_weeks[0])])
    con.execute("set variable last_week = ?", [int(train_weeks[1])])
    table = con.sql(TRAINING_ITEMS_SQL).to_arrow_table()
    return (table.column("basket_id").to_numpy().astype(np.int64),
            table.column("product_idx").to_numpy().astype(np.int64))


def exclude_known(scores: torch.Tensor, product_ids: torch.Tensor) -> torch.Tensor:
    """scores [B, V] with the special ids and each basket's visible products ([B, S] ids, MASK at
    hidden positions) set to -inf (in place, returned)."""
    scores[:, :FIRST_PRODUCT_IDX] = EXCLUDED_SCORE
    visible = product_ids.clamp(min=0)
    scores.scatter_(1, visible, EXCLUDED_SCORE)  # ids < FIRST_PRODUCT_IDX land on already-excluded columns
    return scores


class BaselineScorer:
    """Scores [B, V] per baseline for the baskets of one batch."""

    def __init__(self, popularity: np.ndarray, copurchase: CoPurchase, history: OwnHistory):
        self.popularity = torch.from_numpy(popularity.astype(np.float64))
        self.tiebreak = self.popularity / (self.popularity.max() + 1.0)  # [V] in [0, 1)
        self.copurchase = copurchase
        self.history = history
        self.n_products = len(popularity)

    def scores(self, product_ids: torch.Tensor, basket_ids: np.ndarray) -> dict[str, torch.Tensor]:
        """product_ids [B, S] (MASK at hidden positions, PAD 0), basket_ids [B] -> name -> [B, V] float64."""
        b = product_ids.shape[0]
        ids = product_ids.cpu().numpy()
        vis_row, vis_pos = np.nonzero(ids >= FIRST_PRODUCT_IDX)  # visible items (MASK/PAD excluded)
        co = torch.from_numpy(self.copurchase.basket_scores(vis_row, ids[vis_row, vis_pos], b))  # [B, V]
        row, product, count = self.history.lookup(basket_ids)
        hist = torch.zeros(b, self.n_products, dtype=torch.float64)
        hist.index_put_((torch.from_numpy(row), torch.from_numpy(product)), torch.from_numpy(count), accumulate=True)
        out = {
            "popularity": self.popularity.unsqueeze(0).expand(b, -1).clone(),
            "co_purchase": co + self.tiebreak,
            "own_history": hist + self.tiebreak,
        }
        return {name: exclude_known(s, product_ids) for name, s in out.items()}
