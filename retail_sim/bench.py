"""`retail-sim bench splits`: the splits stage against a bare DuckDB copy of the same CSVs."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from retail_sim.config import Config
from retail_sim.inputs import resolve_inputs
from retail_sim.prepare import run_splits
from retail_sim.progress import log, peak_rss_mb
from retail_sim.sqlrun import connect, glob_literal, set_variables


def bare_copy_seconds(cfg: Config, files: list[Path], scratch: Path) -> float:
    """Seconds of `COPY (SELECT * FROM read_csv(files)) TO parquet`, DuckDB's own floor for a pass."""
    con = connect(cfg, temp_directory=scratch / "duckdb_tmp")
    set_variables(con, {"files": [glob_literal(f) for f in files], "target": str(scratch / "bare.parquet")})
    start = time.perf_counter()
    con.execute("copy (select * from read_csv(getvariable('files'))) to (getvariable('target')) (format parquet)")
    seconds = time.perf_counter() - start
    con.close()
    (scratch / "bare.parquet").unlink(missing_ok=True)
    return seconds


def bench_splits(cfg: Config, raw: str, scratch: Path | None = None) -> dict:
    files = resolve_inputs(raw)
    size = sum(f.stat().st_size for f in files)
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="retail-sim-bench-")) if own else Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        log(f"bench splits: {len(files)} files, {size / 1e6:,.1f} MB")
        bare_1 = bare_copy_seconds(cfg, files, scratch)
        start = time.perf_counter()
        manifest = run_splits(cfg, raw, scratch / "prepared")
        splits_s = time.perf_counter() - start
        bare_2 = bare_copy_seconds(cfg, files, scratch)
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    bare = min(bare_1, bare_2)
    rows = manifest["rows"]["read"]
    result = {
        "files": len(files), "input_mb": round(size / 1e6, 1), "rows": rows,
        "bare_copy_s": round(bare, 2), "splits_s": round(splits_s, 2), "ratio": round(splits_s / bare, 2),
        "splits_rows_per_s": round(rows / splits_s), "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(f"rows {rows:,}  input {size / 1e6:,.1f} MB in {len(files)} files")
    print(f"bare DuckDB COPY read_csv -> parquet: {bare:8.2f} s  (best of 2)")
    print(f"retail-sim splits:                    {splits_s:8.2f} s  ({rows / splits_s:,.0f} rows/s)")
    print(f"ratio splits / bare copy:             {splits_s / bare:8.2f}x  (goal <= 2x)")
    print(f"peak resident memory of this process: {peak_rss_mb():8.1f} MB")
    return result
