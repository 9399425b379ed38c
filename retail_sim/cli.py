"""`retail-sim`: the command line. Each command reads the one Config (defaults < retail_sim.toml
or --config < options < --set section.key=value) and calls the module that does the work. Help
texts take their defaults and choices from Config() itself."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from retail_sim import hints
from retail_sim.config import Config, apply, choices, get, load_config, parse_assignments, to_toml
from retail_sim.errors import UserError

DEFAULTS = Config()


def default(key: str) -> str:
    """'(default: X)' of a setting, from Config()."""
    return f"(default: {get(DEFAULTS, key)})"


def one_of(key: str) -> str:
    """'a, b or c': the choices of a Literal setting."""
    allowed = choices(key)
    return f"{', '.join(allowed[:-1])} or {allowed[-1]}"


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
    Path | None,
    typer.Option("--config", help="TOML config file (default: ./retail_sim.toml when it exists; `retail-sim config --toml` writes one)."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="SECTION.KEY=VALUE",
                 help="Override any config key, e.g. --set train.lr=3e-4 --set splits.train_weeks=[1,14] (repeatable; wins over the other options)."),
]
PreparedOpt = Annotated[
    Path | None, typer.Option("--prepared", help=f"Prepared folder written by `splits` {default('paths.prepared')}.")
]


def resolve(config: Path | None, sets: list[str] | None = None, **dotted) -> Config:
    """Load the config, apply the command-line options that were given (None = not given), then
    the --set assignments."""
    hints.use_config(config)
    cfg = load_config(config)
    given = {k.replace("__", "."): (str(v) if isinstance(v, Path) else v) for k, v in dotted.items() if v is not None}
    given.update(parse_assignments(sets or []))
    return apply(cfg, given) if given else cfg


@app.command()
def version() -> None:
    """Print the versions of retail-sim and of its engines."""
    import duckdb
    import numpy
    import pyarrow
    import torch

    from retail_sim import __version__

    typer.echo(f"retail-sim {__version__}")
    for mod in (duckdb, pyarrow, numpy, torch, typer):
        typer.echo(f"{mod.__name__} {mod.__version__}")


@app.command("config")
def show_config(
    toml: Annotated[bool, typer.Option("--toml", help="Print TOML that --config reads back (with each key's comment) instead of JSON.")] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print the resolved configuration (every key): JSON, or with --toml a config file."""
    import json

    cfg = resolve(config, sets)
    if toml:
        typer.echo(to_toml(cfg, "retail-sim configuration (retail-sim config --toml); use it with --config FILE"), nl=False)
    else:
        typer.echo(json.dumps(cfg.to_dict(), indent=2))


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Output folder for transactions_YYYYWW.csv and time.csv (its own folder: `splits` reads every weekly file of a folder).")] = Path("data/synth"),
    customers: Annotated[int | None, typer.Option(help=f"Number of customers {default('synth.customers')}.")] = None,
    weeks: Annotated[int | None, typer.Option(help=f"Number of fiscal weeks from {DEFAULTS.calendar.origin_shop_week} {default('synth.weeks')}.")] = None,
    seed: Annotated[int | None, typer.Option(help=f"Random seed; same arguments give byte-identical files {default('seed')}.")] = None,
    header: Annotated[str | None, typer.Option(help=f"Header variant: {one_of('synth.header')}: seg_1/seg_2 or CUST_PRICE_SENSITIVITY/CUST_LIFESTAGE {default('synth.header')}.")] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .csv.gz files.")] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Generate synthetic LGSR data calibrated to the real distributions."""
    from retail_sim.synth import generate

    cfg = resolve(config, sets, synth__customers=customers, synth__weeks=weeks, seed=seed, synth__header=header)
    generate(cfg, out, gzip=gzip)


