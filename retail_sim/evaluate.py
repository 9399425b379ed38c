"""`retail-sim evaluate`: a checkpoint and five baselines scored on the same hidden items.

The EvaluationDataLoader gives every basket of the split once, with deterministic masks. For each
hidden item the model and each baseline (popularity, co-purchase, own history, decayed history,
history + co-purchase; see baselines.py) score every product; the rank of the true product gives
accuracy, recall@10, recall@20 and MRR. The model's auxiliary heads give accuracy and macro-F1 per
task; the popularity row carries the majority-class (training split) predictor for them. Tables:
overall, per group (date, hour or week), cold-start customers (is_unseen_in_train) vs the rest,
known / cold-start / anonymous customers, repeat (the hidden product is in the customer's earlier
baskets) vs explore; a PNG of recall@10 per group.

Reads top to bottom: load_run -> split_baskets -> build_baselines (choose_alpha on validation)
-> collect -> make_tables -> write_outputs.
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

from retail_sim.baselines import ALPHA_GRID, BASELINES, BaselineScorer, training_counts
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
CUSTOMERS = ("known", "cold_start", "anonymous")  # per hidden item: customer_kind 0, 1, 2
REPEAT = ("repeat", "explore")
ALPHA_BASKETS = 20_000  # validation baskets history_co_purchase's alpha is chosen on


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


@dataclass
class SplitBaskets:
    """Per basket of a split, sorted by basket_id: what the scorers and the tables need beyond the batch."""

    basket_id: np.ndarray  # [n] int64, sorted
    cold: np.ndarray  # [n] bool: is_unseen_in_train
    customer_idx: np.ndarray  # [n] int64 (0 = anonymous)
    shop_ts: np.ndarray  # [n] int64 hours since calendar.origin_date

    def rows(self, basket_ids: np.ndarray) -> np.ndarray:
        """Positions of basket_ids [B] (every one must be of this split)."""
        found, pos = sorted_lookup(self.basket_id, basket_ids)
        if not found.all():
            raise AssertionError("evaluation batch holds a basket outside its split")
        return pos


def split_baskets(con: duckdb.DuckDBPyConnection, prepared: Path, split: str, origin_date: str) -> SplitBaskets:
    """SplitBaskets of the split's samples."""
    con.execute("set variable samples_glob = ?", [str(Path(prepared) / "samples" / "*" / "*" / "*.parquet")])
    con.execute("set variable split = ?", [split])
    con.execute("set variable origin_date = ?", [origin_date])
    t = con.sql(
        "select basket_id, coalesce(is_unseen_in_train, false) as cold, customer_idx, "
        "(shop_date - getvariable('origin_date')::date) * 24 + shop_hour as shop_ts "
        "from read_parquet(getvariable('samples_glob'), hive_partitioning = true, union_by_name = true) "
        "where split = getvariable('split') order by basket_id"
    ).to_arrow_table()
    col = lambda name, dtype: t.column(name).to_numpy(zero_copy_only=False).astype(dtype)  # noqa: E731
    return SplitBaskets(col("basket_id", np.int64), col("cold", bool), col("customer_idx", np.int64),
                        col("shop_ts", np.int64))


