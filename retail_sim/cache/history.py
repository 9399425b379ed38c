"""The history event log of a prepared folder (history/part-*.parquet) as the memory-mapped CSR
arrays of retail_sim.data.history.HistoryIndex, streamed one row group at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim.data.history import TS_BITS, HistoryIndex

ARRAYS = ("history_customer_runs", "history_run_product", "history_run_events", "history_event_key",
          "history_cum_baskets", "history_cum_decay")
COLUMNS = ("customer_idx", "product_idx", "shop_ts", "n_baskets", "cum_baskets", "cum_decay", "cum_short_decay")


def event_files(prepared: Path) -> list[Path]:
    """The parts of the event log in name order (= (customer, product, shop_ts) order)."""
    return sorted((Path(prepared) / "history").glob("part-*.parquet"))


def write_history_index(prepared: Path, folder: Path, n_customers: int) -> dict[str, dict]:
    """Write the HistoryIndex arrays of <prepared>/history into `folder` as .npy; return their
    shapes and dtypes. Memory: one Parquet row group plus the run offsets being filled."""
    files = event_files(prepared)
    n_events = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    n_runs = 0
    for f in files:  # a run's first event is the one whose running count equals its own count
        t = pq.read_table(f, columns=["n_baskets", "cum_baskets"])
        n_runs += int(pc.sum(pc.equal(t.column("n_baskets"), t.column("cum_baskets"))).as_py() or 0)
    mm = lambda name, dtype, shape: np.lib.format.open_memmap(  # noqa: E731
        folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
    key = mm("history_event_key", np.int64, (n_events,))
    cum_baskets = mm("history_cum_baskets", np.int32, (n_events,))
    cum_decay = mm("history_cum_decay", np.float64, (n_events, 2))
    run_product = mm("history_run_product", np.int32, (n_runs,))
    run_events = mm("history_run_events", np.int64, (n_runs + 1,))
    runs_of_customer = np.zeros(n_customers + 2, dtype=np.int64)  # counts first, offsets after
    e = r = 0
    for f in files:
        pf = pq.ParquetFile(f)
        for g in range(pf.metadata.num_row_groups):
            t = pf.read_row_group(g, columns=list(COLUMNS))
            cols = {c: t.column(c).to_numpy() for c in COLUMNS}
            n = len(cols["shop_ts"])
            is_start = cols["n_baskets"] == cols["cum_baskets"]
            starts = np.flatnonzero(is_start)
            run = r - 1 + np.cumsum(is_start)  # run of each event (a row group may open mid-run)
            key[e:e + n] = (run.astype(np.int64) << TS_BITS) | cols["shop_ts"].astype(np.int64)
            cum_baskets[e:e + n] = cols["cum_baskets"]
            cum_decay[e:e + n, 0] = cols["cum_decay"]
            cum_decay[e:e + n, 1] = cols["cum_short_decay"]
            run_product[r:r + starts.size] = cols["product_idx"][starts]
            run_events[r:r + starts.size] = e + starts
            np.add.at(runs_of_customer, cols["customer_idx"][starts].astype(np.int64) + 1, 1)
            e += n
            r += starts.size
    run_events[n_runs] = n_events
    if e != n_events or r != n_runs:
        raise AssertionError(f"history: {e} events / {r} runs read, {n_events} / {n_runs} counted")
    customer_runs = mm("history_customer_runs", np.int64, (n_customers + 2,))
    customer_runs[:] = np.cumsum(runs_of_customer)
    shapes = {}
    for name, arr in (("history_customer_runs", customer_runs), ("history_run_product", run_product),
                      ("history_run_events", run_events), ("history_event_key", key),
                      ("history_cum_baskets", cum_baskets), ("history_cum_decay", cum_decay)):
        arr.flush()
        shapes[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    return shapes


def load_history_index(folder: Path, decay: float, short_decay: float) -> HistoryIndex:
    """The HistoryIndex of a tensor cache folder, memory-mapped."""
    a = {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
    return HistoryIndex(
        customer_runs=a["history_customer_runs"], run_product=a["history_run_product"],
        run_events=a["history_run_events"], event_key=a["history_event_key"],
        cum_baskets=a["history_cum_baskets"], cum_decay=a["history_cum_decay"],
        decay=decay, short_decay=short_decay,
    )
