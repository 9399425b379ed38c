"""`retail-sim evaluate`: a checkpoint and three baselines scored on the same hidden items.

The EvaluationDataLoader gives every basket of the split once, with deterministic masks. For each
hidden item the model and each baseline (popularity, co-purchase, own history; see baselines.py)
score every product; the rank of the true product gives accuracy, recall@10, recall@20 and MRR.
The model's auxiliary heads give accuracy and macro-F1 per task; the popularity row carries the
majority-class (training split) predictor for them. Tables: overall, per group (date, hour or
week), cold-start customers (is_unseen_in_train) vs the rest; a PNG of recall@10 per group.

`evaluate` reads as its steps: load_run -> build_baselines -> collect -> make_tables -> write_outputs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

from retail_sim import sqlrun
from retail_sim.arrays import sorted_lookup
from retail_sim.baselines import BASELINES, BaselineScorer, own_history, training_counts
from retail_sim.config import Config, from_dict
from retail_sim.data.batch import AUXILIARY_TASKS, IGNORE_INDEX
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.data.evaluation import GROUP_BY
from retail_sim.data.masking import evaluation_sample
from retail_sim.errors import UserError
from retail_sim.metrics import (
    RECALL_KS,
    accuracy,
    exclude_known,
    grouped_ranking_metrics,
    macro_f1,
    ranking_metrics,
    target_ranks,
)
from retail_sim.model import WorldModel
from retail_sim.plot import line_chart
from retail_sim.prepared import Prepared
from retail_sim.progress import log
from retail_sim.train.checkpoint import load_checkpoint
from retail_sim.train.distributed import resolve_device
from retail_sim.train.loop import autocast_context, build_model

SCORERS = ("model",) + BASELINES  # the scorers of the tables, in order
RANK_COLUMNS = ("n_items", "accuracy", *(f"recall@{k}" for k in RECALL_KS), "mrr")
SEGMENTS = ("cold_start", "rest")


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

    def add(self, key: Any, batch, ranks: dict[str, np.ndarray], rows: np.ndarray, aux_out: dict, cold: np.ndarray) -> None:
        """One scored batch: the ranks of its hidden items (rows: their basket), the auxiliary
        predictions of its labelled baskets, each with its group and cold-start flag."""
        group = self.group_id(key)
        self.n_baskets += batch.batch_size
        for name, r in ranks.items():
            self.ranks[name].append(r)
        self.item_group.append(np.full(len(rows), group))
        self.item_cold.append(cold[rows])
        for task in AUXILIARY_TASKS:
            labels = batch.auxiliary_labels.get(task)
            if labels is None:
                continue
            labels = labels.cpu().numpy()
            keep = labels != IGNORE_INDEX
            entry = self.aux[task]
            entry["true"].append(labels[keep])
            entry["pred"].append(aux_out[f"aux_{task}"].argmax(dim=-1).numpy()[keep])
            entry["group"].append(np.full(int(keep.sum()), group))
            entry["cold"].append(cold[keep])


def score_batch(model, batch, scorer: BaselineScorer, device, bf16: bool) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """One evaluation batch -> (ranks per scorer [N], basket row of each hidden item [N], model outputs).
    Every scorer, the model too, has the special ids and the basket's visible items excluded."""
    with torch.no_grad(), autocast_context(device, bf16):
        out = model(batch.to(device))
    valid = batch.masked_targets != IGNORE_INDEX  # [B, M]
    rows, cols = valid.nonzero(as_tuple=True)
    targets = batch.masked_targets[rows, cols]
    product_ids = batch.product_ids.cpu()
    logits = out["item_logits"].float().cpu()[rows, cols]  # [N, V], a copy
    ranks = {"model": target_ranks(exclude_known(logits, product_ids[rows]), targets).numpy()}
    for name, scores in scorer.scores(product_ids, batch.basket_id.cpu().numpy()).items():
        ranks[name] = target_ranks(scores[rows], targets).numpy()
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


