"""Small stand-ins for loader tests: a contract-B cache of hand-fillable numpy arrays and a writer
of a contract-A samples folder. Not used by the pipeline itself."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_sim.cache.customer_state import WEEK_KEY, lookup
from retail_sim.data.codes import (
    BASKET_SIZES,
    DOMINANT_MISSIONS,
    MISSION_TYPES,
    PRICE_SENSITIVITIES,
)
from retail_sim.data.history import NO_NEXT, HistoryIndex, rank_order
from retail_sim.integrity import file_records
from retail_sim.manifest import write_manifest
from retail_sim.prepared import DATA_FOLDERS
from retail_sim.vocab import FIRST_PRODUCT_IDX, MASK_IDX


class FakeCache:
    """The TensorCache attributes the loader reads (contract B), with deterministic contents:
    customer c's state as of week w (1 <= w < 200) is c/100 + w/1000 in every slot, built from
    n = clip(w - first_week[c], 0, ...) baskets (first_week = 1 + c % 5); rows exist for every such
    (customer, week), as customer_state / customer_state_keys / customer_state_n_baskets."""

    WEEKS = 200

    def __init__(self, n_products: int = 40, n_stores: int = 5, n_customers: int = 30, n_segments: int = 4,
                 max_seq_len: int = 50, fingerprint: str = "fake"):
        rng = np.random.default_rng(0)
        self.n_products_total = n_products + FIRST_PRODUCT_IDX
        self.product_embeddings = rng.normal(size=(self.n_products_total, 256)).astype(np.float32)
        self.product_embeddings[0] = 0
        self.product_embeddings[MASK_IDX] = 7.0
        self.store_embeddings = rng.normal(size=(n_stores + 1, 96)).astype(np.float32)
        self.segment_embeddings = rng.normal(size=(n_segments, 64)).astype(np.float32)
        self.segment_prior = rng.normal(size=(n_segments, 128)).astype(np.float32)
        self.positional_encodings = (0.01 * np.arange(max_seq_len)[:, None] * np.ones(256)).astype(np.float32)
        self.customer_segment = (np.arange(n_customers + 1) % n_segments).astype(np.int32)
        self.n_customers = n_customers
        self.fingerprint = fingerprint
        # customer c bought products FIRST_PRODUCT_IDX + (c * j) % n_products (j = 1..6) at
        # hours 24 * (40 j + c % 1000) after the calendar origin (weeks 1..178: the decayed sums of
        # 1 / decay ^ (hours / 168) stay finite for any number of customers, as in `bench loader
        # --fake-cache` on a 50M-row folder's 85,000)
        c = np.repeat(np.arange(1, n_customers + 1), 6)
        j = np.tile(np.arange(1, 7), n_customers)
        self.history = index_from_events(c, FIRST_PRODUCT_IDX + (c * j) % n_products, 24 * (40 * j + c % 1000),
                                         np.ones(c.size, np.int64), n_customers)

    @cached_property
    def _customer_weeks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, n_baskets, state) of every (customer, week) row; built on first use, since the loader
        alone never reads them (n_customers x 199 x 128 float32: 168 MB at 1,650 customers)."""
        c = np.repeat(np.arange(1, self.n_customers + 1), self.WEEKS - 1)
        w = np.tile(np.arange(1, self.WEEKS), self.n_customers)
        n = np.clip(w - (1 + c % 5), 0, None).astype(np.int32)
        state = (np.where(n[:, None] > 0, (c / 100 + w / 1000)[:, None], 0.0) * np.ones((1, 128))).astype(np.float32)
        return (c * WEEK_KEY + w).astype(np.int64), n, state

    @property
    def customer_state_keys(self) -> np.ndarray:
        return self._customer_weeks[0]

    @property
    def customer_state_n_baskets(self) -> np.ndarray:
        return self._customer_weeks[1]

    @property
    def customer_state(self) -> np.ndarray:
        return self._customer_weeks[2]

    def get_customer_state_batch(self, customer_idx, week):
        """As TensorCache.get_customer_state_batch: (state [n, 128], n_baskets [n]), zeros without a row."""
        row, found = lookup(self.customer_state_keys, customer_idx, week)
        state = np.where(found[:, None], self.customer_state[row], 0.0).astype(np.float32)
        return state, np.where(found, self.customer_state_n_baskets[row], 0).astype(np.int32)


