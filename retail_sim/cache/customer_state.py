"""Point-in-time customer state: one 128-d row per (known customer, week with a basket), describing
the customer as of the START of that week from baskets in strictly earlier weeks only.

Row = history (96) ‖ affinity (32).
- history: exponentially decayed mean (half-life cfg.cache.half_life_weeks) of the embeddings of
  the products bought (one term per basket line), projected by a PCA fitted on the product rows
  weighted by their known-customer training-week lines. The projection is linear, so projecting
  products first and averaging after gives the same numbers in 96 dims.
- affinity: running shares over all earlier baskets (AFFINITY_COLUMNS, documented one by one).
Rows are sorted by key = customer_idx * WEEK_KEY + week; a lookup is one np.searchsorted.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from retail_sim.arrays import sorted_lookup

WEEK_KEY = 1 << 16  # key = customer_idx * WEEK_KEY + week (weeks are < 65,536)

# (name, definition); B = the customer's baskets in earlier weeks, all shares are counts / B
AFFINITY_COLUMNS = (
    ("home_store_share", "share of B at the store where the customer shopped most so far"),
    ("home_region_share", "share of B in the region where the customer shopped most so far"),
    ("store_variety", "distinct stores visited / B"),
    ("format_ls", "share of B in LS stores"),
    ("format_ms", "share of B in MS stores"),
    ("format_ss", "share of B in SS stores"),
    ("format_xls", "share of B in XLS stores"),
    ("mission_top_up", "share of B with BASKET_TYPE Top Up"),
    ("mission_full_shop", "share of B with BASKET_TYPE Full Shop"),
    ("mission_small_shop", "share of B with BASKET_TYPE Small Shop"),
    ("dominant_fresh", "share of B with dominant mission Fresh"),
    ("dominant_grocery", "share of B with dominant mission Grocery"),
    ("dominant_mixed", "share of B with dominant mission Mixed"),
    ("dominant_nonfood", "share of B with dominant mission Nonfood"),
    ("size_s", "share of B with BASKET_SIZE S"),
    ("size_m", "share of B with BASKET_SIZE M"),
    ("size_l", "share of B with BASKET_SIZE L"),
    ("price_la", "share of B with basket price sensitivity LA (less affluent)"),
    ("price_mm", "share of B with basket price sensitivity MM (mid market)"),
    ("price_um", "share of B with basket price sensitivity UM (up market)"),
    ("weekday_mon_thu", "share of B on Monday..Thursday"),
    ("weekday_fri", "share of B on Friday"),
    ("weekday_weekend", "share of B on Saturday or Sunday"),
    ("hour_to_11", "share of B before noon (SHOP_HOUR <= 11)"),
    ("hour_12_15", "share of B at hours 12..15"),
    ("hour_16_18", "share of B at hours 16..18"),
    ("hour_from_19", "share of B at hour 19 or later"),
    ("log_baskets", "log1p(B)"),
    ("log_spend_per_basket", "log1p(mean basket spend over B)"),
    ("log_products_per_basket", "log1p(mean distinct products per basket over B)"),
    ("log_weeks_since_last", "log1p(week - last earlier basket week); 0 when B = 0"),
    ("active_week_share", "earlier weeks with a basket / (week - first basket week); 0 when B = 0"),
)

_SHARE_COLUMNS = (
    "b_home_store", "b_home_region", "b_stores", "b_ls", "b_ms", "b_ss", "b_xls", "b_top_up", "b_full_shop",
    "b_small_shop", "b_fresh", "b_grocery", "b_mixed", "b_nonfood", "b_size_s", "b_size_m", "b_size_l",
    "b_ps_la", "b_ps_mm", "b_ps_um", "b_mon_thu", "b_fri", "b_weekend", "b_hour_to_11", "b_hour_12_15",
    "b_hour_16_18", "b_hour_from_19",
)


def affinity(rows: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of sql/cache/06_customer_weeks.sql -> [n, 32] float32 (AFFINITY_COLUMNS order)."""
    b = rows["b_baskets"].astype(np.float64)
    n = len(b)
    out = np.zeros((n, len(AFFINITY_COLUMNS)))
    has = b > 0
    safe_b = np.where(has, b, 1.0)
    for j, name in enumerate(_SHARE_COLUMNS):
        out[:, j] = rows[name] / safe_b
    j = len(_SHARE_COLUMNS)
    out[:, j] = np.log1p(b)
    out[:, j + 1] = np.log1p(rows["b_spend_cents"] / 100.0 / safe_b)
    out[:, j + 2] = np.log1p(rows["b_lines"] / safe_b)
    week = rows["week"].astype(np.float64)
    prev = np.asarray(rows["prev_week"], dtype=np.float64)  # NaN when there is no earlier basket
    out[:, j + 3] = np.where(has & np.isfinite(prev), np.log1p(np.nan_to_num(week - prev)), 0.0)
    span = week - rows["first_week"]
    out[:, j + 4] = np.divide(rows["b_weeks"], span, out=np.zeros(n), where=has & (span > 0))
    out[~has] = 0.0
    return out.astype(np.float32)


