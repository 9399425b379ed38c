"""BatchEncoder: a CompactBatch -> its WorldModelBatch, with torch ops on the training device.

The tensor cache's tables (product, store and segment embeddings, positional encodings, the
customer state, the purchase-history index) and the calendar tables of T3 are buffers of the
module, so `encoder.to(device)` puts them on the device once; each step moves one small buffer
(the compact batch) and builds T1–T6, the masked lists, the labels and the history there:

    encoder = BatchEncoder.from_dataset(dataset).to(device)
    for compact in loader:
        batch = encoder(compact.to(device))          # WorldModelBatch on `device`

Shapes come from the batch's CompactMeta (host ints), so building a batch waits on the device only
in the purchase-history lookup (its as-of filter has a data-dependent size, history_torch.py). The values are those of the numpy reference encoders (tests/oracle_encoders.py, tests/oracles.py
oracle_batch) within 1e-6, tested on the real sample (tests/test_data_sample.py).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch
from torch import nn

from retail_sim.data.assemble import Settings
from retail_sim.data.batch import IGNORE_INDEX, PRICE_DIM, PRODUCT_DIM, WorldModelBatch
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.data.compact import CompactBatch
from retail_sim.data.features import (
    auxiliary_labels,
    calendar_tables,
    customer_context,
    price_features,
    store_context,
    temporal_context,
    trip_context,
)
from retail_sim.data.history_torch import INDEX_BUFFERS, history_topk
from retail_sim.errors import UserError
from retail_sim.vocab import UNK_IDX

CACHE_BUFFERS = ("product_embeddings", "positional_encodings", "store_embeddings", "segment_embeddings",
                 "segment_prior", "customer_segment", "customer_state", "customer_state_keys",
                 "customer_state_n_baskets")
TASKS = tuple(AUXILIARY_CODES)


def _tensor(array) -> torch.Tensor:
    """A read-only (memory-mapped) cache array as a tensor without copying it: pages are read when
    first used, and `.to(device)` copies it once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that the memory map is not writable
        return torch.from_numpy(np.asarray(array))


@functools.lru_cache(maxsize=4)
def _calendar_tables(weeks_per_year: int) -> dict[str, torch.Tensor]:
    """features.calendar_tables, built once per process (~0.5 s of CPU; never written to)."""
    return calendar_tables(weeks_per_year)


