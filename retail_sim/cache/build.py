"""`retail-sim cache`: prepared folder -> <prepared>/tensor_cache/ (arrays .npy + JSON, no pickle).

Everything fitted (GraphSAGE, PCA, z-scores) sees the training weeks only; customer rows are
point-in-time. Output is written to a temp folder beside the target and moved into place last.

build_cache reads as its steps: open the build (folder, weeks, vocab) -> product embeddings ->
store and segment embeddings -> customer state -> vocab.json -> manifest, swap into place.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from retail_sim import hints
from retail_sim.cache import customer_state, linalg, products, segments, sqlfiles, stores
from retail_sim.cache.history import write_history_index
from retail_sim.cache.tensor_cache import CACHE_FILES
from retail_sim.config import Config
from retail_sim.data.history import INDEX_ORDER
from retail_sim.errors import UserError
from retail_sim.files import (
    file_map,
    is_complete_output,
    output_folder,
    preallocated_memmap,
    swap_into_place,
    unmap_over,
    work_folder,
)
from retail_sim.integrity import file_records
from retail_sim.manifest import read_manifest, write_manifest
from retail_sim.prepared import Prepared
from retail_sim.progress import Ticker, log, peak_rss_mb, stage
from retail_sim.vocab import (
    ANONYMOUS_CUSTOMER_IDX,
    FIRST_PRODUCT_IDX,
    MASK_IDX,
    PAD_IDX,
    UNK_IDX,
    UNKNOWN_STORE_IDX,
)
from retail_sim.widths import HISTORY_DIM, PRODUCT_DIM, SEGMENT_DIM, STATE_DIM, STORE_DIM


def positional_encodings(max_seq_len: int, dim: int) -> np.ndarray:
    """Sinusoidal [max_seq_len, dim]: even columns sin(pos / 10000^(2i/dim)), odd columns cos."""
    pos = np.arange(max_seq_len, dtype=np.float64)[:, None]
    i = np.arange(0, dim, 2, dtype=np.float64)[None, :]
    angle = pos / np.power(10000.0, i / dim)
    out = np.zeros((max_seq_len, dim))
    out[:, 0::2] = np.sin(angle)
    out[:, 1::2] = np.cos(angle[:, : dim // 2])
    return out.astype(np.float32)


def _read_vocab(prepared: Path, name: str) -> dict[str, np.ndarray]:
    table = pq.read_table(prepared / "vocab" / f"{name}.parquet")
    # column names compared case-insensitively (STORE_CODE and store_code both occur)
    return {c.lower(): table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}


def _weeks_present(prepared: Path) -> np.ndarray:
    """Weeks with an items partition, ascending."""
    weeks = [int(p.name.split("=", 1)[1]) for p in (prepared / "items").glob("week=*") if p.is_dir()]
    return np.array(sorted(weeks), dtype=np.int64)


def _write(folder: Path, name: str, array: np.ndarray, shapes: dict) -> None:
    if not np.isfinite(array).all():
        raise AssertionError(f"{name}: NaN or inf in the cache array (a bug)")
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
    shapes[name] = {"shape": list(array.shape), "dtype": str(array.dtype)}


@dataclass
class CacheBuild:
    """What the steps of one build share: the inputs, the folder being filled and what it records."""

    cfg: Config
    prepared: Prepared
    folder: Path  # the temp folder, moved into place at the end
    con: object  # DuckDB connection with the prepared views and the cache macros
    train_weeks: tuple[int, int]  # the prepared folder's own split, not cfg's
    validation_weeks: tuple[int, int]
    weeks: np.ndarray  # weeks with items, ascending
    n_train_weeks: int  # training weeks with items
    vocab: dict[str, dict[str, np.ndarray]]  # products / customers / stores columns
    shapes: dict[str, dict] = field(default_factory=dict)  # array name -> shape, dtype (the manifest's "arrays")
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def train(self) -> dict[str, int]:
        """The training weeks as the cache SQL's variables."""
        return {"train_first": self.train_weeks[0], "train_last": self.train_weeks[1]}

    def write(self, name: str, array: np.ndarray) -> None:
        _write(self.folder, name, array, self.shapes)

    def unmap_over(self, *arrays: np.ndarray) -> None:
        """Past loader.mapped_cache_mb of mapped file pages, take the pages of these memory-mapped
        arrays (the files being written) out of this process's RSS (files.unmap_over); 0 = never."""
        limit = self.cfg.loader.mapped_cache_mb * 2**20
        if limit > 0:
            unmap_over([file_map(a) for a in arrays], limit)


