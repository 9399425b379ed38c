"""Customer segments and their embeddings [n_segments, 64].

Segment = (customer_lifestage, customer_price_sensitivity). Index 0 is the anonymous shoppers;
then 1 + lifestage_rank * 4 + price_sensitivity_rank over LIFESTAGES x CUSTOMER_PRICE_SENSITIVITIES
(unknown or missing values count as XX): 29 segments, a fixed list.

Embedding columns (statistics of the segment's training-week baskets):
  0–6   lifestage one-hot              7–10  price sensitivity one-hot      11  anonymous flag
  12    log1p(customers with a training basket)   13  log1p(baskets per customer; anonymous: per week)
  14    log1p(mean spend per basket)   15  log1p(mean items per basket)  16  log1p(mean distinct products per basket)
  17–19 mission type shares (Top Up, Full Shop, Small Shop)
  20–23 dominant mission shares (Fresh, Grocery, Mixed, Nonfood)
  24–26 basket size shares (S, M, L)   27–29 basket price sensitivity shares (LA, MM, UM)
  30–33 store format shares            34–45 store region shares (E01..W03)
  46–50 hour bands (<=10, 11–13, 14–16, 17–19, >=20)
  51–57 weekday shares (1 = Sunday .. 7 = Saturday)
  58–63 first 6 principal components of the spend shares over PROD_CODE_20 departments
Columns 12–63 are z-scored over the segments with training baskets; segments without any get 0.
"""

from __future__ import annotations

import numpy as np

from retail_sim.cache import groups, linalg

ANONYMOUS_SEGMENT = 0
N_SEGMENTS = 1 + len(groups.LIFESTAGES) * len(groups.CUSTOMER_PRICE_SENSITIVITIES)
N_STATS = 58


def segment_keys() -> list[str]:
    """Group keys of 03–05 in segment-index order: 'ANON|ANON', 'YA|LA', 'YA|MM', ..."""
    return ["ANON|ANON"] + [f"{a}|{b}" for a in groups.LIFESTAGES for b in groups.CUSTOMER_PRICE_SENSITIVITIES]


def segment_index(lifestage: np.ndarray, price_sensitivity: np.ndarray) -> np.ndarray:
    """Segment of known customers: [n] codes (None/unknown -> XX) -> [n] int32 in 1..28."""

    def rank(values, codes):
        table = {c: i for i, c in enumerate(codes)}
        return np.array([table.get(v, table["XX"]) for v in values], dtype=np.int64)

    life = rank(lifestage, groups.LIFESTAGES)
    price = rank(price_sensitivity, groups.CUSTOMER_PRICE_SENSITIVITIES)
    return (1 + life * len(groups.CUSTOMER_PRICE_SENSITIVITIES) + price).astype(np.int32)


def segment_embeddings(totals: dict, mix: dict, spend: dict, n_train_weeks: int, dim: int = 64) -> tuple[np.ndarray, dict]:
    """[N_SEGMENTS, dim] float32 from the training-week aggregates 04, 03 and 05."""
    keys = np.array(segment_keys())
    x = np.zeros((N_SEGMENTS, N_STATS))
    n_life, n_price = len(groups.LIFESTAGES), len(groups.CUSTOMER_PRICE_SENSITIVITIES)
    seg = np.arange(1, N_SEGMENTS)
    x[seg, (seg - 1) // n_price] = 1.0
    x[seg, n_life + (seg - 1) % n_price] = 1.0
    x[ANONYMOUS_SEGMENT, n_life + n_price] = 1.0
    sel = totals["group_kind"] == "segment"
    pos = {k: i for i, k in enumerate(totals["group_key"][sel])}
    idx = np.array([pos.get(k, -1) for k in keys])
    have = idx >= 0
    t = {name: np.where(have, totals[name][sel][np.maximum(idx, 0)], 0).astype(np.float64)
         for name in ("n_baskets", "n_customers", "spend_cents", "n_items", "n_lines")}
    baskets = np.maximum(t["n_baskets"], 1)
    per = np.where(np.arange(N_SEGMENTS) == ANONYMOUS_SEGMENT, max(n_train_weeks, 1), np.maximum(t["n_customers"], 1))
    x[:, 12] = np.log1p(t["n_customers"])
    x[:, 13] = np.log1p(t["n_baskets"] / per)
    x[:, 14] = np.log1p(t["spend_cents"] / 100.0 / baskets)
    x[:, 15] = np.log1p(t["n_items"] / baskets)
    x[:, 16] = np.log1p(t["n_lines"] / baskets)
    hours = groups.pivot_mix(mix, "segment", keys, "shop_hour", groups.HOURS)
    bands = np.stack([hours[:, :11].sum(1), hours[:, 11:14].sum(1), hours[:, 14:17].sum(1),
                      hours[:, 17:20].sum(1), hours[:, 20:].sum(1)], axis=1)
    col = 17
    for counts in (
        groups.pivot_mix(mix, "segment", keys, "mission_type", groups.MISSION_TYPES),
        groups.pivot_mix(mix, "segment", keys, "dominant_mission", groups.DOMINANT_MISSIONS),
        groups.pivot_mix(mix, "segment", keys, "basket_size", groups.BASKET_SIZES),
        groups.pivot_mix(mix, "segment", keys, "basket_price_sensitivity", groups.PRICE_SENSITIVITIES),
        groups.pivot_mix(mix, "segment", keys, "store_format", groups.STORE_FORMATS),
        groups.pivot_mix(mix, "segment", keys, "store_region", groups.STORE_REGIONS),
        bands,
        groups.pivot_mix(mix, "segment", keys, "shop_weekday", groups.WEEKDAYS),
    ):
        x[:, col : col + counts.shape[1]] = linalg.shares(counts, t["n_baskets"])
        col += counts.shape[1]
    assert col == N_STATS
    dept, _ = groups.pivot_departments(spend, "segment", keys)
    fit_rows = np.flatnonzero(have)
    mean, comps = linalg.pca_fit(dept[fit_rows], dim - N_STATS)
    full = np.concatenate([x, linalg.project(dept, mean, comps)], axis=1)
    mu, sd = linalg.zscore_fit(full[fit_rows, 12:])
    full[:, 12:] = np.where(have[:, None], (full[:, 12:] - mu) / sd, 0.0)
    return full.astype(np.float32), {"segments_with_training_baskets": int(have.sum())}
