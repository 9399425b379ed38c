"""`retail-sim cache`: prepared folder -> <prepared>/tensor_cache/ (arrays .npy + JSON, no pickle).

Everything fitted (GraphSAGE, PCA, z-scores) sees the training weeks only; customer rows are
point-in-time. Output is written to a temp folder beside the target and moved into place last.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from retail_sim.cache import customer_state, linalg, products, segments, sqlfiles, stores
from retail_sim.cache.tensor_cache import CACHE_DIR
from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.files import swap_into_place, work_folder
from retail_sim.manifest import read_manifest, write_manifest
from retail_sim.progress import log, peak_rss_mb, stage
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


def build_cache(
    cfg: Config, prepared: Path | str, product_embeddings: Path | str | None = None, out: Path | str | None = None
) -> dict:
    """Build `<prepared>/tensor_cache/` (or `out`) and return its manifest.

    The week ranges come from the prepared manifest (the folder's own split), not from cfg.
    """
    started = time.perf_counter()
    prepared = Path(prepared)
    prep_manifest = read_manifest(prepared)
    splits = prep_manifest.get("config", {}).get("splits", {})
    train_first, train_last = splits.get("train_weeks", cfg.splits.train_weeks)
    val_first, val_last = splits.get("validation_weeks", cfg.splits.validation_weeks)
    max_seq_len = int(splits.get("max_seq_len", cfg.splits.max_seq_len))
    out = Path(out) if out is not None else prepared / CACHE_DIR
    tmp = work_folder(out)
    durations: dict[str, float] = {}
    shapes: dict[str, dict] = {}
    ccfg = cfg.cache
    try:
        con = sqlfiles.connect(cfg, prepared)
        weeks = _weeks_present(prepared)
        n_train_weeks = int(((weeks >= train_first) & (weeks <= train_last)).sum())
        if n_train_weeks == 0:
            raise UserError(f"{prepared}: no items in the training weeks {train_first}..{train_last} — nothing to fit")
        train = {"train_first": train_first, "train_last": train_last}
        pv = _read_vocab(prepared, "products")
        cv = _read_vocab(prepared, "customers")
        sv = _read_vocab(prepared, "stores")

        with stage("cache: product embeddings", durations):
            stats = sqlfiles.run(con, "01_product_stats", **train)
            train_mask = np.zeros(len(pv["product_idx"]), dtype=bool)
            train_mask[stats["product_idx"].astype(np.int64) - FIRST_PRODUCT_IDX] = True
            with products.with_threads(ccfg.torch_threads):
                if product_embeddings is None:
                    pairs = sqlfiles.run(con, "02_copurchase_pairs", first_week=train_first, last_week=train_last,
                                         min_baskets=ccfg.graph.min_cooccurrence)
                    table, emb_metrics, codes = products.graphsage_embeddings(cfg, pv, stats, pairs)
                else:
                    table, emb_metrics = products.import_embeddings(Path(product_embeddings), pv, PRODUCT_DIM, cfg.seed)
                    codes = products.hierarchy_codes(pv, train_mask)
            val_pairs = sqlfiles.run(con, "02_copurchase_pairs", first_week=val_first, last_week=val_last,
                                     min_baskets=ccfg.graph.eval_min_baskets)
            popularity = np.zeros(len(train_mask))
            popularity[stats["product_idx"].astype(np.int64) - FIRST_PRODUCT_IDX] = stats["n_lines"]
            emb_quality = products.evaluate(cfg, table, codes, train_mask, val_pairs, popularity)
            _write(tmp, "product_embeddings", table, shapes)
            log("cache: product embedding quality " + ", ".join(f"{k} {v}" for k, v in emb_quality.items()))

        with stage("cache: store and segment embeddings", durations):
            totals = sqlfiles.run(con, "04_group_totals", **train)
            mix = sqlfiles.run(con, "03_group_basket_mix", **train)
            spend = sqlfiles.run(con, "05_group_department_spend", **train)
            store_table, store_metrics = stores.store_embeddings(
                sv["store_code"], sv["store_idx"], sv["store_format"], sv["store_region"],
                totals, mix, spend, n_train_weeks, STORE_DIM,
            )
            _write(tmp, "store_embeddings", store_table, shapes)
            seg_table, seg_metrics = segments.segment_embeddings(totals, mix, spend, n_train_weeks, SEGMENT_DIM)
            _write(tmp, "segment_embeddings", seg_table, shapes)
            n_customers = int(np.max(cv["customer_idx"], initial=0))
            customer_segment = np.zeros(n_customers + 1, dtype=np.int32)
            customer_segment[cv["customer_idx"].astype(np.int64)] = segments.segment_index(
                cv["customer_lifestage"], cv["customer_price_sensitivity"]
            )
            _write(tmp, "customer_segment", customer_segment, shapes)
            _write(tmp, "positional_encodings", positional_encodings(max_seq_len, PRODUCT_DIM), shapes)

        with stage("cache: customer state", durations):
            state_metrics = _customer_state(cfg, con, tmp, table, stats, n_customers, weeks,
                                            train_first, train_last, customer_segment, shapes)

        with stage("cache: vocab.json", durations):
            vocab = {
                "special": {"PAD": PAD_IDX, "UNK": UNK_IDX, "MASK": MASK_IDX, "first_product": FIRST_PRODUCT_IDX,
                            "anonymous_customer": ANONYMOUS_CUSTOMER_IDX, "unknown_store": UNKNOWN_STORE_IDX},
                "products": dict(zip(pv["product_code"].astype(str).tolist(), pv["product_idx"].astype(int).tolist(), strict=True)),
                "customers": dict(zip(cv["customer_code"].astype(str).tolist(), cv["customer_idx"].astype(int).tolist(), strict=True)),
                "stores": dict(zip(sv["store_code"].astype(str).tolist(), sv["store_idx"].astype(int).tolist(), strict=True)),
                "segments": {key: i for i, key in enumerate(segments.segment_keys())},
            }
            (tmp / "vocab.json").write_text(json.dumps(vocab, indent=1))

        manifest = {
            "stage": "cache",
            "prepared": str(prepared),
            "prepared_fingerprint": prep_manifest["fingerprint"],
            "fit_window": {"train_weeks": [train_first, train_last], "validation_weeks": [val_first, val_last],
                           "train_weeks_present": n_train_weeks},
            "arrays": shapes,
            "seed": cfg.seed,
            "config": {"cache": cfg.to_dict()["cache"], "max_seq_len": max_seq_len},
            "product_embeddings": {**emb_metrics, **emb_quality},
            "stores": store_metrics,
            "segments": seg_metrics,
            "customer_state": state_metrics,
            "durations": {**durations, "total": round(time.perf_counter() - started, 3)},
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        write_manifest(tmp, manifest)
        con.close()
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return read_manifest(out, stage="cache", rerun="make cache")


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


def _customer_state(
    cfg: Config,
    con,
    folder: Path,
    product_table: np.ndarray,
    stats: dict,
    n_customers: int,
    weeks: np.ndarray,
    train_first: int,
    train_last: int,
    customer_segment: np.ndarray,
    shapes: dict,
) -> dict:
    """Write customer_state.npy [R, 128], customer_state_keys.npy [R], customer_state_n_baskets.npy [R],
    segment_prior.npy [n_segments, 128]; return metrics."""
    ccfg = cfg.cache
    # 06_customer_weeks streamed in chunks of cache.chunk_rows: the affinity part goes straight to
    # the memory-mapped array, Python keeps four scalars per row (keys, baskets, week, customer)
    n_rows = sqlfiles.count(con, "06_customer_weeks")
    width = STATE_DIM
    state = np.lib.format.open_memmap(folder / "customer_state.npy", mode="w+", dtype=np.float32, shape=(n_rows, width))
    n_baskets = np.empty(n_rows, dtype=np.int32)
    row_week = np.empty(n_rows, dtype=np.int64)
    row_customer = np.empty(n_rows, dtype=np.int64)
    done = 0
    for rows in sqlfiles.stream(con, "06_customer_weeks", ccfg.chunk_rows):
        part = slice(done, done + len(rows["week"]))
        row_customer[part] = rows["customer_idx"]
        row_week[part] = rows["week"]
        n_baskets[part] = rows["b_baskets"]
        state[part, HISTORY_DIM :] = customer_state.affinity(rows)
        done = part.stop
    if done != n_rows:
        raise AssertionError(f"06_customer_weeks gave {done} rows in chunks, {n_rows} counted")
    keys = row_customer * customer_state.WEEK_KEY + row_week
    if n_rows > 1 and not (np.diff(keys) > 0).all():
        raise AssertionError("06_customer_weeks rows must be unique and ordered by (customer_idx, week)")

    # history PCA: product rows weighted by their known-customer training lines (training products only)
    fit_idx = stats["product_idx"].astype(np.int64)
    weight = stats["n_customer_lines"].astype(np.float64)
    fit_idx, weight = fit_idx[weight > 0], weight[weight > 0]
    mean, comps = linalg.pca_fit(product_table[fit_idx], HISTORY_DIM, weight)
    projected = linalg.project(product_table, mean, comps)  # [P+3, 96] float64
    explained = float(np.einsum("n,nk->", weight / weight.sum(), linalg.project(product_table[fit_idx], mean, comps) ** 2))
    total_var = float(np.einsum("n,nd->", weight / weight.sum(), (product_table[fit_idx] - mean) ** 2))
    _write(folder, "history_pca_mean", mean.astype(np.float32), shapes)
    _write(folder, "history_pca_components", comps.astype(np.float32), shapes)

    acc = customer_state.HistoryAccumulator(n_customers, HISTORY_DIM, ccfg.half_life_weeks)
    order = np.argsort(row_week, kind="stable")
    bounds = np.searchsorted(row_week[order], weeks)
    bounds = np.r_[bounds, n_rows]
    for i, week in enumerate(weeks):
        at = order[bounds[i] : bounds[i + 1]]  # rows of this week, in customer order
        if len(at):
            state[at, : HISTORY_DIM] = acc.state(row_customer[at]).astype(np.float32)
        lines = sqlfiles.run(con, "07_customer_week_lines", week=int(week))
        acc.add_week(int(week), lines["customer_idx"].astype(np.int64), projected[lines["product_idx"].astype(np.int64)],
                     lines["n_lines"].astype(np.float64))
    state.flush()
    # segment prior: mean training-week state of the segment's customers (rows with history);
    # segments without such rows (and the anonymous segment) get the mean over all of them.
    # Summed chunk by chunk in row order (the same float64 sums as one pass), checking for NaN/inf.
    in_train = (row_week >= train_first) & (row_week <= train_last) & (n_baskets > 0)
    sums = np.zeros((segments.N_SEGMENTS, width))
    counts = np.zeros(segments.N_SEGMENTS)
    for start in range(0, n_rows, ccfg.chunk_rows):
        part = slice(start, min(start + ccfg.chunk_rows, n_rows))
        block = np.asarray(state[part])
        if not np.isfinite(block).all():
            raise AssertionError("customer_state: NaN or inf (a bug)")
        pick = np.flatnonzero(in_train[part])
        seg_of_row = customer_segment[row_customer[part][pick]]
        np.add.at(sums, seg_of_row, block[pick].astype(np.float64))
        counts += np.bincount(seg_of_row, minlength=segments.N_SEGMENTS)
    shapes["customer_state"] = {"shape": [n_rows, width], "dtype": "float32"}
    _write(folder, "customer_state_keys", keys, shapes)
    _write(folder, "customer_state_n_baskets", n_baskets, shapes)
    overall = sums.sum(axis=0) / max(counts.sum(), 1.0)
    prior = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall)
    _write(folder, "segment_prior", prior.astype(np.float32), shapes)
    return {
        "rows": int(n_rows),
        "customers_with_rows": int(len(np.unique(row_customer))),
        "rows_with_history": int((n_baskets > 0).sum()),
        "training_rows_in_prior": int(in_train.sum()),
        "week_key": customer_state.WEEK_KEY,
        "half_life_weeks": ccfg.half_life_weeks,
        "history_pca_explained_variance": round(explained / total_var, 4) if total_var > 0 else None,
    }