@dataclass
class ProductTable:
    table: np.ndarray  # [P+3, 256] float32
    stats: dict[str, np.ndarray]  # sql/cache/01_product_stats rows
    metrics: dict  # training or import figures and the quality report


def build_cache(
    cfg: Config, prepared: Path | str, product_embeddings: Path | str | None = None, out: Path | str | None = None
) -> dict:
    """Build `<prepared>/tensor_cache/` (or `out`) and return its manifest.

    The week ranges come from the prepared folder's own config (its split), not from cfg.
    """
    started = time.perf_counter()
    prep = Prepared(prepared)
    out = Path(out) if out is not None else prep.cache_dir
    with output_folder(out, "cache", replaceable=is_complete_output("cache"), what="a complete `cache` output"):
        work = work_folder(out)
        build = _open_build(cfg, prep, work)
        with stage("cache: product embeddings", build.durations):
            product = _product_embeddings(build, product_embeddings)
        with stage("cache: store and segment embeddings", build.durations):
            group_metrics, customer_segment = _store_and_segment_embeddings(build)
        with stage("cache: customer state", build.durations):
            state_metrics = _customer_state(build, product, customer_segment)
        with stage("cache: purchase history index", build.durations):
            history_metrics = _history_index(build, len(customer_segment) - 1)
        with stage("cache: vocab.json", build.durations):
            _write_vocab(build)
        write_manifest(work, _manifest(build, product, {**group_metrics, **history_metrics}, state_metrics, started))
        build.con.close()
        swap_into_place(work, out)
    return read_manifest(out, stage="cache", rerun=hints.cache(prep.path))


def _open_build(cfg: Config, prep: Prepared, work: Path) -> CacheBuild:
    """Connect, find the weeks present (refusing a folder without training items), read the vocab."""
    con = sqlfiles.connect(prep, cfg)
    train_first, train_last = prep.weeks("train")
    weeks = _weeks_present(prep.path)
    n_train_weeks = int(((weeks >= train_first) & (weeks <= train_last)).sum())
    if n_train_weeks == 0:
        raise UserError(f"{prep.path}: no items in the training weeks {train_first}..{train_last} — nothing to fit")
    vocab = {name: _read_vocab(prep.path, name) for name in ("products", "customers", "stores")}
    return CacheBuild(cfg, prep, work, con, (train_first, train_last), prep.weeks("validation"), weeks,
                      n_train_weeks, vocab)