def evaluate(cfg: Config, checkpoint: Path, prepared: Path | Prepared, split: str = "validation",
             group_by: str = "date", out: Path | None = None, max_batches: int = 0, cache=None) -> dict[str, pa.Table]:
    """Evaluate `checkpoint` on <prepared>'s `split`; write the tables, the plot and summary.json into
    `out` (default <checkpoint folder>/eval_<split>); return the tables by name."""
    if split not in ("validation", "test"):
        raise UserError(f"--split {split}: choose validation or test")
    if group_by not in GROUP_BY:
        raise UserError(f"--group-by {group_by}: choose date, hour or week")
    started = time.perf_counter()
    prep = prepared if isinstance(prepared, Prepared) else Prepared(prepared)
    run = load_run(cfg, Path(checkpoint), prep, cache)
    out = Path(out) if out is not None else run.checkpoint.parent / f"eval_{split}"
    out.mkdir(parents=True, exist_ok=True)
    baselines = build_baselines(cfg, run, prep, split, out, started)
    col = collect(cfg, run, prep, split, group_by, baselines, max_batches, cache)
    tables = make_tables(col, baselines, group_by)
    write_outputs(out, tables, col, run, baselines, split, group_by, cfg, started)
    return tables


@dataclass
class Run:
    """The checkpoint being evaluated: its resolved config and its model on the evaluation device."""

    checkpoint: Path
    ckpt: dict[str, Any]
    config: Config
    model: WorldModel
    device: torch.device


def load_run(cfg: Config, checkpoint: Path, prepared: Prepared, cache=None) -> Run:
    """The checkpoint (refused when trained on another tensor cache) and its model, in eval mode."""
    ckpt = load_checkpoint(checkpoint, expected_fingerprint=prepared.cache_fingerprint(cache))
    run_cfg = from_dict(ckpt["config"], source=f"{checkpoint} (config)")
    device = resolve_device(cfg.train.device)
    if cfg.train.cpu_threads > 0:
        torch.set_num_threads(cfg.train.cpu_threads)
    model = build_model(run_cfg, int(ckpt["n_products"]))
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    return Run(checkpoint, ckpt, run_cfg, model, device)


@dataclass
class Baselines:
    """The baseline scorers, the auxiliary majority classes, and which baskets of the split are scored."""

    scorer: BaselineScorer
    majority: dict[str, int]  # task -> majority label id in the training split
    basket_ids: np.ndarray  # [n] every basket of the split, sorted
    cold: np.ndarray  # [n] bool, is_unseen_in_train
    selected: np.ndarray  # the scored baskets, sorted (all of them unless the split exceeds the cap)

    @property
    def sampled(self) -> bool:
        return len(self.selected) < len(self.basket_ids)

    def is_cold(self, basket_ids: np.ndarray) -> np.ndarray:
        found, pos = sorted_lookup(self.basket_ids, basket_ids)
        return found & self.cold[pos] if len(self.basket_ids) else found


def build_baselines(cfg: Config, run: Run, prepared: Prepared, split: str, out: Path, started: float) -> Baselines:
    """Counted by DuckDB over the prepared views (spilling into out/.duckdb_tmp, removed after): the
    split's baskets and cold-start flags, the fixed sample to score, the training-week popularity
    and co-purchase counts, the sample's own history and the auxiliary majority classes."""
    con = prepared.connect(cfg, temp_directory=out / ".duckdb_tmp")
    try:
        flags = sqlrun.select(con, "evaluate/basket_flags.sql", split=split)
        basket_ids = flags.column("basket_id").to_numpy().astype(np.int64)
        cold = flags.column("cold").to_numpy(zero_copy_only=False).astype(bool)
        selected = evaluation_sample(basket_ids, cfg.train.eval_max_baskets, run.config.seed)
        if len(selected) < len(basket_ids):
            log(f"scoring a fixed sample of {len(selected):,} of the {len(basket_ids):,} {split} baskets "
                f"(train.eval_max_baskets / --max-baskets; 0 scores all)")
        popularity, copurchase, n_lines = training_counts(con, prepared.weeks("train"), run.model.n_products)
        scorer = BaselineScorer(popularity, copurchase, own_history(con, split, selected))
        majority = majority_classes(con)
    finally:
        con.close()
        shutil.rmtree(out / ".duckdb_tmp", ignore_errors=True)
    log(f"baselines ready: {n_lines:,} training lines, {scorer.copurchase.nnz:,} co-purchase pairs, "
        f"{len(scorer.history.basket_id):,} own-history rows ({time.perf_counter() - started:.1f}s)")
    return Baselines(scorer, majority, basket_ids, cold, selected)


