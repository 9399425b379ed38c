"""The one configuration object: every tunable of the pipeline, as a tree of dataclasses.

Sources, later wins: the defaults below < `retail_sim.toml` in the working directory (or the
file given with `--config FILE`) < command-line options < `--set section.key=value`. TOML tables
map to the sections (`[splits]`, `[duckdb]`, ...); an unknown key is an error that names it.
`validate` checks every value (choices, ranges, cross-field rules) in one place; `to_toml` writes
a file that `--config` reads back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import json
import math
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from retail_sim import widths
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
    bucket_edges: list[int] = field(default_factory=lambda: [2, 4, 7, 11, 16, 22, 30, 50])  # seq_len upper bounds (17% padding on the real sample, 49% with 10/20/35/50: docs/loader.md)
    price_window_weeks: int = 4  # base_price / category_avg_price look back this many weeks
    max_reject_fraction: float = 0.001  # fail the run above this share of rejected rows
    row_group_size: int = 4_096  # rows per Parquet row group of the samples (items/ and history/ use DuckDB's 122,880): loader.window_rows / loader.shuffle_window, so a shuffle window is whole row groups (docs/loader.md)
    items_per_slice: int = 20_000_000  # items, prices, sample lists and the cache's co-purchase counts are built in week ranges, the history in customer ranges, of at most ~this many items (list() cannot spill)


@dataclass
class HistoryConfig:
    """Per-(customer, product) purchase history: the event log `splits` writes (history/) and the
    top-k products each sample carries (history_ids / history_features)."""

    k: int = 128  # products per sample: the customer's top-k by decayed count (0 = no history in batches)
    decay: float = 0.95  # weight per week of age; ranks the products and gives feature 0
    short_decay: float = 0.8  # a faster decay for feature 1


@dataclass
class QualityConfig:
    """Thresholds of the raw-data quality warnings (retail_sim/quality.py; `splits` and `audit` print them)."""

    replay_share_excess: float = 0.25  # warn when a week's share of replayed baskets exceeds the median week's by more
    volume_ratio: float = 3.0  # warn when a week's baskets are above this many times the median week's, or below 1/this


@dataclass
class DuckDBConfig:
    memory_limit: str = "8GB"  # safe on a 24 GB machine; DuckDB spills past it
    threads: int = 0  # 0 = DuckDB's default (all cores)
    temp_directory: str = ""  # "" = <out>/.duckdb_tmp


@dataclass
class GraphConfig:
    """GraphSAGE product embeddings, trained on training-week co-purchases."""

    min_cooccurrence: int = 2  # drop product pairs seen together fewer times
    edge_weight: Literal["count", "lift"] = "count"  # neighbours weighted (and kept) by co-purchase count or lift
    max_neighbours: int = 25  # each node aggregates its this many heaviest neighbours
    input_dim: int = 64  # node input: sum of the hierarchy code embeddings + projected price/popularity
    hidden_dim: int = 128  # first GraphSAGE layer; the second outputs the 256 product dims
    steps: int = 300  # full-batch steps (~0.1 s each on the 4k-product sample, 1 thread)
    batch_size: int = 4096  # positive pairs per step
    negatives: int = 5  # negatives per positive, drawn by popularity^0.75
    lr: float = 0.005
    temperature: float = 0.2  # link logit = cosine / temperature (+ node biases)
    id_dropout: float = 0.3  # per step, share of training products whose ID embedding is swapped for the unseen row
    id_init_std: float = 0.1  # initial scale of the per-product ID embeddings
    node_bias: bool = True  # a learned per-product bias in the training logit (absorbs popularity)
    hierarchy_mix: float = 0.5  # output = normalise((1-λ) GraphSAGE + λ GraphSAGE on the hierarchy codes alone)
    positive_weight: Literal["count", "lift", "uniform"] = "count"  # positive pairs drawn by count, lift or uniformly
    eval_pairs: int = 20_000  # held-out positives (and as many random pairs) for the link AUC; 0 = all
    eval_min_baskets: int = 3  # a held-out positive is a pair bought together in >= this many validation baskets


@dataclass
class CacheConfig:
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
    shuffle_window: int = 4  # row groups mixed in each shuffle window of a bucket (at most; as many as fit whole in window_rows and window_items)
    window_rows: int = 16_384  # rows per shuffle window (memory: 1 window per bucket per worker, whatever the data size; lower holds fewer whole row groups)
    window_items: int = 131_072  # basket items per shuffle window (0 = no item budget): the buckets of long baskets hold fewer whole row groups, so memory stays flat from 1M rows up (docs/loader.md)
    fixed_shapes: bool = False  # pad every training batch of a bucket to the bucket's edge: one [B, S] and [B, M] per bucket
    num_workers: int = 0  # DataLoader worker processes that build the batches (0 = the training process); each sends them through 4 reused shared-memory slots of <= 2.5 MiB
    drop_last: bool = True  # drop each bucket's partial batch in training (counted)
    cold_start_k: float = 5.0  # baskets of history at which T1 stops blending with the segment prior
    eval_trip_context: Literal["hidden", "dropout", "visible"] = "hidden"  # evaluation T6: hidden (labels active), dropout or visible
    mapped_cache_mb: int = 2048  # MiB of file pages a process may keep mapped: above it the BatchEncoder unmaps the tensor cache's before its next batch, and `cache` the files it writes (0 = never)


@dataclass
class ModelConfig:
    preset: Literal["tiny", "base"] = "tiny"  # tiny (CPU tests) or base (GPU); explicit fields below override
    d_model: int = 0  # 0 = from preset
    n_layers: int = 0
    n_heads: int = 0
    dropout: float = 0.1
    product_input: Literal["cache", "learned"] = "cache"  # cache (T2 from the batch) or learned (embedding of product_ids)
    ff_mult: int = 4  # feed-forward width = ff_mult * d_model
    item_head: Literal["linear", "tied"] = "linear"  # linear (d_model -> vocab) or tied (W h . product embedding + bias)
    history: Literal["none", "bias", "tokens", "both"] = "bias"  # purchase history: none, bias (φ(features) on the history products' logits), tokens (history products as encoder tokens) or both
    history_hidden: int = 32  # width of φ's hidden layer (bias) and of the history-feature MLP (tokens)
    history_tokens: int = 32  # top history products entering the encoder as tokens (tokens, both)
    history_product_bias: bool = False  # a learned per-product repeat bias in φ (bias, both)
    history_context: bool = False  # φ also sees the masked position's hidden state (φ per position)


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
    val_max_batches: int = 0  # the epoch-end validation scores the first this many validation batches (0 = all)
    patience: int = 3
    log_every: int = 50
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto (cuda when available), cpu or cuda
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
    header: Literal["seg", "named"] = "seg"  # seg (seg_1/seg_2) or named (CUST_PRICE_SENSITIVITY/CUST_LIFESTAGE)
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
    history: HistoryConfig = field(default_factory=HistoryConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
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
            if dotted in RETIRED:
                _check_retired(dotted, value, source)
                continue
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


# Former settings that are now fixed widths (retail_sim/widths.py). A config file, a manifest or a
# checkpoint written before may still hold them: their one possible value is accepted and ignored.
RETIRED = {
    "cache.product_dim": widths.PRODUCT_DIM,
    "cache.store_dim": widths.STORE_DIM,
    "cache.segment_dim": widths.SEGMENT_DIM,
    "cache.history_dim": widths.HISTORY_DIM,
    "cache.affinity_dim": widths.AFFINITY_DIM,
}


def _check_retired(dotted: str, value: Any, source: str) -> None:
    if value != RETIRED[dotted]:
        raise UserError(f"{source}: '{dotted}' = {value!r} is no longer a setting: the T1–T6 widths are fixed "
                        f"({dotted} = {RETIRED[dotted]}, retail_sim/widths.py) — remove the key")


def apply(cfg: Config, dotted: dict[str, Any], source: str = "command line") -> Config:
    """Set `section.key` values (e.g. {'splits.max_seq_len': 30}) on a copy of cfg; validated."""
    tree: dict[str, Any] = {}
    for key, value in dotted.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return validate(_merge(cfg, tree, "", source))


def parse_assignments(items: list[str], source: str = "--set") -> dict[str, Any]:
    """`section.key=value` strings -> {key: value}; a value is read as a TOML value (3e-4, true,
    [1, 14], "8GB"), and as a plain string when it is not one (--set train.device=cuda)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{source} {item!r}: write section.key=value, e.g. {source} train.lr=3e-4")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key.strip()] = value
    return out


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


