"""Encode several batches in one pass: rows of G batches -> G WorldModelBatch.

Per-call numpy overhead dominates a batch of 64 baskets, so the loader encodes a chunk of
batches at once. The chunk's [B, S, ...] tensors live in one flat "slot" layout: batch b owns the
slots [slot0[b], slot0[b+1]) = its B_b rows times its own S_b positions, so every batch tensor is
a contiguous view of a chunk array and holds exactly the values it would have if encoded alone
(every feature is a function of one basket, its position and (seed, epoch); S and M per batch).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import torch

from retail_sim.data.batch import IGNORE_INDEX, PRICE_DIM, PRODUCT_DIM, WorldModelBatch
from retail_sim.data.encoders import (
    TemporalEncoder,
    UnitPriceTable,
    auxiliary_labels,
    encode_customer,
    encode_store,
    encode_temporal,
    encode_trip,
    price_features,
)
from retail_sim.data.history import N_FEATURES, encode_history
from retail_sim.data.masking import mask_slots, trip_hidden
from retail_sim.data.rows import BasketRows
from retail_sim.errors import UserError
from retail_sim.vocab import UNK_IDX


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
    origin_day: int = 13248  # calendar.origin_date as days since 1970-01-01 (2006-04-10)
    history_k: int = 128  # history products per basket


def temporal_of(rows: BasketRows, s: Settings, encoder: TemporalEncoder | None = None) -> np.ndarray:
    """T3 [n, 64] of rows (see encoders.encode_temporal; the table-based encoder when given)."""
    c = rows.scalars
    args = (c["shop_week"], c["week"], c["shop_date"], c["shop_weekday"], c["shop_hour"],
            c["days_since_prev_basket"], c["history_length"])
    if encoder is not None:
        return encoder(*args)
    return encode_temporal(*args, first_week=s.first_week, last_week=s.last_week, weeks_per_year=s.weeks_per_year)


def history_of(rows: BasketRows, cache, s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(history_ids [n, K] int64, history_features [n, K, F] float32) of rows: the as-of lookup of
    data/history.py at each basket's hour (hours since calendar.origin_date)."""
    c = rows.scalars
    if s.history_k == 0:  # history off: [n, 0] fields, no lookup
        return np.zeros((rows.n, 0), np.int64), np.zeros((rows.n, 0, N_FEATURES), np.float32)
    shop_ts = (c["shop_date"].astype(np.int64) - s.origin_day) * 24 + c["shop_hour"]
    return encode_history(cache.history, c["customer_idx"], shop_ts, c["history_length"], s.history_k)


class CacheArrays:
    """The contract-B arrays as plain ndarray views (np.memmap's fancy indexing costs ~0.1 ms a
    call); get_customer_state_batch goes to the cache itself."""

    def __init__(self, cache):
        self.cache = cache
        for name in ("product_embeddings", "store_embeddings", "segment_embeddings", "positional_encodings",
                     "segment_prior", "customer_segment"):
            setattr(self, name, np.asarray(getattr(cache, name)))
        self.n_products_total = int(cache.n_products_total)
        self.history = cache.history  # data/history.HistoryIndex
        self.fingerprint = getattr(cache, "fingerprint", None)

    def get_customer_state_batch(self, customer_idx, week):
        return self.cache.get_customer_state_batch(customer_idx, week)