@app.command()
def splits(
    raw: Annotated[str | None, typer.Option(help=f"Folder, file or glob of transactions CSVs (.csv/.csv.gz) {default('paths.raw')}.")] = None,
    out: Annotated[Path | None, typer.Option(help=f"Output folder {default('paths.prepared')}.")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Typed ingest, week normalisation, temporal splits, baskets, point-in-time prices (DuckDB SQL).

    Runs sql/01..11 in order and writes OUT/samples/split=*/bucket=*/*.parquet, vocab/, items/, prices/, rejects/ and manifest.json (last). Bad rows go to OUT/rejects with file, line and reason; the run fails if more than splits.max_reject_fraction of rows are rejected.
    """
    from retail_sim.prepare import run_splits

    cfg = resolve(config, sets, paths__raw=raw, paths__prepared=out)
    run_splits(cfg, cfg.paths.raw, Path(cfg.paths.prepared))


@app.command()
def audit(prepared: PreparedOpt = None, config: ConfigOpt = None, sets: SetOpt = None) -> None:
    """Run every leakage/consistency check in sql/audits/ and verify every file's hash; exit 1 on any violation.

    Prints one line per check: rows checked, violations, what it checks (and a few violating rows); then a warning (exit 0) for each week whose replayed-basket share or volume is far from the rest (quality.* thresholds).
    """
    from retail_sim.audit import print_audits, print_quality, run_audits

    cfg = resolve(config, sets, paths__prepared=prepared)
    results = run_audits(Path(cfg.paths.prepared), cfg)
    print_audits(results)
    print_quality(Path(cfg.paths.prepared), cfg)
    if any(r.violations for r in results):
        raise typer.Exit(1)


@app.command()
def sql(
    file: Annotated[Path, typer.Argument(help="A .sql file (e.g. sql/audits/01_split_weeks.sql).")],
    prepared: PreparedOpt = None,
    fail_on_rows: Annotated[bool, typer.Option("--fail-on-rows", help="A test: exit 1 (FAIL) when the last statement returns rows, else PASS.")] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Run a SQL file against a prepared folder: each statement in turn, with its result table.

    The file sees the views of sql/prepared_views.sql (samples, sample_items, items, products, customers, stores, weekly_prices, rejects, history, manifest) and the split/bucket variables of the folder's manifest (getvariable('train_first'), ...). A failing statement prints DuckDB's full error and exits 2. Write your own checks like sql/audits/: the last statement returns the violating rows, and --fail-on-rows makes the file a test.
    """
    from retail_sim.audit import run_sql

    cfg = resolve(config, sets, paths__prepared=prepared)
    rows = run_sql(file, Path(cfg.paths.prepared), cfg)
    if fail_on_rows:
        typer.echo(f"FAIL: {file}: the last statement returned {rows:,} rows" if rows else f"PASS: {file}: no rows")
        if rows:
            raise typer.Exit(1)


@app.command()
def cache(
    prepared: PreparedOpt = None,
    product_embeddings: Annotated[Path | None, typer.Option(help="Parquet of externally trained product embeddings (id + 256 floats).")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Build the tensor cache: product/store/segment embeddings, point-in-time customer state."""
    from retail_sim.cache.build import build_cache, summary_lines

    cfg = resolve(config, sets, paths__prepared=prepared)
    manifest = build_cache(cfg, Path(cfg.paths.prepared), product_embeddings)
    for line in summary_lines(manifest):
        typer.echo(line)


def _without_nproc(argv: list[str]) -> list[str]:
    """argv after the program name, minus `--nproc N` / `--nproc=N` (for the torchrun re-launch)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


@app.command()
def train(
    prepared: PreparedOpt = None,
    out: Annotated[Path | None, typer.Option(help=f"Run folder for checkpoints, metrics and the resolved config.toml (default: {DEFAULTS.paths.runs}/<preset>).")] = None,
    preset: Annotated[str | None, typer.Option(help=f"Model size: {one_of('model.preset')} {default('model.preset')}.")] = None,
    epochs: Annotated[int | None, typer.Option(help=f"Epochs over the train split {default('train.epochs')}.")] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Baskets per batch and rank {default('loader.batch_size')}.")] = None,
    lr: Annotated[float | None, typer.Option(help=f"Peak AdamW learning rate {default('train.lr')}.")] = None,
    max_steps: Annotated[int | None, typer.Option(help=f"Stop after this many optimiser steps, 0 = no cap {default('train.max_steps')}.")] = None,
    device: Annotated[str | None, typer.Option(help=f"{one_of('train.device')} {default('train.device')}.")] = None,
    num_workers: Annotated[int | None, typer.Option(help=f"Loader worker processes {default('loader.num_workers')}.")] = None,
    product_input: Annotated[str | None, typer.Option(help=f"{one_of('model.product_input')}: T2 from the tensor cache or a trainable embedding {default('model.product_input')}.")] = None,
    resume: Annotated[str | None, typer.Option(help="'auto' (continue <out>/last.pt when present) or a checkpoint path.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in an --out that holds last.pt (removes its best.pt, last.pt, metrics.jsonl).")] = False,
    nproc: Annotated[int, typer.Option(help="Processes on this machine: > 1 re-launches under torchrun (DDP).")] = 1,
    cpu_threads: Annotated[int | None, typer.Option(help=f"torch threads on CPU, 0 = torch's choice {default('train.cpu_threads')}.")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Train the world model (single device, or DDP with --nproc N / torchrun)."""
    import os
    import subprocess

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        argv = sys.argv[1:]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "retail_sim", *_without_nproc(argv)]
        raise typer.Exit(subprocess.call(command))
    from retail_sim.train import train as run_training

    cfg = resolve(config, sets, paths__prepared=prepared, model__preset=preset, train__epochs=epochs,
                  loader__batch_size=batch_size, train__lr=lr, train__max_steps=max_steps, train__device=device,
                  loader__num_workers=num_workers, model__product_input=product_input,
                  train__cpu_threads=cpu_threads)
    run_dir = out if out is not None else Path(cfg.paths.runs) / cfg.model.preset
    result = run_training(cfg, Path(cfg.paths.prepared), run_dir, resume=resume, overwrite=overwrite)
    if result.stopped == "interrupted":
        if int(os.environ.get("RANK", "0")) == 0:
            typer.echo(f"interrupted at step {result.step}: {run_dir}/last.pt saved — continue with --resume auto",
                       err=True)
        raise typer.Exit(INTERRUPTED)
    if int(os.environ.get("RANK", "0")) == 0:
        best = f"{run_dir}/best.pt, " if (run_dir / "best.pt").is_file() else ""
        typer.echo(f"{result.stopped}: {result.step} steps, {result.epoch} epochs, best validation loss "
                   f"{result.best_val_loss:.4f} — {best}{run_dir}/metrics.jsonl")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `train` (best.pt or last.pt).")],
    prepared: Annotated[Path | None, typer.Option("--prepared", help="Prepared folder (default: the one the checkpoint was trained on; another with a different fingerprint is refused).")] = None,
    split: Annotated[str, typer.Option(help="validation or test.")] = "validation",
    group_by: Annotated[str, typer.Option(help="Per-group table and plot by date, hour or week.")] = "date",
    out: Annotated[Path | None, typer.Option(help="Output folder (default: <checkpoint folder>/eval_<split>).")] = None,
    device: Annotated[str | None, typer.Option(help=f"{one_of('train.device')} {default('train.device')}.")] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Baskets per evaluation batch {default('train.eval_batch_size')}.")] = None,
    max_baskets: Annotated[int | None, typer.Option(help=f"Score a fixed hashed sample of at most this many baskets of the split; 0 = all {default('train.eval_max_baskets')}.")] = None,
    cpu_threads: Annotated[int | None, typer.Option(help=f"torch threads on CPU, 0 = torch's choice {default('train.cpu_threads')}.")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Evaluate a checkpoint against popularity, co-purchase and own-history baselines.

    On a split larger than --max-baskets a fixed sample of baskets (by a hash of the basket id) is scored: the own-history baseline holds one row per (basket, product the customer bought before), which for every basket of a full-size split would not fit in memory."""
    from retail_sim.evaluate import evaluate as run_evaluation
    from retail_sim.evaluate import print_report

    cfg = resolve(config, sets, paths__prepared=prepared, train__device=device, train__eval_batch_size=batch_size,
                  train__eval_max_baskets=max_baskets, train__cpu_threads=cpu_threads)
    tables = run_evaluation(cfg, checkpoint, prepared, split=split, group_by=group_by, out=out)
    print_report(tables)
    where = out if out is not None else checkpoint.parent / f"eval_{split}"
    typer.echo(f"\ntables (Parquet + CSV) and recall10_by_{group_by}.png in {where}")


@bench_app.command("synth")
def bench_synth(
    rows: Annotated[int, typer.Option(help="Approximate rows to generate.")] = 10_000_000,
    out: Annotated[Path | None, typer.Option(help="Scratch folder (default: a temp dir, removed after).")] = None,
) -> None:
    """Rows/s and peak memory of synthetic generation."""
    from retail_sim.synth import bench

    bench(rows, out)


@bench_app.command("splits")
def bench_splits_cmd(
    raw: Annotated[str | None, typer.Option(help=f"Folder, file or glob of transactions CSVs {default('paths.raw')}.")] = None,
    scratch: Annotated[Path | None, typer.Option(help="Folder for the outputs (default: a temp dir, removed after).")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Time the splits stage and a bare DuckDB COPY of the same CSVs to Parquet; print the ratio."""
    from retail_sim.bench import bench_splits

    cfg = resolve(config, sets, paths__raw=raw)
    bench_splits(cfg, cfg.paths.raw, scratch)


@bench_app.command("train")
def bench_train_cmd(
    prepared: PreparedOpt = None,
    presets: Annotated[str, typer.Option(help="Comma-separated model presets to time.")] = "tiny,base",
    steps: Annotated[int, typer.Option(help="Batches per preset: a first pass over them meets every shape once, then the same batches are timed.")] = 20,
    batch_size: Annotated[int | None, typer.Option(help=f"Baskets per batch (loader.batch_size) {default('loader.batch_size')}.")] = None,
    device: Annotated[str | None, typer.Option(help=f"{one_of('train.device')} {default('train.device')}.")] = None,
    cpu_threads: Annotated[int | None, typer.Option(help=f"torch threads on CPU, 0 = torch's choice {default('train.cpu_threads')}.")] = None,
    fixed_shapes: Annotated[bool | None, typer.Option("--fixed-shapes/--dynamic-shapes", help=f"Pad every batch of a bucket to one shape {default('loader.fixed_shapes')}.")] = None,
    compile_mode: Annotated[str, typer.Option("--compile", help="torch.compile the model (dynamic=False): none, default, or reduce-overhead (CUDA graphs).")] = "none",
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Training samples/s per model preset; ratio against the loader alone on the same batches."""
    from retail_sim.train.bench import bench_train

    cfg = resolve(config, sets, paths__prepared=prepared, loader__batch_size=batch_size, train__device=device,
                  train__cpu_threads=cpu_threads, loader__fixed_shapes=fixed_shapes)
    bench_train(cfg, Path(cfg.paths.prepared), [p.strip() for p in presets.split(",") if p.strip()], steps,
                compile_mode, echo=typer.echo)


@bench_app.command("loader")
def bench_loader_cmd(
    prepared: PreparedOpt = None,
    batches: Annotated[int, typer.Option(help="Timed training batches (B=64, masking on) from the loader's start; 0: a whole epoch.")] = 0,
    workers: Annotated[int, typer.Option(help="DataLoader workers for the second measurement (0 skips it); each shuffle window is read by one worker.")] = 2,
    full_epoch: Annotated[bool, typer.Option("--full-epoch", help="Also iterate a whole epoch of the loader alone (1 process) in a child process and print its peak RSS, and the peak before its first batch.")] = False,
    fake_cache: Annotated[bool, typer.Option("--fake-cache", help="A fake tensor cache sized from the folder's vocab instead of its tensor_cache/ (folders without one).")] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Compact batch bytes, samples/s in 1 process, with workers and with the BatchEncoder on the CPU,
    padding (own S and fixed shapes), the purchase history's cost; --full-epoch: peak RSS."""
    from retail_sim.data.bench import run

    cfg = resolve(config, sets, paths__prepared=prepared)
    run(Path(cfg.paths.prepared), cfg, batches, workers, full_epoch, echo=typer.echo, fake=fake_cache)


INTERRUPTED = 130  # exit status after Ctrl-C (SIGINT) or SIGTERM, as a shell reports 128 + SIGINT
_signals: list[str] = []  # the signals received (main's handler records them)


def _on_signal(signum, frame) -> None:
    """SIGINT / SIGTERM: record it and raise KeyboardInterrupt, so that DuckDB cancels its query, the
    guards of files.output_folder remove this run's temp folder, and main prints one line."""
    _signals.append(signal.Signals(signum).name)
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: user errors print one line and exit 2; Ctrl-C or SIGTERM prints one line and exits
    130; a full disk is one line (exit 2); bugs keep their traceback."""
    from retail_sim.files import no_space

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    try:
        app()  # typer turns a KeyboardInterrupt into exit status 130
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except BaseException as exc:
        if _signals or isinstance(exc, KeyboardInterrupt):
            typer.echo(f"interrupted ({_signals[0] if _signals else 'SIGINT'}): outputs being written were "
                       "discarded, the previous ones are unchanged — run the command again", err=True)
            sys.exit(INTERRUPTED)
        if no_space(exc) or "No space left on device" in str(exc):
            where = getattr(exc, "filename", None) or str(exc).splitlines()[0]
            typer.echo(f"error: no space left on the device ({where}) — free space and run again; "
                       "the previous output is unchanged", err=True)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
