"""EvaluationDataLoader: every basket of a split once, week by week, grouped by date, hour or week."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim.arrays import sorted_lookup
from retail_sim.data import chunks
from retail_sim.data.compact import CompactBatch
from retail_sim.data.dataset import WorldModelDataset
from retail_sim.data.masking import EVAL_EPOCH
from retail_sim.data.rows import BasketRows, GroupReader, group_week_range
from retail_sim.errors import UserError

GROUP_BY = ("date", "hour", "week")


class EvaluationDataLoader:
    """Every basket of the split exactly once, as (key, CompactBatch), week by week.

    key: week -> int week; date -> 'YYYY-MM-DD'; hour -> 'YYYY-MM-DD HH:00' (date and hour of day).
    Batches never mix keys; within a key baskets are ordered by (seq_len, basket_id) to limit
    padding. Masks: always the MASK token, chosen from (seed, basket id) only. Trip context:
    config loader.eval_trip_context ("hidden": T6 zero and all labels active, the default;
    "dropout": the training rule at a fixed epoch; "visible": labels ignored).
    basket_ids (sorted int64, optional): only these baskets, dropped as each week is read — before
    batching and encoding, so scoring a sample of a large split costs its sample, not the split.
    Memory: one week of the split (plus the row groups that straddle it).
    """

    def __init__(self, dataset: WorldModelDataset, batch_size: int = 64, group_by: str = "date",
                 basket_ids: np.ndarray | None = None):
        if group_by not in GROUP_BY:
            raise UserError(f"group_by '{group_by}' unknown — use one of {', '.join(GROUP_BY)}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.group_by = group_by
        self.basket_ids = None if basket_ids is None else np.asarray(basket_ids, dtype=np.int64)
        self._len: int | None = None

    def _selected(self, basket_id: np.ndarray) -> np.ndarray:
        """[rows] bool: the rows of the selection (all without one)."""
        if self.basket_ids is None:
            return np.ones(basket_id.size, dtype=bool)
        return sorted_lookup(self.basket_ids, basket_id)[0]

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
            keep = now & self._selected(rows.scalars["basket_id"])
            if keep.any():
                yield rows.take(np.nonzero(keep)[0])

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

    def _build(self, rows: BasketRows, batches: list[tuple[Any, np.ndarray]]) -> Iterator[tuple[Any, CompactBatch]]:
        """Build batches (key, row indices) of one week's rows in calls of up to CHUNK_SLOTS slots."""
        if not batches:
            return
        s, ds = self.dataset.settings, self.dataset
        chunk = rows.take(np.concatenate([idx for _, idx in batches]))
        sizes = np.array([idx.size for _, idx in batches], dtype=np.int64)
        row0 = np.concatenate([[0], np.cumsum(sizes)])
        cuts = chunks.chunk_cuts(sizes, np.diff(chunk.offsets), s.max_seq_len, chunks.CHUNK_SLOTS)
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            built = ds.compact(chunk.slice(int(row0[a]), int(row0[b])), sizes[a:b], epoch=EVAL_EPOCH,
                               masking="eval", trip=s.eval_trip_context)
            yield from zip([key for key, _ in batches[a:b]], built, strict=True)

    def __iter__(self) -> Iterator[tuple[Any, CompactBatch]]:
        for rows in self._week_rows():
            pending: list[tuple[Any, np.ndarray]] = []
            for key, idx in self._batches(rows):
                pending.append((key, idx))
                if len(pending) == chunks.READ_BATCHES:
                    yield from self._build(rows, pending)
                    pending = []
            yield from self._build(rows, pending)

    def __len__(self) -> int:
        """Batches of one pass, counted from the key columns only (one row group at a time)."""
        if self._len is None:
            layout = self.dataset.layout
            counts: dict[int, int] = {}
            for g in range(layout.group_rows.size):
                pf = pq.ParquetFile(layout.files[layout.group_file[g]])
                t = pf.read_row_group(int(layout.group_index[g]), columns=["week", "shop_date", "shop_hour", "basket_id"])
                t = t.filter(pa.array(self._selected(t.column("basket_id").to_numpy())))
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