def sorted_lookup(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ids [n] sit in the sorted array keys: (found [n] bool, position [n], clipped into keys)."""
    pos = np.clip(np.searchsorted(keys, ids), 0, max(len(keys) - 1, 0))
    found = keys[pos] == ids if len(keys) else np.zeros(len(ids), dtype=bool)
    return found, pos


class Collector:
    """Per hidden item: its rank under every scorer, group, and segments; per basket: the auxiliary
    predictions with their group and cold-start flag."""

    def __init__(self):
        self.ranks: dict[str, list[np.ndarray]] = defaultdict(list)
        self.item: dict[str, list[np.ndarray]] = defaultdict(list)  # group, cold, customer_kind, repeat
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


@dataclass
class BatchScores:
    ranks: dict[str, np.ndarray]  # scorer -> [N] rank of each hidden item
    rows: np.ndarray  # [N] basket row of each hidden item
    repeat: np.ndarray  # [N] bool: the hidden product is in the customer's earlier baskets
    aux: dict[str, torch.Tensor]  # aux_<task> -> [B, classes]


def hidden_items(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows [N], columns [N], targets [N]) of the batch's hidden items."""
    rows, cols = (batch.masked_targets != IGNORE_INDEX).nonzero(as_tuple=True)
    return rows, cols, batch.masked_targets[rows, cols]


def score_batch(model, batch, scorer: BaselineScorer, baskets: SplitBaskets, device, bf16: bool) -> BatchScores:
    """One evaluation batch: the model and every baseline rank each hidden item."""
    with torch.no_grad(), autocast_context(device, bf16):
        out = model(batch.to(device))
    rows, cols, targets = hidden_items(batch)
    exclude = known_mask(batch.product_ids, model.n_products)[rows]  # [N, V]
    logits = out["item_logits"].float().cpu()[rows, cols]
    if not torch.isfinite(logits.masked_fill(exclude, 0.0)).all():
        raise UserError("the model's item scores hold NaN or inf — the checkpoint is broken (was its training loss finite?)")
    ranks = {"model": target_ranks(logits.masked_fill(exclude, float("-inf")), targets).numpy()}
    at = baskets.rows(batch.basket_id.cpu().numpy())
    product_ids = batch.product_ids.cpu()
    baseline_scores = scorer.scores(product_ids, baskets.customer_idx[at], baskets.shop_ts[at])
    for name in BASELINES:
        ranks[name] = target_ranks(baseline_scores[name][rows], targets).numpy()
    repeat = (baseline_scores["own_history"][rows].gather(1, targets.unsqueeze(1)).squeeze(1) >= 1).numpy()
    return BatchScores(ranks, rows.numpy(), repeat, {k: v.float().cpu() for k, v in out.items() if k.startswith("aux_")})


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


# ----------------------------------------------------------------------------- the steps


@dataclass
class Run:
    model: torch.nn.Module
    config: Config  # the run's resolved config (from the checkpoint)
    device: torch.device
    step: int


def load_run(cfg: Config, checkpoint: Path, prepared: Path, cache=None) -> Run:
    """The checkpoint's model on the evaluation device, refused when it was trained on another cache."""
    ckpt = load_checkpoint(checkpoint, expected_fingerprint=cache_fingerprint(prepared, cache))
    run_cfg = config_from_dict(ckpt["config"])
    device = resolve_device(cfg.train.device)
    if cfg.train.cpu_threads > 0:
        torch.set_num_threads(cfg.train.cpu_threads)
    model = build_model(run_cfg, int(ckpt["n_products"]))
    model.load_state_dict(ckpt["model"])
    model.to(device).eval()
    return Run(model, run_cfg, device, int(ckpt["step"]))


def open_split(run: Run, prepared: Path, split: str, cache, batch_size: int, group_by: str = "week"):
    """The EvaluationDataLoader of a split, encoded as the run's training was."""
    from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataset

    rc = run.config
    dataset = WorldModelDataset(prepared, split=split, max_seq_len=rc.splits.max_seq_len,
                                mask_prob=rc.masking.mask_prob, enable_auxiliary_tasks=True,
                                seed=rc.seed, config=rc, cache=cache)
    return EvaluationDataLoader(dataset, batch_size=batch_size, group_by=group_by)


def sampled_batches(loader, selected: np.ndarray | None, max_batches: int = 0):
    """(key, batch) of the loader, cut to the baskets in `selected` (sorted; None = all)."""
    for i, (key, batch) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        if selected is not None:
            keep, _ = sorted_lookup(selected, batch.basket_id.cpu().numpy())
            if not keep.any():
                continue
            if not keep.all():
                batch = batch.select(torch.from_numpy(np.flatnonzero(keep)))
        yield key, batch


def choose_alpha(scorer: BaselineScorer, loader, baskets: SplitBaskets, selected: np.ndarray | None) -> tuple[float, dict]:
    """history_co_purchase's alpha: the ALPHA_GRID value with the best recall@10 on the hidden items
    of the validation baskets `selected` (ties -> the first); returns it with recall@10 per alpha."""
    hits = np.zeros(len(ALPHA_GRID))
    n = 0
    for _, batch in sampled_batches(loader, selected):
        rows, _, targets = hidden_items(batch)
        at = baskets.rows(batch.basket_id.cpu().numpy())
        _, cos, hist = scorer.parts(batch.product_ids.cpu(), baskets.customer_idx[at], baskets.shop_ts[at])
        exclude = known_mask(batch.product_ids, scorer.n_products)[rows]
        for j, alpha in enumerate(ALPHA_GRID):
            scores = scorer.blend(cos[rows], _rows(hist, rows), alpha).masked_fill(exclude, float("-inf"))
            hits[j] += int((target_ranks(scores, targets) <= 10).sum())
        n += len(targets)
    recall = {str(a): (h / n if n else float("nan")) for a, h in zip(ALPHA_GRID, hits, strict=True)}
    return float(ALPHA_GRID[int(np.argmax(hits))]), recall


def _rows(hist, rows):
    from retail_sim.baselines import HistoryScores

    return HistoryScores(hist.count[rows], hist.decayed[rows])


def build_baselines(cfg: Config, run: Run, prepared: Path, split: str, cache, out: Path) -> tuple[BaselineScorer, dict]:
    """The baseline scorer (training-week counts from DuckDB, the history index of the cache) with
    alpha chosen on the validation split, and what the summary records of it."""
    from retail_sim.train.loop import open_cache

    started = time.perf_counter()
    cache = open_cache(prepared, cache)
    train_weeks = read_manifest(prepared)["config"]["splits"]["train_weeks"]
    con = connect(cfg, temp_directory=out / ".duckdb_tmp")
    popularity, copurchase, n_lines = training_counts(con, prepared, train_weeks, run.model.n_products)
    majority = majority_classes(con, prepared)
    validation = split_baskets(con, prepared, "validation", run.config.calendar.origin_date)
    con.close()
    shutil.rmtree(out / ".duckdb_tmp", ignore_errors=True)
    scorer = BaselineScorer(popularity, copurchase, cache.history)
    selected = evaluation_sample(validation.basket_id, ALPHA_BASKETS, run.config.seed)
    loader = open_split(run, prepared, "validation", cache, cfg.train.eval_batch_size)
    scorer.alpha, recall_by_alpha = choose_alpha(scorer, loader, validation, selected)
    log(f"baselines ready: {n_lines:,} training lines, {copurchase.nnz:,} co-purchase pairs; history_co_purchase "
        f"alpha {scorer.alpha} (best validation recall@10 of {len(selected):,} baskets) "
        f"({time.perf_counter() - started:.1f}s)")
    return scorer, {"alpha": scorer.alpha, "alpha_recall@10": recall_by_alpha, "alpha_baskets": len(selected),
                    "majority": majority}


def collect(run: Run, loader, scorer: BaselineScorer, baskets: SplitBaskets, selected: np.ndarray | None,
            max_batches: int = 0) -> Collector:
    """Score every (selected) basket of the loader."""
    col = Collector()
    for key, batch in sampled_batches(loader, selected, max_batches):
        group = col.group_id(key)
        scored = score_batch(run.model, batch, scorer, baskets, run.device, run.config.train.bf16)
        at = baskets.rows(batch.basket_id.cpu().numpy())
        col.n_baskets += len(at)
        cold = baskets.cold[at]
        kind = np.where(baskets.customer_idx[at] == 0, 2, np.where(cold, 1, 0))
        for name, r in scored.ranks.items():
            col.ranks[name].append(r)
        col.item["group"].append(np.full(len(scored.rows), group))
        col.item["cold"].append(cold[scored.rows])
        col.item["customer_kind"].append(kind[scored.rows])
        col.item["repeat"].append(scored.repeat)
        for task in AUXILIARY_TASKS:
            labels = batch.auxiliary_labels.get(task)
            if labels is None:
                continue
            labels = labels.cpu().numpy()
            keep = labels != IGNORE_INDEX
            entry = col.aux[task]
            entry["true"].append(labels[keep])
            entry["pred"].append(scored.aux[f"aux_{task}"].argmax(dim=-1).numpy()[keep])
            entry["group"].append(np.full(int(keep.sum()), group))
            entry["cold"].append(cold[keep])
    return col


def make_tables(col: Collector, majority: dict[str, int], group_by: str) -> tuple[dict[str, pa.Table], dict]:
    """Tables overall, cold_start, customers, repeat_explore, by_<group_by>; and recall@10 per group."""
    item = {k: col.cat(v, np.int64) for k, v in col.item.items()}
    groups = item.get("group", np.zeros(0, np.int64))
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

    def segment_table(names, masks, with_aux: bool = False) -> pa.Table:
        table: dict[str, list] = defaultdict(list)
        for segment, (mask, aux_select) in zip(names, masks, strict=True):
            for name in SCORERS:
                table["segment"].append(segment)
                table["scorer"].append(name)
                for k, v in ranking_metrics(ranks[name][mask]).items():
                    table[k].append(v)
                if with_aux:
                    for k, v in aux_row(name, aux_select).items():
                        table[k].append(v)
        return _table(table)

    cold = item.get("cold", np.zeros(0, np.int64)).astype(bool)
    kind = item.get("customer_kind", np.zeros(0, np.int64))
    repeat = item.get("repeat", np.zeros(0, np.int64)).astype(bool)
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
    tables = {
        "overall": _table(overall),
        "cold_start": segment_table(SEGMENTS, [(cold, lambda e: e["cold"]), (~cold, lambda e: ~e["cold"])], True),
        "customers": segment_table(CUSTOMERS, [(kind == i, None) for i in range(len(CUSTOMERS))]),
        "repeat_explore": segment_table(REPEAT, [(repeat, None), (~repeat, None)]),
        f"by_{group_by}": _table(by_group),
    }
    return tables, recall10


def write_outputs(tables: dict[str, pa.Table], recall10: dict, col: Collector, out: Path, group_by: str,
                  split: str, summary: dict) -> None:
    """Parquet + CSV of every table, the recall@10 plot and summary.json."""
    for name, table in tables.items():
        _write(table, out, name)
    # keys: week -> int, date -> 'YYYY-MM-DD', hour -> 'YYYY-MM-DD HH:00' (text sorts in time order)
    order = np.argsort([int(g) for g in col.groups] if group_by == "week" else col.groups, kind="stable")
    line_chart(out / f"recall10_by_{group_by}.png", [col.groups[i] for i in order],
               {name: [recall10[name][i] for i in order] for name in SCORERS},
               title=f"recall@10 by {group_by} ({split})", y_label="recall@10")
    summary = {**summary, "n_groups": len(col.groups), "n_baskets": col.n_baskets,
               "overall": tables["overall"].to_pylist(), "repeat_explore": tables["repeat_explore"].to_pylist(),
               "customers": tables["customers"].to_pylist()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


def evaluate(cfg: Config, checkpoint: Path, prepared: Path, split: str = "validation", group_by: str = "date",
             out: Path | None = None, max_batches: int = 0, cache=None) -> dict[str, pa.Table]:
    """Evaluate `checkpoint` on <prepared>'s `split`; write the tables and the plot into `out`
    (default <checkpoint folder>/eval_<split>); return the tables by name."""
    if split not in ("validation", "test"):
        raise UserError(f"--split {split}: choose validation or test")
    if group_by not in ("date", "hour", "week"):
        raise UserError(f"--group-by {group_by}: choose date, hour or week")
    prepared, checkpoint = Path(prepared), Path(checkpoint)
    started = time.perf_counter()
    out = Path(out) if out is not None else checkpoint.parent / f"eval_{split}"
    out.mkdir(parents=True, exist_ok=True)

    run = load_run(cfg, checkpoint, prepared, cache)
    con = connect(cfg)
    baskets = split_baskets(con, prepared, split, run.config.calendar.origin_date)
    con.close()
    selected = evaluation_sample(baskets.basket_id, cfg.train.eval_max_baskets, run.config.seed)
    if len(selected) < len(baskets.basket_id):
        log(f"scoring a fixed sample of {len(selected):,} of the {len(baskets.basket_id):,} {split} baskets "
            f"(train.eval_max_baskets / --max-baskets; 0 scores all)")
    else:
        selected = None
    scorer, baseline_info = build_baselines(cfg, run, prepared, split, cache, out)
    loader = open_split(run, prepared, split, cache, cfg.train.eval_batch_size, group_by)
    col = collect(run, loader, scorer, baskets, selected, max_batches)
    tables, recall10 = make_tables(col, baseline_info.pop("majority"), group_by)
    summary = {"checkpoint": str(checkpoint), "split": split, "group_by": group_by, "step": run.step,
               "n_items": int(tables["overall"].column("n_items")[0].as_py()),
               "n_baskets_in_split": int(len(baskets.basket_id)), "max_baskets": cfg.train.eval_max_baskets,
               "history_co_purchase": baseline_info, "seconds": round(time.perf_counter() - started, 3)}
    write_outputs(tables, recall10, col, out, group_by, split, summary)
    return tables


def print_report(tables: dict[str, pa.Table]) -> None:
    """The overall table (ranking + auxiliary columns) and the segment breakdowns on stdout."""
    overall = tables["overall"]
    print(format_table(overall, ["scorer", *RANK_COLUMNS]))
    aux_cols = [c for c in overall.column_names if c.endswith("_accuracy") or c.endswith("_macro_f1")]
    print()
    print(format_table(overall.filter(pc.is_valid(overall.column(aux_cols[0]))) if aux_cols else overall,
                       ["scorer", *aux_cols]))
    for name in ("repeat_explore", "customers", "cold_start"):
        print()
        print(format_table(tables[name], ["segment", "scorer", *RANK_COLUMNS]))
