"""How low `retail-sim splits` can go with its output contract: the bare copy that `bench splits`
compares against, alternated with writing every data file of a finished prepared folder again from
memory, with the COPY options `splits` writes them with (zstd; splits.row_group_size rows a row
group for samples/, DuckDB's default 122,880 for the rest: sql/10, 11 and 12) on as many
connections as DuckDB has threads, as `splits` does. Their sum with stage 01 (one pass over the
CSV text, the stage table of `bench splits`) is a floor no SQL plan for these outputs goes below.

    .venv/bin/python scripts/splits_floor.py PREPARED RAW [--config FILE] [--rounds 3]

PREPARED: a folder written by `retail-sim splits --raw RAW` (with the same config). Prints each
round and the medians; the outputs are loaded into memory first (about their Parquet size x 3-5).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from retail_sim.bench import bare_copy
from retail_sim.config import load_config
from retail_sim.inputs import resolve_inputs
from retail_sim.prepare import _write_files
from retail_sim.prepared import DATA_FOLDERS
from retail_sim.sqlrun import connect, glob_literal, set_variables

DEFAULT_ROW_GROUP = 122_880  # sql/11_write_items.sql, sql/12_history.sql (and DuckDB's default)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prepared", type=Path)
    ap.add_argument("raw")
    ap.add_argument("--config", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cfg = load_config(args.config)
    files = resolve_inputs(args.raw)
    con = connect(cfg)
    jobs = []
    for i, path in enumerate(sorted(p for folder in DATA_FOLDERS for p in (args.prepared / folder).rglob("*.parquet"))):
        set_variables(con, {"path": glob_literal(path)})
        con.execute(f"create table t{i} as select * from read_parquet(getvariable('path'), hive_partitioning = false)")
        rows = cfg.splits.row_group_size if path.relative_to(args.prepared).parts[0] == "samples" else DEFAULT_ROW_GROUP
        jobs.append((i, path.relative_to(args.prepared), rows))
    written = sum(con.execute(f"select count(*) from t{i}").fetchone()[0] for i, _, _ in jobs)
    print(f"{len(jobs)} files, {written:,} rows in memory; {len(files)} input files")

    def rewrite(out: Path, sql: Path) -> float:
        """Write every file under `out` with prepare._write_files, the writer pool `splits` uses."""
        for _, rel, _ in jobs:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        _write_files(con, sql, [{"source": f"t{i}", "target": str(out / rel), "rows": rows} for i, rel, rows in jobs])
        return time.perf_counter() - started

    bare, writes = [], []
    with tempfile.TemporaryDirectory(prefix="retail-sim-floor-") as scratch:
        sql = Path(scratch) / "rewrite.sql"
        sql.write_text("copy (from query_table(getvariable('source'))) to (getvariable('target')) "
                       "(format parquet, compression zstd, row_group_size getvariable('rows'))")
        for r in range(args.rounds):
            bare.append(bare_copy(cfg, files, Path(scratch))[0])
            writes.append(rewrite(Path(scratch) / f"round{r}", sql))
            print(f"round {r + 1}: bare copy {bare[-1]:.2f} s, rewriting the outputs {writes[-1]:.2f} s", flush=True)
    b, w = statistics.median(bare), statistics.median(writes)
    print(f"median: bare copy {b:.2f} s, rewriting the outputs {w:.2f} s = {w / b:.2f}x the bare copy")


if __name__ == "__main__":
    main()
