"""Rows of several batches -> their CompactBatch: truncation, masks, trip-context dropout, layout.

Per-call numpy overhead dominates a batch of 64 baskets, so the loader builds a chunk of batches at
once: the masks and the trip-context draws are computed over the chunk's flat item lists, then each
batch's slices are copied into its buffer. Every value is a function of one basket, its position
and (seed, epoch), so a batch holds what it would hold if built alone (tests/test_data_loader.py).
The dense T1–T6 tensors are built from these on the training device (data/encoder.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from retail_sim.arrays import ragged_ranges
from retail_sim.data.compact import (
    BASKET_INTS,
    INT16_MAX,
    PRICES,
    CompactBatch,
    CompactMeta,
    field_arrays,
    layout,
)
from retail_sim.data.masking import mask_items, trip_hidden
from retail_sim.data.rows import BasketRows
from retail_sim.errors import UserError


@dataclass(frozen=True)
class Settings:
    """Everything a batch depends on besides its rows and the epoch."""

    seed: int
    max_seq_len: int
    mask_prob: float
    mask_token_frac: float
    random_token_frac: float
    mask_price: bool
    trip_context_dropout: float
    auxiliary: bool
    eval_trip_context: str
    cold_start_k: float
    first_week: int
    last_week: int
    weeks_per_year: int
    shuffle_window: int
    window_rows: int = 16_384
    window_items: int = 131_072
    origin_day: int = 13248  # calendar.origin_date as days since 1970-01-01 (2006-04-10)
    history_k: int = 128  # history products per basket
    mapped_cache_mb: int = 2048  # loader.mapped_cache_mb: the BatchEncoder's bound on mapped cache pages




def history_events(customer_events: np.ndarray | None, customer_idx: np.ndarray) -> np.ndarray:
    """[n] int64 events of each basket's customer in the purchase-history index (0 for anonymous and
    unknown customers): the size of the encoder's as-of lookup, known here so the device never waits."""
    c = np.asarray(customer_idx, dtype=np.int64)
    if customer_events is None:
        return np.zeros(c.size, dtype=np.int64)
    known = (c > 0) & (c <= customer_events.shape[0] - 2)
    c = np.where(known, c, 0)
    return np.where(known, customer_events[c + 1] - customer_events[c], 0)


def compact_batches(rows: BasketRows, sizes, s: Settings, *, epoch: int, masking: str | None, trip: str,
                    n_products_total: int, customer_events: np.ndarray | None = None,
                    shapes: np.ndarray | None = None) -> list[CompactBatch]:
    """Rows (batch after batch, `sizes` [G] rows each) -> G CompactBatch.

    masking: "train" (mask_prob, 80/10/10 drawn for (seed, epoch, basket)), "eval" (always MASK,
    drawn for (seed, basket)), or None (no masks). trip: "dropout" (per basket, hidden with
    trip_context_dropout), "hidden" (all hidden, labels active) or "visible" (labels ignored).
    With auxiliary tasks off T6 is always visible and there are no labels. customer_events: the
    history index's offsets (HistoryIndex.customer_events) when batches carry history.
    shapes: [G, 2] (S, M) to pad each batch to (fixed shapes), else each batch's own longest basket
    and most masked items.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    seq_len = np.minimum(np.diff(rows.offsets), s.max_seq_len)
    offsets = np.concatenate([[0], np.cumsum(seq_len)]).astype(np.int64)
    cut = bool((np.diff(rows.offsets) > seq_len).any())
    items = {k: v[ragged_ranges(rows.offsets[:-1], seq_len)] if cut else v for k, v in rows.items.items()}
    c = rows.scalars
    if masking is not None:
        input_ids, chosen = mask_items(
            items["product_idx"], offsets, c["basket_id"], seed=s.seed, epoch=epoch, mask_prob=s.mask_prob,
            mask_token_frac=s.mask_token_frac, random_token_frac=s.random_token_frac,
            n_products_total=n_products_total, evaluation=masking == "eval")
    else:
        input_ids, chosen = items["product_idx"], np.zeros(0, dtype=np.int64)
    if not s.auxiliary or trip == "visible":
        hidden = np.zeros(rows.n, dtype=bool)
    elif trip == "hidden":
        hidden = np.ones(rows.n, dtype=bool)
    else:
        hidden = trip_hidden(c["basket_id"], seed=s.seed, epoch=epoch, dropout=s.trip_context_dropout)
    events = history_events(customer_events, c["customer_idx"]) if s.history_k > 0 else np.zeros(rows.n, np.int64)

    row0 = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    item0 = offsets[row0]
    k0 = np.searchsorted(chosen, item0)
    chosen_row = np.searchsorted(offsets, chosen, side="right") - 1
    per_row = np.bincount(chosen_row, minlength=rows.n)
    nonempty = sizes > 0
    starts = row0[:-1][nonempty]
    longest = np.zeros(sizes.size, dtype=np.int64)
    most = np.zeros(sizes.size, dtype=np.int64)
    if starts.size:
        longest[nonempty] = np.maximum.reduceat(seq_len, starts)
        most[nonempty] = np.maximum.reduceat(per_row, starts)
    S = np.maximum(longest, 1)
    M = np.maximum(most, 1)
    if shapes is not None:
        shapes = np.asarray(shapes, dtype=np.int64).reshape(-1, 2)
        if (shapes[:, 0] < S).any() or (shapes[:, 1] < M).any():
            raise UserError("fixed batch shapes smaller than a batch's baskets — the bucket edges of the "
                            "prepared folder do not match its samples; re-run `make splits`")
        S, M = shapes[:, 0], shapes[:, 1]
    x = np.concatenate([[0], np.cumsum(events)])
    wide_ids = n_products_total > INT16_MAX
    aux = s.auxiliary
    hide = bool(s.mask_price and masking is not None)
    metas = [CompactMeta(B=int(sizes[b]), S=int(S[b]), M=int(M[b]), N=int(item0[b + 1] - item0[b]),
                         K=int(k0[b + 1] - k0[b]), X=int(x[row0[b + 1]] - x[row0[b]]), wide_ids=wide_ids,
                         wide_items=int(item0[b + 1] - item0[b]) > INT16_MAX, auxiliary=aux,
                         hide_masked_prices=hide) for b in range(sizes.size)]
    layouts = [layout(m) for m in metas]
    ends = np.cumsum([0, *(size for _, size in layouts)])
    buffer = np.zeros(int(ends[-1]), dtype=np.uint8)  # zeros: the alignment bytes are defined too
    out = []
    for b, m in enumerate(metas):
        r0, r1, i0, i1, c0, c1 = (int(v) for v in (row0[b], row0[b + 1], item0[b], item0[b + 1], k0[b], k0[b + 1]))
        raw = buffer[ends[b]:ends[b + 1]]
        f = field_arrays(raw, m, layouts[b][0])
        f["basket_id"][...] = c["basket_id"][r0:r1]
        for j, name in enumerate(BASKET_INTS):
            f["baskets"][j] = seq_len[r0:r1] if name == "seq_len" else c[name][r0:r1]
        f["days_since_prev_basket"][...] = c["days_since_prev_basket"][r0:r1]
        f["codes"][...] = rows.codes[r0:r1]
        f["trip_hidden"][...] = hidden[r0:r1]
        f["product_ids"][...] = input_ids[i0:i1]
        for j, name in enumerate(PRICES):
            f["prices"][j] = items[name][i0:i1]
        f["masked_item"][...] = chosen[c0:c1] - i0
        f["masked_target"][...] = items["product_idx"][chosen[c0:c1]]
        out.append(CompactBatch(torch.from_numpy(raw), m))
    return out