class BufferPool:
    """Chunk output buffers handed out again once nothing else refers to them (CPython reference
    count: a batch tensor holds its view, the view holds the buffer). A fresh multi-MiB array is
    paged in by the OS on every chunk (transparent huge pages: ~0.1 ms a batch); a reused one is not.
    Holds at most `keep` buffers."""

    def __init__(self, keep: int = 12):
        self.keep = keep
        self.buffers: list[np.ndarray] = []  # 1-D uint8

    def _idle(self, i: int) -> bool:
        return sys.getrefcount(self.buffers[i]) == 2  # the list and the call's argument

    def get(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        idle = [i for i in range(len(self.buffers)) if self._idle(i)]
        fits = [i for i in idle if self.buffers[i].nbytes >= nbytes]
        if fits:
            i = min(fits, key=lambda i: self.buffers[i].nbytes)
        else:
            if len(self.buffers) >= self.keep and idle:  # make room: drop the smallest idle buffer
                del self.buffers[min(idle, key=lambda i: self.buffers[i].nbytes)]
            self.buffers.append(np.empty(nbytes, dtype=np.uint8))
            i = len(self.buffers) - 1
        return self.buffers[i][:nbytes].view(dtype).reshape(shape)


@dataclass
class Slots:
    """The flat layout of a chunk of G batches (n rows in batch order, T slots)."""

    row0: np.ndarray  # [G+1] first row of each batch
    S: np.ndarray  # [G] positions of each batch (its longest basket, capped at max_seq_len, >= 1)
    row_slot: np.ndarray  # [n+1] first slot of each row (batch b's slots: row_slot[row0[b]] ..)
    row_of: np.ndarray  # [T] row of each slot
    position: np.ndarray  # [T] position of each slot within its row
    seq_len: np.ndarray  # [n] real items of each row (after truncation)
    real: np.ndarray  # [T] bool, slot holds an item
    item: np.ndarray | None  # [N] item index (into the rows' flat lists) of each real slot; None = all, in order


def slot_layout(offsets: np.ndarray, sizes: np.ndarray, max_seq_len: int) -> Slots:
    """Slots of rows with list offsets [n+1] cut into batches of `sizes` [G] (each >= 1)."""
    lens = np.diff(offsets)
    row0 = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    longest = np.maximum.reduceat(lens, row0[:-1]) if lens.size else np.zeros(sizes.size, np.int64)
    S = np.maximum(np.minimum(np.maximum(longest, 1), max_seq_len), 1).astype(np.int64)
    s_row = np.repeat(S, sizes)
    row_slot = np.concatenate([[0], np.cumsum(s_row)]).astype(np.int64)
    row_of = np.repeat(np.arange(lens.size, dtype=np.int64), s_row)
    position = np.arange(int(row_slot[-1]), dtype=np.int64) - row_slot[:-1][row_of]
    seq_len = np.minimum(lens, s_row)
    real = position < seq_len[row_of]
    item = None
    if (lens > s_row).any():
        slots = np.flatnonzero(real)
        item = offsets[:-1][row_of[slots]] + position[slots]
    return Slots(row0, S, row_slot, row_of, position, seq_len, real, item)


def masked_layout(chosen: np.ndarray, sl: Slots, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, targets [sum B_b*M_b] int64, row_m [n+1] first entry of each row, M [G]) of the
    chosen slots [K] (ascending): per basket its positions ascending, M_b = most in batch b (>= 1)."""
    n = sl.seq_len.size
    rows = sl.row_of[chosen]
    counts = np.bincount(rows, minlength=n)
    M = np.maximum(np.maximum.reduceat(counts, sl.row0[:-1]), 1) if n else np.ones(sl.S.size, np.int64)
    row_m = np.concatenate([[0], np.cumsum(np.repeat(M, np.diff(sl.row0)))]).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(counts)])[:-1]
    dest = row_m[:-1][rows] + np.arange(chosen.size) - first[rows]
    positions = np.full(int(row_m[-1]), IGNORE_INDEX, dtype=np.int64)
    targets = positions.copy()
    positions[dest] = sl.position[chosen]
    targets[dest] = pid[chosen]
    return positions, targets, row_m, M


@dataclass
class SlotFeatures:
    """The [T] slot arrays of a chunk (T2 before its positional add, T4, ids) and its masked lists."""

    input_ids: np.ndarray  # [T] int64, after masking (PAD 0)
    chosen: np.ndarray  # [K] int64 masked slots, ascending
    products: np.ndarray  # [T, 256] float32: embedding rows of the input ids (T2 without positions)
    price: np.ndarray  # [T, 64] float32 (T4), zero at PAD and (with mask_price) at masked slots
    positions: np.ndarray  # [sum B_b*M_b] int64 masked positions, IGNORE_INDEX padding
    targets: np.ndarray  # [sum B_b*M_b] int64 true ids of the masked positions
    row_m: np.ndarray  # [n+1] first masked entry of each row
    M: np.ndarray  # [G] masked entries per basket in each batch


@dataclass
class BasketFeatures:
    """The per-basket [n, ...] tensors of a chunk."""

    customer: np.ndarray  # [n, 192] T1
    temporal: np.ndarray  # [n, 64] T3
    store: np.ndarray  # [n, 96] T5
    trip: np.ndarray  # [n, 48] T6
    labels: dict[str, np.ndarray]  # auxiliary task -> [n] int64
    basket_id: np.ndarray  # [n] int64
    week: np.ndarray  # [n] int64
    history_ids: np.ndarray  # [n, K] int64
    history_features: np.ndarray  # [n, K, F] float32


def build_batches(rows: BasketRows, sizes, cache, s: Settings, *, epoch: int, masking: str | None, trip: str,
                  temporal_encoder: TemporalEncoder | None = None, unit_table: UnitPriceTable | None = None,
                  pool: BufferPool | None = None) -> list[WorldModelBatch]:
    """Encode rows (batch after batch, `sizes` [G] rows each) into G WorldModelBatch.

    masking: "train" (mask_prob, 80/10/10 drawn for (seed, epoch, basket)), "eval" (always MASK,
    drawn for (seed, basket)), or None (no masks). trip: "dropout" (per basket, hidden with
    trip_context_dropout), "hidden" (all hidden, labels active) or "visible" (labels ignored).
    With auxiliary tasks off T6 is always visible and auxiliary_labels is empty.
    pool: reusable buffers for the [B, S, ...] float tensors (the batches are views into them).

    Steps: the slot layout -> masks, T2 rows and T4 of the slots -> T1, T3, T5, T6 and labels of
    the baskets -> each batch as views into those arrays.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    sl = slot_layout(rows.offsets, sizes, s.max_seq_len)
    n_pos = cache.positional_encodings.shape[0]
    if int(sl.S.max()) > n_pos:
        raise UserError(
            f"baskets of {int(sl.S.max())} items exceed the tensor cache's {n_pos} positions — "
            "rebuild the cache (`make cache`) or lower max_seq_len"
        )
    slots = encode_slots(rows, sl, cache, s, epoch=epoch, masking=masking, unit_table=unit_table, pool=pool)
    baskets = encode_baskets(rows, cache, s, epoch=epoch, trip=trip, temporal_encoder=temporal_encoder)
    return batch_views(sl, slots, baskets, cache.positional_encodings)


def encode_slots(rows: BasketRows, sl: Slots, cache, s: Settings, *, epoch: int, masking: str | None,
                 unit_table: UnitPriceTable | None, pool: BufferPool | None) -> SlotFeatures:
    """Masks, the T2 embedding rows and T4 of every slot of the chunk."""
    items = rows.items if sl.item is None else {k: v[sl.item] for k, v in rows.items.items()}
    real_slots = np.flatnonzero(sl.real)
    T = sl.real.size
    pid = np.zeros(T, dtype=np.int64)
    pid[real_slots] = items["product_idx"]
    if masking is not None:
        input_ids, chosen = mask_slots(
            pid, sl.real, sl.row_of, sl.position, sl.row_slot, sl.seq_len, rows.scalars["basket_id"], seed=s.seed,
            epoch=epoch, mask_prob=s.mask_prob, mask_token_frac=s.mask_token_frac,
            random_token_frac=s.random_token_frac, n_products_total=int(cache.n_products_total),
            evaluation=masking == "eval",
        )
    else:
        input_ids, chosen = pid, np.zeros(0, dtype=np.int64)
    positions, targets, row_m, M = masked_layout(chosen, sl, pid)

    # T2: one gather of the embedding rows (the positions are added per batch)
    table = cache.product_embeddings
    ids = input_ids
    if T and (int(ids.min()) < 0 or int(ids.max()) >= table.shape[0]):
        ids = np.where((ids >= 0) & (ids < table.shape[0]), ids, UNK_IDX)
    if pool is not None and table.dtype == np.float32:
        products = np.take(table, ids, axis=0, out=pool.get((T, PRODUCT_DIM), np.float32), mode="clip")  # ids in range
    else:
        products = np.asarray(np.take(table, ids, axis=0), dtype=np.float32)
    # T4 on the real items only, written into their slots
    price = pool.get((T, PRICE_DIM), np.float32) if pool is not None else np.empty((T, PRICE_DIM), dtype=np.float32)
    price[~sl.real] = 0.0
    price_features(items["unit_price"], items["base_price"], items["prior_price"], items["category_avg_price"],
                   out=price, rows=real_slots, unit_table=unit_table)
    if s.mask_price and masking is not None:
        price[chosen] = 0.0
    return SlotFeatures(input_ids, chosen, products, price, positions, targets, row_m, M)


def encode_baskets(rows: BasketRows, cache, s: Settings, *, epoch: int, trip: str,
                   temporal_encoder: TemporalEncoder | None) -> BasketFeatures:
    """T1, T3, T5, T6 and the auxiliary labels of every basket of the chunk."""
    c = rows.scalars
    temporal = np.ascontiguousarray(temporal_of(rows, s, temporal_encoder), dtype=np.float32)
    n = rows.n
    if not s.auxiliary or trip == "visible":
        hidden = np.zeros(n, dtype=bool)
    elif trip == "hidden":
        hidden = np.ones(n, dtype=bool)
    else:
        hidden = trip_hidden(c["basket_id"], seed=s.seed, epoch=epoch, dropout=s.trip_context_dropout)
    labels = auxiliary_labels(rows.codes, hidden) if s.auxiliary else {}
    customer = encode_customer(cache, c["customer_idx"], c["week"], s.cold_start_k)
    store = encode_store(cache, c["store_idx"])
    trip_context = encode_trip(rows.codes, ~hidden)
    history_ids, history_features = history_of(rows, cache, s)
    return BasketFeatures(customer, temporal, store, trip_context, labels, c["basket_id"].astype(np.int64),
                          c["week"].astype(np.int64), history_ids, history_features)


def batch_views(sl: Slots, slots: SlotFeatures, baskets: BasketFeatures, pos_table: np.ndarray) -> list[WorldModelBatch]:
    """Each batch of the chunk as tensor views into the chunk's arrays (T2 gets its positions here)."""
    t = torch.from_numpy
    out = []
    for b in range(sl.S.size):
        r0, r1 = int(sl.row0[b]), int(sl.row0[b + 1])
        t0, t1 = int(sl.row_slot[r0]), int(sl.row_slot[r1])
        m0, m1 = int(slots.row_m[r0]), int(slots.row_m[r1])
        B, S, Mb = r1 - r0, int(sl.S[b]), int(slots.M[b])
        emb = slots.products[t0:t1].reshape(B, S, PRODUCT_DIM)
        emb += pos_table[:S]
        out.append(WorldModelBatch(
            customer_context=t(baskets.customer[r0:r1]),
            product_embeddings=t(emb),
            temporal_context=t(baskets.temporal[r0:r1]),
            price_features=t(slots.price[t0:t1].reshape(B, S, PRICE_DIM)),
            store_context=t(baskets.store[r0:r1]),
            trip_context=t(baskets.trip[r0:r1]),
            attention_mask=t(sl.real[t0:t1].reshape(B, S)),
            product_ids=t(slots.input_ids[t0:t1].reshape(B, S)),
            masked_positions=t(slots.positions[m0:m1].reshape(B, Mb)),
            masked_targets=t(slots.targets[m0:m1].reshape(B, Mb)),
            history_ids=t(baskets.history_ids[r0:r1]),
            history_features=t(baskets.history_features[r0:r1]),
            history_mask=t(baskets.history_ids[r0:r1] != 0),
            auxiliary_labels={k: t(v[r0:r1]) for k, v in baskets.labels.items()},
            basket_id=t(baskets.basket_id[r0:r1]),
            week=t(baskets.week[r0:r1]),
        ))
    slots.products[~sl.real] = 0.0  # PAD rows zero after the positional add
    return out
