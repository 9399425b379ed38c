"""The one configuration object: every tunable of the pipeline, as a tree of dataclasses.

Sources, later wins: the defaults below < `retail_sim.toml` in the working directory (or the
file given with `--config FILE`) < command-line options. TOML tables map to the sections
(`[splits]`, `[duckdb]`, ...); an unknown key is an error that names it.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from retail_sim.errors import UserError

DEFAULT_CONFIG_FILE = "retail_sim.toml"


@dataclass
class PathsConfig:
    raw: str = "data/raw"  # folder, file or glob of LGSR transaction CSVs (.csv or .csv.gz)
    prepared: str = "data/prepared"  # output of `splits`, input of `cache` and the loader
    runs: str = "runs"  # training runs (checkpoints, metrics)


@dataclass
class CalendarConfig:
    """Fiscal week arithmetic: week = (YYYY - origin_year)*weeks_per_year + (WW - origin_ww) + 1."""

    origin_shop_week: int = 200607  # fiscal YYYYWW of week 1
    origin_date: str = "2006-04-10"  # the Monday that starts week 1
    weeks_per_year: int = 52
    first_week: int = 1  # configured week range; rows outside it are rejected
    last_week: int = 117


@dataclass
class SplitsConfig:
    """Temporal splits (inclusive week ranges), basket shaping and reject policy."""

    train_weeks: list[int] = field(default_factory=lambda: [1, 80])
    validation_weeks: list[int] = field(default_factory=lambda: [81, 95])
    test_weeks: list[int] = field(default_factory=lambda: [96, 117])
    max_seq_len: int = 50  # items kept per basket (highest spend first)
    bucket_edges: list[int] = field(default_factory=lambda: [10, 20, 35, 50])  # seq_len upper bounds
    price_window_weeks: int = 4  # base_price / category_avg_price look back this many weeks
    max_reject_fraction: float = 0.001  # fail the run above this share of rejected rows
    row_group_size: int = 32_768  # rows per Parquet row group of the samples
    items_per_slice: int = 20_000_000  # baskets are listed in week ranges of at most ~this many items (list() cannot spill)


@dataclass
class DuckDBConfig:
    memory_limit: str = "8GB"  # safe on a 24 GB machine; DuckDB spills past it
    threads: int = 0  # 0 = DuckDB's default (all cores)
    temp_directory: str = ""  # "" = <out>/.duckdb_tmp


@dataclass
class GraphConfig:
    """GraphSAGE product embeddings, trained on training-week co-purchases."""

    min_cooccurrence: int = 2  # drop product pairs seen together fewer times
    edge_weight: str = "count"  # "lift" or "count"
    max_neighbours: int = 25  # each node aggregates its this many heaviest neighbours
    input_dim: int = 64  # node input: sum of the hierarchy code embeddings + projected price/popularity
    hidden_dim: int = 128  # first GraphSAGE layer; the second outputs cache.product_dim
    steps: int = 300  # full-batch steps (~0.1 s each on the 4k-product sample, 1 thread)
    batch_size: int = 4096  # positive pairs per step
    negatives: int = 5  # negatives per positive, drawn by popularity^0.75
    lr: float = 0.005
    temperature: float = 0.2  # link logit = cosine / temperature (+ node biases)
    id_dropout: float = 0.3  # per step, share of training products whose ID embedding is swapped for the unseen row
    id_init_std: float = 0.1  # initial scale of the per-product ID embeddings
    node_bias: bool = True  # a learned per-product bias in the training logit (absorbs popularity)
    hierarchy_mix: float = 0.5  # output = normalise((1-λ) GraphSAGE + λ GraphSAGE on the hierarchy codes alone)
    positive_weight: str = "count"  # positive pairs drawn by "count" or "lift" (or "uniform")
    eval_pairs: int = 20_000  # held-out positives (and as many random pairs) for the link AUC; 0 = all
    eval_min_baskets: int = 3  # a held-out positive is a pair bought together in >= this many validation baskets


@dataclass
class CacheConfig:
    product_dim: int = 256
    store_dim: int = 96
    segment_dim: int = 64
    history_dim: int = 96
    affinity_dim: int = 32
    half_life_weeks: float = 8.0  # decay of the customer history mean
    torch_threads: int = 1  # torch threads while building; fixed so two builds are byte-identical
    chunk_rows: int = 524_288  # customer-state rows held in Python at once (memory flat as customers grow)
    graph: GraphConfig = field(default_factory=GraphConfig)


@dataclass
class MaskingConfig:
    mask_prob: float = 0.15  # share of real positions chosen (at least one per basket)
    mask_token_frac: float = 0.8  # of chosen: MASK token
    random_token_frac: float = 0.1  # of chosen: a random product; the rest stay unchanged
    mask_price: bool = True  # zero T4 at chosen positions
    trip_context_dropout: float = 0.5  # P(T6 hidden and auxiliary labels active) per basket


@dataclass
class AuxiliaryConfig:
    enabled: bool = True
    mission_type: float = 0.1  # loss weights; 0 disables that task
    mission_focus: float = 0.1
    price_sensitivity: float = 0.05
    basket_size: float = 0.05
    mission_type_enabled: bool = True  # per-task switches (a disabled task has no loss term)
    mission_focus_enabled: bool = True
    price_sensitivity_enabled: bool = True
    basket_size_enabled: bool = True


@dataclass
class LoaderConfig:
    batch_size: int = 64
    shuffle_window: int = 4  # row groups shuffled together within a bucket (memory: 1 window per bucket per worker)
    num_workers: int = 0
    drop_last: bool = True  # drop each bucket's partial batch in training (counted)
    cold_start_k: float = 5.0  # baskets of history at which T1 stops blending with the segment prior
    eval_trip_context: str = "hidden"  # evaluation T6: "hidden" (labels active), "dropout" or "visible"


@dataclass
class ModelConfig:
    preset: str = "tiny"  # "tiny" (CPU tests) or "base" (GPU); explicit fields below override
    d_model: int = 0  # 0 = from preset
    n_layers: int = 0
    n_heads: int = 0
    dropout: float = 0.1
    product_input: str = "cache"  # "cache" (T2 from the batch) or "learned" (embedding of product_ids)
    ff_mult: int = 4  # feed-forward width = ff_mult * d_model
    item_head: str = "linear"  # "linear" (d_model -> vocab) or "tied" (W h . product embedding + bias)


@dataclass
class TrainConfig:
    epochs: int = 3
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    max_steps: int = 0  # 0 = no cap
    grad_clip: float = 1.0
    grad_accum: int = 1
    quick_val_every: int = 500
    quick_val_batches: int = 100
    patience: int = 3
    log_every: int = 50
    device: str = "auto"  # "auto" (cuda when available), "cpu" or "cuda"
    checkpoint_every: int = 500  # also write last.pt every this many optimiser steps (0 = epoch ends only)
    bf16: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    eval_batch_size: int = 256  # batch size of `evaluate` and of the validation passes
    eval_max_baskets: int = 100_000  # `evaluate` scores a fixed hashed sample of at most this many baskets (0 = all)
    cpu_threads: int = 0  # torch intra-op threads on CPU (0 = torch's default)


@dataclass
class SynthConfig:
    """`retail-sim synth`: figures the generator is calibrated to live in retail_sim/synth/calibration.py."""

    customers: int = 2000
    weeks: int = 117
    products: int = 4997
    stores: int = 761
    anonymous_share: float = 0.205  # share of baskets without a customer (real: 20.5%)
    header: str = "seg"  # "seg" or "named"
    new_customer_share: float = 0.4  # customers whose first week is after week 1 (cold start)
    churn_share: float = 0.7  # customers who stop shopping before the last week
    home_store_share: float = 0.82  # mean share of a customer's baskets in their home store
    favourite_share: float = 0.7  # mean share of a customer's lines from their favourite products
    preference_sigma: float = 0.5  # spread (lognormal sigma) of customers' category preferences
    habit_share: float = 0.5  # baskets on the customer's usual weekday / hour
    promo_share: float = 0.04  # share of product-weeks on promotion (10-50% off, 1-4 weeks)
    promo_lift: float = 5.0  # purchase weight x (1 + promo_lift * discount) on promotion
    gzip_level: int = 6


@dataclass
class Config:
    seed: int = 0
    paths: PathsConfig = field(default_factory=PathsConfig)
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    auxiliary: AuxiliaryConfig = field(default_factory=AuxiliaryConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _merge(obj: Any, data: dict[str, Any], where: str, source: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else key
        if key not in names:
            raise UserError(f"{source}: unknown key '{dotted}' — see `retail-sim config` for the valid keys")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise UserError(f"{source}: '{dotted}' must be a table of settings")
            changes[key] = _merge(current, value, dotted, source)
        else:
            changes[key] = _coerce(value, current, dotted, source)
    return dataclasses.replace(obj, **changes)


def _coerce(value: Any, current: Any, dotted: str, source: str) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(current, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(current, str) and isinstance(value, str):
        return value
    elif isinstance(current, list) and isinstance(value, (list, tuple)):
        return list(value)
    raise UserError(
        f"{source}: '{dotted}' = {value!r} has the wrong type; expected {type(current).__name__}"
    )


def apply(cfg: Config, dotted: dict[str, Any], source: str = "command line") -> Config:
    """Set `section.key` values (e.g. {'splits.max_seq_len': 30}) on a copy of cfg."""
    tree: dict[str, Any] = {}
    for key, value in dotted.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _merge(cfg, tree, "", source)


def load_config(path: str | Path | None = None) -> Config:
    """Defaults, then `path` (or ./retail_sim.toml when it exists). A missing explicit file is an error."""
    cfg = Config()
    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        if not candidate.is_file():
            return validate(cfg)
        path = candidate
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    return validate(_merge(cfg, data, "", str(path)))


def validate(cfg: Config) -> Config:
    """Check cross-field rules; raise UserError naming the key."""
    s = cfg.splits
    for name in ("train_weeks", "validation_weeks", "test_weeks"):
        rng = getattr(s, name)
        if len(rng) != 2 or rng[0] > rng[1]:
            raise UserError(f"splits.{name} = {rng}: give [first, last] with first <= last")
    if not (s.train_weeks[1] < s.validation_weeks[0] and s.validation_weeks[1] < s.test_weeks[0]):
        raise UserError("splits: train, validation and test week ranges must be in that order and not overlap")
    edges = s.bucket_edges
    if not edges or edges != sorted(set(edges)) or edges[-1] != s.max_seq_len:
        raise UserError(
            f"splits.bucket_edges = {edges}: must be increasing and end at splits.max_seq_len ({s.max_seq_len})"
        )
    if cfg.calendar.weeks_per_year < 1:
        raise UserError("calendar.weeks_per_year must be >= 1")
    m = cfg.masking
    if not 0 < m.mask_prob <= 1 or m.mask_token_frac + m.random_token_frac > 1:
        raise UserError("masking: need 0 < mask_prob <= 1 and mask_token_frac + random_token_frac <= 1")
    return cfg


def from_dict(data: dict[str, Any], source: str = "manifest") -> Config:
    """A Config from `Config.to_dict()` output (e.g. the resolved config stored in a manifest)."""
    return validate(_merge(Config(), data, "", source))
