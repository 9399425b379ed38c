"""Store embeddings [n_stores + 1, 96]: format, region and operating statistics over the training
weeks, z-scored over the stores that traded in the training weeks; row 0 = the mean store.

Columns (before z-scoring):
  0–3   store format one-hot (LS, MS, SS, XLS)           4–15  region one-hot (E01..W03)
  16    log1p(baskets per training week)                 17    log1p(distinct known customers)
  18    log1p(mean spend per basket)                     19    log1p(mean items (quantity) per basket)
  20    log1p(mean distinct products per basket)         21    anonymous share of baskets
  22    share of training weeks with a basket
  23–26 mission type shares (Top Up, Full Shop, Small Shop, XX)
  27–30 dominant mission shares (Fresh, Grocery, Mixed, Nonfood)
  31–33 basket size shares (S, M, L)                     34–36 basket price sensitivity (LA, MM, UM)
  37–51 hour profile, hours 8..22 (earlier hours count as 8, later as 22)
  52–58 weekday profile (1 = Sunday .. 7 = Saturday)
  59–65 customer lifestage mix of known-customer baskets (YA, OA, YF, OF, PE, OT, XX)
  66–69 customer price sensitivity mix of known-customer baskets (LA, MM, UM, XX)
  70–95 first 26 principal components of the spend shares over PROD_CODE_20 departments
"""

from __future__ import annotations

import numpy as np

from retail_sim.cache import groups, linalg

N_STATS = 70  # columns before the department components


def store_features(
    store_keys: np.ndarray, fmt: np.ndarray, region: np.ndarray, totals: dict, mix: dict, n_train_weeks: int
) -> np.ndarray:
    """Raw columns 0–69 for the stores `store_keys` (group keys = store_idx as text) -> [n, 70]."""
    n = len(store_keys)
    x = np.zeros((n, N_STATS))
    x[:, 0:4] = np.asarray(fmt)[:, None] == np.array(groups.STORE_FORMATS)[None]
    x[:, 4:16] = np.asarray(region)[:, None] == np.array(groups.STORE_REGIONS)[None]
    sel = totals["group_kind"] == "store"
    pos = {k: i for i, k in enumerate(totals["group_key"][sel])}
    idx = np.array([pos.get(k, -1) for k in store_keys])
    have = idx >= 0
    t = {name: np.where(have, totals[name][sel][np.maximum(idx, 0)], 0).astype(np.float64)
         for name in ("n_baskets", "n_weeks", "n_customers", "n_anonymous", "spend_cents", "n_items", "n_lines")}
    baskets = np.maximum(t["n_baskets"], 1)
    x[:, 16] = np.log1p(t["n_baskets"] / max(n_train_weeks, 1))
    x[:, 17] = np.log1p(t["n_customers"])
    x[:, 18] = np.log1p(t["spend_cents"] / 100.0 / baskets)
    x[:, 19] = np.log1p(t["n_items"] / baskets)
    x[:, 20] = np.log1p(t["n_lines"] / baskets)
    x[:, 21] = t["n_anonymous"] / baskets
    x[:, 22] = t["n_weeks"] / max(n_train_weeks, 1)
    col = 23
    hours = groups.pivot_mix(mix, "store", store_keys, "shop_hour", groups.HOURS)
    hours = np.concatenate([hours[:, :9].sum(1, keepdims=True), hours[:, 9:22], hours[:, 22:].sum(1, keepdims=True)], axis=1)
    known = t["n_baskets"] - t["n_anonymous"]
    blocks = [
        (groups.pivot_mix(mix, "store", store_keys, "mission_type", groups.MISSION_TYPES + ("XX",)), baskets),
        (groups.pivot_mix(mix, "store", store_keys, "dominant_mission", groups.DOMINANT_MISSIONS), baskets),
        (groups.pivot_mix(mix, "store", store_keys, "basket_size", groups.BASKET_SIZES), baskets),
        (groups.pivot_mix(mix, "store", store_keys, "basket_price_sensitivity", groups.PRICE_SENSITIVITIES), baskets),
        (hours, baskets),
        (groups.pivot_mix(mix, "store", store_keys, "shop_weekday", groups.WEEKDAYS), baskets),
        (groups.pivot_mix(mix, "store", store_keys, "customer_lifestage", groups.LIFESTAGES), known),
        (groups.pivot_mix(mix, "store", store_keys, "customer_price_sensitivity", groups.CUSTOMER_PRICE_SENSITIVITIES), known),
    ]
    for counts, denom in blocks:
        x[:, col : col + counts.shape[1]] = linalg.shares(counts, denom)
        col += counts.shape[1]
    assert col == N_STATS
    return x


def store_embeddings(
    store_codes: np.ndarray,
    store_idx: np.ndarray,
    fmt: np.ndarray,
    region: np.ndarray,
    totals: dict,
    mix: dict,
    spend: dict,
    n_train_weeks: int,
    dim: int = 96,
) -> tuple[np.ndarray, dict]:
    """[n_stores + 1, dim] float32 from the vocab stores (code, idx, format, region) and the
    training-week aggregates (04, 03, 05). Fitted (z-score, PCA) on the training stores only, taken
    in store-code order, so a store's row does not depend on stores first seen later."""
    keys = np.asarray(store_idx).astype(str)
    x = store_features(keys, fmt, region, totals, mix, n_train_weeks)
    sel = totals["group_kind"] == "store"
    trained = np.isin(keys, totals["group_key"][sel])
    fit_rows = np.flatnonzero(trained)[np.argsort(np.asarray(store_codes)[trained].astype(str), kind="stable")]
    dept, _ = groups.pivot_departments(spend, "store", keys)
    n_pc = dim - N_STATS
    mean, comps = linalg.pca_fit(dept[fit_rows], n_pc)
    pcs = linalg.project(dept, mean, comps)
    full = np.concatenate([x, pcs], axis=1)
    # stores without training baskets: statistics unknown -> the training mean (0 after z-scoring)
    col_mean = full[fit_rows].mean(axis=0) if len(fit_rows) else np.zeros(dim)
    full[~trained, 16:] = col_mean[16:]
    mu, sd = linalg.zscore_fit(full[fit_rows])
    z = (full - mu) / sd
    table = np.zeros((int(np.max(store_idx, initial=0)) + 1, dim))
    table[np.asarray(store_idx, dtype=np.int64)] = z
    table[0] = z[fit_rows].mean(axis=0) if len(fit_rows) else 0.0
    return table.astype(np.float32), {"stores_fitted": int(len(fit_rows)), "departments": int(dept.shape[1])}
