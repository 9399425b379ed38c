"""Sample rows as flat numpy columns, and the Parquet layout of a split (metadata only).

BasketRows holds n baskets: scalar columns [n] and the aligned item lists flattened to [total]
with offsets [n+1]. It is what a shuffle window or an evaluation week holds in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim import hints
from retail_sim.arrays import ragged_ranges
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.errors import UserError
from retail_sim.prepared import recorded_raw

SCALAR_COLUMNS = (
    "basket_id", "customer_idx", "store_idx", "shop_week", "week", "shop_date", "shop_weekday",
    "shop_hour", "seq_len", "history_length", "days_since_prev_basket",
)
CODE_COLUMNS = tuple(col for col, _ in AUXILIARY_CODES.values())
LIST_COLUMNS = ("product_idx", "unit_price", "base_price", "prior_price", "category_avg_price")
COLUMNS = SCALAR_COLUMNS + CODE_COLUMNS + LIST_COLUMNS
PRICE_CLIP = 1e30  # prices are stored as float32; larger values are clipped (still "huge")


@dataclass
class BasketRows:
    scalars: dict[str, np.ndarray]  # name -> [n]; shop_date int32 days since 1970-01-01,
    #                                 days_since_prev_basket float32 (NaN = NULL)
    codes: np.ndarray  # [n, 4] int8 class ids of the AUXILIARY_CODES columns, -1 = XX/NULL
    offsets: np.ndarray  # [n + 1] int64
    items: dict[str, np.ndarray]  # name -> [total]; product_idx int32, prices float32 (NaN = NULL)
    extra: dict[str, np.ndarray] | None = None  # per-row arrays computed once (e.g. T3 [n, 64])

    @property
    def n(self) -> int:
        return int(self.offsets.size - 1)

    def take(self, idx: np.ndarray) -> BasketRows:
        idx = np.asarray(idx, dtype=np.int64)
        lens = self.offsets[idx + 1] - self.offsets[idx]
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        flat = ragged_ranges(self.offsets[idx], lens)
        return BasketRows(
            {k: v[idx] for k, v in self.scalars.items()}, self.codes[idx], offsets,
            {k: v[flat] for k, v in self.items.items()},
            {k: v[idx] for k, v in self.extra.items()} if self.extra else None,
        )

    def slice(self, r0: int, r1: int) -> BasketRows:
        """Rows [r0, r1) as views."""
        i0, i1 = int(self.offsets[r0]), int(self.offsets[r1])
        return BasketRows(
            {k: v[r0:r1] for k, v in self.scalars.items()}, self.codes[r0:r1], self.offsets[r0:r1 + 1] - i0,
            {k: v[i0:i1] for k, v in self.items.items()},
            {k: v[r0:r1] for k, v in self.extra.items()} if self.extra else None,
        )

    @staticmethod
    def concat(parts: list[BasketRows]) -> BasketRows:
        if len(parts) == 1:
            return parts[0]
        lens = np.concatenate([np.diff(p.offsets) for p in parts])
        extra = None
        if parts[0].extra:
            extra = {k: np.concatenate([p.extra[k] for p in parts]) for k in parts[0].extra}
        return BasketRows(
            {k: np.concatenate([p.scalars[k] for p in parts]) for k in parts[0].scalars},
            np.concatenate([p.codes for p in parts]),
            np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
            {k: np.concatenate([p.items[k] for p in parts]) for k in parts[0].items},
            extra,
        )


def _filled(values, fill):
    """values with its nulls replaced by `fill`; values itself when it has none (most columns: a
    pyarrow compute call costs ~50 us, ~5% of the loader's CPU when made for every column)."""
    return values if values.null_count == 0 else pc.fill_null(values, fill)


def rows_from_arrow(table: pa.Table) -> BasketRows:
    """Convert sample rows (contract A columns) to BasketRows. Every array is a numpy-owned copy:
    zero-copy views would pin Arrow's buffers in its own pool, which then cannot return them."""
    scalars = {}
    for name in SCALAR_COLUMNS:
        col = table.column(name)
        if name == "shop_date":
            scalars[name] = np.array(pc.cast(col, pa.int32()).to_numpy(), dtype=np.int32)
        elif name == "days_since_prev_basket":
            scalars[name] = np.array(_filled(pc.cast(col, pa.float32()), float("nan")).to_numpy(), dtype=np.float32)
        elif name == "basket_id":
            scalars[name] = np.array(col.to_numpy(), dtype=np.int64)
        else:
            scalars[name] = np.array(_filled(col, -1).to_numpy(), dtype=np.int32)
    codes = np.empty((table.num_rows, len(CODE_COLUMNS)), dtype=np.int8)
    for j, (col, classes) in enumerate(AUXILIARY_CODES.values()):
        found = pc.index_in(table.column(col), value_set=pa.array(classes, pa.string()))
        codes[:, j] = _filled(found, -1).to_numpy()
    first = table.column(LIST_COLUMNS[0])
    lens = _filled(pc.list_value_length(first), 0).to_numpy().astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    items = {}
    for name in LIST_COLUMNS:
        flat = pc.list_flatten(table.column(name))
        if name == "product_idx":
            items[name] = np.array(_filled(flat, 1).to_numpy(), dtype=np.int32)
        else:
            values = _filled(pc.cast(flat, pa.float64()), float("nan")).to_numpy()
            items[name] = np.clip(values, -PRICE_CLIP, PRICE_CLIP).astype(np.float32)
        if items[name].size != offsets[-1]:
            raise UserError(f"samples: list column '{name}' is not aligned with product_idx — run `retail-sim splits` again")
    return BasketRows(scalars, codes, offsets, items)


@dataclass(frozen=True)
class Layout:
    """The row groups of one split, in the order (bucket, file path, row-group index)."""

    files: tuple[Path, ...]
    group_file: np.ndarray  # [G] int64 index into files
    group_index: np.ndarray  # [G] int64 row-group index inside its file
    group_bucket: np.ndarray  # [G] int64
    group_rows: np.ndarray  # [G] int64
    group_items: np.ndarray  # [G] int64 basket items (values of the product_idx lists)

    @property
    def n_rows(self) -> int:
        return int(self.group_rows.sum())


_BUCKET = re.compile(r"bucket=(\d+)$")
_ITEMS = "product_idx.list.element"  # the leaf whose value count is a row group's basket items


def read_layout(prepared: Path, split: str) -> Layout:
    """Row and item counts of every row group of samples/split=<split>/bucket=*/*.parquet (metadata only)."""
    root = Path(prepared) / "samples" / f"split={split}"
    if not root.is_dir():
        raise UserError(f"{root}: no samples for split '{split}' (splits: train, validation, test) — run "
                        f"{hints.splits(prepared, recorded_raw(prepared))}")
    files, gf, gi, gb, gr, gn = [], [], [], [], [], []
    buckets = sorted((int(m.group(1)), d) for d in root.iterdir() if (m := _BUCKET.search(d.name)))
    for bucket, d in buckets:
        for path in sorted(d.glob("*.parquet")):
            meta = pq.ParquetFile(path).metadata
            # the column's number from a row group's chunks: `meta.schema` keeps every footer it was
            # read from alive (measured: +157 MiB of RSS after read_layout for the 72 training files of 214.4M rows)
            first = meta.row_group(0) if meta.num_row_groups else None
            names = [first.column(j).path_in_schema for j in range(meta.num_columns)] if first else []
            items = names.index(_ITEMS) if _ITEMS in names else None
            for i in range(meta.num_row_groups):
                rg = meta.row_group(i)
                gf.append(len(files))
                gi.append(i)
                gb.append(bucket)
                gr.append(rg.num_rows)
                gn.append(rg.column(items).num_values if items is not None else 0)
            files.append(path)
    as64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    return Layout(tuple(files), as64(gf), as64(gi), as64(gb), as64(gr), as64(gn))


def group_week_range(layout: Layout, group: int) -> tuple[int, int]:
    """(min, max) week of a row group from its Parquet statistics, reading the column if absent."""
    pf = pq.ParquetFile(layout.files[layout.group_file[group]])
    rg = pf.metadata.row_group(int(layout.group_index[group]))
    for j in range(rg.num_columns):
        col = rg.column(j)
        if col.path_in_schema == "week" and col.statistics is not None and col.statistics.has_min_max:
            return int(col.statistics.min), int(col.statistics.max)
    weeks = pf.read_row_group(int(layout.group_index[group]), columns=["week"]).column("week").to_numpy()
    return int(weeks.min()), int(weeks.max())


class GroupReader:
    """Reads row groups as BasketRows; ParquetFile handles are opened lazily per process.

    Reads run on the calling thread (no pre-buffering, no decode threads): what Arrow allocates on its
    pool threads stays in their mimalloc heaps, which `release_unused` does not empty. Measured over a
    whole epoch: peak RSS 322 / 351 MiB against 343 / 375 MiB (1M / 10M rows), with no more CPU a
    batch (docs/loader.md, stop 28); each loader worker is one process reading anyway."""

    OPEN_FILES = 8  # ParquetFile handles kept (each holds its file's footer)

    def __init__(self, layout: Layout):
        self.layout = layout
        self._files: dict[int, pq.ParquetFile] = {}  # least recently used first

    def _file(self, group: int) -> pq.ParquetFile:
        f = int(self.layout.group_file[group])
        if f in self._files:
            self._files[f] = self._files.pop(f)
        else:
            if len(self._files) >= self.OPEN_FILES:
                del self._files[next(iter(self._files))]
            self._files[f] = pq.ParquetFile(self.layout.files[f], pre_buffer=False)
        return self._files[f]

    def _missing(self, group: int, exc: KeyError) -> UserError:
        path = self.layout.files[int(self.layout.group_file[group])]
        prepared = path.parents[3]  # <prepared>/samples/split=*/bucket=*/file
        return UserError(f"{path}: missing column {exc} — run {hints.splits(prepared, recorded_raw(prepared))} again")

    def read(self, group: int) -> BasketRows:
        try:
            table = self._file(group).read_row_group(int(self.layout.group_index[group]), columns=list(COLUMNS),
                                                     use_threads=False)
        except KeyError as exc:
            raise self._missing(group, exc) from None
        rows = rows_from_arrow(table)
        del table
        pa.default_memory_pool().release_unused()  # Arrow's pool keeps freed pages (~60 MiB a 32K-row group, measured before issue 14's rework)
        return rows

    def stream(self, group: int, batch_rows: int) -> Iterator[BasketRows]:
        """The rows of a row group front to back, `batch_rows` at a time: Arrow decodes one batch at
        a time, so a reader that needs a share of the group at a time holds no more than that."""
        try:
            batches = self._file(group).iter_batches(batch_size=max(int(batch_rows), 1),
                                                     row_groups=[int(self.layout.group_index[group])],
                                                     columns=list(COLUMNS), use_threads=False)
            for batch in batches:
                rows = rows_from_arrow(pa.Table.from_batches([batch]))
                del batch
                yield rows
        except KeyError as exc:
            raise self._missing(group, exc) from None
        finally:
            pa.default_memory_pool().release_unused()


class GroupCursor:
    """Consecutive row ranges of one row group, decoded once front to back (GroupReader.stream)."""

    def __init__(self, groups: GroupReader, group: int, batch_rows: int):
        self.groups, self.group, self.batch_rows = groups, group, batch_rows
        self.position = 0  # first row not yet handed out
        self.pending: BasketRows | None = None  # decoded rows from `position` on
        self.source = groups.stream(group, batch_rows)

    def take(self, lo: int, hi: int) -> BasketRows:
        """Rows [lo, hi) of the group (lo < hi); lo >= the end of the previous take (rows in between
        are skipped), else the group is decoded again from its start."""
        if lo < self.position:
            self.__init__(self.groups, self.group, self.batch_rows)
        parts, have = [], 0
        if self.pending is not None:
            parts, have = [self.pending], self.pending.n
        while self.position + have < hi:
            part = next(self.source)
            parts.append(part)
            have += part.n
        rows = BasketRows.concat(parts)
        out = rows.slice(lo - self.position, hi - self.position)
        end = hi - self.position
        self.pending = rows.slice(end, rows.n) if end < rows.n else None
        self.position = hi
        return out
