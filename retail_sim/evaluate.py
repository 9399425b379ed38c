"""`retail-sim evaluate`: a checkpoint and five baselines scored on the same hidden items.

The EvaluationDataLoader gives every basket of the split once, with deterministic masks. For each
hidden item the model and each baseline (popularity, co-purchase, own history, decayed history,
history + co-purchase; see baselines.py) score every product; the rank of the true product gives
accuracy, recall@10, recall@20 and MRR. The model's auxiliary heads give accuracy and macro-F1 per
task; the popularity row carries the majority-class (training split) predictor for them. Tables:
overall, per group (date, hour or week), cold-start customers (is_unseen_in_train) vs the rest,
known / cold-start / anonymous customers, repeat (the hidden product is in the customer's earlier
baskets) vs explore; a PNG of recall@10 per group.

Reads top to bottom: load_run -> build_baselines (history_co_purchase's alpha chosen on the
validation split) -> collect -> make_tables -> write_outputs.
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
from retail_sim.baselines import ALPHA_GRID, BASELINES, BaselineScorer, training_counts
from retail_sim.config import Config, from_dict
from retail_sim.data.batch import AUXILIARY_TASKS, IGNORE_INDEX
from retail_sim.data.codes import AUXILIARY_CODES
from retail_sim.data.evaluation import GROUP_BY
from retail_sim.data.masking import evaluation_sample
from retail_sim.errors import UserError
from retail_sim.files import holds_only, output_folder
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
from retail_sim.progress import Ticker, log
from retail_sim.train.checkpoint import check_cache_fingerprint, load_checkpoint
from retail_sim.train.distributed import resolve_device
from retail_sim.train.loop import autocast_context, build_model
from retail_sim.vocab import FIRST_PRODUCT_IDX

SCORERS = ("model",) + BASELINES  # the scorers of the tables, in order
RANK_COLUMNS = ("n_items", "accuracy", *(f"recall@{k}" for k in RECALL_KS), "mrr")
SEGMENTS = ("cold_start", "rest")
CUSTOMERS = ("known", "cold_start", "anonymous")  # per hidden item: customer kind 0, 1, 2
REPEAT = ("repeat", "explore")
ALPHA_BASKETS = 5_000  # validation baskets (a fixed hashed sample) history_co_purchase's alpha is chosen on


class Collector:
    """Per-item ranks and per-basket auxiliary predictions, with their group and segment."""

    def __init__(self):
        self.ranks: dict[str, list[np.ndarray]] = defaultdict(list)
        self.item_group: list[np.ndarray] = []
        self.item_cold: list[np.ndarray] = []
        self.item_customer: list[np.ndarray] = []  # index into CUSTOMERS
        self.item_repeat: list[np.ndarray] = []
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

    def add(self, key: Any, batch, scored: BatchScores, cold: np.ndarray, customer_kind: np.ndarray) -> None:
        """One scored batch: the ranks of its hidden items, the auxiliary predictions of its
        labelled baskets, each with its group, cold-start flag and customer kind."""
        group = self.group_id(key)
        self.n_baskets += batch.batch_size
        rows, aux_out = scored.rows, scored.aux
        for name, r in scored.ranks.items():
            self.ranks[name].append(r)
        self.item_group.append(np.full(len(rows), group))
        self.item_cold.append(cold[rows])
        self.item_customer.append(customer_kind[rows])
        self.item_repeat.append(scored.repeat)
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


def score_batch(model, batch, scorer: BaselineScorer, customer_idx: np.ndarray, shop_ts: np.ndarray, device,
                bf16: bool) -> BatchScores:
    """One evaluation batch (its baskets' customer_idx [B] and shop_ts [B]): the model and every
    baseline rank each hidden item. Every scorer, the model too, has the special ids and the
    basket's visible items excluded. Non-finite model scores are refused: they would rank first."""
    with torch.no_grad(), autocast_context(device, bf16):
        out = model(batch.to(device))
    rows, cols, targets = hidden_items(batch)
    product_ids = batch.product_ids.cpu()
    logits = out["item_logits"].float().cpu()[rows, cols]  # [N, V], a copy
    if not torch.isfinite(logits[:, FIRST_PRODUCT_IDX:]).all():
        raise UserError("the model's item scores hold NaN or inf — the checkpoint is broken "
                        "(was its training loss finite?); evaluate another checkpoint or retrain")
    ranks = {"model": target_ranks(exclude_known(logits, product_ids[rows]), targets).numpy()}
    scores = scorer.scores(product_ids, customer_idx, shop_ts)
    for name, s in scores.items():
        ranks[name] = target_ranks(s[rows], targets).numpy()
    repeat = (scores["own_history"][rows].gather(1, targets.unsqueeze(1)).squeeze(1) >= 1).numpy()
    return BatchScores(ranks, rows.numpy(), repeat, {k: v.float().cpu() for k, v in out.items() if k.startswith("aux_")})


def _table(columns: dict[str, list]) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in columns.items()})


