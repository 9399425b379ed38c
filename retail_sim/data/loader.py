"""WorldModelDataset, WorldModelDataLoader, EvaluationDataLoader (contract C).

Training: the epoch plan (sharding.py) says which rows form each batch; a reader streams each
bucket's shuffle windows front to back (at most two windows per bucket held at once) and the
encoders (encoders.py) turn the rows into a WorldModelBatch. Evaluation: the split is read week
by week, grouped by date, hour or week, with masks that depend on the basket id only.
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

from retail_sim.config import Config, load_config
from retail_sim.data.batch import IGNORE_INDEX, WorldModelBatch
from retail_sim.data.encoders import (
    TemporalEncoder,
    auxiliary_labels,
    encode_customer,
    encode_prices,
    encode_products,
    encode_store,
    encode_temporal,
    encode_trip,
)
from retail_sim.data.masking import EVAL_EPOCH, mask_baskets, trip_hidden
from retail_sim.data.rows import BasketRows, GroupReader, Layout, group_week_range, read_layout
from retail_sim.data.sharding import (
    EpochPlan,
    batch_windows,
    plan_epoch,
    window_permutation,
    worker_batches,
)
from retail_sim.errors import UserError
from retail_sim.manifest import read_manifest
from retail_sim.vocab import PAD_IDX

SPLITS = ("train", "validation", "test")


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


def temporal_of(rows: BasketRows, s: Settings, encoder: TemporalEncoder | None = None) -> np.ndarray:
    """T3 [n, 64] of rows (see encoders.encode_temporal; the table-based encoder when given)."""
    c = rows.scalars
    args = (c["shop_week"], c["week"], c["shop_date"], c["shop_weekday"], c["shop_hour"],
            c["days_since_prev_basket"], c["history_length"])
    if encoder is not None:
        return encoder(*args)
    return encode_temporal(*args, first_week=s.first_week, last_week=s.last_week, weeks_per_year=s.weeks_per_year)


class CacheArrays:
    """The contract-B arrays as plain ndarray views (np.memmap's fancy indexing costs ~0.1 ms a
    call); get_customer_state_batch goes to the cache itself."""

    def __init__(self, cache):
        self.cache = cache
        for name in ("product_embeddings", "store_embeddings", "segment_embeddings", "positional_encodings",
                     "segment_prior", "customer_segment"):
            setattr(self, name, np.asarray(getattr(cache, name)))
        self.n_products_total = int(cache.n_products_total)
        self.fingerprint = getattr(cache, "fingerprint", None)

    def get_customer_state_batch(self, customer_idx, week):
        return self.cache.get_customer_state_batch(customer_idx, week)


def build_batch(rows: BasketRows, cache, s: Settings, *, epoch: int, masking: str | None, trip: str,
                temporal_encoder: TemporalEncoder | None = None) -> WorldModelBatch:
    """Encode B rows into a WorldModelBatch.

    masking: "train" (mask_prob, 80/10/10 drawn for (seed, epoch, basket)), "eval" (always MASK,
    drawn for (seed, basket)), or None (no masks). trip: "dropout" (per basket, hidden with
    trip_context_dropout), "hidden" (all hidden, labels active) or "visible" (labels ignored).
    With auxiliary tasks off T6 is always visible and auxiliary_labels is empty.
    """
    c = rows.scalars
    lens = np.diff(rows.offsets)
    S = max(int(min(lens.max(initial=1), s.max_seq_len)), 1)
    if S > cache.positional_encodings.shape[0]:
        raise UserError(
            f"baskets of {S} items exceed the tensor cache's {cache.positional_encodings.shape[0]} positions — "
            "rebuild the cache (`make cache`) or lower max_seq_len"
        )
    product_ids, real = rows.padded("product_idx", S, PAD_IDX)
    product_ids = product_ids.astype(np.int64)
    seq_len = real.sum(axis=1)
    basket_id = c["basket_id"]

    if masking is not None:
        m = mask_baskets(
            product_ids, seq_len, basket_id, seed=s.seed, epoch=epoch, mask_prob=s.mask_prob,
            mask_token_frac=s.mask_token_frac, random_token_frac=s.random_token_frac,
            n_products_total=int(cache.n_products_total), evaluation=masking == "eval",
        )
        input_ids, chosen, positions, targets = m.input_ids, m.chosen, m.masked_positions, m.masked_targets
    else:
        input_ids, chosen = product_ids, np.zeros_like(real)
        positions = targets = np.full((len(seq_len), 1), IGNORE_INDEX, dtype=np.int64)

    # T4 on the real items only (flat, row-major = the order of `real`)
    if int(lens.max(initial=0)) <= S:
        items = rows.items
    else:
        keep = (np.arange(int(rows.offsets[-1])) - np.repeat(rows.offsets[:-1], lens)) < S
        items = {k: v[keep] for k, v in rows.items.items()}
    flat_price = encode_prices(items["unit_price"], items["base_price"], items["prior_price"], items["category_avg_price"])
    if s.mask_price and masking is not None:
        flat_price[chosen[real]] = 0.0
    price = np.zeros((len(seq_len), S, flat_price.shape[1]), dtype=np.float32)
    price[real] = flat_price

    temporal = temporal_of(rows, s, temporal_encoder)
    if not s.auxiliary or trip == "visible":
        hidden = np.zeros(len(seq_len), dtype=bool)
    elif trip == "hidden":
        hidden = np.ones(len(seq_len), dtype=bool)
    else:
        hidden = trip_hidden(basket_id, seed=s.seed, epoch=epoch, dropout=s.trip_context_dropout)
    labels = auxiliary_labels(rows.codes, hidden) if s.auxiliary else {}

    t = torch.from_numpy
    return WorldModelBatch(
        customer_context=t(encode_customer(cache, c["customer_idx"], c["week"], s.cold_start_k)),
        product_embeddings=t(encode_products(cache, input_ids, real)),
        temporal_context=t(np.ascontiguousarray(temporal, dtype=np.float32)),
        price_features=t(price),
        store_context=t(encode_store(cache, c["store_idx"])),
        trip_context=t(encode_trip(rows.codes, ~hidden)),
        attention_mask=t(real),
        product_ids=t(input_ids),
        masked_positions=t(positions),
        masked_targets=t(targets),
        auxiliary_labels={k: t(v) for k, v in labels.items()},
        basket_id=t(basket_id.astype(np.int64)),
        week=t(c["week"].astype(np.int64)),
    )


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
        day0 = int(np.datetime64(calendar["origin_date"], "D").astype(np.int64))
        self.temporal_encoder = TemporalEncoder(
            st.first_week, st.last_week, st.weeks_per_year,
            day0 + 7 * (st.first_week - 2), day0 + 7 * (st.last_week + 1),
        )
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
        for g in mine:
            rows = reader.rows(int(plan.batch_stream[g]), int(plan.batch_number[g]))
            batch = build_batch(rows, self.arrays, self.settings, epoch=r.epoch, masking=masking, trip="dropout",
                                temporal_encoder=self.temporal_encoder)
            yield pack(batch) if info is not None and self.pack_in_workers else batch


class _WindowReader:
    """Holds, per stream, the shuffle windows the current batch needs (rows in file order and
    the window's permutation); windows behind the current batch are released."""

    def __init__(self, plan: EpochPlan, layout: Layout, settings: Settings):
        self.plan, self.settings = plan, settings
        self.groups = GroupReader(layout)
        self.windows: dict[tuple[int, int], tuple[BasketRows, np.ndarray]] = {}

    def _window(self, s: int, w: int) -> tuple[BasketRows, np.ndarray]:
        key = (s, w)
        if key not in self.windows:
            st = self.plan.streams[s]
            groups = st.groups[st.window_groups[w]:st.window_groups[w + 1]]
            rows = BasketRows.concat([self.groups.read(int(g)) for g in groups])
            self.windows[key] = (rows, window_permutation(self.plan, s, w))
        return self.windows[key]

    def rows(self, s: int, k: int) -> BasketRows:
        window, pos = batch_windows(self.plan, s, k)
        first = int(window[0])
        for key in [key for key in self.windows if key[0] == s and key[1] < first]:
            del self.windows[key]
        parts = []
        for w in np.unique(window):
            rows, perm = self._window(s, int(w))
            parts.append(rows.take(perm[pos[window == w]]))
        return BasketRows.concat(parts)


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

    def __iter__(self) -> Iterator[tuple[Any, WorldModelBatch]]:
        s = self.dataset.settings
        trip = s.eval_trip_context
        for rows in self._week_rows():
            for key, idx in self._batches(rows):
                yield key, build_batch(rows.take(idx), self.dataset.arrays, s, epoch=EVAL_EPOCH, masking="eval",
                                       trip=trip, temporal_encoder=self.dataset.temporal_encoder)

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
