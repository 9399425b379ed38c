"""`retail-sim bench splits`: the splits stage against a bare DuckDB copy of the same CSVs.

The two run in alternating pairs in one process (bare, splits, bare, splits, ...), so a load that
comes and goes on a shared machine hits both; the acceptance measure is the median of the pairs'
ratios. Process CPU seconds are reported beside wall seconds: on a busy machine they move less.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from retail_sim.config import Config
from retail_sim.inputs import resolve_inputs
from retail_sim.prepare import run_splits
from retail_sim.progress import log, peak_rss_mb
from retail_sim.sqlrun import connect, glob_literal, set_variables


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    fn()
    return time.perf_counter() - wall, _cpu_seconds() - cpu


def bare_copy(cfg: Config, files: list[Path], scratch: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of `COPY (SELECT * FROM read_csv(files)) TO parquet`, DuckDB's own floor
    for one pass over the CSVs."""
    con = connect(cfg, temp_directory=scratch / "duckdb_tmp")
    set_variables(con, {"files": [glob_literal(f) for f in files], "target": str(scratch / "bare.parquet")})
    seconds = _timed(lambda: con.execute(
        "copy (select * from read_csv(getvariable('files'))) to (getvariable('target')) (format parquet)"))
    con.close()
    (scratch / "bare.parquet").unlink(missing_ok=True)
    return seconds


def bare_copy_seconds(cfg: Config, files: list[Path], scratch: Path) -> float:
    """Wall seconds of the bare copy."""
    return bare_copy(cfg, files, scratch)[0]


def bench_splits(cfg: Config, raw: str, scratch: Path | None = None, pairs: int = 3) -> dict:
    """Alternate `pairs` bare copies with `pairs` splits runs; print both, the per-stage seconds and
    the median ratio; return the figures."""
    files = resolve_inputs(raw)
    size = sum(f.stat().st_size for f in files)
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="retail-sim-bench-")) if own else Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        log(f"bench splits: {len(files)} files, {size / 1e6:,.1f} MB, {pairs} alternating pairs")
        for _ in range(pairs):
            load = os.getloadavg()[0]
            bare_wall, bare_cpu = bare_copy(cfg, files, scratch)
            manifest = {}
            wall, cpu = _timed(lambda manifest=manifest: manifest.update(run_splits(cfg, raw, scratch / "prepared")))
            runs.append({"bare_s": bare_wall, "bare_cpu_s": bare_cpu, "splits_s": wall, "splits_cpu_s": cpu,
                         "load": (load + os.getloadavg()[0]) / 2, "durations": manifest["durations"]})
            shutil.rmtree(scratch / "prepared", ignore_errors=True)
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = manifest["rows"]["read"]
    ratios = [r["splits_s"] / r["bare_s"] for r in runs]
    cpu_ratios = [r["splits_cpu_s"] / r["bare_cpu_s"] for r in runs]
    stages = {name: statistics.median(r["durations"][name] for r in runs) for name in runs[0]["durations"]}
    result = {
        "files": len(files), "input_mb": round(size / 1e6, 1), "rows": rows, "pairs": runs,
        "bare_copy_s": round(statistics.median(r["bare_s"] for r in runs), 2),
        "splits_s": round(statistics.median(r["splits_s"] for r in runs), 2),
        "ratio": round(statistics.median(ratios), 2), "cpu_ratio": round(statistics.median(cpu_ratios), 2),
        "stages_s": stages, "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(f"rows {rows:,}  input {size / 1e6:,.1f} MB in {len(files)} files  ({os.cpu_count()} cores: load average beside each pair)")
    print(f"{'pair':<6}{'bare s':>9}{'splits s':>10}{'ratio':>8}{'bare cpu':>10}{'splits cpu':>12}{'cpu ratio':>11}{'load':>7}")
    for i, r in enumerate(runs, 1):
        print(f"{i:<6}{r['bare_s']:>9.2f}{r['splits_s']:>10.2f}{r['splits_s'] / r['bare_s']:>7.2f}x"
              f"{r['bare_cpu_s']:>10.2f}{r['splits_cpu_s']:>12.2f}{r['splits_cpu_s'] / r['bare_cpu_s']:>10.2f}x"
              f"{r['load']:>7.1f}")
    print("splits stages, median seconds over the pairs:")
    for name, seconds in stages.items():
        print(f"  {name:<44}{seconds:>8.2f}")
    print(f"bare DuckDB COPY read_csv -> parquet: {result['bare_copy_s']:8.2f} s  (median)")
    print(f"retail-sim splits:                    {result['splits_s']:8.2f} s  ({rows / result['splits_s']:,.0f} rows/s)")
    print(f"ratio splits / bare copy:             {result['ratio']:8.2f}x  (median of {pairs} pairs; goal <= 2x;"
          f" CPU seconds {result['cpu_ratio']:.2f}x)")
    print(f"peak resident memory of this process: {result['peak_rss_mb']:8.1f} MB")
    return result