def _product_embeddings(b: CacheBuild, imported: Path | str | None) -> ProductTable:
    """GraphSAGE on the training weeks' co-purchases (or an imported table), and its quality report
    against random and one-hot hierarchy vectors on the validation weeks' pairs."""
    cfg, pv = b.cfg, b.vocab["products"]
    stats = sqlfiles.run(b.con, "01_product_stats", **b.train)
    rows = stats["product_idx"].astype(np.int64) - FIRST_PRODUCT_IDX  # vocab rows of the training products
    train_mask = np.zeros(len(pv["product_idx"]), dtype=bool)
    train_mask[rows] = True
    with products.with_threads(cfg.cache.torch_threads):
        if imported is None:
            pairs = sqlfiles.copurchase_pairs(b.con, b.train_weeks[0], b.train_weeks[1],
                                              cfg.cache.graph.min_cooccurrence, cfg.splits.items_per_slice)
            table, metrics, codes = products.graphsage_embeddings(cfg, pv, stats, pairs)
        else:
            table, metrics = products.import_embeddings(Path(imported), pv, PRODUCT_DIM, cfg.seed)
            codes = products.hierarchy_codes(pv, train_mask)
    val_pairs = sqlfiles.copurchase_pairs(b.con, b.validation_weeks[0], b.validation_weeks[1],
                                          cfg.cache.graph.eval_min_baskets, cfg.splits.items_per_slice)
    popularity = np.zeros(len(train_mask))
    popularity[rows] = stats["n_lines"]
    quality = products.evaluate(cfg, table, codes, train_mask, val_pairs, popularity)
    b.write("product_embeddings", table)
    log("cache: product embedding quality " + ", ".join(f"{k} {v}" for k, v in quality.items()))
    return ProductTable(table, stats, {**metrics, **quality})


def _store_and_segment_embeddings(b: CacheBuild) -> tuple[dict, np.ndarray]:
    """Store and segment tables from the training weeks' statistics, each customer's segment, and
    the positional encodings. Returns ({stores, segments} metrics, customer_segment [C+1])."""
    sv, cv = b.vocab["stores"], b.vocab["customers"]
    totals = sqlfiles.run(b.con, "04_group_totals", **b.train)
    mix = sqlfiles.run(b.con, "03_group_basket_mix", **b.train)
    spend = sqlfiles.run(b.con, "05_group_department_spend", **b.train)
    store_table, store_metrics = stores.store_embeddings(
        sv["store_code"], sv["store_idx"], sv["store_format"], sv["store_region"],
        totals, mix, spend, b.n_train_weeks, STORE_DIM,
    )
    b.write("store_embeddings", store_table)
    seg_table, seg_metrics = segments.segment_embeddings(totals, mix, spend, b.n_train_weeks, SEGMENT_DIM)
    b.write("segment_embeddings", seg_table)
    n_customers = int(np.max(cv["customer_idx"], initial=0))
    customer_segment = np.zeros(n_customers + 1, dtype=np.int32)
    customer_segment[cv["customer_idx"].astype(np.int64)] = segments.segment_index(
        cv["customer_lifestage"], cv["customer_price_sensitivity"]
    )
    b.write("customer_segment", customer_segment)
    b.write("positional_encodings", positional_encodings(b.prepared.config.splits.max_seq_len, PRODUCT_DIM))
    return {"stores": store_metrics, "segments": seg_metrics}, customer_segment


def _history_index(b: CacheBuild, n_customers: int) -> dict:
    """The prepared folder's purchase-history event log as the loader's memory-mapped arrays
    (data/history.py HistoryIndex), with the decays its running sums were computed with."""
    b.shapes.update(write_history_index(b.prepared.path, b.folder, n_customers, unmap=b.unmap_over))
    h = b.prepared.config.history
    return {"history": {"decay": h.decay, "short_decay": h.short_decay, "order": INDEX_ORDER,
                        "events": b.shapes["history_event_ts"]["shape"][0]}}


def _write_vocab(b: CacheBuild) -> None:
    """vocab.json: the special ids and code -> index of products, customers, stores and segments."""
    pv, cv, sv = b.vocab["products"], b.vocab["customers"], b.vocab["stores"]
    vocab = {
        "special": {"PAD": PAD_IDX, "UNK": UNK_IDX, "MASK": MASK_IDX, "first_product": FIRST_PRODUCT_IDX,
                    "anonymous_customer": ANONYMOUS_CUSTOMER_IDX, "unknown_store": UNKNOWN_STORE_IDX},
        "products": dict(zip(pv["product_code"].astype(str).tolist(), pv["product_idx"].astype(int).tolist(), strict=True)),
        "customers": dict(zip(cv["customer_code"].astype(str).tolist(), cv["customer_idx"].astype(int).tolist(), strict=True)),
        "stores": dict(zip(sv["store_code"].astype(str).tolist(), sv["store_idx"].astype(int).tolist(), strict=True)),
        "segments": {key: i for i, key in enumerate(segments.segment_keys())},
    }
    (b.folder / "vocab.json").write_text(json.dumps(vocab, indent=1))


