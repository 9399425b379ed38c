"""DuckDB access for the cache: views over a prepared folder and the numbered files in sql/cache/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np

from retail_sim import sqlrun
from retail_sim.config import Config
from retail_sim.prepared import Prepared
from retail_sim.progress import Ticker

SQL_DIR = sqlrun.SQL_DIR / "cache"


def connect(prepared: Prepared, cfg: Config) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the prepared folder's views (sql/prepared_views.sql: `items`,
    `samples`, `products`, `customers`, `stores`, ...), the macros of sql/cache/00_macros.sql and
    the basket code lists of retail_sim/data/codes.py as variables."""
    con = prepared.connect(cfg)
    sqlrun.set_variables(con, sqlrun.code_variables())
    sqlrun.run_file(con, SQL_DIR / "00_macros.sql")
    return con


def _query(con: duckdb.DuckDBPyConnection, name: str, variables: dict[str, Any]) -> str:
    """Set the DuckDB variables and return the text of sql/cache/<name>.sql (no trailing ';')."""
    return sqlrun.query(con, SQL_DIR / f"{name}.sql", variables)


def _columns(table) -> dict[str, np.ndarray]:
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}


def run(con: duckdb.DuckDBPyConnection, name: str, **variables: Any) -> dict[str, np.ndarray]:
    """Run sql/cache/<name>.sql with DuckDB variables set; return its columns as numpy arrays."""
    return _columns(con.sql(_query(con, name, variables)).to_arrow_table())


def copurchase_pairs(con: duckdb.DuckDBPyConnection, first_week: int, last_week: int, min_baskets: int,
                     items_per_slice: int) -> dict[str, np.ndarray]:
    """Co-purchase counts over the weeks [first_week, last_week]: sql/cache/02_copurchase_pairs.sql
    run per slice of weeks of at most ~items_per_slice items (its self-join then fits in memory at
    any input size; one whole-range join spilled tens of GB at 214M rows), summed per pair. Rows
    (product_a < product_b, n_baskets >= min_baskets) ordered by pair, then (0, 0, baskets in the
    range) first — the columns products.graphsage_embeddings and baselines read."""
    from retail_sim.prepare import week_slices

    per_week = con.execute(
        "select week, count(*) from items where week between ? and ? group by week order by week",
        [first_week, last_week]).fetchall()
    con.execute("create or replace temp table copurchase_slices "
                "(product_a integer, product_b integer, n_baskets bigint)")
    con.execute("insert into copurchase_slices values (0, 0, 0)")  # the basket count row of an empty range too
    slices = week_slices([(int(w), int(n)) for w, n in per_week], items_per_slice)
    ticker = Ticker(f"co-purchase pairs of weeks {first_week}-{last_week}", len(slices), "slices of weeks")
    for lo, hi in slices:
        con.execute(f"insert into copurchase_slices {_query(con, '02_copurchase_pairs', {'slice_first': lo, 'slice_last': hi})}")
        ticker.add(1)
    sqlrun.set_variables(con, {"min_baskets": min_baskets})
    table = con.sql(
        "select product_a, product_b, sum(n_baskets)::bigint as n_baskets from copurchase_slices "
        "group by product_a, product_b having product_a = 0 or sum(n_baskets) >= getvariable('min_baskets') "
        "order by product_a, product_b").to_arrow_table()
    con.execute("drop table copurchase_slices")
    return _columns(table)


def stream(con: duckdb.DuckDBPyConnection, name: str, chunk_rows: int, **variables: Any) -> Iterator[dict[str, np.ndarray]]:
    """Run sql/cache/<name>.sql and yield its rows in order, as numpy columns of at most
    `chunk_rows` rows each: Python holds one chunk at a time, DuckDB spills the rest."""
    reader = con.sql(_query(con, name, variables)).to_arrow_reader(chunk_rows)
    for batch in reader:
        if batch.num_rows:
            yield _columns(batch)