def from_dict(data: dict[str, Any], source: str = "manifest") -> Config:
    """A Config from `Config.to_dict()` output (the resolved config a manifest or checkpoint stores)."""
    return validate(_merge(Config(), data, "", source))


# ----------------------------------------------------------------------------- validation

# numeric ranges: key -> (lowest, highest, whether the lowest is allowed); None = unbounded
_AT_LEAST_1 = (
    "calendar.weeks_per_year", "splits.max_seq_len", "splits.price_window_weeks", "splits.row_group_size",
    "splits.items_per_slice", "cache.torch_threads", "cache.chunk_rows", "cache.graph.min_cooccurrence",
    "cache.graph.max_neighbours", "cache.graph.input_dim", "cache.graph.hidden_dim", "cache.graph.batch_size",
    "cache.graph.negatives", "cache.graph.eval_min_baskets", "loader.batch_size", "loader.shuffle_window", "loader.window_rows",
    "model.ff_mult", "model.history_hidden", "model.history_tokens", "train.epochs", "train.grad_accum", "train.log_every", "train.eval_batch_size",
    "synth.customers",
)
_AT_LEAST_0 = (
    "duckdb.threads", "cache.graph.steps", "cache.graph.eval_pairs", "cache.graph.id_init_std", "loader.num_workers", "loader.mapped_cache_mb", "loader.window_items",
    "loader.cold_start_k", "model.d_model", "model.n_layers", "model.n_heads", "train.weight_decay",
    "train.warmup_steps", "train.max_steps", "train.grad_clip", "train.quick_val_every", "train.quick_val_batches", "train.val_max_batches",
    "train.patience", "train.checkpoint_every", "train.eval_max_baskets", "train.cpu_threads",
    "train.lr",  # 0 freezes the weights (the tests force early stopping with it)
    "auxiliary.mission_type", "auxiliary.mission_focus", "auxiliary.price_sensitivity", "auxiliary.basket_size",
    "synth.promo_lift", "synth.preference_sigma", "history.k",
)
_ABOVE_0 = ("cache.half_life_weeks", "cache.graph.lr", "cache.graph.temperature")
_SHARES = (  # in [0, 1]
    "splits.max_reject_fraction", "cache.graph.id_dropout", "cache.graph.hierarchy_mix", "masking.mask_token_frac",
    "masking.random_token_frac", "masking.trip_context_dropout", "synth.new_customer_share", "synth.churn_share",
    "synth.habit_share", "synth.promo_share", "quality.replay_share_excess",
)