def _manifest(b: CacheBuild, product: ProductTable, group_metrics: dict, state_metrics: dict, started: float) -> dict:
    return {
        "stage": "cache",
        "prepared": str(b.prepared.path),
        "prepared_fingerprint": b.prepared.fingerprint,
        "fit_window": {"train_weeks": list(b.train_weeks), "validation_weeks": list(b.validation_weeks),
                       "train_weeks_present": b.n_train_weeks},
        "arrays": b.shapes,
        "files": file_records(b.folder, CACHE_FILES),
        "seed": b.cfg.seed,
        "config": {"cache": b.cfg.to_dict()["cache"], "max_seq_len": b.prepared.config.splits.max_seq_len},
        "product_embeddings": product.metrics,
        **group_metrics,
        "customer_state": state_metrics,
        "durations": {**b.durations, "total": round(time.perf_counter() - started, 3)},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def summary_lines(manifest: dict) -> list[str]:
    """The report `retail-sim cache` prints: embedding quality next to its baselines, shapes, times."""
    q = manifest["product_embeddings"]
    lines = [f"tensor cache for prepared {manifest['prepared_fingerprint']}, fit on weeks "
             f"{manifest['fit_window']['train_weeks'][0]}..{manifest['fit_window']['train_weeks'][1]}"]
    if "link_auc_graphsage" in q:
        label = "imported" if "imported_from" in q else "graphsage"
        lines.append(f"{'product embeddings':<22}{'link AUC':>10}{'AUC popneg':>12}{'coherence@10':>14}")
        for name in ("graphsage", "hierarchy_only", "random"):
            auc, popneg = q.get(f"link_auc_{name}"), q.get(f"link_auc_popneg_{name}")
            lines.append(f"  {label if name == 'graphsage' else name:<20}{'n/a' if auc is None else f'{auc:.3f}':>10}"
                         f"{'n/a' if popneg is None else f'{popneg:.3f}':>12}{q[f'coherence_{name}']:>14.3f}")
        lines.append(f"  (AUC: {q['validation_pairs']} validation co-purchase pairs vs as many uniform random "
                     "pairs / pairs drawn by popularity^0.75)")
        if "coherence_ceiling" in q:
            lines.append(f"  (coherence@10 ceiling {q['coherence_ceiling']:.3f}: the most any embedding can score, "
                         "as classes with under 11 products cap it; one-hot hierarchy features reach it)")
    for name, info in manifest["arrays"].items():
        lines.append(f"{name:<28}{str(info['shape']):>16} {info['dtype']}")
    lines.append(f"seconds: {manifest['durations']}; peak RSS {manifest['peak_rss_mb']} MB")
    return lines



# ----------------------------------------------------------------------------- customer state


@dataclass
class CustomerRows:
    """The rows of 06_customer_weeks, one per (known customer, week with a basket), in key order."""

    state: np.ndarray  # [R, 128] float32, memory-mapped customer_state.npy (affinity filled, history not yet)
    customer: np.ndarray  # [R] int64
    week: np.ndarray  # [R] int64
    n_baskets: np.ndarray  # [R] int32: earlier baskets

    @property
    def n(self) -> int:
        return len(self.week)

    @property
    def keys(self) -> np.ndarray:
        return self.customer * customer_state.WEEK_KEY + self.week


def _customer_state(b: CacheBuild, product: ProductTable, customer_segment: np.ndarray) -> dict:
    """Write customer_state.npy [R, 128], customer_state_keys.npy [R], customer_state_n_baskets.npy [R],
    segment_prior.npy [n_segments, 128], history_pca_*.npy; return metrics."""
    rows = _stream_customer_weeks(b)
    projected, explained = _history_pca(b, product)
    _fill_history(b, rows, projected, n_customers=len(customer_segment) - 1)
    in_train = (rows.week >= b.train_weeks[0]) & (rows.week <= b.train_weeks[1]) & (rows.n_baskets > 0)
    prior = _segment_prior(b, rows, in_train, customer_segment)
    b.shapes["customer_state"] = {"shape": [rows.n, STATE_DIM], "dtype": "float32"}
    b.write("customer_state_keys", rows.keys)
    b.write("customer_state_n_baskets", rows.n_baskets)
    b.write("segment_prior", prior)
    return {
        "rows": int(rows.n),
        "customers_with_rows": int(len(np.unique(rows.customer))),
        "rows_with_history": int((rows.n_baskets > 0).sum()),
        "training_rows_in_prior": int(in_train.sum()),
        "week_key": customer_state.WEEK_KEY,
        "half_life_weeks": b.cfg.cache.half_life_weeks,
        "history_pca_explained_variance": explained,
    }


def _stream_customer_weeks(b: CacheBuild) -> CustomerRows:
    """06_customer_weeks streamed in chunks of cache.chunk_rows: the affinity part goes straight to
    the memory-mapped array, Python keeps four scalars per row (keys, baskets, week, customer)."""
    n_rows = int(sqlfiles.run(b.con, "06_customer_weeks_count")["n"][0])
    state = preallocated_memmap(b.folder / "customer_state.npy", np.float32, (n_rows, STATE_DIM))
    rows = CustomerRows(state, np.empty(n_rows, dtype=np.int64), np.empty(n_rows, dtype=np.int64),
                        np.empty(n_rows, dtype=np.int32))
    done = 0
    ticker = Ticker("cache: customer state, (customer, week) rows", n_rows, "rows")
    for chunk in sqlfiles.stream(b.con, "06_customer_weeks", b.cfg.cache.chunk_rows):
        part = slice(done, done + len(chunk["week"]))
        rows.customer[part] = chunk["customer_idx"]
        rows.week[part] = chunk["week"]
        rows.n_baskets[part] = chunk["b_baskets"]
        state[part, HISTORY_DIM:] = customer_state.affinity(chunk)
        b.unmap_over(state)
        done = part.stop
        ticker.add(len(chunk["week"]))
    if done != n_rows:
        raise AssertionError(f"06_customer_weeks gave {done} rows in chunks, {n_rows} counted")
    keys = rows.keys
    if n_rows > 1 and not (np.diff(keys) > 0).all():
        raise AssertionError("06_customer_weeks rows must be unique and ordered by (customer_idx, week)")
    return rows


def _history_pca(b: CacheBuild, product: ProductTable) -> tuple[np.ndarray, float | None]:
    """PCA of the product rows weighted by their known-customer training lines (training products
    only); writes its mean and components. Returns (every product projected [P+3, 96] float64,
    share of the weighted variance it explains)."""
    table, stats = product.table, product.stats
    fit_idx = stats["product_idx"].astype(np.int64)
    weight = stats["n_customer_lines"].astype(np.float64)
    fit_idx, weight = fit_idx[weight > 0], weight[weight > 0]
    mean, comps = linalg.pca_fit(table[fit_idx], HISTORY_DIM, weight)
    projected = linalg.project(table, mean, comps)  # [P+3, 96] float64
    explained = float(np.einsum("n,nk->", weight / weight.sum(), linalg.project(table[fit_idx], mean, comps) ** 2))
    total_var = float(np.einsum("n,nd->", weight / weight.sum(), (table[fit_idx] - mean) ** 2))
    b.write("history_pca_mean", mean.astype(np.float32))
    b.write("history_pca_components", comps.astype(np.float32))
    return projected, (round(explained / total_var, 4) if total_var > 0 else None)


def _fill_history(b: CacheBuild, rows: CustomerRows, projected: np.ndarray, n_customers: int) -> None:
    """Week by week: the rows of a week read the decayed history mean of strictly earlier weeks,
    then the week's lines (sql/cache/07_customer_week_lines) are added to it.

    The states go to a week-ordered work file first, each week's rows one sequential block, and into
    customer_state.npy's key order in one pass at the end: a week's rows lie scattered over the
    key-ordered file, one per customer, so writing them there week by week dirtied a page of it per
    row each week (214.4M rows: a 6.5 GB file, 112 s of the step stalled in the kernel's writeback;
    0.4 s at 50.6M rows, where the file fits the kernel's dirty-page budget)."""
    acc = customer_state.HistoryAccumulator(n_customers, projected, b.cfg.cache.half_life_weeks)
    order = np.argsort(rows.week, kind="stable")  # week-ordered position j -> row order[j]
    bounds = np.r_[np.searchsorted(rows.week[order], b.weeks), rows.n]
    work_path = b.folder / "customer_state_by_week.work.npy"
    by_week = preallocated_memmap(work_path, np.float32, (rows.n, HISTORY_DIM))
    ticker = Ticker("cache: customer state, history by week", len(b.weeks), "weeks")
    for i, week in enumerate(b.weeks):
        at = order[bounds[i] : bounds[i + 1]]  # rows of this week, in customer order
        if len(at):
            by_week[bounds[i] : bounds[i + 1]] = acc.state(rows.customer[at])
            b.unmap_over(by_week)
        lines = sqlfiles.run(b.con, "07_customer_week_lines", week=int(week))
        acc.add_week(int(week), lines["customer_idx"].astype(np.int64), lines["product_idx"].astype(np.int64),
                     lines["n_lines"].astype(np.float64))
        ticker.add(1)
    position = np.empty_like(order)
    position[order] = np.arange(rows.n)  # row -> its week-ordered position
    for start in range(0, rows.n, b.cfg.cache.chunk_rows):  # key order: each page of the state written once
        part = slice(start, min(start + b.cfg.cache.chunk_rows, rows.n))
        rows.state[part, :HISTORY_DIM] = by_week[position[part]]
        b.unmap_over(rows.state)  # not by_week: read at random rows, each chunk would map it again
    rows.state.flush()
    del by_week
    work_path.unlink()


def _segment_prior(b: CacheBuild, rows: CustomerRows, in_train: np.ndarray, customer_segment: np.ndarray) -> np.ndarray:
    """Mean training-week state of each segment's customers (rows with history); segments without such
    rows (and the anonymous segment) get the mean over all of them. Summed chunk by chunk in row
    order (the same float64 sums as one pass), checking the state for NaN/inf. -> [n_segments, 128] float32."""
    chunk_rows = b.cfg.cache.chunk_rows
    sums = np.zeros((segments.N_SEGMENTS, STATE_DIM))
    counts = np.zeros(segments.N_SEGMENTS)
    for start in range(0, rows.n, chunk_rows):
        part = slice(start, min(start + chunk_rows, rows.n))
        b.unmap_over(rows.state)
        block = np.asarray(rows.state[part])
        if not np.isfinite(block).all():
            raise AssertionError("customer_state: NaN or inf (a bug)")
        pick = np.flatnonzero(in_train[part])
        seg_of_row = customer_segment[rows.customer[part][pick]]
        np.add.at(sums, seg_of_row, block[pick].astype(np.float64))
        counts += np.bincount(seg_of_row, minlength=segments.N_SEGMENTS)
    overall = sums.sum(axis=0) / max(counts.sum(), 1.0)
    prior = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall)
    return prior.astype(np.float32)