def _write(table: pa.Table, out: Path, name: str) -> None:
    pq.write_table(table, out / f"{name}.parquet", write_page_checksum=True)
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


def evaluate(cfg: Config, checkpoint: Path, prepared: Path | Prepared | None = None, split: str = "validation",
             group_by: str = "date", out: Path | None = None, max_batches: int = 0, cache=None) -> dict[str, pa.Table]:
    """Evaluate `checkpoint` on <prepared>'s `split` (default: the prepared folder the checkpoint was
    trained on); write the tables, the plot and summary.json into `out` (default <checkpoint
    folder>/eval_<split>); return the tables by name."""
    if split not in ("validation", "test"):
        raise UserError(f"--split {split}: choose validation or test")
    if group_by not in GROUP_BY:
        raise UserError(f"--group-by {group_by}: choose date, hour or week")
    started = time.perf_counter()
    ckpt = load_checkpoint(checkpoint)
    prep = prepared_of(ckpt, Path(checkpoint), prepared, Path(cfg.paths.prepared))
    prep.require_split(split).require_split("train").require_split("validation")
    cache = prep.open_cache(cache)  # once: each TensorCache maps the files anew, and pages read through two maps count twice in RSS
    run = load_run(cfg, Path(checkpoint), prep, cache, ckpt)
    out = Path(out) if out is not None else run.checkpoint.parent / f"eval_{split}"
    with output_folder(out, "evaluate", [Path(checkpoint), prep.path], holds_only(is_eval_file), "an `evaluate` output"):
        out.mkdir(parents=True, exist_ok=True)
        baselines = build_baselines(cfg, run, prep, split, out, started, cache)
        col = collect(cfg, run, prep, split, group_by, baselines, max_batches, cache)
        tables = make_tables(col, baselines, group_by)
        write_outputs(out, tables, col, run, baselines, split, group_by, cfg, started)
    return tables


def is_eval_file(name: str) -> bool:
    """A name `evaluate` writes in its output folder (tables, chart, summary, DuckDB's spill folder)."""
    stem, _, suffix = name.rpartition(".")
    tables = ("overall", "cold_start", "customers", "repeat_explore", *(f"by_{g}" for g in GROUP_BY))
    return ((stem in tables and suffix in ("parquet", "csv")) or name == "summary.json" or name == ".duckdb_tmp"
            or (suffix == "png" and stem.startswith("recall10_by_")))


def prepared_of(ckpt: dict[str, Any], checkpoint: Path, prepared: Path | Prepared | None, default: Path) -> Prepared:
    """The prepared folder to evaluate on: the one given, else the one the checkpoint records, else
    `default` (paths.prepared; a checkpoint of an older retail-sim records none); refused when its
    fingerprint is not the one the checkpoint was trained on."""
    if prepared is None:
        prepared = Path(ckpt["prepared"]) if ckpt.get("prepared") else default
    prep = prepared if isinstance(prepared, Prepared) else Prepared(prepared)
    trained_on = ckpt.get("prepared_fingerprint")
    if trained_on and trained_on != prep.fingerprint:
        raise UserError(f"{checkpoint}: trained on the prepared folder {ckpt.get('prepared')} (fingerprint {trained_on}), "
                        f"but {prep.path} has fingerprint {prep.fingerprint} — give --prepared of the folder it was trained on")
    return prep


