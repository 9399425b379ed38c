"""The history event log of a prepared folder (history/part-*.parquet, in (customer, product,
shop_ts) order) as the memory-mapped arrays of retail_sim.data.history.HistoryIndex (each
customer's events in rank order), streamed one row group at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim.data.history import NO_NEXT, HistoryIndex, rank_order
from retail_sim.files import preallocated_memmap
from retail_sim.progress import Ticker

ARRAYS = ("history_customer_events", "history_event_product", "history_event_ts", "history_event_next_ts",
          "history_cum_baskets", "history_cum_decay")
COLUMNS = ("customer_idx", "product_idx", "shop_ts", "next_shop_ts", "cum_baskets", "cum_decay", "cum_short_decay")


def event_files(prepared: Path) -> list[Path]:
    """The parts of the event log in name order (= (customer, product, shop_ts) order)."""
    return sorted((Path(prepared) / "history").glob("part-*.parquet"))


def _row_groups(files: list[Path]):
    """The event log's columns, one Parquet row group at a time, as numpy arrays."""
    for f in files:
        pf = pq.ParquetFile(f, page_checksum_verification=True)
        for g in range(pf.metadata.num_row_groups):
            t = pf.read_row_group(g, columns=list(COLUMNS))
            cols = {name: t.column(name).to_numpy() for name in COLUMNS if name != "next_shop_ts"}
            cols["next_shop_ts"] = pc.fill_null(t.column("next_shop_ts"), NO_NEXT).to_numpy()
            yield cols


def _whole_customers(files: list[Path]):
    """The event log in runs of whole customers (a customer's events may span row groups and
    files: the last customer of each row group waits for the next one)."""
    carry = None
    for cols in _row_groups(files):
        if carry is not None:
            cols = {name: np.concatenate([carry[name], cols[name]]) for name in COLUMNS}
        c = cols["customer_idx"]
        if len(c) > 1 and (np.diff(c) < 0).any():
            raise AssertionError("history: events not in customer order")
        cut = int(np.searchsorted(c, c[-1], side="left")) if len(c) else 0
        yield {name: v[:cut] for name, v in cols.items()}
        carry = {name: v[cut:] for name, v in cols.items()}
    if carry is not None:
        yield carry


def write_history_index(prepared: Path, folder: Path, n_customers: int,
                        unmap: Callable[..., None] | None = None) -> dict[str, dict]:
    """Write the HistoryIndex arrays of <prepared>/history into `folder` as .npy, each customer's
    events in rank order (data/history.py rank_order); return their shapes and dtypes. Memory:
    one Parquet row group (and one customer's events) at a time; unmap(*arrays) after each (the
    build's CacheBuild.unmap_over) keeps the written pages out of RSS."""
    files = event_files(prepared)
    n_events = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    arrays = {
        name: preallocated_memmap(folder / f"{name}.npy", dtype, shape)
        for name, dtype, shape in (
            ("history_event_product", np.int32, (n_events,)), ("history_event_ts", np.int32, (n_events,)),
            ("history_event_next_ts", np.int32, (n_events,)), ("history_cum_baskets", np.int32, (n_events,)),
            ("history_cum_decay", np.float64, (n_events, 2)),
        )
    }
    events_of_customer = np.zeros(n_customers + 2, dtype=np.int64)  # counts first, offsets after
    e = 0
    ticker = Ticker("cache: purchase history index", n_events, "events")
    for cols in _whole_customers(files):
        n = len(cols["customer_idx"])
        order = rank_order(cols["customer_idx"], cols["product_idx"], cols["shop_ts"], cols["cum_baskets"],
                           cols["cum_decay"])
        part = slice(e, e + n)
        arrays["history_event_product"][part] = cols["product_idx"][order]
        arrays["history_event_ts"][part] = cols["shop_ts"][order]
        arrays["history_event_next_ts"][part] = cols["next_shop_ts"][order]
        arrays["history_cum_baskets"][part] = cols["cum_baskets"][order]
        arrays["history_cum_decay"][part, 0] = cols["cum_decay"][order]
        arrays["history_cum_decay"][part, 1] = cols["cum_short_decay"][order]
        events_of_customer += np.bincount(cols["customer_idx"] + 1, minlength=n_customers + 2)
        if unmap is not None:
            unmap(*arrays.values())
        e += n
        ticker.add(n)
    if e != n_events:
        raise AssertionError(f"history: {e} events read, {n_events} counted")
    arrays["history_customer_events"] = preallocated_memmap(folder / "history_customer_events.npy", np.int64,
                                                            (n_customers + 2,))
    arrays["history_customer_events"][:] = np.cumsum(events_of_customer)
    shapes = {}
    for name in ARRAYS:
        arrays[name].flush()
        shapes[name] = {"shape": list(arrays[name].shape), "dtype": str(arrays[name].dtype)}
    return shapes


def load_history_index(folder: Path, decay: float, short_decay: float) -> HistoryIndex:
    """The HistoryIndex of a tensor cache folder, memory-mapped (plain ndarray views of the maps:
    np.memmap's own fancy indexing costs ~0.1 ms a call)."""
    a = {name: np.asarray(np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False)) for name in ARRAYS}
    return HistoryIndex(
        customer_events=a["history_customer_events"], event_product=a["history_event_product"],
        event_ts=a["history_event_ts"], event_next_ts=a["history_event_next_ts"],
        cum_baskets=a["history_cum_baskets"], cum_decay=a["history_cum_decay"], decay=decay, short_decay=short_decay,
    )
