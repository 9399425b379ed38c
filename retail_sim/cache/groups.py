"""Fixed code lists and pivots shared by the store and segment embeddings.

Code lists are constants (not read from the data) so widths and column meanings never depend on
which codes a prepared folder happens to hold.
"""

from __future__ import annotations

import numpy as np

from retail_sim.data.codes import (
    BASKET_SIZES,
    DOMINANT_MISSIONS,
    MISSION_TYPES,
    PRICE_SENSITIVITIES,
)

STORE_FORMATS = ("LS", "MS", "SS", "XLS")
STORE_REGIONS = tuple(f"{d}{i:02d}" for d in "ENSW" for i in (1, 2, 3))
LIFESTAGES = ("YA", "OA", "YF", "OF", "PE", "OT", "XX")
CUSTOMER_PRICE_SENSITIVITIES = ("LA", "MM", "UM", "XX")
WEEKDAYS = tuple(str(d) for d in range(1, 8))  # 1 = Sunday .. 7 = Saturday
HOURS = tuple(str(h) for h in range(24))
__all__ = ["BASKET_SIZES", "DOMINANT_MISSIONS", "MISSION_TYPES", "PRICE_SENSITIVITIES"]


def pivot_mix(
    mix: dict[str, np.ndarray], kind: str, keys: np.ndarray, attribute: str, values: tuple[str, ...]
) -> np.ndarray:
    """Basket counts [len(keys), len(values)] of `attribute` per group key, from the rows of
    03_group_basket_mix (group_kind == kind); values outside the list are dropped."""
    sel = (mix["group_kind"] == kind) & (mix["attribute"] == attribute)
    out = np.zeros((len(keys), len(values)))
    key_pos = {k: i for i, k in enumerate(keys)}
    val_pos = {v: j for j, v in enumerate(values)}
    for key, value, n in zip(mix["group_key"][sel], mix["value"][sel], mix["n_baskets"][sel], strict=True):
        i, j = key_pos.get(key), val_pos.get(value)
        if i is not None and j is not None:
            out[i, j] += n
    return out


def pivot_departments(
    spend: dict[str, np.ndarray], kind: str, keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spend shares [len(keys), D] over the PROD_CODE_20 departments present in the training weeks
    (sorted), from the rows of 05_group_department_spend; returns (shares, departments)."""
    sel = spend["group_kind"] == kind
    departments = np.unique(spend["prod_code_20"][spend["group_kind"] == "store"].astype(str))
    out = np.zeros((len(keys), len(departments)))
    key_pos = {k: i for i, k in enumerate(keys)}
    cols = np.searchsorted(departments, spend["prod_code_20"][sel].astype(str))
    for key, col, cents in zip(spend["group_key"][sel], cols, spend["spend_cents"][sel], strict=True):
        i = key_pos.get(key)
        if i is not None:
            out[i, col] += cents
    totals = out.sum(axis=1)
    return np.divide(out, totals[:, None], out=np.zeros_like(out), where=totals[:, None] > 0), departments