def majority_classes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """task -> most frequent label id among the training split's labelled baskets
    (sql/evaluate/majority_class.sql)."""
    rows = sqlrun.select(con, "evaluate/majority_class.sql").to_pylist()
    found = {r["label_column"]: r["label"] for r in rows}
    return {task: classes.index(found[column]) for task, (column, classes) in AUXILIARY_CODES.items()
            if found.get(column) in classes}


def collect(cfg: Config, run: Run, prepared: Prepared, split: str, group_by: str, baselines: Baselines,
            max_batches: int = 0, cache=None) -> Collector:
    """Score every selected basket of the split with the model and the baselines, batch by batch."""
    from retail_sim.data.dataset import WorldModelDataset
    from retail_sim.data.evaluation import EvaluationDataLoader

    rc = run.config
    dataset = WorldModelDataset(prepared, split=split, max_seq_len=rc.splits.max_seq_len, enable_auxiliary_tasks=True,
                                config=rc, cache=cache)
    loader = EvaluationDataLoader(dataset, batch_size=cfg.train.eval_batch_size, group_by=group_by)
    col = Collector()
    for i, (key, batch) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        if baselines.sampled:
            keep, _ = sorted_lookup(baselines.selected, batch.basket_id.cpu().numpy())
            if not keep.any():
                continue
            if not keep.all():
                batch = batch.select(torch.from_numpy(np.flatnonzero(keep)))
        ranks, rows, aux_out = score_batch(run.model, batch, baselines.scorer, run.device, cfg.train.bf16)
        col.add(key, batch, ranks, rows, aux_out, baselines.is_cold(batch.basket_id.cpu().numpy()))
    return col


@dataclass
class Collected:
    """A Collector's parts as arrays: per hidden item its ranks, group and cold-start flag; per
    labelled basket and task its true label, prediction, group and flag."""

    ranks: dict[str, np.ndarray]  # scorer -> [N] int64
    groups: np.ndarray  # [N] int64 index into the group names
    cold: np.ndarray  # [N] bool
    aux: dict[str, dict[str, np.ndarray]]  # task -> true / pred / group / cold
    majority: dict[str, int]  # task -> majority label id (the popularity row's predictor)

    def aux_row(self, scorer: str, select) -> dict[str, float | None]:
        """Auxiliary accuracy and macro-F1 per task of one scorer on the baskets `select` picks:
        the model's heads, the majority class for popularity, None for the other baselines."""
        row: dict[str, float | None] = {}
        for task in AUXILIARY_TASKS:
            true = self.aux[task]["true"][select(self.aux[task])]
            if scorer == "model":
                pred = self.aux[task]["pred"][select(self.aux[task])]
            elif scorer == "popularity" and task in self.majority:
                pred = np.full(len(true), self.majority[task])
            else:
                row[f"{task}_accuracy"] = row[f"{task}_macro_f1"] = None
                continue
            row.update(aux_metrics(true, pred, task))
        return row