@dataclass
class Run:
    """The checkpoint being evaluated: its resolved config and its model on the evaluation device."""

    checkpoint: Path
    ckpt: dict[str, Any]
    config: Config
    model: WorldModel
    device: torch.device


def load_run(cfg: Config, checkpoint: Path, prepared: Prepared, cache=None, ckpt: dict[str, Any] | None = None) -> Run:
    """The checkpoint (refused when trained on another tensor cache) and its model, in eval mode."""
    if ckpt is None:
        ckpt = load_checkpoint(checkpoint)
    check_cache_fingerprint(ckpt, checkpoint, prepared.cache_fingerprint(cache))
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
    customer_idx: np.ndarray  # [n] int64 (0 = anonymous)
    shop_ts: np.ndarray  # [n] int64 hours since calendar.origin_date
    selected: np.ndarray  # the scored baskets, sorted (all of them unless the split exceeds the cap)
    alpha: dict[str, Any]  # history_co_purchase: its alpha, recall@10 per alpha, validation baskets used

    @property
    def sampled(self) -> bool:
        return len(self.selected) < len(self.basket_ids)

    def rows(self, basket_ids: np.ndarray) -> np.ndarray:
        """Positions of a batch's basket ids (every one of this split)."""
        found, pos = sorted_lookup(self.basket_ids, basket_ids)
        if not found.all():
            raise AssertionError("an evaluation batch holds a basket outside its split")
        return pos


@dataclass
class SplitBaskets:
    """basket_flags.sql of one split: basket ids (sorted), cold-start flags, customers, hours."""

    basket_ids: np.ndarray
    cold: np.ndarray
    customer_idx: np.ndarray
    shop_ts: np.ndarray

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, split: str) -> SplitBaskets:
        t = sqlrun.select(con, "evaluate/basket_flags.sql", split=split)
        col = lambda name, dtype: t.column(name).to_numpy(zero_copy_only=False).astype(dtype)  # noqa: E731
        return cls(col("basket_id", np.int64), col("cold", bool), col("customer_idx", np.int64), col("shop_ts", np.int64))


def build_baselines(cfg: Config, run: Run, prepared: Prepared, split: str, out: Path, started: float,
                    cache=None) -> Baselines:
    """Counted by DuckDB over the prepared views (spilling into out/.duckdb_tmp, removed after): the
    split's baskets and flags, the fixed sample to score, the training-week popularity and
    co-purchase counts and the auxiliary majority classes; the history baselines read the tensor
    cache's history index; history_co_purchase's alpha is chosen on the validation split."""
    con = prepared.connect(cfg, temp_directory=out / ".duckdb_tmp")
    try:
        baskets = SplitBaskets.read(con, split)
        validation = SplitBaskets.read(con, "validation")
        selected = evaluation_sample(baskets.basket_ids, cfg.train.eval_max_baskets, run.config.seed)
        if len(selected) < len(baskets.basket_ids):
            log(f"scoring a fixed sample of {len(selected):,} of the {len(baskets.basket_ids):,} {split} baskets "
                f"(train.eval_max_baskets / --max-baskets; 0 scores all)")
        popularity, copurchase, n_lines = training_counts(con, prepared.weeks("train"), run.model.n_products,
                                                          cfg.splits.items_per_slice)
        majority = majority_classes(con)
    finally:
        con.close()
        shutil.rmtree(out / ".duckdb_tmp", ignore_errors=True)
    scorer = BaselineScorer(popularity, copurchase, prepared.open_cache(cache).history)
    alpha = choose_alpha(cfg, run, prepared, scorer, validation, cache)
    scorer.blend.alpha = alpha["alpha"]
    log(f"baselines ready: {n_lines:,} training lines, {copurchase.nnz:,} co-purchase pairs; history_co_purchase "
        f"alpha {alpha['alpha']} (best recall@10 on {alpha['baskets']:,} validation baskets) "
        f"({time.perf_counter() - started:.1f}s)")
    return Baselines(scorer, majority, baskets.basket_ids, baskets.cold, baskets.customer_idx, baskets.shop_ts,
                     selected, alpha)


