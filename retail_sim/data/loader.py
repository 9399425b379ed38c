"""WorldModelDataset, WorldModelDataLoader, EvaluationDataLoader (contract C).

Training: the epoch plan (sharding.py) says which rows form each batch; a reader streams each
bucket's shuffle windows front to back (one window per bucket held at a time) and assemble.py
encodes the rows of a chunk of batches into WorldModelBatch views. Evaluation: the split is read
week by week, grouped by date, hour or week, with masks that depend on the basket id only.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from retail_sim.calendar import day_number, week_start
from retail_sim.config import CalendarConfig, Config, load_config
from retail_sim.data.assemble import (
    BufferPool,
    CacheArrays,
    Settings,
    build_batches,
    temporal_of,
)
from retail_sim.data.batch import WorldModelBatch
from retail_sim.data.encoders import TemporalEncoder, UnitPriceTable
from retail_sim.data.masking import EVAL_EPOCH
from retail_sim.data.rows import BasketRows, GroupReader, Layout, group_week_range, read_layout
from retail_sim.data.sharding import (
    EpochPlan,
    batches_windows,
    plan_epoch,
    window_permutation,
    worker_batches,
)
from retail_sim.errors import UserError
from retail_sim.manifest import read_manifest

__all__ = ["CacheArrays", "EvaluationDataLoader", "Settings", "WorldModelDataLoader", "WorldModelDataset",
           "temporal_of"]

SPLITS = ("train", "validation", "test")


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


class WorldModelDataset(IterableDataset):
    """The samples of one split of a prepared folder, encoded against its tensor cache.

    An IterableDataset of whole WorldModelBatch batches: iterated directly it yields one epoch
    (epoch 0, the config's batch size, training masks); WorldModelDataLoader sets the epoch,
    batch size, rank and workers. Settings default to `config` (or ./retail_sim.toml); the
    arguments given here override them. `cache`: a TensorCache (or an object with its contract-B
    attributes); default TensorCache(prepared), which must match the prepared manifest.
    """

    def __init__(
        self,
        prepared: str | Path,
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
        self.prepared = Path(prepared)
        self.split = split
        self.manifest = read_manifest(self.prepared)
        cfg = config if config is not None else load_config()
        self.config = cfg
        prepared_cfg = self.manifest.get("config") or {}
        calendar = {**dataclasses.asdict(cfg.calendar), **prepared_cfg.get("calendar", {})}
        prepared_len = prepared_cfg.get("splits", {}).get("max_seq_len", cfg.splits.max_seq_len)
        m = cfg.masking
        self.settings = Settings(
            seed=cfg.seed if seed is None else int(seed),
            max_seq_len=int(prepared_len if max_seq_len is None else max_seq_len),
            mask_prob=m.mask_prob if mask_prob is None else float(mask_prob),
            mask_token_frac=m.mask_token_frac,
            random_token_frac=m.random_token_frac,
            mask_price=m.mask_price,
            trip_context_dropout=m.trip_context_dropout if trip_context_dropout is None else float(trip_context_dropout),
            auxiliary=cfg.auxiliary.enabled if enable_auxiliary_tasks is None else bool(enable_auxiliary_tasks),
            eval_trip_context=cfg.loader.eval_trip_context,
            cold_start_k=cfg.loader.cold_start_k,
            first_week=int(calendar["first_week"]),
            last_week=int(calendar["last_week"]),
            weeks_per_year=int(calendar["weeks_per_year"]),
            shuffle_window=cfg.loader.shuffle_window,
        )
        if self.settings.eval_trip_context not in ("hidden", "dropout", "visible"):
            raise UserError(
                f"loader.eval_trip_context = {self.settings.eval_trip_context!r}: use hidden, dropout or visible"
            )
        if not 0 < self.settings.mask_prob <= 1:
            raise UserError(f"mask_prob = {self.settings.mask_prob}: must be in (0, 1]")
        if cache is None:
            from retail_sim.cache.tensor_cache import TensorCache

            cache = TensorCache(self.prepared, expected_fingerprint=self.manifest.get("fingerprint"))
        self.cache = cache
        self.arrays = CacheArrays(cache)
        st = self.settings
        cal = CalendarConfig(**calendar)
        self.temporal_encoder = TemporalEncoder(  # dates from the week before the first to the week after the last
            st.first_week, st.last_week, st.weeks_per_year,
            day_number(week_start(st.first_week - 1, cal)), day_number(week_start(st.last_week + 2, cal)),
        )
        self.unit_table = UnitPriceTable()
        self.layout: Layout = read_layout(self.prepared, split)
        self.request = EpochRequest(batch_size=cfg.loader.batch_size)
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

    def __iter__(self) -> Iterator[WorldModelBatch]:
        r = self.request
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 0)
        plan = self.plan(r)
        mine = worker_batches(plan.rank_batches(r.rank), r.start, worker, workers)
        reader = _WindowReader(plan, self.layout, self.settings)
        masking = "train" if r.masking else None
        pool = BufferPool()

        def encode(rows: BasketRows, sizes: np.ndarray) -> list[WorldModelBatch]:
            return build_batches(rows, sizes, self.arrays, self.settings, epoch=r.epoch, masking=masking,
                                 trip="dropout", temporal_encoder=self.temporal_encoder, unit_table=self.unit_table,
                                 pool=pool)

        chunks = _Chunks(plan.batch_stream[mine], plan.batch_number[mine], reader, encode, self.settings.max_seq_len)
        for i in range(mine.size):
            batch = chunks.take(i)
            yield pack(batch) if info is not None and self.pack_in_workers else batch


READ_BATCHES = 32  # batches of one stream read from the shuffle windows at once
CHUNK_SLOTS = 4096  # [B, S] slots encoded in one build_batches call (T2 + T4: 5 MiB)


def chunk_cuts(sizes: np.ndarray, lens: np.ndarray, max_seq_len: int, budget: int) -> np.ndarray:
    """[k+1] batch offsets cutting consecutive batches (sizes [G], their rows' lengths lens [n]) into
    encode calls of at most `budget` slots each (a batch above the budget alone)."""
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    longest = np.maximum.reduceat(lens, row0[:-1]) if lens.size else np.zeros(sizes.size, np.int64)
    cost = sizes * np.clip(longest, 1, max(max_seq_len, 1))
    cuts, total = [0], 0
    for b, c in enumerate(cost.tolist()):
        if total and total + c > budget:
            cuts.append(b)
            total = 0
        total += c
    return np.array([*cuts, sizes.size], dtype=np.int64)


class _Chunks:
    """Batches i = 0, 1, ... of one worker, encoded a chunk at a time: the next READ_BATCHES batches
    of a stream are read together and encoded in calls of up to CHUNK_SLOTS slots when the first
    of them is due. A batch's values do not depend on its chunk."""

    def __init__(self, streams: np.ndarray, numbers: np.ndarray, reader: _WindowReader, encode, max_seq_len: int):
        self.streams, self.numbers, self.reader, self.encode = streams, numbers, reader, encode
        self.max_seq_len = max_seq_len
        self.queue = {int(s): np.flatnonzero(streams == s) for s in np.unique(streams)}
        self.cursor = dict.fromkeys(self.queue, 0)
        self.calls: dict[int, tuple[BasketRows, np.ndarray, np.ndarray]] = {}  # first batch -> rows, sizes, batches
        self.call_of: dict[int, int] = {}
        self.ready: dict[int, WorldModelBatch] = {}

    def _read(self, s: int) -> None:
        q, c = self.queue[s], self.cursor[s]
        members = q[c:c + READ_BATCHES]
        back = np.flatnonzero(np.diff(self.numbers[members]) < 0)  # padded rounds repeat early batches
        members = members[:back[0] + 1] if back.size else members
        self.cursor[s] = c + members.size
        rows, sizes = self.reader.rows_many(s, self.numbers[members])
        cuts = chunk_cuts(sizes, np.diff(rows.offsets), self.max_seq_len, CHUNK_SLOTS)
        row0 = np.concatenate([[0], np.cumsum(sizes)])
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            first = int(members[a])
            self.calls[first] = (rows.slice(int(row0[a]), int(row0[b])), sizes[a:b], members[a:b])
            self.call_of.update(dict.fromkeys(members[a:b].tolist(), first))

    def take(self, i: int) -> WorldModelBatch:
        if i not in self.ready:
            if i not in self.call_of:
                self._read(int(self.streams[i]))
            rows, sizes, members = self.calls.pop(self.call_of[i])
            self.ready.update(zip(members.tolist(), self.encode(rows, sizes), strict=True))
        self.call_of.pop(i, None)
        return self.ready.pop(i)


class _WindowReader:
    """Holds, per stream, the shuffle windows the current batches need (rows in file order and
    the window's permutation); windows behind the current batches are released."""

    def __init__(self, plan: EpochPlan, layout: Layout, settings: Settings):
        self.plan, self.settings = plan, settings
        self.groups = GroupReader(layout)
        self.windows: dict[tuple[int, int], tuple[list[BasketRows], np.ndarray, np.ndarray]] = {}

    def _window(self, s: int, w: int) -> tuple[list[BasketRows], np.ndarray, np.ndarray]:
        """(its row groups' rows, [parts + 1] first window row of each, the window's permutation); the
        parts are not concatenated, which would hold the window twice while it is read."""
        key = (s, w)
        if key not in self.windows:
            st = self.plan.streams[s]
            parts = [self.groups.read(int(g)) for g in st.groups[st.window_groups[w]:st.window_groups[w + 1]]]
            starts = np.concatenate([[0], np.cumsum([p.n for p in parts])]).astype(np.int64)
            self.windows[key] = (parts, starts, window_permutation(self.plan, s, w))
        return self.windows[key]

    def rows_many(self, s: int, ks: np.ndarray) -> tuple[BasketRows, np.ndarray]:
        """Rows of batches ks (ascending batch numbers of stream s), batch after batch, and their sizes.
        A window is released once no later batch needs it, before the next one is read."""
        window, pos, sizes = batches_windows(self.plan, s, ks)
        last = int(window[-1])
        for key in [key for key in self.windows if key[0] == s and key[1] < int(window[0])]:
            del self.windows[key]
        taken, order = [], []
        for w in np.unique(window).tolist():  # ascending batch numbers: windows in order
            parts, starts, perm = self._window(s, w)
            at = np.flatnonzero(window == w)
            row = perm[pos[at]]
            part = np.searchsorted(starts, row, side="right") - 1
            for j in np.unique(part).tolist():
                sel = part == j
                taken.append(parts[j].take(row[sel] - starts[j]))
                order.append(at[sel])
            if w < last:  # later batches of this stream start in `last` or after: one window held at a time
                del self.windows[(s, w)]
        rows = BasketRows.concat(taken)
        if len(taken) > 1:  # back to batch order
            rows = rows.take(np.argsort(np.concatenate(order), kind="stable"))
        return rows, sizes


_FLOATS = ("customer_context", "product_embeddings", "temporal_context", "price_features", "store_context", "trip_context")
_INTS = ("product_ids", "masked_positions", "masked_targets", "basket_id", "week")


def pack(batch: WorldModelBatch) -> tuple:
    """A batch as 3 tensors + shapes: worker processes hand over 3 shared-memory tensors instead of ~17."""
    aux = tuple(batch.auxiliary_labels)
    ints = [getattr(batch, f) for f in _INTS] + [batch.auxiliary_labels[k] for k in aux]
    floats = [getattr(batch, f) for f in _FLOATS]
    spec = (tuple(tuple(t.shape) for t in floats), tuple(tuple(t.shape) for t in ints), aux)
    return (torch.cat([t.reshape(-1) for t in floats]), torch.cat([t.reshape(-1) for t in ints]),
            batch.attention_mask, spec)


def unpack(packed: tuple) -> WorldModelBatch:
    """Inverse of pack: views into the packed tensors."""
    floats, ints, attention_mask, (float_shapes, int_shapes, aux) = packed
    out: dict[str, Any] = {"attention_mask": attention_mask}
    for buf, names, shapes in ((floats, _FLOATS, float_shapes), (ints, _INTS + aux, int_shapes)):
        at = 0
        for name, shape in zip(names, shapes, strict=True):
            n = int(np.prod(shape))
            out[name] = buf[at:at + n].view(shape)
            at += n
    out["auxiliary_labels"] = {k: out.pop(k) for k in aux}
    return WorldModelBatch(**out)


def _identity(x):
    return x


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class WorldModelDataLoader:
    """Training/validation batches of a WorldModelDataset for this rank (contract C).

    len() = batches per epoch on this rank (the same on every rank). set_epoch(e) before each
    epoch; state_dict()/load_state_dict() resume mid-epoch with exactly the remaining batches.
    drop_last (default: config loader.drop_last) drops each bucket's partial batch and the
    batches beyond a multiple of the world size; without it the last round is padded with
    repeated batches so that every rank steps the same number of times.
    """

    def __init__(
        self,
        dataset: WorldModelDataset,
        batch_size: int = 64,
        shuffle: bool = True,
        apply_masking: bool = True,
        bucket_batching: bool = True,
        num_workers: int | None = None,
        pin_memory: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool | None = None,
    ):
        d_rank, d_world = _distributed()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.apply_masking = apply_masking
        self.bucket_batching = bucket_batching
        self.num_workers = dataset.config.loader.num_workers if num_workers is None else int(num_workers)
        self.pin_memory = pin_memory
        self.rank = d_rank if rank is None else int(rank)
        self.world_size = d_world if world_size is None else int(world_size)
        self.drop_last = dataset.config.loader.drop_last if drop_last is None else bool(drop_last)
        if not 0 <= self.rank < self.world_size:
            raise UserError(f"rank {self.rank} is outside world size {self.world_size}")
        if self.batch_size < 1:
            raise UserError(f"batch_size = {self.batch_size}: must be >= 1")
        self.epoch = 0
        self._start = 0  # where the next iteration starts (resume)
        self._position = 0  # batches of this epoch consumed on this rank
        self._plans: dict[int, EpochPlan] = {}

    def request(self, start: int = 0) -> EpochRequest:
        return EpochRequest(
            epoch=self.epoch, batch_size=self.batch_size, shuffle=self.shuffle, masking=self.apply_masking,
            bucket_batching=self.bucket_batching, drop_last=self.drop_last, rank=self.rank,
            world_size=self.world_size, start=start,
        )

    def plan(self) -> EpochPlan:
        """This epoch's plan (counts: n_rows_dropped, n_batches_dropped, n_batches_padded)."""
        if self.epoch not in self._plans:
            self._plans = {self.epoch: self.dataset.plan(self.request())}
        return self._plans[self.epoch]

    def __len__(self) -> int:
        return self.plan().batches_per_rank

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._start = self._position = 0

    def __iter__(self) -> Iterator[WorldModelBatch]:
        start = self._start
        self._position = start
        view = self.dataset.with_request(self.request(start))
        if self.num_workers > 0:
            view.pack_in_workers = True
            it = map(unpack, torch.utils.data.DataLoader(
                view, batch_size=None, num_workers=self.num_workers, pin_memory=self.pin_memory,
                collate_fn=_identity,
            ))
        else:
            pin = self.pin_memory and torch.cuda.is_available()
            it = (b.pin_memory() if pin else b for b in view)
        for batch in it:
            self._position += 1
            yield batch
        self._start = 0  # a completed epoch iterates in full next time

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "position": self._position, "batches_per_rank": len(self),
            "seed": self.dataset.settings.seed, "batch_size": self.batch_size, "world_size": self.world_size,
            "rank": self.rank, "shuffle": self.shuffle, "bucket_batching": self.bucket_batching,
            "drop_last": self.drop_last, "n_baskets": self.dataset.n_baskets,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "batch_size", "world_size", "shuffle", "bucket_batching", "drop_last", "n_baskets"):
            mine = self.dataset.settings.seed if key == "seed" else (
                self.dataset.n_baskets if key == "n_baskets" else getattr(self, key))
            if key in state and state[key] != mine:
                raise UserError(
                    f"loader state: {key} = {state[key]} in the checkpoint but {mine} now — resume with the same "
                    "data, seed, batch size and world size, or start a new run"
                )
        self.epoch = int(state["epoch"])
        self._start = self._position = int(state["position"])


GROUP_BY = ("date", "hour", "week")


class EvaluationDataLoader:
    """Every basket of the split exactly once, as (key, WorldModelBatch), week by week.

    key: week -> int week; date -> 'YYYY-MM-DD'; hour -> 'YYYY-MM-DD HH:00' (date and hour of day).
    Batches never mix keys; within a key baskets are ordered by (seq_len, basket_id) to limit
    padding. Masks: always the MASK token, chosen from (seed, basket id) only. Trip context:
    config loader.eval_trip_context ("hidden": T6 zero and all labels active, the default;
    "dropout": the training rule at a fixed epoch; "visible": labels ignored).
    Memory: one week of the split (plus the row groups that straddle it).
    """

    def __init__(self, dataset: WorldModelDataset, batch_size: int = 64, group_by: str = "date"):
        if group_by not in GROUP_BY:
            raise UserError(f"group_by '{group_by}' unknown — use one of {', '.join(GROUP_BY)}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.group_by = group_by
        self._len: int | None = None

    def _week_rows(self) -> Iterator[BasketRows]:
        layout = self.dataset.layout
        nonempty = np.flatnonzero(layout.group_rows > 0)
        G = nonempty.size
        ranges = np.array([group_week_range(layout, g) for g in nonempty], dtype=np.int64).reshape(G, 2)
        order = nonempty[np.argsort(ranges[:, 0], kind="stable")]
        ranges = ranges[np.argsort(ranges[:, 0], kind="stable")]
        reader = GroupReader(layout)
        pending: BasketRows | None = None
        i = 0
        while i < G or pending is not None:
            candidates = []
            if pending is not None:
                candidates.append(int(pending.scalars["week"].min()))
            if i < G:
                candidates.append(int(ranges[i, 0]))
            week = min(candidates)
            parts = [pending] if pending is not None else []
            while i < G and ranges[i, 0] <= week:
                parts.append(reader.read(int(order[i])))
                i += 1
            rows = BasketRows.concat(parts)
            now = rows.scalars["week"] == week
            pending = rows.take(np.nonzero(~now)[0]) if (~now).any() else None
            if now.any():
                yield rows.take(np.nonzero(now)[0])

    def _keys(self, rows: BasketRows) -> np.ndarray:
        c = rows.scalars
        if self.group_by == "week":
            return c["week"].astype(np.int64)
        if self.group_by == "date":
            return c["shop_date"].astype(np.int64)
        return c["shop_date"].astype(np.int64) * 24 + c["shop_hour"]

    def _key_value(self, code: int):
        if self.group_by == "week":
            return int(code)
        if self.group_by == "date":
            return str(np.datetime64(int(code), "D"))
        return f"{np.datetime64(int(code) // 24, 'D')} {int(code) % 24:02d}:00"

    def _batches(self, rows: BasketRows) -> Iterator[tuple[Any, np.ndarray]]:
        keys = self._keys(rows)
        order = np.lexsort((rows.scalars["basket_id"], np.diff(rows.offsets), keys))
        sorted_keys = keys[order]
        cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
        for run in np.split(order, cuts):
            for j in range(0, run.size, self.batch_size):
                yield self._key_value(int(keys[run[0]])), run[j:j + self.batch_size]

    def _encode(self, rows: BasketRows, batches: list[tuple[Any, np.ndarray]],
                pool: BufferPool) -> Iterator[tuple[Any, WorldModelBatch]]:
        """Encode batches (key, row indices) of one week's rows in calls of up to CHUNK_SLOTS slots."""
        if not batches:
            return
        s, ds = self.dataset.settings, self.dataset
        chunk = rows.take(np.concatenate([idx for _, idx in batches]))
        sizes = np.array([idx.size for _, idx in batches], dtype=np.int64)
        row0 = np.concatenate([[0], np.cumsum(sizes)])
        cuts = chunk_cuts(sizes, np.diff(chunk.offsets), s.max_seq_len, CHUNK_SLOTS)
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            encoded = build_batches(chunk.slice(int(row0[a]), int(row0[b])), sizes[a:b], ds.arrays, s,
                                    epoch=EVAL_EPOCH, masking="eval", trip=s.eval_trip_context,
                                    temporal_encoder=ds.temporal_encoder, unit_table=ds.unit_table, pool=pool)
            yield from zip([key for key, _ in batches[a:b]], encoded, strict=True)

    def __iter__(self) -> Iterator[tuple[Any, WorldModelBatch]]:
        pool = BufferPool()
        for rows in self._week_rows():
            pending: list[tuple[Any, np.ndarray]] = []
            for key, idx in self._batches(rows):
                pending.append((key, idx))
                if len(pending) == READ_BATCHES:
                    yield from self._encode(rows, pending, pool)
                    pending = []
            yield from self._encode(rows, pending, pool)

    def __len__(self) -> int:
        """Batches of one pass, counted from the key columns only (one row group at a time)."""
        if self._len is None:
            layout = self.dataset.layout
            counts: dict[int, int] = {}
            for g in range(layout.group_rows.size):
                pf = pq.ParquetFile(layout.files[layout.group_file[g]])
                t = pf.read_row_group(int(layout.group_index[g]), columns=["week", "shop_date", "shop_hour"])
                scalars = {
                    "week": t.column("week").to_numpy(),
                    "shop_date": pc.cast(t.column("shop_date"), pa.int32()).to_numpy(),
                    "shop_hour": t.column("shop_hour").to_numpy(),
                }
                # a key is one (week, key) pair: batches never span weeks
                key = self._keys(_Keys(scalars)) * 1000 + scalars["week"]
                u, n = np.unique(key, return_counts=True)
                for k, c in zip(u.tolist(), n.tolist(), strict=True):
                    counts[k] = counts.get(k, 0) + c
            self._len = sum(-(-c // self.batch_size) for c in counts.values())
        return self._len


@dataclass
class _Keys:
    scalars: dict[str, np.ndarray]
