"""CompactBatch: what the loader hands to the training step — ids and per-position scalars only.

One flat byte buffer holds every field at an 8-byte aligned offset; the fields and their sizes are
a function of the batch's CompactMeta (a few ints), so moving a batch to a device, pinning it or
sending it between processes is one buffer. BatchEncoder (data/encoder.py) builds the
WorldModelBatch (T1–T6, masks, labels, history) from it with torch ops on the training device.

Bytes at B = 64: 49 per basket + 18 per item (20 when the vocabulary exceeds 32,767 ids) + 4 per
masked item (8 above 32,767 items) — 12 KiB for the real sample's mean basket of 6.5 items,
≤ 64 KiB for 64 baskets of 50 items each with up to 500 of their items masked.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import torch

ALIGN = 8
INT16_MAX = 32_767  # ids and item indices up to this fit int16


class CompactMeta(NamedTuple):
    """The shape of one compact batch (host-side ints: the encoder needs no device sync). A
    NamedTuple: built for every batch, 0.3 us against 1.1 us for a frozen dataclass."""

    B: int  # baskets
    S: int  # positions of the dense [B, S] tensors (>= the longest basket; the bucket's edge with fixed shapes)
    M: int  # masked slots per basket of [B, M] (>= the most masked items of a basket, >= 1)
    N: int  # items of all baskets (the flat lists)
    K: int  # masked items of all baskets
    X: int  # purchase-history events of the baskets' customers (the encoder's as-of lookup reads them)
    wide_ids: bool  # product ids as int32 (else int16: vocabularies of at most 32,767 ids)
    wide_items: bool  # masked item indices as int32 (else int16: at most 32,767 items)
    auxiliary: bool  # auxiliary labels present (auxiliary tasks on)
    hide_masked_prices: bool  # T4 zero at the masked items (masking.mask_price with masking on)


BASKET_INTS = ("customer_idx", "store_idx", "week", "shop_week", "shop_date", "shop_weekday", "shop_hour",
               "history_length", "seq_len")  # the rows of the `baskets` block
PRICES = ("unit_price", "base_price", "prior_price", "category_avg_price")  # the rows of the `prices` block


def _fields(m: CompactMeta) -> tuple[tuple[str, torch.dtype, tuple[int, ...]], ...]:
    """(name, dtype, shape) of every block of the buffer, in order."""
    ids = torch.int32 if m.wide_ids else torch.int16
    items = torch.int32 if m.wide_items else torch.int16
    return (
        ("basket_id", torch.int64, (m.B,)),
        ("baskets", torch.int32, (len(BASKET_INTS), m.B)),  # BASKET_INTS; shop_date in days since 1970-01-01,
        #                                                    seq_len = items of the basket (after max_seq_len)
        ("days_since_prev_basket", torch.float32, (m.B,)),  # NaN = NULL
        ("codes", torch.int8, (m.B, 4)),  # class ids of codes.AUXILIARY_CODES, -1 = unknown
        ("trip_hidden", torch.bool, (m.B,)),  # T6 zeroed and the auxiliary labels active
        ("product_ids", ids, (m.N,)),  # input ids after masking, basket after basket
        ("prices", torch.float32, (len(PRICES), m.N)),  # PRICES of each item, NaN = NULL
        ("masked_item", items, (m.K,)),  # flat item index of each masked item, ascending
        ("masked_target", ids, (m.K,)),  # its true product id
    )


_ITEMSIZE = {torch.int64: 8, torch.int32: 4, torch.float32: 4, torch.int16: 2, torch.int8: 1, torch.bool: 1}
_NUMPY = {torch.int64: np.int64, torch.int32: np.int32, torch.float32: np.float32, torch.int16: np.int16,
          torch.int8: np.int8, torch.bool: np.bool_}


def layout(m: CompactMeta) -> tuple[dict[str, tuple[int, torch.dtype, tuple[int, ...]]], int]:
    """(name -> (byte offset, dtype, shape), total bytes) of a batch's buffer."""
    out, at = {}, 0
    for name, dtype, shape in _fields(m):
        out[name] = (at, dtype, shape)
        at += -(-math.prod(shape) * _ITEMSIZE[dtype] // ALIGN) * ALIGN
    return out, at


def field_arrays(buffer, m: CompactMeta, fields: dict | None = None) -> dict:
    """name -> view of each block in `buffer` (a torch uint8 tensor or a numpy uint8 array);
    fields: layout(m)[0] when the caller has it already."""
    fields = layout(m)[0] if fields is None else fields
    out = {}
    for name, (at, dtype, shape) in fields.items():
        part = buffer[at:at + math.prod(shape) * _ITEMSIZE[dtype]]
        if isinstance(buffer, torch.Tensor):
            out[name] = part.view(dtype).view(shape)
        else:
            out[name] = part.view(_NUMPY[dtype]).reshape(shape)
    return out


class CompactBatch:
    """A batch as one uint8 buffer [nbytes] + its CompactMeta; fields are views (`batch.seq_len`)."""

    def __init__(self, data: torch.Tensor, meta: CompactMeta):
        self.data = data
        self.meta = meta
        self._views: dict[str, torch.Tensor] | None = None

    def __getattr__(self, name: str) -> torch.Tensor:
        """A block of the buffer, or one row of the `baskets` / `prices` blocks (`batch.seq_len`)."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self._views is None:
            self._views = field_arrays(self.data, self.meta)
        if name in self._views:
            return self._views[name]
        if name in BASKET_INTS:
            return self._views["baskets"][BASKET_INTS.index(name)]
        if name in PRICES:
            return self._views["prices"][PRICES.index(name)]
        raise AttributeError(name)

    @property
    def batch_size(self) -> int:
        return self.meta.B

    @property
    def nbytes(self) -> int:
        return int(self.data.numel())

    @property
    def device(self) -> torch.device:
        return self.data.device

    def to(self, device, non_blocking: bool = True) -> CompactBatch:
        """The batch on `device`: one copy of the buffer (asynchronous from pinned memory)."""
        return CompactBatch(self.data.to(device, non_blocking=non_blocking), self.meta)

    def pin_memory(self) -> CompactBatch:
        return CompactBatch(self.data.pin_memory(), self.meta)

    def __getstate__(self):
        return {"data": self.data, "meta": self.meta}

    def __setstate__(self, state):
        self.__init__(state["data"], state["meta"])


def message_table(batches: list[CompactBatch]) -> np.ndarray:
    """int64 [n, 11]: each batch's CompactMeta fields, in their order, and byte size."""
    return np.array([[*b.meta, b.data.numel()] for b in batches], dtype=np.int64)


MESSAGE_SLOTS = 4  # buffers a worker reuses: the DataLoader keeps up to prefetch_factor (2) requests a worker in flight
PARENT_CHECK_S = 2.0  # a worker waiting for a slot checks this often that the main process is alive
MESSAGE_BYTES = 2 << 20  # a message's bytes at most (unless one batch is larger): slots of <= 2.5 MiB


class MessageSlots:
    """Shared-memory buffers that DataLoader workers write their messages into and reuse.

    A new shared buffer for every message cost a worker 3.5–7 ms a 256-batch message (creating and
    mapping it, page faults filling it, handing over its file descriptor), against 0.5–0.9 ms for a
    reused one (docs/loader.md, stop 29). Worker w writes its j-th message into its slot j % slots,
    after taking the slot from its semaphore; the main process copies the message out (into pinned
    memory when asked) and gives the slot back. A slot's buffer crosses the process boundary (as a
    file descriptor) only when the worker creates or grows it.
    Create it in the main process with the DataLoader's multiprocessing context, before the workers
    start; each worker's copy holds its own buffers."""

    def __init__(self, workers: int, context, slots: int = MESSAGE_SLOTS):
        self.slots = slots
        self._parent = os.getpid()
        self.free = [context.Semaphore(slots) for _ in range(workers)]
        self._mine: list[torch.Tensor | None] = [None] * slots  # a worker's buffers
        self._sent = 0  # a worker's messages so far
        self._theirs: dict[tuple[int, int], torch.Tensor] = {}  # main: (worker, slot) -> its buffer

    def send(self, worker: int, batches: list[CompactBatch], extra: np.ndarray) -> tuple:
        """In worker `worker`: the message of `batches` — (worker, slot, the buffer when it is new, else
        None, [n, len(extra) + 11] int64 table: extra ‖ message_table). Waits while every slot of this
        worker holds a message the main process has not copied out."""
        table = message_table(batches)
        total = int(table[:, -1].sum())
        slot, self._sent = self._sent % self.slots, self._sent + 1
        while not self.free[worker].acquire(timeout=PARENT_CHECK_S):
            if os.getppid() != self._parent:  # the main process died without shutting the workers down
                raise SystemExit(f"loader worker {worker}: the main process {self._parent} is gone")
        buffer = self._mine[slot]
        new = buffer is None or buffer.numel() < total
        if new:  # a quarter more than this message, so that slightly larger ones fit
            buffer = self._mine[slot] = _shared(total + total // 4)
        torch.cat([b.data for b in batches], out=buffer[:total])
        return worker, slot, buffer if new else None, np.concatenate([extra, table], axis=1)

    def receive(self, message: tuple, pin: bool = False) -> tuple[torch.Tensor, np.ndarray]:
        """In the main process: (a private copy of the message's bytes, its table); the slot is free again."""
        worker, slot, buffer, table = message
        if buffer is not None:
            self._theirs[worker, slot] = buffer
        total = int(table[:, -1].sum())
        data = torch.empty(total, dtype=torch.uint8, pin_memory=pin)
        # numpy's copy, on this thread: torch's copy_ of a few MiB runs on its intra-op threads, whose
        # spinning took 0.04 ms a batch of CPU from the workers (2 workers, torch's default 2 threads)
        np.copyto(data.numpy(), self._theirs[worker, slot][:total].numpy())
        self.free[worker].release()
        return data, table

    def release_all(self) -> None:
        """In the main process, when it stops reading before the epoch's end: a worker waiting for a
        slot goes on, and so finds the DataLoader's request to stop instead of hanging until killed."""
        for free in self.free:
            for _ in range(self.slots):
                free.release()


def _shared(nbytes: int) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(nbytes))


def unpack(data: torch.Tensor, table: np.ndarray) -> list[CompactBatch]:
    """A message's batches from its bytes and message_table: views into `data` (pinned when it is),
    cut by one split call (the main process unpacks every batch its DataLoader workers send)."""
    rows = table.tolist()
    views = data.split([row[-1] for row in rows])
    return [CompactBatch(view, CompactMeta(B, S, M, N, K, X, bool(wi), bool(wt), bool(aux), bool(hide)))
            for view, (B, S, M, N, K, X, wi, wt, aux, hide, _) in zip(views, rows, strict=True)]


def merge(pieces: list[CompactBatch]) -> CompactBatch:
    """The batch whose baskets are those of `pieces`, one piece after the other: the bytes
    assemble.compact_batches gives for all their rows at once (every value is per basket; S, M are
    the pieces' largest, N, K, X their sums, masked item indices shifted by the items before)."""
    if len(pieces) == 1:
        return pieces[0]
    ms = [p.meta for p in pieces]
    n = sum(m.N for m in ms)
    meta = CompactMeta(B=sum(m.B for m in ms), S=max(m.S for m in ms), M=max(m.M for m in ms), N=n,
                       K=sum(m.K for m in ms), X=sum(m.X for m in ms), wide_ids=ms[0].wide_ids,
                       wide_items=n > INT16_MAX, auxiliary=ms[0].auxiliary, hide_masked_prices=ms[0].hide_masked_prices)
    out = torch.zeros(layout(meta)[1], dtype=torch.uint8)  # zeros: the alignment bytes are defined too
    f = field_arrays(out, meta)
    parts = [field_arrays(p.data, p.meta) for p in pieces]
    item0 = np.concatenate([[0], np.cumsum([m.N for m in ms])])
    for name, target in f.items():
        axis = 1 if name in ("baskets", "prices") else 0
        if name == "masked_item":
            values = [q[name].to(target.dtype) + int(item0[j]) for j, q in enumerate(parts)]
        else:
            values = [q[name] for q in parts]
        target.copy_(torch.cat(values, dim=axis))
    return CompactBatch(out, meta)