def get(cfg: Any, key: str) -> Any:
    """The value at a dotted key: get(cfg, 'train.lr')."""
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def leaves(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every setting as {dotted key: value}, in declaration order."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(leaves(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def choices(key: str) -> tuple[str, ...]:
    """The allowed values of a Literal setting ('train.device' -> ('auto', 'cpu', 'cuda')); () otherwise."""
    *path, name = key.split(".")
    obj: Any = Config()
    for part in path:
        obj = getattr(obj, part)
    hint = typing.get_type_hints(type(obj)).get(name)
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else ()


def _literal_errors(obj: Any, prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _literal_errors(value, f"{prefix}{f.name}.")
        elif typing.get_origin(hints[f.name]) is Literal and value not in typing.get_args(hints[f.name]):
            allowed = typing.get_args(hints[f.name])
            raise UserError(f"{prefix}{f.name} = {value!r}: choose {', '.join(allowed[:-1])} or {allowed[-1]}")


def _range_errors(cfg: Config) -> None:
    def fail(key: str, rule: str) -> None:
        raise UserError(f"{key} = {get(cfg, key)!r}: must be {rule}")

    for key, value in leaves(cfg).items():  # inf passes every '>= x' rule; no setting means it
        if isinstance(value, float) and not math.isfinite(value):
            fail(key, "a finite number")

    for key in _AT_LEAST_1:
        if get(cfg, key) < 1:
            fail(key, ">= 1")
    for key in _AT_LEAST_0:
        if not get(cfg, key) >= 0:  # NaN fails too
            fail(key, ">= 0")
    for key in _ABOVE_0:
        if not get(cfg, key) > 0:
            fail(key, "> 0")
    for key in _SHARES:
        if not 0 <= get(cfg, key) <= 1:
            fail(key, "in [0, 1]")
    if not 0 < cfg.masking.mask_prob <= 1:
        fail("masking.mask_prob", "in (0, 1]")
    for key in ("history.decay", "history.short_decay"):
        if not 0 < get(cfg, key) < 1:
            fail(key, "in (0, 1)")
    if not 0 <= cfg.model.dropout < 1:
        fail("model.dropout", "in [0, 1)")
    if not cfg.quality.volume_ratio >= 1:
        fail("quality.volume_ratio", ">= 1")
    if not 0 <= cfg.synth.gzip_level <= 9:
        fail("synth.gzip_level", "in 0..9")


def _synth_errors(s: SynthConfig) -> None:
    from retail_sim.synth.calibration import DEPARTMENT_CL  # the generator's PROD_CODE_10 classes

    if not 1 <= s.weeks <= 999:
        raise UserError(f"synth.weeks = {s.weeks}: give 1..999 (BASKET_ID holds a 3-digit week index)")
    if s.products < int(DEPARTMENT_CL.sum()):
        raise UserError(f"synth.products = {s.products}: give at least {int(DEPARTMENT_CL.sum())} (one per PROD_CODE_10)")
    if not 12 <= s.stores <= 99_999:
        raise UserError(f"synth.stores = {s.stores}: give 12..99999 (one per region at least)")
    if not 0.0 <= s.anonymous_share < 1.0:
        raise UserError(f"synth.anonymous_share = {s.anonymous_share}: give a share in [0, 1)")
    for name in ("home_store_share", "favourite_share"):
        if not 0.0 < getattr(s, name) < 1.0:
            raise UserError(f"synth.{name} = {getattr(s, name)}: give a share strictly between 0 and 1")


def validate(cfg: Config) -> Config:
    """Check every setting: choices of the Literal keys, numeric ranges, cross-field rules. Raises
    a UserError of one line naming the key; returns cfg."""
    _literal_errors(cfg)
    _range_errors(cfg)
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
    try:
        dt.date.fromisoformat(cfg.calendar.origin_date)
    except ValueError:
        raise UserError(f"calendar.origin_date = {cfg.calendar.origin_date!r}: give a date as YYYY-MM-DD") from None
    if cfg.loader.window_rows < cfg.loader.shuffle_window:
        raise UserError(f"loader.window_rows = {cfg.loader.window_rows}: must be >= loader.shuffle_window "
                        f"({cfg.loader.shuffle_window}), a window takes a share of each of its row groups")
    m = cfg.masking
    if m.mask_token_frac + m.random_token_frac > 1:
        raise UserError("masking: need mask_token_frac + random_token_frac <= 1")
    _synth_errors(cfg.synth)
    return cfg


# ----------------------------------------------------------------------------- TOML


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are valid TOML escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comments(cls: type) -> dict[str, str]:
    """The `# ...` comment after each field of a config dataclass, from its source."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):  # pragma: no cover - no source (frozen app)
        return {}
    return {m.group(1): m.group(2) for m in re.finditer(r"^    (\w+): [^\n]*?  # ([^\n]*)$", source, re.M)}


def to_toml(cfg: Config, header: str = "") -> str:
    """Every key of cfg as TOML, with the comments of this file; `--config` reads it back."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]

    def table(obj: Any, name: str) -> None:
        notes = _comments(type(obj))
        if name:
            lines.extend(["", f"[{name}]"])
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if not dataclasses.is_dataclass(value):
                note = f"  # {notes[f.name]}" if f.name in notes else ""
                lines.append(f"{f.name} = {_toml_value(value)}{note}")
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                table(value, f"{name}.{f.name}" if name else f.name)

    table(cfg, "")
    return "\n".join(lines).lstrip("\n") + "\n"