def index_from_events(customer, product, shop_ts, n_baskets, n_customers: int, decay: float = 0.95,
                      short_decay: float = 0.8) -> HistoryIndex:
    """A HistoryIndex from raw events (customer, product, shop_ts, n_baskets [E]; one per
    (customer, product, hour)), the running columns computed here: the in-memory twin of
    sql/12_history.sql + cache/history.write_history_index, for tests."""
    c, p, t, n = (np.asarray(x, dtype=np.int64) for x in (customer, product, shop_ts, n_baskets))
    order = np.lexsort((t, p, c))
    c, p, t, n = c[order], p[order], t[order], n[order]
    last = np.r_[(c[1:] != c[:-1]) | (p[1:] != p[:-1]), True] if c.size else np.zeros(0, bool)
    first = np.flatnonzero(np.r_[True, last[:-1]]) if c.size else np.zeros(0, np.int64)
    seg = np.repeat(first, np.diff(np.r_[first, c.size]))

    def running(values):
        total = np.cumsum(values)
        return total - np.r_[0, total][seg]

    cum = np.stack([running(n * (1 / decay) ** (t / 168)), running(n * (1 / short_decay) ** (t / 168))], axis=1)
    next_ts = np.where(last, NO_NEXT, np.r_[t[1:], 0]).astype(np.int32)
    cum, count = cum.reshape(-1, 2), running(n)
    ranked = rank_order(c, p, t, count, cum[:, 0])
    c, p, t, next_ts, count, cum = c[ranked], p[ranked], t[ranked], next_ts[ranked], count[ranked], cum[ranked]
    return HistoryIndex(
        customer_events=np.cumsum(np.bincount(c + 1, minlength=n_customers + 2)).astype(np.int64),
        event_product=p.astype(np.int32), event_ts=t.astype(np.int32), event_next_ts=next_ts,
        cum_baskets=count.astype(np.int32), cum_decay=cum, decay=decay, short_decay=short_decay,
    )


def tiny_samples(n_baskets: int = 300, n_products: int = 40, n_customers: int = 30, n_stores: int = 5,
                 weeks: tuple[int, int] = (1, 20), max_seq_len: int = 50, seed: int = 0) -> pa.Table:
    """A table of contract-A sample rows (columns the loader reads, plus a few), random but valid."""
    rng = np.random.default_rng(seed)
    n = n_baskets
    week = np.sort(rng.integers(weeks[0], weeks[1] + 1, n))
    seq_len = np.minimum(rng.geometric(0.12, n), min(max_seq_len, n_products)).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(seq_len)]).astype(np.int32)
    total = int(offsets[-1])
    products = np.concatenate([rng.choice(n_products, k, replace=False) for k in seq_len]) + FIRST_PRODUCT_IDX
    unit = np.round(rng.lognormal(0, 0.8, total), 2)

    def nullable(x, p):
        return pa.array(np.where(rng.random(total) < p, np.nan, x), from_pandas=True)

    def lists(values):
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    cust = np.where(rng.random(n) < 0.2, 0, rng.integers(1, n_customers + 1, n)).astype(np.int32)
    day0 = np.datetime64("2006-04-10")
    date = day0 + (7 * (week - 1) + rng.integers(0, 7, n)).astype("timedelta64[D]")
    weekday = ((date - np.datetime64("2006-04-09")).astype(np.int64) % 7 + 1).astype(np.int32)
    yyyyww = np.where(week <= 46, 200606 + week, 200700 + week - 46).astype(np.int32)

    def codes(classes, p_null=0.05):
        v = np.array(classes, dtype=object)[rng.integers(0, len(classes), n)]
        return pa.array(np.where(rng.random(n) < p_null, None, v).tolist(), pa.string())

    gap = rng.integers(0, 60, n).astype(np.float64)
    gap[rng.random(n) < 0.3] = np.nan
    return pa.table({
        "basket_id": pa.array(994100100000000 + np.arange(n) * 7 + week * 1_000_000, pa.int64()),
        "customer_idx": pa.array(cust),
        "store_idx": pa.array(rng.integers(1, n_stores + 1, n).astype(np.int32)),
        "shop_week": pa.array(yyyyww),
        "week": pa.array(week.astype(np.int32)),
        "shop_date": pa.array(date, pa.date32()),
        "shop_weekday": pa.array(weekday),
        "shop_hour": pa.array(rng.integers(8, 23, n).astype(np.int32)),
        "mission_type": codes(MISSION_TYPES),
        "dominant_mission": codes(DOMINANT_MISSIONS),
        "basket_price_sensitivity": codes(PRICE_SENSITIVITIES),
        "basket_size": codes(BASKET_SIZES),
        "n_products": pa.array(seq_len),
        "seq_len": pa.array(seq_len),
        "history_length": pa.array(rng.integers(0, 30, n).astype(np.int32)),
        "days_since_prev_basket": pa.array(np.nan_to_num(gap).astype(np.int32), mask=np.isnan(gap)),
        "is_anonymous": pa.array(cust == 0),
        "product_idx": lists(pa.array(products.astype(np.int32))),
        "quantity": lists(pa.array(np.ones(total, np.int32))),
        "spend": lists(pa.array(unit)),
        "unit_price": lists(pa.array(unit)),
        "prior_price": lists(nullable(unit * 1.05, 0.3)),
        "base_price": lists(nullable(unit * 1.1, 0.1)),
        "category_avg_price": lists(nullable(unit * 0.9, 0.05)),
    })


