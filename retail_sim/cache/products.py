"""Product embeddings [P+3, 256]: GraphSAGE on training-week co-purchases (or an imported table).

Row layout: 0 PAD (zeros), 1 UNK (mean of the trained rows), 2 MASK (a fixed seeded vector),
3.. products in vocab order. Product rows have L2 norm sqrt(256) = 16 (unit RMS per element).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from retail_sim.arrays import sorted_lookup
from retail_sim.cache import graph, quality
from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.vocab import FIRST_PRODUCT_IDX
from retail_sim.widths import PRODUCT_DIM

HIERARCHY = ("prod_code_10", "prod_code_20", "prod_code_30", "prod_code_40")


def hierarchy_codes(vocab: dict[str, np.ndarray], train_mask: np.ndarray) -> np.ndarray:
    """[P, 4] int: per level, 1.. = rank of the code among the codes of training products,
    0 = a code no training product has (its embedding stays zero)."""
    out = np.zeros((len(train_mask), len(HIERARCHY)), dtype=np.int64)
    for level, name in enumerate(HIERARCHY):
        values = vocab[name].astype(str)
        found, pos = sorted_lookup(np.unique(values[train_mask]), values)
        out[:, level] = np.where(found, pos + 1, 0)
    return out


def price_features(median_price: np.ndarray, category: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """[P, 2] price level from the training weeks: z-scored log median unit price, and z-scored log
    ratio to the median over the training products of the same PROD_CODE_10. Products without
    training lines get 0 (the average) in both: no later price can leak in."""
    out = np.zeros((len(train_mask), 2), dtype=np.float64)
    if not train_mask.any():
        return out
    log_price = np.log(np.maximum(median_price[train_mask], 0.01))
    cats = category[train_mask]
    order = np.lexsort((log_price, cats))
    cat_sorted, price_sorted = cats[order], log_price[order]
    starts = np.flatnonzero(np.r_[True, cat_sorted[1:] != cat_sorted[:-1]])
    ends = np.r_[starts[1:], len(cat_sorted)]
    lo, hi = (starts + ends - 1) // 2, (starts + ends) // 2
    cat_median = (price_sorted[lo] + price_sorted[hi]) / 2.0
    relative = log_price - cat_median[np.searchsorted(cat_sorted[starts], cats)]
    for col, values in enumerate((log_price, relative)):
        std = values.std()
        out[train_mask, col] = (values - values.mean()) / (std if std > 0 else 1.0)
    return out


def node_features(median_price: np.ndarray, n_lines: np.ndarray, category: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """[P, 3] numeric node inputs from the training weeks: the two price columns of
    price_features, then the z-scored log1p(training lines) — popularity, which mean aggregation
    cannot see otherwise. A product without training lines has 0 lines (it did not sell then)."""
    out = np.zeros((len(train_mask), 3))
    out[:, :2] = price_features(median_price, category, train_mask)
    pop = np.log1p(np.where(train_mask, n_lines, 0.0))
    mu, sd = pop[train_mask].mean(), pop[train_mask].std()
    out[:, 2] = (pop - mu) / (sd if sd > 0 else 1.0)
    return out


def special_rows(trained: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """[3, dim]: PAD zeros, UNK the mean of `trained` [n, dim], MASK a seeded vector of norm sqrt(dim)."""
    mask = np.random.default_rng([seed, 2]).standard_normal(dim)
    mask = mask / np.linalg.norm(mask) * np.sqrt(dim)
    unk = trained.mean(axis=0) if len(trained) else np.zeros(dim)
    return np.stack([np.zeros(dim), unk, mask]).astype(np.float32)


def graphsage_embeddings(
    cfg: Config, vocab: dict[str, np.ndarray], stats: dict[str, np.ndarray], pairs: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict, np.ndarray]:
    """Train GraphSAGE and embed every vocab product.

    vocab: products.parquet columns (P rows, product_idx order); stats: 01_product_stats rows;
    pairs: 02_copurchase_pairs rows over the training weeks. Returns (table [P+3, 256] float32,
    training metrics, hierarchy codes [P, 4]).
    """
    gcfg, dim = cfg.cache.graph, PRODUCT_DIM
    n_vocab = len(vocab["product_idx"])
    row = vocab["product_idx"].astype(np.int64) - FIRST_PRODUCT_IDX  # vocab row of each product_idx
    train_mask = np.zeros(n_vocab, dtype=bool)
    n_lines = np.zeros(n_vocab)
    n_baskets = np.zeros(n_vocab)
    median_price = np.zeros(n_vocab)
    stat_rows = stats["product_idx"].astype(np.int64) - FIRST_PRODUCT_IDX
    train_mask[stat_rows] = True
    n_lines[stat_rows] = stats["n_lines"]
    n_baskets[stat_rows] = stats["n_baskets"]
    median_price[stat_rows] = stats["median_unit_price"]
    assert (row == np.arange(n_vocab)).all(), "products.parquet must list product_idx 3.. in order"

    codes = hierarchy_codes(vocab, train_mask)
    price = node_features(median_price, n_lines, codes[:, 0], train_mask)

    # graph nodes: the training products, in product-code order (independent of later products)
    nodes = np.flatnonzero(train_mask)
    node_of = np.full(n_vocab, -1, dtype=np.int64)
    node_of[nodes] = np.arange(len(nodes))
    is_pair = pairs["product_a"] > 0
    total_baskets = float(pairs["n_baskets"][~is_pair].sum())
    a_rows = pairs["product_a"][is_pair].astype(np.int64) - FIRST_PRODUCT_IDX
    b_rows = pairs["product_b"][is_pair].astype(np.int64) - FIRST_PRODUCT_IDX
    count = pairs["n_baskets"][is_pair].astype(np.float64)
    lift = count * total_baskets / (n_baskets[a_rows] * n_baskets[b_rows])
    agg_weight = lift if gcfg.edge_weight == "lift" else count
    pos_weight = {"lift": lift, "count": count, "uniform": np.ones_like(count)}[gcfg.positive_weight]
    a_nodes, b_nodes = node_of[a_rows], node_of[b_rows]
    dst, src, w = graph.neighbour_table(len(nodes), a_nodes, b_nodes, agg_weight, gcfg.max_neighbours)
    mean_op = graph.mean_operator(len(nodes), dst, src, w)

    metrics: dict = {
        "nodes": int(len(nodes)),
        "edges": int(is_pair.sum()),
        "edges_kept_directed": int(len(dst)),
        "isolated_nodes": int(len(nodes) - len(np.unique(dst))),
        "products_without_training_lines": int(n_vocab - len(nodes)),
    }
    if len(nodes) == 0 or len(count) == 0:
        raise UserError("the training weeks hold no co-purchased products: cannot train product embeddings")
    model, train_metrics = graph.train_graphsage(
        codes[nodes], price[nodes], mean_op, a_nodes, b_nodes, pos_weight, n_lines[nodes], gcfg, dim, cfg.seed
    )
    metrics.update(train_metrics)
    emb = np.zeros((n_vocab, dim), dtype=np.float32)
    emb[nodes] = graph.embed(model, codes[nodes], price[nodes], np.arange(1, len(nodes) + 1), mean_op,
                              gcfg.hierarchy_mix)
    others = np.flatnonzero(~train_mask)
    if len(others):  # no ID row (the unseen vector), no neighbours: hierarchy and price only
        empty = graph.mean_operator(len(others), *(np.zeros(0, np.int64),) * 2, np.zeros(0))
        emb[others] = graph.embed(model, codes[others], price[others], np.zeros(len(others)), empty,
                                    gcfg.hierarchy_mix)
    emb *= np.float32(np.sqrt(dim))
    table = np.concatenate([special_rows(emb[nodes], dim, cfg.seed), emb]).astype(np.float32)
    return table, metrics, codes


def import_embeddings(path: Path, vocab: dict[str, np.ndarray], dim: int, seed: int) -> tuple[np.ndarray, dict]:
    """Read externally trained embeddings: Parquet with a product id column (product_code,
    product_id or prod_code) and either one list column of `dim` floats or `dim` numeric columns.
    Vocab products missing from the file get the mean of their PROD_CODE_10's imported rows (else
    the mean of all). Returns (table [P+3, dim] float32, metrics)."""
    if not Path(path).is_file():
        raise UserError(f"{path}: product embeddings file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    names = {n.lower(): n for n in table.column_names}
    id_col = next((names[c] for c in ("product_code", "product_id", "prod_code") if c in names), None)
    if id_col is None:
        raise UserError(f"{path}: no product id column (expected one of product_code, product_id, prod_code)")
    ids = np.asarray(table.column(id_col).to_pylist(), dtype=str)
    rest = [n for n in table.column_names if n != id_col]
    list_cols = [n for n in rest if pa.types.is_list(table.schema.field(n).type)
                 or pa.types.is_fixed_size_list(table.schema.field(n).type)
                 or pa.types.is_large_list(table.schema.field(n).type)]
    if len(list_cols) == 1:
        column = table.column(list_cols[0]).combine_chunks()
        lengths = np.asarray(pc.list_value_length(column).to_numpy(zero_copy_only=False))
        if len(lengths) and (lengths != dim).any():
            bad = int(np.flatnonzero(lengths != dim)[0])
            raise UserError(
                f"{path}: column '{list_cols[0]}' holds {lengths[bad]} floats for product {ids[bad]}; expected {dim}"
            )
        values = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float64).reshape(len(ids), dim)
    else:
        numeric = [n for n in rest if pa.types.is_floating(table.schema.field(n).type)
                   or pa.types.is_integer(table.schema.field(n).type)]
        if len(numeric) != dim:
            raise UserError(
                f"{path}: found {len(numeric)} numeric columns besides '{id_col}'; expected {dim} "
                f"(or one list column of {dim} floats)"
            )
        values = np.stack([table.column(n).to_numpy(zero_copy_only=False) for n in numeric], axis=1).astype(np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"{path}: embeddings contain NaN or infinite values")
    codes = vocab["product_code"].astype(str)
    order = np.argsort(codes)
    known, pos = sorted_lookup(codes[order], ids)
    if not known.all():
        unknown = ids[~known]
        raise UserError(
            f"{path}: {len(unknown)} product ids are not in the prepared vocab (e.g. {unknown[0]}); "
            "export embeddings for the same data or rerun `make splits`"
        )
    if len(np.unique(ids)) != len(ids):
        raise UserError(f"{path}: product ids repeat in column '{id_col}'")
    rows = order[pos]
    emb = np.zeros((len(codes), dim), dtype=np.float64)
    have = np.zeros(len(codes), dtype=bool)
    emb[rows], have[rows] = values, True
    category = vocab["prod_code_10"].astype(str)
    cats, cat_id = np.unique(category, return_inverse=True)
    sums = np.zeros((len(cats), dim))
    np.add.at(sums, cat_id[have], emb[have])
    counts = np.bincount(cat_id[have], minlength=len(cats))
    fill = np.where(counts[cat_id][:, None] > 0, sums[cat_id] / np.maximum(counts[cat_id], 1)[:, None],
                    emb[have].mean(axis=0))
    emb[~have] = fill[~have]
    table_out = np.concatenate([special_rows(values, dim, seed), emb.astype(np.float32)]).astype(np.float32)
    return table_out, {"imported_from": str(path), "imported_rows": int(len(ids)),
                       "products_filled_from_category": int((~have).sum())}


def evaluate(
    cfg: Config,
    table: np.ndarray,
    codes: np.ndarray,
    train_mask: np.ndarray,
    val_pairs: dict[str, np.ndarray],
    popularity: np.ndarray,
) -> dict:
    """Held-out link AUC and category coherence (k=10 nearest training products sharing
    PROD_CODE_10), each for the embeddings, random vectors and one-hot hierarchy features, and the
    coherence ceiling (the most any embedding can score here; the one-hot features reach it).

    Positives: pairs bought together in >= graph.eval_min_baskets validation baskets. Negatives,
    as many: uniform random product pairs (`link_auc_*`), and pairs drawn by training
    popularity^0.75 like the training negatives (`link_auc_popneg_*`: popularity cannot explain
    this one). popularity [P]: training lines per vocab product. AUC is None without positives."""
    rng = np.random.default_rng([cfg.seed, 3])
    n_vocab = len(codes)
    products = table[FIRST_PRODUCT_IDX:]
    baselines = {
        "graphsage": products,
        "random": quality.random_embeddings(n_vocab, products.shape[1], cfg.seed + 1),
        "hierarchy_only": quality.hierarchy_embeddings(codes),
    }
    is_pair = val_pairs["product_a"] > 0
    pos_a = val_pairs["product_a"][is_pair].astype(np.int64) - FIRST_PRODUCT_IDX
    pos_b = val_pairs["product_b"][is_pair].astype(np.int64) - FIRST_PRODUCT_IDX
    n_eval = cfg.cache.graph.eval_pairs
    if n_eval and len(pos_a) > n_eval:
        pick = np.sort(rng.choice(len(pos_a), n_eval, replace=False))
        pos_a, pos_b = pos_a[pick], pos_b[pick]
    neg_a = rng.integers(0, n_vocab, len(pos_a))
    neg_b = (neg_a + rng.integers(1, max(n_vocab, 2), len(pos_a))) % n_vocab  # never equal to neg_a
    noise = popularity.astype(np.float64) ** 0.75
    pop_a = rng.choice(n_vocab, len(pos_a), p=noise / noise.sum())
    pop_b = rng.choice(n_vocab, len(pos_a), p=noise / noise.sum())
    train_rows = np.flatnonzero(train_mask)
    out: dict = {"validation_pairs": int(len(pos_a)),
                 "coherence_ceiling": round(quality.coherence_ceiling(codes[train_rows, 0]), 4)}
    for name, emb in baselines.items():
        out[f"link_auc_{name}"] = (
            round(quality.link_auc(emb, pos_a, pos_b, neg_a, neg_b), 4) if len(pos_a) else None
        )
        out[f"link_auc_popneg_{name}"] = (
            round(quality.link_auc(emb, pos_a, pos_b, pop_a, pop_b), 4) if len(pos_a) else None
        )
        out[f"coherence_{name}"] = round(quality.category_coherence(emb[train_rows], codes[train_rows, 0]), 4)
    return out


def with_threads(n: int):
    """Context: torch uses `n` threads inside (fixed so float reductions repeat bit for bit)."""

    class _Threads:
        def __enter__(self):
            self.before = torch.get_num_threads()
            torch.set_num_threads(max(1, n))

        def __exit__(self, *exc):
            torch.set_num_threads(self.before)

    return _Threads()
