"""`retail-sim evaluate`: a checkpoint and three baselines scored on the same hidden items.

The EvaluationDataLoader gives every basket of the split once, with deterministic masks. For each
hidden item the model and each baseline (popularity, co-purchase, own history; see baselines.py)
score every product; the rank of the true product gives accuracy, recall@10, recall@20 and MRR.
The model's auxiliary heads give accuracy and macro-F1 per task; the popularity row carries the
majority-class (training split) predictor for them. Tables: overall, per group (date, hour or
week), cold-start customers (is_unseen_in_train) vs the rest; a PNG of recall@10 per group.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from retail_sim.arrays import sorted_lookup
from retail_sim.baselines import BASELINES, BaselineScorer, own_history, training_counts
from retail_sim.config import Config, apply
from retail_sim.data.batch import AUXILIARY_TASKS, IGNORE_INDEX
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.data.masking import evaluation_sample
from retail_sim.errors import UserError
from retail_sim.manifest import read_manifest
from retail_sim.metrics import (
    RECALL_KS,
    accuracy,
    grouped_ranking_metrics,
    macro_f1,
    ranking_metrics,
    target_ranks,
)
from retail_sim.plot import line_chart
from retail_sim.progress import log
from retail_sim.sqlrun import connect
from retail_sim.train.checkpoint import load_checkpoint
from retail_sim.train.distributed import resolve_device
from retail_sim.train.loop import autocast_context, build_model, cache_fingerprint

SCORERS = ("model",) + BASELINES
RANK_COLUMNS = ("n_items", "accuracy", *(f"recall@{k}" for k in RECALL_KS), "mrr")
SEGMENTS = ("cold_start", "rest")


def config_from_dict(data: dict[str, Any]) -> Config:
    """The Config saved in a checkpoint (nested dict) as a Config object."""
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(data, "")
    return apply(Config(), flat, source="checkpoint config")


def known_mask(product_ids: torch.Tensor, n_products: int) -> torch.Tensor:
    """[B, S] input ids -> [B, V] bool: special ids and the basket's visible products (never a hidden item)."""
    mask = torch.zeros(product_ids.shape[0], n_products, dtype=torch.bool)
    mask.scatter_(1, product_ids.clamp(min=0).cpu(), True)
    mask[:, :3] = True
    return mask


def majority_classes(con: duckdb.DuckDBPyConnection, prepared: Path) -> dict[str, int]:
    """task -> most frequent label id among the training split's labelled baskets."""
    con.execute("set variable samples_glob = ?", [str(Path(prepared) / "samples" / "*" / "*" / "*.parquet")])
    out = {}
    for task, (column, classes) in AUXILIARY_CODES.items():
        rows = con.sql(
            f"select {column} as label, count(*) as n "  # column names come from codes.py, not from input
            "from read_parquet(getvariable('samples_glob'), hive_partitioning = true) "
            f"where split = 'train' and {column} is not null group by 1 order by n desc, label limit 1"
        ).fetchall()
        if rows and rows[0][0] in classes:
            out[task] = classes.index(rows[0][0])
    return out


def basket_flags(con: duckdb.DuckDBPyConnection, prepared: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(basket_id sorted [n], is_unseen_in_train [n] bool) of the split's baskets."""
    con.execute("set variable samples_glob = ?", [str(Path(prepared) / "samples" / "*" / "*" / "*.parquet")])
    con.execute("set variable split = ?", [split])
    t = con.sql(
        "select basket_id, coalesce(is_unseen_in_train, false) as cold "
        "from read_parquet(getvariable('samples_glob'), hive_partitioning = true, union_by_name = true) "
        "where split = getvariable('split') order by basket_id"
    ).to_arrow_table()
    return t.column("basket_id").to_numpy().astype(np.int64), t.column("cold").to_numpy(zero_copy_only=False).astype(bool)


class Collector:
    """Per-item ranks and per-basket auxiliary predictions, with their group and segment."""

    def __init__(self):
        self.ranks: dict[str, list[np.ndarray]] = defaultdict(list)
        self.item_group: list[np.ndarray] = []
        self.item_cold: list[np.ndarray] = []
        self.aux: dict[str, dict[str, list[np.ndarray]]] = {
            t: {"true": [], "pred": [], "group": [], "cold": []} for t in AUXILIARY_TASKS
        }
        self.groups: list[str] = []
        self.group_index: dict[str, int] = {}
        self.n_baskets = 0

    def group_id(self, key: Any) -> int:
        name = str(key)
        if name not in self.group_index:
            self.group_index[name] = len(self.groups)
            self.groups.append(name)
        return self.group_index[name]

    def cat(self, parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def score_batch(model, batch, scorer: BaselineScorer, device, bf16: bool) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """One evaluation batch -> (ranks per scorer [N], basket row of each hidden item [N], model outputs)."""
    with torch.no_grad(), autocast_context(device, bf16):
        out = model(batch.to(device))
    valid = batch.masked_targets != IGNORE_INDEX  # [B, M]
    rows, cols = valid.nonzero(as_tuple=True)
    targets = batch.masked_targets[rows, cols]
    exclude = known_mask(batch.product_ids, model.n_products)[rows]  # [N, V]
    ranks = {}
    logits = out["item_logits"].float().cpu()[rows, cols]
    ranks["model"] = target_ranks(logits.masked_fill(exclude, float("-inf")), targets).numpy()
    baseline_scores = scorer.scores(batch.product_ids.cpu(), batch.basket_id.cpu().numpy())
    for name in BASELINES:
        ranks[name] = target_ranks(baseline_scores[name][rows].masked_fill(exclude, float("-inf")), targets).numpy()
    return ranks, rows.numpy(), {k: v.float().cpu() for k, v in out.items() if k.startswith("aux_")}


def _table(columns: dict[str, list]) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in columns.items()})


