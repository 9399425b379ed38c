"""WorldModelDataset: the samples of one split of a prepared folder, encoded against its tensor cache.

Its settings come from one Config: the `config` given (a run's resolved config) or else the
prepared folder's own, plus the explicit arguments; the folder's facts (calendar, max_seq_len) always
come from the folder. The working directory's retail_sim.toml is never read here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from retail_sim.arrays import budget_cuts
from retail_sim.calendar import day_number, week_start
from retail_sim.config import Config, apply
from retail_sim.data import chunks
from retail_sim.data.assemble import Settings, compact_batches
from retail_sim.data.chunks import WindowReader
from retail_sim.data.compact import MESSAGE_BYTES, CompactBatch, MessageSlots
from retail_sim.data.rows import BasketRows, Layout, read_layout
from retail_sim.data.sharding import EpochPlan, plan_epoch, rank_pieces
from retail_sim.errors import UserError
from retail_sim.prepared import SPLITS, Prepared

# rows a DataLoader worker builds at a time and hands over in messages of at most compact.MESSAGE_BYTES
# (IPC_ROWS // batch_size pieces of batches), each written into one of its reused shared-memory slots
# (compact.MessageSlots).
# The main process pays per message (receiving, copying out, unpacking): 16,384 rows instead of 8,192
# took its CPU per batch from 0.025 to 0.017 ms (12.1M rows, 2 workers, B = 64, one buffer a message then).
IPC_ROWS = 16_384


@dataclass(frozen=True)
class EpochRequest:
    """What one pass of a WorldModelDataLoader asks of the dataset."""

    epoch: int = 0
    batch_size: int = 64
    shuffle: bool = True
    masking: bool = True
    bucket_batching: bool = True
    drop_last: bool = True
    rank: int = 0
    world_size: int = 1
    start: int = 0  # batches of this rank already consumed (resume)
    fixed_shapes: bool = False  # pad each batch to its bucket's edge (S) and that many masked slots (M)


def batch_settings(cfg: Config, folder: Config, max_seq_len: int | None = None) -> Settings:
    """What a batch depends on besides its rows and epoch: masking, trip context, cold start and seed
    from `cfg`; calendar and basket length from the prepared folder's config `folder` (max_seq_len
    may cut baskets shorter)."""
    m, cal = cfg.masking, folder.calendar
    return Settings(
        seed=cfg.seed,
        max_seq_len=int(folder.splits.max_seq_len if max_seq_len is None else max_seq_len),
        mask_prob=m.mask_prob,
        mask_token_frac=m.mask_token_frac,
        random_token_frac=m.random_token_frac,
        mask_price=m.mask_price,
        trip_context_dropout=m.trip_context_dropout,
        auxiliary=cfg.auxiliary.enabled,
        eval_trip_context=cfg.loader.eval_trip_context,
        cold_start_k=cfg.loader.cold_start_k,
        first_week=cal.first_week,
        last_week=cal.last_week,
        weeks_per_year=cal.weeks_per_year,
        shuffle_window=cfg.loader.shuffle_window,
        window_rows=cfg.loader.window_rows,
        window_items=cfg.loader.window_items,
        origin_day=day_number(week_start(1, cal)),
        history_k=cfg.history.k,
        mapped_cache_mb=cfg.loader.mapped_cache_mb,
    )


class WorldModelDataset(IterableDataset):
    """The samples of one split of a prepared folder, as compact batches for its tensor cache.

    An IterableDataset of whole CompactBatch batches: iterated directly it yields one epoch
    (epoch 0, the config's batch size, training masks); WorldModelDataLoader sets the epoch,
    batch size, rank and workers; BatchEncoder.from_dataset(dataset) turns a batch into its
    WorldModelBatch. Settings come from `config` (default: the prepared folder's
    config); the arguments given here override it. `cache`: a TensorCache (or an object with its
    contract-B attributes); default the folder's TensorCache, which must match its manifest.
    """

    def __init__(
        self,
        prepared: str | Path | Prepared,
        split: str = "train",
        max_seq_len: int | None = None,
        mask_prob: float | None = None,
        enable_auxiliary_tasks: bool | None = None,
        seed: int | None = None,
        config: Config | None = None,
        cache: Any = None,
        trip_context_dropout: float | None = None,
    ):
        if split not in SPLITS:
            raise UserError(f"split '{split}' unknown — use one of {', '.join(SPLITS)}")
        self.prepared = prepared if isinstance(prepared, Prepared) else Prepared(prepared)
        self.split = split
        overrides = {"seed": int, "masking.mask_prob": float, "auxiliary.enabled": bool,
                     "masking.trip_context_dropout": float}
        given = dict(zip(overrides, (seed, mask_prob, enable_auxiliary_tasks, trip_context_dropout), strict=True))
        self.config = apply(config if config is not None else self.prepared.config,
                            {k: overrides[k](v) for k, v in given.items() if v is not None}, source="WorldModelDataset")
        self.settings = batch_settings(self.config, self.prepared.config, max_seq_len)
        self.cache = self.prepared.open_cache(cache)
        self.n_products_total = int(self.cache.n_products_total)
        self.customer_events = np.asarray(self.cache.history.customer_events) if self.settings.history_k else None
        self.layout: Layout = read_layout(self.prepared.path, split)
        edges = list(self.prepared.config.splits.bucket_edges)
        self.bucket_edges = {k + 1: min(int(e), self.settings.max_seq_len) for k, e in enumerate(edges)}
        self.request = EpochRequest(batch_size=self.config.loader.batch_size)
        self.message_slots: MessageSlots | None = None  # WorldModelDataLoader sets it: workers send their pieces through it

    @property
    def n_baskets(self) -> int:
        return self.layout.n_rows

    def plan(self, r: EpochRequest) -> EpochPlan:
        stream = self.layout.group_bucket if r.bucket_batching else np.zeros_like(self.layout.group_bucket)
        return plan_epoch(
            stream, self.layout.group_rows, seed=self.settings.seed, epoch=r.epoch, batch_size=r.batch_size,
            world_size=r.world_size, shuffle=r.shuffle, window=self.settings.shuffle_window,
            window_rows=self.settings.window_rows, drop_last=r.drop_last,
            group_items=self.layout.group_items, window_items=self.settings.window_items,
        )

    def with_request(self, request: EpochRequest) -> WorldModelDataset:
        view = copy.copy(self)
        view.request = request
        return view

    def edge(self, stream: int) -> int:
        """The longest basket a stream (bucket number; 0 = all buckets) can hold: its fixed S."""
        return self.bucket_edges.get(stream, self.settings.max_seq_len)

    def row_cost(self, plan: EpochPlan) -> np.ndarray:
        """[streams] the relative CPU cost of reading and building one basket of each stream: 4 + the
        mean items of its bucket's range (measured on the real sample: ~2 us per basket + ~0.5 us per
        item), which balances the workers (sharding.RankPieces.unit_workers)."""
        edges = [0, *(self.edge(k) for k in range(1, len(self.bucket_edges) + 1))]
        mean = {k: (edges[k - 1] + 1 + edges[k]) / 2 for k in range(1, len(edges))}
        return np.array([4 + mean.get(st.stream, self.settings.max_seq_len / 2) for st in plan.streams])

    def compact(self, rows: BasketRows, sizes: np.ndarray, *, epoch: int, masking: str | None, trip: str,
                edges: np.ndarray | None = None) -> list[CompactBatch]:
        """Rows of consecutive batches (`sizes` [G] rows each) -> their G CompactBatch; edges [G]: pad
        batch g to S = M = edges[g] (fixed shapes)."""
        shapes = None if edges is None else np.stack([edges, edges], axis=1)
        return compact_batches(rows, sizes, self.settings, epoch=epoch, masking=masking, trip=trip,
                               n_products_total=self.n_products_total, customer_events=self.customer_events,
                               shapes=shapes)

    def __iter__(self) -> Iterator[CompactBatch | tuple]:
        """The request's batches in order; in a DataLoader worker with message_slots set, messages
        (MessageSlots.send: [p, 12] int64 piece number ‖ message_table) of the pieces of the windows this worker builds
        (sharding.RankPieces), built IPC_ROWS // batch_size pieces at a time and sent in messages of at most
        compact.MESSAGE_BYTES, which WorldModelDataLoader puts in
        order. In a worker without it, worker 0 yields every batch and the others none."""
        r = self.request
        info = get_worker_info()
        packed = info is not None and self.message_slots is not None
        plan = self.plan(r)
        pieces = rank_pieces(plan, r.rank, r.start)
        if info is not None and not packed and info.id > 0:
            return
        worker, workers = (info.id, info.num_workers) if packed else (0, 0)
        masking = "train" if r.masking else None
        edge = np.array([self.edge(st.stream) for st in plan.streams], dtype=np.int64)

        def build(rows: BasketRows, sizes: np.ndarray, streams: np.ndarray) -> list[CompactBatch]:
            return self.compact(rows, sizes, epoch=r.epoch, masking=masking, trip="dropout",
                                edges=edge[streams] if r.fixed_shapes else None)

        mine = pieces.worker_pieces(worker, workers, self.row_cost(plan))
        messages = chunks.piece_messages(pieces, mine, WindowReader(plan, self.layout),
                                         build, self.settings.max_seq_len, max(1, IPC_ROWS // r.batch_size) if packed else chunks.READ_BATCHES)
        if packed:
            for ids, batches in messages:
                cuts = budget_cuts([b.nbytes for b in batches], MESSAGE_BYTES)
                for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
                    yield self.message_slots.send(worker, batches[lo:hi], ids[lo:hi, None])
        else:
            yield from chunks.in_batch_order(messages, pieces)
