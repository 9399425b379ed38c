"""DuckDB access for the cache: views over a prepared folder and the numbered files in sql/cache/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from retail_sim.config import Config

SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "cache"


def connect(cfg: Config, prepared: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views `items`, `samples`, `products`, `customers`, `stores`."""
    con = duckdb.connect(config={"memory_limit": cfg.duckdb.memory_limit})
    if cfg.duckdb.threads:
        con.execute("set threads = ?", [cfg.duckdb.threads])
    if cfg.duckdb.temp_directory:
        con.execute("set temp_directory = ?", [cfg.duckdb.temp_directory])
    items = str(prepared / "items" / "*" / "*.parquet")
    samples = str(prepared / "samples" / "*" / "*" / "*.parquet")
    # views cannot take prepared parameters, so the paths are bound once as DuckDB variables
    con.execute("set variable items_glob = ?", [items])
    con.execute("set variable samples_glob = ?", [samples])
    con.execute("set variable products_file = ?", [str(prepared / "vocab" / "products.parquet")])
    con.execute("set variable customers_file = ?", [str(prepared / "vocab" / "customers.parquet")])
    con.execute("set variable stores_file = ?", [str(prepared / "vocab" / "stores.parquet")])
    con.execute(
        "create view items as select basket_id, week::integer as week, customer_idx, store_idx, "
        "product_idx, quantity, spend, unit_price "
        "from read_parquet(getvariable('items_glob'), hive_partitioning = true)"
    )
    con.execute(
        "create view samples as select * "
        "from read_parquet(getvariable('samples_glob'), hive_partitioning = true)"
    )
    for name, var in (("products", "products_file"), ("customers", "customers_file"), ("stores", "stores_file")):
        con.execute(f"create view {name} as select * from read_parquet(getvariable('{var}'))")
    return con


def run(con: duckdb.DuckDBPyConnection, name: str, **variables: Any) -> dict[str, np.ndarray]:
    """Run sql/cache/<name>.sql with DuckDB variables set; return its columns as numpy arrays."""
    for key, value in variables.items():
        con.execute(f"set variable {key} = ?", [value])
    table = con.sql((SQL_DIR / f"{name}.sql").read_text()).to_arrow_table()
    return {col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names}