class BatchEncoder(nn.Module):
    """CompactBatch -> WorldModelBatch (see the module docstring). `cache`: a TensorCache (or an object
    with its arrays); `settings`: the dataset's batch settings (cold start, calendar, history k)."""

    def __init__(self, cache, settings: Settings):
        super().__init__()
        self.settings = settings
        for name in CACHE_BUFFERS:
            self.register_buffer(name, _tensor(getattr(cache, name)), persistent=False)
        history = cache.history
        for name in INDEX_BUFFERS:
            self.register_buffer(f"history_{name}", _tensor(getattr(history, name)), persistent=False)
        self.decay, self.short_decay = float(history.decay), float(history.short_decay)
        over = getattr(cache, "release_pages_over", None)  # a TensorCache's (stand-ins have none)
        limit = settings.mapped_cache_mb * 2**20
        self._release_pages = functools.partial(over, limit) if over is not None and limit > 0 else None
        for name, table in _calendar_tables(settings.weeks_per_year).items():
            self.register_buffer(name, table, persistent=False)

    @classmethod
    def from_dataset(cls, dataset) -> BatchEncoder:
        """The encoder of a WorldModelDataset's batches (its cache and settings)."""
        return cls(dataset.cache, dataset.settings)

    def _tables(self) -> dict[str, torch.Tensor]:
        return dict(self.named_buffers())

    def forward(self, c: CompactBatch) -> WorldModelBatch:
        if self._release_pages is not None:
            # a loop over many batches reads all over the cache: past loader.mapped_cache_mb of mapped file
            # pages, the cache's leave this process's RSS (TensorCache.release_pages_over)
            self._release_pages()
        m, s = c.meta, self.settings
        t = self._tables()
        dev = self.product_embeddings.device
        if m.S > self.positional_encodings.shape[0]:
            raise UserError(f"baskets padded to {m.S} items exceed the tensor cache's "
                            f"{self.positional_encodings.shape[0]} positions — rebuild the cache (`retail-sim cache --prepared DIR`) "
                            "or lower max_seq_len")
        B, S, M, N = m.B, m.S, m.M, m.N

        # the items: flat [N] -> slots row * S + position of the dense [B, S] tensors
        seq_len = c.seq_len.long()
        row = torch.repeat_interleave(torch.arange(B, device=dev), seq_len, output_size=N)
        first = torch.cumsum(seq_len, 0) - seq_len
        position = torch.arange(N, device=dev) - first.index_select(0, row)
        slot = row * S + position
        ids = c.product_ids.long()
        attention_mask = torch.zeros(B * S, dtype=torch.bool, device=dev).index_fill_(0, slot, True).view(B, S)
        product_ids = torch.zeros(B * S, dtype=torch.int64, device=dev).index_put_((slot,), ids).view(B, S)

        # T2: the embedding row of the input id + the position's encoding, zeros at PAD
        table = self.product_embeddings
        known = torch.where((ids >= 0) & (ids < table.shape[0]), ids, UNK_IDX)
        t2 = torch.zeros(B * S, PRODUCT_DIM, device=dev)  # rows copied whole (index_copy_), not element by element
        t2.index_copy_(0, slot, table.index_select(0, known).add_(self.positional_encodings.index_select(0, position)))

        # masked items: [B, M] ascending positions and true ids, -100 padding
        masked = c.masked_item.long()
        masked_row = row.index_select(0, masked)
        per_row = torch.zeros(B, dtype=torch.int64, device=dev).index_add_(0, masked_row, torch.ones_like(masked))
        rank = torch.arange(m.K, device=dev) - (torch.cumsum(per_row, 0) - per_row).index_select(0, masked_row)
        at = masked_row * M + rank
        masked_positions = torch.full((B * M,), IGNORE_INDEX, dtype=torch.int64, device=dev)
        masked_positions.index_put_((at,), position.index_select(0, masked))
        masked_targets = torch.full((B * M,), IGNORE_INDEX, dtype=torch.int64, device=dev)
        masked_targets.index_put_((at,), c.masked_target.long())

        # T4 of the items, zero at the masked ones (masking.mask_price) and at PAD
        items_t4 = price_features(c.prices)
        if m.hide_masked_prices:
            items_t4.index_fill_(0, masked, 0.0)
        t4 = torch.zeros(B * S, PRICE_DIM, device=dev).index_copy_(0, slot, items_t4)

        # per basket: T1, T3, T5, T6, labels, history
        hidden = c.trip_hidden
        temporal = temporal_context(c.shop_week, c.week, c.shop_date, c.shop_weekday, c.shop_hour,
                                    c.days_since_prev_basket, c.history_length, t,
                                    first_week=s.first_week, last_week=s.last_week)
        shop_ts = (c.shop_date.long() - s.origin_day) * 24 + c.shop_hour.long()
        history_ids, history_features = history_topk(
            {name: t[f"history_{name}"] for name in INDEX_BUFFERS}, self.decay, self.short_decay,
            c.customer_idx, shop_ts, c.history_length, s.history_k, m.X)
        return WorldModelBatch(
            customer_context=customer_context(c.customer_idx, c.week, t, s.cold_start_k),
            product_embeddings=t2.view(B, S, PRODUCT_DIM),
            temporal_context=temporal,
            price_features=t4.view(B, S, PRICE_DIM),
            store_context=store_context(c.store_idx, self.store_embeddings),
            trip_context=trip_context(c.codes, ~hidden),
            attention_mask=attention_mask,
            product_ids=product_ids,
            masked_positions=masked_positions.view(B, M),
            masked_targets=masked_targets.view(B, M),
            history_ids=history_ids,
            history_features=history_features,
            history_mask=history_ids != 0,
            auxiliary_labels=auxiliary_labels(c.codes, hidden, TASKS) if m.auxiliary else {},
            basket_id=c.basket_id.clone(),
            week=c.week.long(),
        )