def write_items(folder: Path, tables: list[pa.Table]) -> None:
    """items/week=<w>/part-0.parquet (contract A) from sample rows: one row per (basket, product)."""
    t = pa.concat_tables([x.select(["basket_id", "shop_date", "shop_hour", "customer_idx", "week", "product_idx"])
                          for x in tables])
    lens = pc.list_value_length(t.column("product_idx")).to_numpy()
    rep = np.repeat(np.arange(t.num_rows), lens)
    items = pa.table({
        "basket_id": t.column("basket_id").take(rep),
        "shop_date": t.column("shop_date").take(rep),
        "shop_hour": t.column("shop_hour").take(rep),
        "customer_idx": t.column("customer_idx").take(rep),
        "product_idx": pc.list_flatten(t.column("product_idx")),
        "unit_price": pa.array(np.ones(len(rep))),  # read by the cache SQL the baselines share
    })
    week = t.column("week").to_numpy()[rep]
    for w in np.unique(week):
        d = folder / "items" / f"week={w}"
        d.mkdir(parents=True)
        pq.write_table(items.filter(pa.array(week == w)), d / "part-0.parquet")


def _write_vocab_and_rest(folder: Path, tables: list[pa.Table]) -> None:
    """vocab/{products,customers,stores}.parquet, prices/weekly_prices.parquet and
    rejects/rejects.parquet with the ids the samples use (codes made up from them)."""
    def ids(column: str, lists: bool = False) -> np.ndarray:
        cols = [pc.list_flatten(t.column(column)) if lists else t.column(column) for t in tables]
        return np.unique(np.concatenate([c.to_numpy() for c in cols]).astype(np.int64))

    for name, column, prefix, lists in (("products", "product_idx", "PRD", True), ("customers", "customer_idx", "CUST", False),
                                        ("stores", "store_idx", "STORE", False)):
        values = ids(column, lists)
        values = values[values > 0]
        (folder / "vocab").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({column: pa.array(values, pa.int32()),
                                 name[:-1] + "_code": [f"{prefix}{v:07d}" for v in values]}),
                       folder / "vocab" / f"{name}.parquet")
    (folder / "prices").mkdir(exist_ok=True)
    pq.write_table(pa.table({"product_idx": pa.array([], pa.int32()), "store_idx": pa.array([], pa.int32()),
                             "week": pa.array([], pa.int32())}), folder / "prices" / "weekly_prices.parquet")
    (folder / "rejects").mkdir(exist_ok=True)
    pq.write_table(pa.table({"source_file": pa.array([], pa.string()), "reason": pa.array([], pa.string())}),
                   folder / "rejects" / "rejects.parquet")


