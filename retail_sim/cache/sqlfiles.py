"""DuckDB access for the cache: views over a prepared folder and the numbered files in sql/cache/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from retail_sim import sqlrun
from retail_sim.config import Config

SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "cache"


def connect(cfg: Config, prepared: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the prepared folder's views (sql/prepared_views.sql: `items`,
    `samples`, `products`, `customers`, `stores`, ...) and the macros of sql/cache/00_macros.sql."""
    con = sqlrun.connect(cfg)
    sqlrun.set_variables(con, {"prepared": str(Path(prepared).resolve())})
    sqlrun.run_file(con, "prepared_views.sql")
    sqlrun.run_file(con, SQL_DIR / "00_macros.sql")
    return con


def run(con: duckdb.DuckDBPyConnection, name: str, **variables: Any) -> dict[str, np.ndarray]:
    """Run sql/cache/<name>.sql with DuckDB variables set; return its columns as numpy arrays."""
    for key, value in variables.items():
        con.execute(f"set variable {key} = ?", [value])
    table = con.sql((SQL_DIR / f"{name}.sql").read_text()).to_arrow_table()
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}
