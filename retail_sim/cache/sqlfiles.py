"""DuckDB access for the cache: views over a prepared folder and the numbered files in sql/cache/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import numpy as np

from retail_sim import sqlrun
from retail_sim.config import Config
from retail_sim.prepared import Prepared

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


def count(con: duckdb.DuckDBPyConnection, name: str, **variables: Any) -> int:
    """Rows sql/cache/<name>.sql returns (DuckDB runs it without sending the rows)."""
    return int(con.execute(f"select count(*) from ({_query(con, name, variables)})").fetchall()[0][0])


def stream(con: duckdb.DuckDBPyConnection, name: str, chunk_rows: int, **variables: Any) -> Iterator[dict[str, np.ndarray]]:
    """Run sql/cache/<name>.sql and yield its rows in order, as numpy columns of at most
    `chunk_rows` rows each: Python holds one chunk at a time, DuckDB spills the rest."""
    reader = con.sql(_query(con, name, variables)).to_arrow_reader(chunk_rows)
    for batch in reader:
        if batch.num_rows:
            yield _columns(batch)
