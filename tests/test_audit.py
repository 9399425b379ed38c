"""Audits pass on the prepared real sample and catch each deliberate corruption."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from retail_sim.audit import run_audits


def violations(prepared: Path) -> dict[str, int]:
    return {r.name: r.violations for r in run_audits(prepared)}


@pytest.fixture
def corrupted(tmp_path, prepared_sample):
    copy = tmp_path / "prepared"
    shutil.copytree(prepared_sample, copy)
    return copy


def rewrite(path: Path, select_sql: str, params: list) -> None:
    """Replace a Parquet file with the result of select_sql over it (`src` = the old file; `?` are
    bound in order through DuckDB variables, since COPY takes no prepared parameters)."""
    tmp = path.with_suffix(".new")
    con = duckdb.connect()
    con.execute("create table src as select * from read_parquet(?)", [str(path)])
    for i, value in enumerate(params):
        con.execute(f"set variable p{i} = ?", [value])
        select_sql = select_sql.replace("?", f"getvariable('p{i}')", 1)
    con.execute(f"copy ({select_sql}) to '{tmp}' (format parquet)")
    con.close()
    tmp.replace(path)


def first_file(prepared: Path, split: str, bucket: int = 1) -> Path:
    return sorted((prepared / "samples" / f"split={split}" / f"bucket={bucket}").glob("*.parquet"))[0]


def test_clean_sample_passes_every_audit(prepared_sample):
    results = violations(prepared_sample)
    assert len(results) >= 10 and set(results.values()) == {0}


def test_basket_moved_to_the_wrong_split(corrupted):
    src = first_file(corrupted, "train")
    basket = duckdb.execute("select basket_id from read_parquet(?) limit 1", [str(src)]).fetchone()[0]
    moved = corrupted / "samples" / "split=test" / "bucket=1" / "part-9999.parquet"
    con = duckdb.connect()
    con.execute("create table moved as select * from read_parquet(?) where basket_id = ?", [str(src), basket])
    con.execute(f"copy moved to '{moved}' (format parquet)")
    rewrite(src, "select * from src where basket_id <> ?", [basket])
    found = violations(corrupted)
    assert found["01_split_weeks"] == 1


def test_history_length_off_by_one(corrupted):
    src = first_file(corrupted, "validation")
    basket = duckdb.execute(
        "select basket_id from read_parquet(?) where history_length > 0 limit 1", [str(src)]).fetchone()[0]
    rewrite(src, "select * replace (history_length + (basket_id = ?)::int as history_length) from src", [basket])
    found = violations(corrupted)
    assert found["03_history_length"] == 1
    assert found["01_split_weeks"] == 0 and found["02_basket_once"] == 0


def test_prior_price_taken_from_the_same_week(corrupted):
    # an item whose same-week (product, store) median differs from its point-in-time prior price
    src = first_file(corrupted, "test")
    basket, same_week = duckdb.execute(
        """
        with items as (select * from read_parquet(?, hive_partitioning = true)),
        weekly as (select product_idx, store_idx, week, median(unit_price) as m from items group by all),
        s as (select basket_id, store_idx, week, product_idx[1] as p, prior_price[1] as prior
              from read_parquet(?))
        select s.basket_id, w.m from s join weekly w
            on w.product_idx = s.p and w.store_idx = s.store_idx and w.week = s.week
        where w.m is distinct from s.prior
        order by s.basket_id limit 1
        """,
        [str(corrupted / "items" / "*" / "*.parquet"), str(src)],
    ).fetchone()
    rewrite(
        src,
        "select * replace (case when basket_id = ? then list_prepend(?::double, prior_price[2:])"
        " else prior_price end as prior_price) from src",
        [basket, same_week],
    )
    found = violations(corrupted)
    assert found["05_prior_price"] == 1
    assert found["06_base_price"] == 0 and found["08_seq_len_bucket"] == 0


def test_audit_cli_exit_codes_and_sql_command(corrupted, prepared_sample):
    ok = subprocess.run([sys.executable, "-m", "retail_sim", "audit", "--prepared", str(prepared_sample)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "11 passed, 0 failed" in ok.stdout
    rewrite(first_file(corrupted, "train"), "select * replace (seq_len + 1 as seq_len) from src", [])
    bad = subprocess.run([sys.executable, "-m", "retail_sim", "audit", "--prepared", str(corrupted)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "08_seq_len_bucket" in bad.stdout
    query = corrupted / "q.sql"
    query.write_text("select split, count(*) as baskets from samples group by split order by split;")
    out = subprocess.run([sys.executable, "-m", "retail_sim", "sql", str(query), "--prepared", str(prepared_sample)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "validation" in out.stdout and "12449" in out.stdout
