"""The purchase-history lookup of data/history.py as torch ops, for the training device.

Same rule (numpy version and its tests: data/history.py, tests/test_history.py): for a basket of
customer c at hour t, per product of c the event with event_ts < t <= event_next_ts; the top k by
cum_decay (float64), then cum_baskets, then product; five features. The events of the batch's
customers (X, known on the host: assemble.history_events) are laid out without reading anything
back; the index holds each customer's events in rank order (HistoryIndex), so no sort is needed:
a row's first k as-of events are its top k. Keeping them is the one step whose size depends on
the data (on CUDA one synchronisation per batch)."""

from __future__ import annotations

import math

import torch

from retail_sim.data.history import HOURS_PER_WEEK, INDEX_ARRAYS, N_FEATURES

# below this many events in the index, event numbers in history_topk are int32: half the memory
# traffic of int64 over the X events of a batch's customers (12.1M rows: X = 67K per batch of 64)
INT32_EVENTS = 2**31
INDEX_BUFFERS = INDEX_ARRAYS


def history_topk(t: dict[str, torch.Tensor], decay: float, short_decay: float, customer_idx: torch.Tensor,
                 shop_ts: torch.Tensor, history_length: torch.Tensor, k: int, n_events: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(history_ids [B, k] int64, PAD 0 after the last product; history_features [B, k, 5] float32,
    zeros at PAD) of baskets (customer_idx, shop_ts hours since the calendar origin,
    history_length [B]). t: the HistoryIndex arrays as tensors (INDEX_BUFFERS); n_events: the
    events of the baskets' customers (assemble.history_events summed)."""
    B = customer_idx.shape[0]
    dev = customer_idx.device
    if k == 0 or n_events == 0 or t["event_product"].shape[0] == 0:  # history off, no events of these customers
        return torch.zeros(B, k, dtype=torch.int64, device=dev), torch.zeros(B, k, N_FEATURES, device=dev)
    ce = t["customer_events"]
    c = customer_idx.long()
    known = (c > 0) & (c <= ce.shape[0] - 2)
    c = torch.where(known, c, 0)
    e0 = ce.index_select(0, c)
    per_row = torch.where(known, ce.index_select(0, c + 1) - e0, 0)
    start = torch.cumsum(per_row, 0) - per_row  # [B] the row's first event in [X]
    # the [X]-long work in 32-bit integers: event numbers (INT32_EVENTS), rows, ranks, and hours, which
    # are int32 in the index (event_ts) and for the baskets of the same calendar
    idx = torch.int32 if t["event_product"].shape[0] < INT32_EVENTS else torch.int64
    row = torch.repeat_interleave(torch.arange(B, dtype=torch.int32, device=dev), per_row, output_size=n_events)
    event = (e0 - start).to(idx).index_select(0, row) + torch.arange(n_events, dtype=idx, device=dev)
    ts = shop_ts.long()
    t_row = ts.to(torch.int32).index_select(0, row)
    ok = (t["event_ts"].index_select(0, event) < t_row) & (t["event_next_ts"].index_select(0, event) >= t_row)
    # the as-of events: per row, one per product, in index order = rank order (HistoryIndex), so a
    # row's top k are its first k: rank = as-of events of the row before this one
    before = torch.cumsum(ok, 0, dtype=torch.int32) - ok.int()
    rank = before - before.index_select(0, start.clamp(max=n_events - 1)).index_select(0, row)
    chosen = (ok & (rank < k)).nonzero().squeeze(1)
    event, row, rank = event.index_select(0, chosen), row.index_select(0, chosen).long(), rank.index_select(0, chosen).long()
    slot = row * k + rank
    ids = torch.zeros(B * k, dtype=torch.int64, device=dev)
    ids.index_put_((slot,), t["event_product"].index_select(0, event).long())
    feats = torch.zeros(B * k, N_FEATURES, dtype=torch.float32, device=dev)
    feats.index_put_((slot,), history_features(t, decay, short_decay, event, t["cum_decay"].index_select(0, event),
                                               ts.index_select(0, row), history_length.index_select(0, row)))
    return ids.view(B, k), feats.view(B, k, N_FEATURES)


def history_features(t: dict[str, torch.Tensor], decay: float, short_decay: float, event: torch.Tensor,
                     cum_decay: torch.Tensor, shop_ts: torch.Tensor, history_length: torch.Tensor) -> torch.Tensor:
    """[q, 5] float32 (data/history.py FEATURES) of as-of events [q] (their cum_decay [q, 2]) seen
    from baskets at hours shop_ts [q] with history_length [q] earlier baskets."""
    time = shop_ts.double()
    count = t["cum_baskets"].index_select(0, event).double()
    last = t["event_ts"].index_select(0, event).double()
    return torch.stack([
        torch.log1p(cum_decay[:, 0] * torch.exp(math.log(decay) * time / HOURS_PER_WEEK)),
        torch.log1p(cum_decay[:, 1] * torch.exp(math.log(short_decay) * time / HOURS_PER_WEEK)),
        torch.log1p(count),
        count / torch.maximum(history_length.double(), count),
        torch.log1p((time - last) / 24.0),
    ], dim=1).float()