def write_prepared(folder: Path, splits: dict[str, pa.Table], bucket_edges=None,
                   row_group_size: int = 16, files_per_bucket: int = 2, config: dict | None = None) -> Path:
    """A complete small prepared folder: samples/split=<s>/bucket=<k>/part-<i>.parquet (bucket_edges:
    default the config's splits.bucket_edges, which the folder's manifest config then holds; rows ordered
    by week, basket_id; every sample has is_unseen_in_train, false where the table lacks it), items/,
    vocab/, prices/, rejects/ and a complete manifest.json. Returns folder."""
    from retail_sim.config import Config

    folder = Path(folder)
    edges = np.asarray(Config().splits.bucket_edges if bucket_edges is None else bucket_edges)
    for split, table in splits.items():
        table = table.sort_by([("week", "ascending"), ("basket_id", "ascending")])
        if "is_unseen_in_train" not in table.column_names:
            table = table.append_column("is_unseen_in_train", pa.array(np.zeros(table.num_rows, dtype=bool)))
        bucket = np.searchsorted(edges, table.column("seq_len").to_numpy(), side="left") + 1
        for k in range(1, len(edges) + 1):
            part = table.filter(pa.array(bucket == k))
            if part.num_rows == 0:
                continue
            d = folder / "samples" / f"split={split}" / f"bucket={k}"
            d.mkdir(parents=True, exist_ok=True)
            cuts = np.linspace(0, part.num_rows, files_per_bucket + 1).astype(int)
            for i in range(files_per_bucket):
                if cuts[i + 1] > cuts[i]:
                    pq.write_table(part.slice(cuts[i], cuts[i + 1] - cuts[i]), d / f"part-{i}.parquet",
                                   row_group_size=row_group_size)
    write_items(folder, list(splits.values()))
    _write_vocab_and_rest(folder, list(splits.values()))
    (folder / "history").mkdir(parents=True, exist_ok=True)  # an empty event log (sql/12_history.sql's columns)
    pq.write_table(pa.table({"customer_idx": pa.array([], pa.int32()), "product_idx": pa.array([], pa.int32()),
                             "shop_ts": pa.array([], pa.int32()), "n_baskets": pa.array([], pa.int32()),
                             "next_shop_ts": pa.array([], pa.int32()), "cum_baskets": pa.array([], pa.int32()),
                             "cum_decay": pa.array([], pa.float64()), "cum_short_decay": pa.array([], pa.float64())}),
                   folder / "history" / "part-0000.parquet")
    config = dict(config or {})
    config["splits"] = {**config.get("splits", {}), "bucket_edges": [int(e) for e in edges]}
    by_split = {split: {"baskets": table.num_rows} for split, table in splits.items()}
    weeks = sorted({int(w) for table in splits.values() for w in table.column("week").to_pylist()})
    write_manifest(folder, {"stage": "splits", "config": config, "counts": {}, "baskets": {"by_split": by_split},
                            "weeks_present": weeks})
    return record_files(folder)


def record_files(folder: Path) -> Path:
    """Record the files of a prepared folder in its manifest as `splits` does (after a test changed
    them on purpose: a file changed after `splits` wrote it is otherwise refused on open)."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    manifest["files"] = file_records(folder, DATA_FOLDERS)
    write_manifest(folder, manifest)
    return Path(folder)


def ddp_worker(rank: int, world_size: int, init_file: str, prepared: str, out_dir: str) -> None:
    """One rank of the two-process DDP loader test (torch.multiprocessing.spawn target): takes rank
    and world size from torch.distributed, writes its basket ids to <out_dir>/rank<r>.npy."""
    import torch
    import torch.distributed as dist

    from retail_sim.config import Config
    from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        loader = WorldModelDataLoader(WorldModelDataset(prepared, "train", cache=FakeCache(), config=Config()), batch_size=16)
        steps = 0
        ids = []
        for batch in loader:
            dist.all_reduce(torch.ones(1))  # a collective per step: unequal counts would hang here
            ids.append(batch.basket_id.numpy())
            steps += 1
        np.save(Path(out_dir) / f"rank{rank}.npy", np.concatenate(ids) if ids else np.zeros(0, np.int64))
        np.save(Path(out_dir) / f"steps{rank}.npy", np.array([steps, len(loader), loader.rank, loader.world_size]))
    finally:
        dist.destroy_process_group()