def decay_per_week(half_life_weeks: float) -> float:
    """Weight multiplier per week of age: 0.5 ** (1 / half_life)."""
    return float(0.5 ** (1.0 / half_life_weeks))


class HistoryAccumulator:
    """Decayed running sums per customer of the rows of `table` [P, D] (float64) their lines name:
    processes weeks in increasing order.

    sums [C+1, D] and weights [C+1] are kept as of each customer's last update week; a common
    decay factor cancels in sums / weights, so a state read needs no decay.
    """

    def __init__(self, n_customers: int, table: np.ndarray, half_life_weeks: float):
        self.table = torch.from_numpy(np.ascontiguousarray(table, dtype=np.float64))
        self.sums = np.zeros((n_customers + 1, table.shape[1]))
        self.weights = np.zeros(n_customers + 1)
        self.last = np.zeros(n_customers + 1, dtype=np.int64)
        self.lam = decay_per_week(half_life_weeks)

    def state(self, customers: np.ndarray) -> np.ndarray:
        """Decayed mean of everything added so far for `customers` [n] -> [n, D] (0 if nothing)."""
        w = self.weights[customers][:, None]
        return np.divide(self.sums[customers], w, out=np.zeros((len(customers), self.sums.shape[1])), where=w > 0)

    def add_week(self, week: int, line_customer: np.ndarray, line_row: np.ndarray, line_weight: np.ndarray) -> None:
        """Add one week's lines: line_customer [L] sorted, line_row [L] (a row of `table`: the line's
        product), line_weight [L] (number of lines each stands for)."""
        if len(line_customer) == 0:
            return
        first = np.r_[True, line_customer[1:] != line_customer[:-1]]
        starts = np.flatnonzero(first)
        customers = line_customer[starts]
        sums = weighted_row_sums(starts, line_row, line_weight, self.table)
        counts = np.add.reduceat(line_weight.astype(np.float64), starts)
        factor = self.lam ** (week - self.last[customers]).astype(np.float64)
        self.sums[customers] = self.sums[customers] * factor[:, None] + sums
        self.weights[customers] = self.weights[customers] * factor + counts
        self.last[customers] = week


def weighted_row_sums(starts: np.ndarray, rows: np.ndarray, weights: np.ndarray, table: torch.Tensor) -> np.ndarray:
    """[G, D] float64: for each group g of lines starts[g]..starts[g+1]-1, the sum over its lines of
    weights[l] * table[rows[l]], added in line order.

    One sparse CSR [groups, table rows] @ table product (torch's CPU kernel): the same bits as
    expanding the lines to an [L, D] array of weighted rows and adding them per group in line order
    (tests/test_cache.py), without writing that array: at 50.6M rows (~340K lines a week) the
    expansion (np.take, multiply, index_add_) took 18 s of the customer state's 46 s, this 1.5 s.
    """
    crow = torch.from_numpy(np.r_[starts, len(rows)].astype(np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Sparse CSR tensor support is in beta state"
        lines = torch.sparse_csr_tensor(crow, torch.from_numpy(np.asarray(rows, dtype=np.int64)),
                                        torch.from_numpy(np.asarray(weights, dtype=np.float64)),
                                        size=(len(starts), table.shape[0]))
    return (lines @ table).numpy()


def lookup(keys: np.ndarray, customer_idx: np.ndarray, week: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (customer_idx, week) pairs in the sorted key array -> (row [n] int64, found [n] bool).

    Anonymous customers (0) and pairs without a row give found = False."""
    c = np.asarray(customer_idx, dtype=np.int64)
    found, pos = sorted_lookup(keys, c * WEEK_KEY + np.asarray(week, dtype=np.int64))
    return pos, found & (c > 0)
