"""Small kernels shared across stages: lookups in sorted arrays, ragged index ranges, cuts by a budget."""

from __future__ import annotations

import numpy as np


def sorted_lookup(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where values [n] sit in the ascending array keys [k] (numbers or strings):
    (found [n] bool, position [n] int64 clipped into keys; meaningless where not found)."""
    values = np.asarray(values)
    pos = np.clip(np.searchsorted(keys, values), 0, max(len(keys) - 1, 0)).astype(np.int64)
    found = keys[pos] == values if len(keys) else np.zeros(len(values), dtype=bool)
    return found, pos


def ragged_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ranges [starts[i], starts[i] + lengths[i]) one after the other -> [sum(lengths)] int64
    (e.g. the flat item indices of some rows of a list column, from their offsets)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - lengths), lengths) + np.arange(total)


def budget_cuts(costs: list[int], budget: int) -> list[int]:
    """[k+1] offsets cutting consecutive items of `costs` into runs of total cost at most `budget`,
    greedily (an item above the budget alone)."""
    cuts, total = [0], 0
    for i, c in enumerate(costs):
        if total and total + c > budget:
            cuts.append(i)
            total = 0
        total += c
    return [*cuts, len(costs)]