def choose_alpha(cfg: Config, run: Run, prepared: Prepared, scorer: BaselineScorer, validation: SplitBaskets,
                 cache=None) -> dict[str, Any]:
    """history_co_purchase's alpha: the ALPHA_GRID value with the best recall@10 on the hidden items
    of a fixed sample of at most ALPHA_BASKETS validation baskets (ties -> the smaller alpha).
    The decayed share and mean cosine of each hidden item's basket are computed once; each alpha
    then costs one blend of the two and a rank count."""
    selected = evaluation_sample(validation.basket_ids, ALPHA_BASKETS, run.config.seed)
    hits, n = np.zeros(len(ALPHA_GRID)), 0
    for _, batch in evaluation_batches(cfg, run, prepared, "validation", "week", selected, cache=cache):
        rows, _, targets = hidden_items(batch)
        _, at = sorted_lookup(validation.basket_ids, batch.basket_id.numpy())
        ctx = scorer.context(batch.product_ids, validation.customer_idx[at], validation.shop_ts[at])
        cosine = scorer.blend.mean_cosine(ctx)[rows]
        share = scorer.blend.share(ctx.history.rows(rows))
        excluded = exclude_known(torch.zeros_like(cosine), batch.product_ids[rows]).isinf()
        for j, alpha in enumerate(ALPHA_GRID):
            scores = scorer.blend.blend(cosine, share, alpha).masked_fill_(excluded, float("-inf"))
            hits[j] += int((target_ranks(scores, targets) <= 10).sum())
        n += len(targets)
    best = int(np.argmax(hits))  # the first of equal maxima
    return {"alpha": float(ALPHA_GRID[best]), "baskets": int(len(selected)), "hidden_items": n,
            "recall@10_by_alpha": {str(a): (h / n if n else None) for a, h in zip(ALPHA_GRID, hits, strict=True)}}


def majority_classes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """task -> most frequent label id among the training split's labelled baskets
    (sql/evaluate/majority_class.sql)."""
    rows = sqlrun.select(con, "evaluate/majority_class.sql").to_pylist()
    found = {r["label_column"]: r["label"] for r in rows}
    return {task: classes.index(found[column]) for task, (column, classes) in AUXILIARY_CODES.items()
            if found.get(column) in classes}


def evaluation_batches(cfg: Config, run: Run, prepared: Prepared, split: str, group_by: str,
                       selected: np.ndarray | None, max_batches: int = 0, cache=None):
    """(key, batch) of the split's EvaluationDataLoader, encoded as the run was trained (on the CPU:
    the scoring reads the batch there), of the baskets `selected` only (sorted; None = all). The hidden
    items are the evaluation's own (its config's masking.mask_prob and seed, drawn per basket id),
    not the run's, so runs trained with other masking or seeds are scored on the same items."""
    from retail_sim.data.dataset import WorldModelDataset
    from retail_sim.data.encoder import BatchEncoder
    from retail_sim.data.evaluation import EvaluationDataLoader

    rc = run.config
    dataset = WorldModelDataset(prepared, split=split, max_seq_len=rc.splits.max_seq_len, enable_auxiliary_tasks=True,
                                mask_prob=cfg.masking.mask_prob, seed=cfg.seed, config=rc, cache=cache)
    loader = EvaluationDataLoader(dataset, batch_size=cfg.train.eval_batch_size, group_by=group_by, basket_ids=selected)
    encoder = BatchEncoder.from_dataset(dataset)
    for i, (key, compact) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        yield key, encoder(compact)


