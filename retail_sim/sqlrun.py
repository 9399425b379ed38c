"""Running the numbered SQL files: one DuckDB connection, parameters as DuckDB variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from retail_sim.config import Config
from retail_sim.data import codes


def _sql_dir() -> Path:
    """The SQL files: retail_sim/sql/ in an installed wheel (package data of retail_sim.sql, see
    pyproject.toml), else sql/ at the top of the source checkout (an editable install)."""
    here = Path(__file__).resolve().parent
    return here / "sql" if (here / "sql" / "prepared_views.sql").is_file() else here.parent / "sql"


SQL_DIR = _sql_dir()


def connect(cfg: Config, database: Path | str = ":memory:", temp_directory: Path | None = None):
    """A DuckDB connection with the configured memory limit, threads and spill directory."""
    con = duckdb.connect(str(database))
    con.execute("set memory_limit = ?", [cfg.duckdb.memory_limit])
    set_threads(con, cfg.duckdb.threads)
    temp = cfg.duckdb.temp_directory or (str(temp_directory) if temp_directory else "")
    if temp:
        con.execute("set temp_directory = ?", [temp])
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")
    return con


def threads(con) -> int:
    """DuckDB's thread count now (a setting of the database, so of all its connections)."""
    return int(con.execute("select current_setting('threads')").fetchone()[0])


def set_threads(con, threads: int) -> None:
    """DuckDB's thread count: `threads`, or DuckDB's default (all cores) when it is 0."""
    if threads > 0:
        con.execute("set threads = ?", [threads])
    else:
        con.execute("reset threads")


def code_variables() -> dict[str, list[str]]:
    """The basket attribute codes of retail_sim/data/codes.py, without 'XX' (unknown): 01 validates
    the input against them, sql/cache/06 counts them."""
    return {
        "basket_sizes": list(codes.BASKET_SIZES),
        "price_sensitivities": list(codes.PRICE_SENSITIVITIES),
        "mission_types": list(codes.MISSION_TYPES),
        "dominant_missions": list(codes.DOMINANT_MISSIONS),
    }


def set_variables(con, values: dict[str, Any]) -> None:
    """`set variable name = ?` for each value: values travel as parameters, never as SQL text."""
    for name, value in values.items():
        if not name.isidentifier():
            raise ValueError(f"bad variable name {name!r}")
        con.execute(f"set variable {name} = ?", [value])


def sql_file(name: str | Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() or path.exists() else SQL_DIR / path


def run_file(con, name: str | Path):
    """Execute every statement of one SQL file; return the relation of the last statement."""
    return con.execute(sql_file(name).read_text())


def query(con, name: str | Path, variables: dict[str, Any] | None = None) -> str:
    """Set the DuckDB variables and return the text of a one-query SQL file (no trailing ';'),
    for con.sql(...) to stream or count."""
    set_variables(con, variables or {})
    return sql_file(name).read_text().strip().rstrip(";")


def select(con, name: str | Path, **variables: Any):
    """Run a one-query SQL file (e.g. 'evaluate/own_history.sql') with DuckDB variables set -> Arrow table."""
    return con.sql(query(con, name, variables)).to_arrow_table()


def glob_literal(path: str | Path) -> str:
    """`path` as DuckDB's readers match it literally: each of [ ] * ? inside brackets
    ('p[12]' -> 'p[[]12[]]'), so a folder or file named with glob characters reads exactly itself.
    Every path that reaches read_parquet / read_csv / read_json goes through it; COPY ... TO takes
    a plain path."""
    return re.sub(r"([\[\]*?])", r"[\1]", str(path))
