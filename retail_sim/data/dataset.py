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

from retail_sim.calendar import day_number, week_start
from retail_sim.config import Config, apply
from retail_sim.data.assemble import BufferPool, CacheArrays, Settings, build_batches
from retail_sim.data.batch import WorldModelBatch
from retail_sim.data.chunks import Chunks, WindowReader
from retail_sim.data.encoders import TemporalEncoder, UnitPriceTable
from retail_sim.data.ipc import pack
from retail_sim.data.rows import BasketRows, Layout, read_layout
from retail_sim.data.sharding import EpochPlan, plan_epoch, worker_batches
from retail_sim.errors import UserError
from retail_sim.prepared import SPLITS, Prepared


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
        origin_day=day_number(week_start(1, cal)),
        history_k=cfg.history.k,
    )


class WorldModelDataset(IterableDataset):
    """The samples of one split of a prepared folder, encoded against its tensor cache.

    An IterableDataset of whole WorldModelBatch batches: iterated directly it yields one epoch
    (epoch 0, the config's batch size, training masks); WorldModelDataLoader sets the epoch,
    batch size, rank and workers. Settings come from `config` (default: the prepared folder's
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
        self.arrays = CacheArrays(self.cache)
        st, cal = self.settings, self.prepared.config.calendar
        self.temporal_encoder = TemporalEncoder(  # dates from the week before the first to the week after the last
            st.first_week, st.last_week, st.weeks_per_year,
            day_number(week_start(st.first_week - 1, cal)), day_number(week_start(st.last_week + 2, cal)),
        )
        self.unit_table = UnitPriceTable()
        self.layout: Layout = read_layout(self.prepared.path, split)
        self.request = EpochRequest(batch_size=self.config.loader.batch_size)
        self.pack_in_workers = False  # WorldModelDataLoader sets it: workers yield pack(batch)

    @property
    def n_baskets(self) -> int:
        return self.layout.n_rows

    def plan(self, r: EpochRequest) -> EpochPlan:
        stream = self.layout.group_bucket if r.bucket_batching else np.zeros_like(self.layout.group_bucket)
        return plan_epoch(
            stream, self.layout.group_rows, seed=self.settings.seed, epoch=r.epoch, batch_size=r.batch_size,
            world_size=r.world_size, shuffle=r.shuffle, window=self.settings.shuffle_window, drop_last=r.drop_last,
        )

    def with_request(self, request: EpochRequest) -> WorldModelDataset:
        view = copy.copy(self)
        view.request = request
        return view

    def encode(self, rows: BasketRows, sizes: np.ndarray, *, epoch: int, masking: str | None, trip: str,
               pool: BufferPool | None = None) -> list[WorldModelBatch]:
        """Rows of consecutive batches (`sizes` [G] rows each) -> their G WorldModelBatch."""
        return build_batches(rows, sizes, self.arrays, self.settings, epoch=epoch, masking=masking, trip=trip,
                             temporal_encoder=self.temporal_encoder, unit_table=self.unit_table, pool=pool)

    def __iter__(self) -> Iterator[WorldModelBatch]:
        r = self.request
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 0)
        plan = self.plan(r)
        mine = worker_batches(plan.rank_batches(r.rank), r.start, worker, workers)
        masking = "train" if r.masking else None
        pool = BufferPool()

        def encode(rows: BasketRows, sizes: np.ndarray) -> list[WorldModelBatch]:
            return self.encode(rows, sizes, epoch=r.epoch, masking=masking, trip="dropout", pool=pool)

        batches = Chunks(plan.batch_stream[mine], plan.batch_number[mine], WindowReader(plan, self.layout), encode,
                         self.settings.max_seq_len)
        for i in range(mine.size):
            batch = batches.take(i)
            yield pack(batch) if info is not None and self.pack_in_workers else batch