def collect(cfg: Config, run: Run, prepared: Prepared, split: str, group_by: str, baselines: Baselines,
            max_batches: int = 0, cache=None) -> Collector:
    """Score every selected basket of the split with the model and the baselines, batch by batch."""
    col = Collector()
    selected = baselines.selected if baselines.sampled else None
    ticker = Ticker(f"scoring {split}", len(baselines.selected), "baskets")
    for key, batch in evaluation_batches(cfg, run, prepared, split, group_by, selected, max_batches, cache):
        ticker.add(batch.batch_size)
        at = baselines.rows(batch.basket_id.cpu().numpy())
        customer = baselines.customer_idx[at]
        scored = score_batch(run.model, batch, baselines.scorer, customer, baselines.shop_ts[at], run.device,
                             cfg.train.bf16)
        cold = baselines.cold[at]
        col.add(key, batch, scored, cold, np.where(customer == 0, 2, np.where(cold, 1, 0)))
    return col


@dataclass
class Collected:
    """A Collector's parts as arrays: per hidden item its ranks, group and cold-start flag; per
    labelled basket and task its true label, prediction, group and flag."""

    ranks: dict[str, np.ndarray]  # scorer -> [N] int64
    groups: np.ndarray  # [N] int64 index into the group names
    cold: np.ndarray  # [N] bool
    customer: np.ndarray  # [N] int64 index into CUSTOMERS
    repeat: np.ndarray  # [N] bool
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
    """overall (ranking + auxiliary metrics per scorer), cold_start (cold start vs the rest),
    customers (known / cold start / anonymous), repeat_explore (hidden product bought before or
    not) and by_<group> (ranking metrics per group, groups in the order met)."""
    scorers = ("model", *baselines.scorer.names)
    c = Collected(
        ranks={name: col.cat(col.ranks[name], np.int64) for name in scorers},
        groups=col.cat(col.item_group, np.int64), cold=col.cat(col.item_cold, bool),
        customer=col.cat(col.item_customer, np.int64), repeat=col.cat(col.item_repeat, bool),
        aux={t: {k: col.cat(v, bool if k == "cold" else np.int64) for k, v in e.items()} for t, e in col.aux.items()},
        majority=baselines.majority,
    )
    return {"overall": _overall_table(c, scorers), "cold_start": _cold_start_table(c, scorers),
            "customers": _segment_table(c, scorers, CUSTOMERS, [c.customer == i for i in range(len(CUSTOMERS))]),
            "repeat_explore": _segment_table(c, scorers, REPEAT, [c.repeat, ~c.repeat]),
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


def _segment_table(c: Collected, scorers: tuple[str, ...], names: tuple[str, ...], masks: list[np.ndarray]) -> pa.Table:
    """Ranking metrics per (segment, scorer) of the hidden items each mask selects."""
    table: dict[str, list] = defaultdict(list)
    for segment, mask in zip(names, masks, strict=True):
        for name in scorers:
            table["segment"].append(segment)
            table["scorer"].append(name)
            for k, v in ranking_metrics(c.ranks[name][mask]).items():
                table[k].append(v)
    return _table(table)


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
               "max_baskets": cfg.train.eval_max_baskets, "history_co_purchase": baselines.alpha,
               "seconds": round(time.perf_counter() - started, 3), "overall": tables["overall"].to_pylist(),
               "repeat_explore": tables["repeat_explore"].to_pylist(), "customers": tables["customers"].to_pylist()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))


def print_report(tables: dict[str, pa.Table]) -> None:
    """The overall table (ranking + auxiliary columns) and the cold-start breakdown on stdout."""
    overall = tables["overall"]
    print(format_table(overall, ["scorer", *RANK_COLUMNS]))
    aux_cols = [c for c in overall.column_names if c.endswith("_accuracy") or c.endswith("_macro_f1")]
    print()
    print(format_table(overall.filter(pc.is_valid(overall.column(aux_cols[0]))) if aux_cols else overall,
                       ["scorer", *aux_cols]))
    for name in ("repeat_explore", "customers", "cold_start"):
        print()
        print(format_table(tables[name], ["segment", "scorer", *RANK_COLUMNS]))