def _write(table: pa.Table, out: Path, name: str) -> None:
    pq.write_table(table, out / f"{name}.parquet")
    pacsv.write_csv(table, out / f"{name}.csv")


def format_table(table: pa.Table, columns: list[str] | None = None) -> str:
    """Fixed-width text of a small table (floats with 4 decimals)."""
    columns = columns or table.column_names
    cells = [[c for c in columns]]
    for row in table.select(columns).to_pylist():
        cells.append([f"{v:.4f}" if isinstance(v, float) else ("" if v is None else f"{v}") for v in row.values()])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def aux_metrics(true: np.ndarray, pred: np.ndarray, task: str) -> dict[str, float]:
    n = len(AUXILIARY_CODES[task][1])
    return {f"{task}_accuracy": accuracy(true, pred), f"{task}_macro_f1": macro_f1(true, pred, n)}


def evaluate(cfg: Config, checkpoint: Path, prepared: Path, split: str = "validation", group_by: str = "date",
             out: Path | None = None, max_batches: int = 0, cache=None) -> dict[str, pa.Table]:
    """Evaluate `checkpoint` on <prepared>'s `split`; write the tables and the plot into `out`
    (default <checkpoint folder>/eval_<split>); return the tables by name."""
    from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataset

    if split not in ("validation", "test"):
        raise UserError(f"--split {split}: choose validation or test")
    if group_by not in ("date", "hour", "week"):
        raise UserError(f"--group-by {group_by}: choose date, hour or week")
    prepared, checkpoint = Path(prepared), Path(checkpoint)
    started = time.perf_counter()
    ckpt = load_checkpoint(checkpoint, expected_fingerprint=cache_fingerprint(prepared, cache))
    run_cfg = config_from_dict(ckpt["config"])
    device = resolve_device(cfg.train.device)
    if cfg.train.cpu_threads > 0:
        torch.set_num_threads(cfg.train.cpu_threads)
    model = build_model(run_cfg, int(ckpt["n_products"]))
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    out = Path(out) if out is not None else checkpoint.parent / f"eval_{split}"
    out.mkdir(parents=True, exist_ok=True)

    train_weeks = read_manifest(prepared)["config"]["splits"]["train_weeks"]
    con = connect(cfg, temp_directory=out / ".duckdb_tmp")
    flag_ids, flag_cold = basket_flags(con, prepared, split)
    selected = evaluation_sample(flag_ids, cfg.train.eval_max_baskets, run_cfg.seed)
    sampled = len(selected) < len(flag_ids)
    if sampled:
        log(f"scoring a fixed sample of {len(selected):,} of the {len(flag_ids):,} {split} baskets "
            f"(train.eval_max_baskets / --max-baskets; 0 scores all)")
    popularity, copurchase, n_lines = training_counts(con, prepared, train_weeks, model.n_products)
    scorer = BaselineScorer(popularity, copurchase, own_history(con, prepared, split, selected))
    majority = majority_classes(con, prepared)
    log(f"baselines ready: {n_lines:,} training lines, {scorer.copurchase.nnz:,} co-purchase pairs, "
        f"{len(scorer.history.basket_id):,} own-history rows ({time.perf_counter() - started:.1f}s)")
    con.close()
    shutil.rmtree(out / ".duckdb_tmp", ignore_errors=True)

    dataset = WorldModelDataset(prepared, split=split, max_seq_len=run_cfg.splits.max_seq_len,
                                mask_prob=run_cfg.masking.mask_prob, enable_auxiliary_tasks=True,
                                seed=run_cfg.seed, config=run_cfg, cache=cache)
    loader = EvaluationDataLoader(dataset, batch_size=cfg.train.eval_batch_size, group_by=group_by)
    col = Collector()
    for i, (key, batch) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        if sampled:
            keep, _ = sorted_lookup(selected, batch.basket_id.cpu().numpy())
            if not keep.any():
                continue
            if not keep.all():
                batch = batch.select(torch.from_numpy(np.flatnonzero(keep)))
        group = col.group_id(key)
        ranks, rows, aux_out = score_batch(model, batch, scorer, device, cfg.train.bf16)
        basket_ids = batch.basket_id.cpu().numpy()
        col.n_baskets += len(basket_ids)
        found, pos = sorted_lookup(flag_ids, basket_ids)
        cold = found & flag_cold[pos] if len(flag_ids) else found
        for name, r in ranks.items():
            col.ranks[name].append(r)
        col.item_group.append(np.full(len(rows), group))
        col.item_cold.append(cold[rows])
        for task in AUXILIARY_TASKS:
            labels = batch.auxiliary_labels.get(task)
            if labels is None:
                continue
            labels = labels.cpu().numpy()
            keep = labels != IGNORE_INDEX
            entry = col.aux[task]
            entry["true"].append(labels[keep])
            entry["pred"].append(aux_out[f"aux_{task}"].argmax(dim=-1).numpy()[keep])
            entry["group"].append(np.full(int(keep.sum()), group))
            entry["cold"].append(cold[keep])

    groups = col.cat(col.item_group, np.int64)
    cold = col.cat(col.item_cold, bool)
    ranks = {name: col.cat(col.ranks[name], np.int64) for name in SCORERS}
    aux = {t: {k: col.cat(v, bool if k == "cold" else np.int64) for k, v in e.items()} for t, e in col.aux.items()}

    def aux_row(scorer_name: str, select) -> dict[str, float | None]:
        row: dict[str, float | None] = {}
        for task in AUXILIARY_TASKS:
            true = aux[task]["true"][select(aux[task])]
            if scorer_name == "model":
                pred = aux[task]["pred"][select(aux[task])]
            elif scorer_name == "popularity" and task in majority:
                pred = np.full(len(true), majority[task])
            else:
                row[f"{task}_accuracy"] = row[f"{task}_macro_f1"] = None
                continue
            row.update(aux_metrics(true, pred, task))
        return row

    overall: dict[str, list] = defaultdict(list)
    for name in SCORERS:
        overall["scorer"].append(name)
        for k, v in ranking_metrics(ranks[name]).items():
            overall[k].append(v)
        for k, v in aux_row(name, lambda e: slice(None)).items():
            overall[k].append(v)
    segments: dict[str, list] = defaultdict(list)
    for segment, want in zip(SEGMENTS, (True, False), strict=True):
        for name in SCORERS:
            segments["segment"].append(segment)
            segments["scorer"].append(name)
            for k, v in ranking_metrics(ranks[name][cold == want]).items():
                segments[k].append(v)
            for k, v in aux_row(name, lambda e, want=want: e["cold"] == want).items():
                segments[k].append(v)
    by_group: dict[str, list] = defaultdict(list)
    recall10 = {}
    for name in SCORERS:
        g = grouped_ranking_metrics(ranks[name], groups, len(col.groups))
        recall10[name] = g["recall@10"].tolist()
        for gi, group_name in enumerate(col.groups):
            by_group[group_by].append(group_name)
            by_group["scorer"].append(name)
            for k in RANK_COLUMNS:
                by_group[k].append(g[k][gi].item())

    tables = {"overall": _table(overall), "cold_start": _table(segments), f"by_{group_by}": _table(by_group)}
    for name, table in tables.items():
        _write(table, out, name)
    # keys: week -> int, date -> 'YYYY-MM-DD', hour -> 'YYYY-MM-DD HH:00' (text sorts in time order)
    order = np.argsort([int(g) for g in col.groups] if group_by == "week" else col.groups, kind="stable")
    line_chart(out / f"recall10_by_{group_by}.png", [col.groups[i] for i in order],
               {name: [recall10[name][i] for i in order] for name in SCORERS},
               title=f"recall@10 by {group_by} ({split})", y_label="recall@10")
    summary = {"checkpoint": str(checkpoint), "split": split, "group_by": group_by, "step": ckpt["step"],
               "n_items": int(len(groups)), "n_groups": len(col.groups), "n_baskets": col.n_baskets,
               "n_baskets_in_split": int(len(flag_ids)), "max_baskets": cfg.train.eval_max_baskets,
               "seconds": round(time.perf_counter() - started, 3), "overall": tables["overall"].to_pylist()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return tables


def print_report(tables: dict[str, pa.Table]) -> None:
    """The overall table (ranking + auxiliary columns) and the cold-start breakdown on stdout."""
    overall = tables["overall"]
    print(format_table(overall, ["scorer", *RANK_COLUMNS]))
    aux_cols = [c for c in overall.column_names if c.endswith("_accuracy") or c.endswith("_macro_f1")]
    print()
    print(format_table(overall.filter(pc.is_valid(overall.column(aux_cols[0]))) if aux_cols else overall,
                       ["scorer", *aux_cols]))
    print()
    print(format_table(tables["cold_start"], ["segment", "scorer", *RANK_COLUMNS]))