def make_tables(col: Collector, baselines: Baselines, group_by: str) -> dict[str, pa.Table]:
    """overall (ranking + auxiliary metrics per scorer), cold_start (cold start vs the rest) and
    by_<group> (ranking metrics per group, groups in the order met)."""
    scorers = ("model", *baselines.scorer.names)
    c = Collected(
        ranks={name: col.cat(col.ranks[name], np.int64) for name in scorers},
        groups=col.cat(col.item_group, np.int64), cold=col.cat(col.item_cold, bool),
        aux={t: {k: col.cat(v, bool if k == "cold" else np.int64) for k, v in e.items()} for t, e in col.aux.items()},
        majority=baselines.majority,
    )
    return {"overall": _overall_table(c, scorers), "cold_start": _cold_start_table(c, scorers),
            f"by_{group_by}": _group_table(c, scorers, col.groups, group_by)}


def _overall_table(c: Collected, scorers: tuple[str, ...]) -> pa.Table:
    overall: dict[str, list] = defaultdict(list)
    for name in scorers:
        overall["scorer"].append(name)
        for k, v in ranking_metrics(c.ranks[name]).items():
            overall[k].append(v)
        for k, v in c.aux_row(name, lambda e: slice(None)).items():
            overall[k].append(v)
    return _table(overall)


def _cold_start_table(c: Collected, scorers: tuple[str, ...]) -> pa.Table:
    segments: dict[str, list] = defaultdict(list)
    for segment, want in zip(SEGMENTS, (True, False), strict=True):
        for name in scorers:
            segments["segment"].append(segment)
            segments["scorer"].append(name)
            for k, v in ranking_metrics(c.ranks[name][c.cold == want]).items():
                segments[k].append(v)
            for k, v in c.aux_row(name, lambda e, want=want: e["cold"] == want).items():
                segments[k].append(v)
    return _table(segments)


def _group_table(c: Collected, scorers: tuple[str, ...], group_names: list[str], group_by: str) -> pa.Table:
    by_group: dict[str, list] = defaultdict(list)
    for name in scorers:
        g = grouped_ranking_metrics(c.ranks[name], c.groups, len(group_names))
        for gi, group_name in enumerate(group_names):
            by_group[group_by].append(group_name)
            by_group["scorer"].append(name)
            for k in RANK_COLUMNS:
                by_group[k].append(g[k][gi].item())
    return _table(by_group)


def write_outputs(out: Path, tables: dict[str, pa.Table], col: Collector, run: Run, baselines: Baselines, split: str,
                  group_by: str, cfg: Config, started: float) -> None:
    """Each table as Parquet and CSV, the recall@10 plot per group (in time order) and summary.json."""
    for name, table in tables.items():
        _write(table, out, name)
    by_group = tables[f"by_{group_by}"].to_pydict()
    recall10 = defaultdict(list)  # scorer -> recall@10 per group, groups in the order met
    for scorer, value in zip(by_group["scorer"], by_group["recall@10"], strict=True):
        recall10[scorer].append(value)
    # keys: week -> int, date -> 'YYYY-MM-DD', hour -> 'YYYY-MM-DD HH:00' (text sorts in time order)
    order = np.argsort([int(g) for g in col.groups] if group_by == "week" else col.groups, kind="stable")
    line_chart(out / f"recall10_by_{group_by}.png", [col.groups[i] for i in order],
               {name: [values[i] for i in order] for name, values in recall10.items()},
               title=f"recall@10 by {group_by} ({split})", x_label=group_by, y_label="recall@10")
    summary = {"checkpoint": str(run.checkpoint), "split": split, "group_by": group_by, "step": run.ckpt["step"],
               "n_items": int(sum(len(g) for g in col.item_group)), "n_groups": len(col.groups),
               "n_baskets": col.n_baskets, "n_baskets_in_split": int(len(baselines.basket_ids)),
               "max_baskets": cfg.train.eval_max_baskets, "seconds": round(time.perf_counter() - started, 3),
               "overall": tables["overall"].to_pylist()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


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
