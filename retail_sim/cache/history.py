"""The history event log of a prepared folder (history/part-*.parquet) as the memory-mapped
arrays of retail_sim.data.history.HistoryIndex, streamed one row group at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim.data.history import NO_NEXT, HistoryIndex

ARRAYS = ("history_customer_events", "history_event_product", "history_event_ts", "history_event_next_ts",
          "history_cum_baskets", "history_cum_decay")
COLUMNS = ("customer_idx", "product_idx", "shop_ts", "next_shop_ts", "cum_baskets", "cum_decay", "cum_short_decay")


def event_files(prepared: Path) -> list[Path]:
    """The parts of the event log in name order (= (customer, product, shop_ts) order)."""
    return sorted((Path(prepared) / "history").glob("part-*.parquet"))


def write_history_index(prepared: Path, folder: Path, n_customers: int) -> dict[str, dict]:
    """Write the HistoryIndex arrays of <prepared>/history into `folder` as .npy; return their
    shapes and dtypes. Memory: one Parquet row group at a time."""
    files = event_files(prepared)
    n_events = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    arrays = {
        name: np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
        for name, dtype, shape in (
            ("history_event_product", np.int32, (n_events,)), ("history_event_ts", np.int32, (n_events,)),
            ("history_event_next_ts", np.int32, (n_events,)), ("history_cum_baskets", np.int32, (n_events,)),
            ("history_cum_decay", np.float64, (n_events, 2)),
        )
    }
    events_of_customer = np.zeros(n_customers + 2, dtype=np.int64)  # counts first, offsets after
    e = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for g in range(pf.metadata.num_row_groups):
            t = pf.read_row_group(g, columns=list(COLUMNS))
            n = t.num_rows
            part = slice(e, e + n)
            arrays["history_event_product"][part] = t.column("product_idx").to_numpy()
            arrays["history_event_ts"][part] = t.column("shop_ts").to_numpy()
            arrays["history_event_next_ts"][part] = pc.fill_null(t.column("next_shop_ts"), NO_NEXT).to_numpy()
            arrays["history_cum_baskets"][part] = t.column("cum_baskets").to_numpy()
            arrays["history_cum_decay"][part, 0] = t.column("cum_decay").to_numpy()
            arrays["history_cum_decay"][part, 1] = t.column("cum_short_decay").to_numpy()
            events_of_customer += np.bincount(t.column("customer_idx").to_numpy() + 1, minlength=n_customers + 2)
            e += n
    if e != n_events:
        raise AssertionError(f"history: {e} events read, {n_events} counted")
    arrays["history_customer_events"] = np.lib.format.open_memmap(
        folder / "history_customer_events.npy", mode="w+", dtype=np.int64, shape=(n_customers + 2,))
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
