"""`retail-sim`: the command line. Each command reads the one Config (defaults < retail_sim.toml
or --config < options) and calls the module that does the work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from retail_sim.config import Config, apply, load_config
from retail_sim.errors import UserError

app = typer.Typer(
    name="retail-sim",
    help="Training-data engine, loader and trainer for retail basket world models on dunnhumby "
    "LGSR transaction data. Pipeline: synth (or your CSVs) -> splits -> cache -> train -> evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print a ratio against a baseline run in the same process.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", help="TOML config file (default: ./retail_sim.toml when it exists)."),
]
PreparedOpt = Annotated[
    Optional[Path], typer.Option("--prepared", help="Prepared folder written by `splits` [default: data/prepared].")
]


def resolve(config: Optional[Path], **dotted) -> Config:
    """Load the config and apply the command-line options that were given (None = not given)."""
    cfg = load_config(config)
    given = {k.replace("__", "."): (str(v) if isinstance(v, Path) else v) for k, v in dotted.items() if v is not None}
    return apply(cfg, given) if given else cfg


def not_implemented(command: str, issue: int) -> None:
    typer.echo(f"error: `retail-sim {command}` is not implemented yet (issue #{issue}).", err=True)
    raise typer.Exit(3)


@app.command()
def version() -> None:
    """Print the versions of retail-sim and of its engines."""
    from retail_sim import __version__

    import duckdb
    import numpy
    import pyarrow
    import torch

    typer.echo(f"retail-sim {__version__}")
    for mod in (duckdb, pyarrow, numpy, torch, typer):
        typer.echo(f"{mod.__name__} {mod.__version__}")


@app.command("config")
def show_config(config: ConfigOpt = None) -> None:
    """Print the resolved configuration (every key, as TOML-like JSON)."""
    import json

    typer.echo(json.dumps(resolve(config).to_dict(), indent=2))


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Output folder for transactions_YYYYWW.csv and time.csv.")] = Path("data/raw"),
    customers: Annotated[Optional[int], typer.Option(help="Number of customers [default: 2000].")] = None,
    weeks: Annotated[Optional[int], typer.Option(help="Number of fiscal weeks from 200607 [default: 117].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed; same arguments give byte-identical files [default: 0].")] = None,
    header: Annotated[Optional[str], typer.Option(help="Header variant: 'seg' (seg_1/seg_2) or 'named' (CUST_PRICE_SENSITIVITY/CUST_LIFESTAGE).")] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .csv.gz files.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Generate synthetic LGSR data calibrated to the real distributions."""
    from retail_sim.synth import generate

    cfg = resolve(config, synth__customers=customers, synth__weeks=weeks, seed=seed, synth__header=header)
    generate(cfg, out, gzip=gzip)


@app.command()
def splits(
    raw: Annotated[Optional[str], typer.Option(help="Folder, file or glob of transactions CSVs (.csv/.csv.gz) [default: data/raw].")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder [default: data/prepared].")] = None,
    config: ConfigOpt = None,
) -> None:
    """Typed ingest, week normalisation, temporal splits, baskets, point-in-time prices (DuckDB SQL).

    Runs sql/01..11 in order and writes OUT/samples/split=*/bucket=*/*.parquet, vocab/, items/,
    prices/, rejects/ and manifest.json (last). Bad rows go to OUT/rejects with file, line and
    reason; the run fails if more than splits.max_reject_fraction of rows are rejected.
    """
    from retail_sim.prepare import run_splits

    cfg = resolve(config, paths__raw=raw, paths__prepared=out)
    run_splits(cfg, cfg.paths.raw, Path(cfg.paths.prepared))


@app.command()
def audit(prepared: PreparedOpt = None, config: ConfigOpt = None) -> None:
    """Run every leakage/consistency check in sql/audits/; exit 1 on any violation.

    Prints one line per check: rows checked, violations, what it checks (and a few violating rows).
    """
    from retail_sim.audit import print_audits, run_audits

    cfg = resolve(config, paths__prepared=prepared)
    results = run_audits(Path(cfg.paths.prepared), cfg)
    print_audits(results)
    if any(r.violations for r in results):
        raise typer.Exit(1)


@app.command()
def sql(
    file: Annotated[Path, typer.Argument(help="A .sql file (e.g. sql/audits/01_split_weeks.sql).")],
    prepared: PreparedOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run one SQL file against a prepared folder and print the result table.

    The file sees the views of sql/prepared_views.sql (samples, sample_items, items, products,
    customers, stores, weekly_prices, rejects, manifest) and the split/bucket variables of the
    folder's manifest (getvariable('train_first'), ...). Write your own checks the same way.
    """
    from retail_sim.audit import run_sql

    cfg = resolve(config, paths__prepared=prepared)
    run_sql(file, Path(cfg.paths.prepared), cfg)


@app.command()
def cache(
    prepared: PreparedOpt = None,
    product_embeddings: Annotated[Optional[Path], typer.Option(help="Parquet of externally trained product embeddings (id + 256 floats).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Build the tensor cache: product/store/segment embeddings, point-in-time customer state."""
    not_implemented("cache", 4)


@app.command()
def train(prepared: PreparedOpt = None, config: ConfigOpt = None) -> None:
    """Train the world model (single device, or torchrun for DDP)."""
    not_implemented("train", 6)


@app.command()
def evaluate(config: ConfigOpt = None) -> None:
    """Evaluate a checkpoint against popularity, co-purchase and own-history baselines."""
    not_implemented("evaluate", 6)


@bench_app.command("synth")
def bench_synth(
    rows: Annotated[int, typer.Option(help="Approximate rows to generate.")] = 10_000_000,
    out: Annotated[Optional[Path], typer.Option(help="Scratch folder [default: a temp dir, removed after].")] = None,
) -> None:
    """Rows/s and peak memory of synthetic generation."""
    from retail_sim.synth import bench

    bench(rows, out)


def main() -> None:
    """Entry point: user errors print one line and exit 2; bugs keep their traceback."""
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
