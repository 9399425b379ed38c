"""The splits stage on hand-made CSVs whose answers are worked out by hand, and on the real sample."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pytest
from conftest import SAMPLE_RAW, sample_config
from lgsr_files import NAMED_HEADER, day, write

from retail_sim.config import Config, apply
from retail_sim.errors import UserError
from retail_sim.prepare import run_splits, week_of, week_start

SMALL = {"duckdb.threads": 1, "duckdb.memory_limit": "1GB"}


def cfg(**extra):
    return apply(Config(), {**SMALL, **extra})


def samples(out, where="true"):
    con = duckdb.connect()
    rel = con.execute(
        "select * from read_parquet(?, hive_partitioning = true) where " + where + " order by basket_id",
        [str(out / "samples" / "*" / "*" / "*.parquet")],
    )
    names = [d[0] for d in rel.description]
    return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def rejects(out):
    return duckdb.execute(
        "select source_file, line, reason from read_parquet(?) order by source_file, line",
        [str(out / "rejects" / "rejects.parquet")],
    ).fetchall()


def test_week_arithmetic_across_the_year_boundary():
    c = Config()
    assert week_of(200607, c) == 1
    assert week_of(200652, c) == 46
    assert week_of(200701, c) == 47
    assert week_of(200819, c) == 117
    assert week_start(47, c) == dt.date(2007, 2, 26)


def test_boundary_and_missing_weeks(tmp_path):
    raw = tmp_path / "raw"
    write(raw / "transactions_200652.csv", [dict(day(46, 6), BASKET_ID="994104600000001")])
    write(raw / "transactions_200701.csv", [dict(day(47, 0), BASKET_ID="994104700000001")])
    write(raw / "transactions_200607.csv", [dict(day(1, 0), BASKET_ID="994100100000001")])
    out = tmp_path / "out"
    run_splits(cfg(**{"splits.train_weeks": [1, 45], "splits.validation_weeks": [46, 46],
                      "splits.test_weeks": [47, 117]}), str(raw), out)
    rows = samples(out)
    assert [(r["shop_week"], r["week"], r["split"]) for r in rows] == [
        (200607, 1, "train"), (200652, 46, "validation"), (200701, 47, "test")]
    # Sunday 2007-02-25 closes week 46; the customer's second basket is 1 day later
    assert rows[2]["days_since_prev_basket"] == 1 and rows[2]["history_length"] == 2


def test_history_ties_anonymous_and_cold_start(tmp_path):
    # customer 1: two baskets in the same date and hour, one an hour later, one the next day
    a, b = "CUST0000000001", "CUST0000000002"
    rows = [
        dict(day(1, 0), SHOP_HOUR="10", BASKET_ID="994100100000001", CUST_CODE=a),
        dict(day(1, 0), SHOP_HOUR="10", BASKET_ID="994100100000002", CUST_CODE=a),
        dict(day(1, 0), SHOP_HOUR="11", BASKET_ID="994100100000003", CUST_CODE=a),
        dict(day(2, 1), SHOP_HOUR="9", BASKET_ID="994100200000004", CUST_CODE=a),
        dict(day(2, 1), SHOP_HOUR="9", BASKET_ID="994100200000005", CUST_CODE="", SEG_1="", SEG_2=""),
        # customer 2 first shops in week 2 (validation) then week 3 (test): never seen in train
        dict(day(2, 2), BASKET_ID="994100200000006", CUST_CODE=b, SEG_1="", SEG_2="FN"),
        dict(day(3, 2), BASKET_ID="994100300000007", CUST_CODE=b, SEG_1="", SEG_2="FN"),
        dict(day(3, 3), BASKET_ID="994100300000008", CUST_CODE=a),
    ]
    write(tmp_path / "raw" / "transactions.csv", rows)
    out = tmp_path / "out"
    run_splits(cfg(**{"splits.train_weeks": [1, 1], "splits.validation_weeks": [2, 2],
                      "splits.test_weeks": [3, 117]}), str(tmp_path / "raw"), out)
    got = {r["basket_id"] % 100: r for r in samples(out)}
    assert [got[i]["history_length"] for i in (1, 2, 3, 4, 8)] == [0, 0, 2, 3, 4]
    assert [got[i]["days_since_prev_basket"] for i in (1, 2, 3, 4, 8)] == [None, None, 0, 8, 9]
    assert [got[i]["is_first_basket"] for i in (1, 2, 3, 4)] == [True, True, False, False]
    assert [got[i]["is_unseen_in_train"] for i in (1, 3, 4, 8)] == [True, False, False, False]
    anon = got[5]
    assert anon["is_anonymous"] and anon["customer_idx"] == 0 and anon["customer_id"] is None
    assert anon["history_length"] == 0 and anon["is_unseen_in_train"] and not anon["is_first_basket"]
    assert anon["customer_price_sensitivity"] is None
    assert [got[i]["is_unseen_in_train"] for i in (6, 7)] == [True, True]
    assert got[6]["is_first_basket"] and not got[7]["is_first_basket"]
    # empty seg_1 of a known customer is XX; FN is pensioners
    assert (got[6]["customer_price_sensitivity"], got[6]["customer_lifestage"]) == ("XX", "PE")
    assert (got[1]["customer_price_sensitivity"], got[1]["customer_lifestage"]) == ("MM", "YF")
    assert {got[i]["customer_idx"] for i in (1, 2, 3, 4, 8)} == {1} and got[6]["customer_idx"] == 2


def test_long_basket_is_truncated_by_spend_and_duplicates_merge(tmp_path):
    rows = []
    for p in range(55):  # 55 products; spend 0.01..0.55, so the 5 cheapest are dropped
        rows.append(dict(day(1, 0), PROD_CODE=f"PRD09{p + 1:05d}", SPEND=f"{(p + 1) / 100:.2f}"))
    # two products tie on spend 9.00: order by product code; PRD0900001 also repeats (merged)
    rows[0].update(SPEND="4.00")
    rows.append(dict(day(1, 0), PROD_CODE="PRD0900001", SPEND="5.00", QUANTITY="3"))
    rows[1].update(SPEND="9.00")
    rows[2].update(SPEND="9.00")
    write(tmp_path / "raw" / "transactions_200607.csv", rows)
    out = tmp_path / "out"
    manifest = run_splits(cfg(), str(tmp_path / "raw"), out)
    (s,) = samples(out)
    assert s["n_products"] == 55 and s["seq_len"] == 50 and s["bucket"] == len(cfg().splits.bucket_edges)  # the last bucket
    assert manifest["rows"]["merged_duplicate_lines"] == 1
    assert manifest["rows"]["read"] == 56 and manifest["rows"]["kept"] == 56
    products = duckdb.execute("select product_code from read_parquet(?) order by product_idx",
                              [str(out / "vocab" / "products.parquet")]).fetchall()
    code = {i + 3: c for i, (c,) in enumerate(products)}
    listed = [code[i] for i in s["product_idx"]]
    assert listed[:3] == ["PRD0900001", "PRD0900002", "PRD0900003"]  # 9.00 (merged 4+5), 9.00, 9.00
    assert s["spend"][:3] == [9.0, 9.0, 9.0] and s["quantity"][0] == 4
    assert s["unit_price"][0] == pytest.approx(9.0 / 4)
    assert s["spend"] == sorted(s["spend"], reverse=True)
    assert "PRD0900004" not in listed and "PRD0900008" not in listed and "PRD0900009" in listed
    assert len(s["prior_price"]) == 50


def test_point_in_time_prices(tmp_path):
    p, q = "PRD0900001", "PRD0900002"  # both in CL00001
    rows = [
        dict(day(1, 0), BASKET_ID="994100100000001", PROD_CODE=p, SPEND="1.00"),
        dict(day(1, 0), BASKET_ID="994100100000002", PROD_CODE=p, SPEND="2.00"),  # week 1 median 1.50
        dict(day(1, 0), BASKET_ID="994100100000002", PROD_CODE=q, SPEND="4.00"),  # Q week 1: 4.00
        dict(day(2, 0), BASKET_ID="994100200000003", PROD_CODE=p, SPEND="6.00", QUANTITY="2"),  # 3.00
        dict(day(3, 0), BASKET_ID="994100300000004", PROD_CODE=p, SPEND="10.00"),  # same week: unused
        dict(day(3, 0), BASKET_ID="994100300000005", PROD_CODE=p, SPEND="7.00", STORE_CODE="STORE00002"),
        dict(day(8, 0), BASKET_ID="994100800000006", PROD_CODE=p, SPEND="5.00"),
    ]
    write(tmp_path / "raw" / "transactions.csv", rows)
    out = tmp_path / "out"
    run_splits(cfg(), str(tmp_path / "raw"), out)
    got = {r["basket_id"] % 100: r for r in samples(out)}
    # basket 4, week 3, store 1: prior = week 2's 3.00; base = max(1.50, 3.00); category = mean of
    # product-week medians over weeks -1..2: P w1 1.50 (all stores), Q w1 4.00, P w2 3.00
    assert got[4]["prior_price"] == [3.0]
    assert got[4]["base_price"] == [3.0]
    assert got[4]["category_avg_price"][0] == pytest.approx((1.5 + 4.0 + 3.0) / 3)
    # basket 5, week 3, store 2: no history in store 2 -> no prior; base falls back to all stores
    assert got[5]["prior_price"] == [None] and got[5]["base_price"] == [3.0]
    # basket 6, week 8: prior = latest earlier week in store 1 = week 3 (10.00); window 4..7 empty
    assert got[6]["prior_price"] == [10.0] and got[6]["base_price"] == [None]
    assert got[6]["category_avg_price"] == [None]
    # week 1: nothing earlier
    assert got[1]["prior_price"] == [None] and got[1]["base_price"] == [None]
    assert got[2]["unit_price"] == [4.0, 2.0]  # ordered by spend: Q then P


def test_both_header_variants_and_gzip(tmp_path):
    raw = tmp_path / "raw"
    write(raw / "transactions_200607.csv.gz", [dict(day(1, 0), BASKET_ID="994100100000001",
                                                   SEG_1="AZ", SEG_2="AT")])
    write(raw / "transactions_200609.csv", [dict(day(3, 0), BASKET_ID="994100300000002",
                                                 CUST_CODE="CUST0000000002", SEG_1="UM", SEG_2="OF")],
          header=NAMED_HEADER)
    out = tmp_path / "out"
    manifest = run_splits(cfg(), str(raw), out)
    got = samples(out)
    assert [(r["customer_price_sensitivity"], r["customer_lifestage"]) for r in got] == [
        ("LA", "YA"), ("UM", "OF")]
    assert sorted(i["header"] for i in manifest["inputs"]) == ["named", "seg"]


def test_every_reject_reason_with_file_and_line(tmp_path):
    good = day(1, 0)
    rows = [
        dict(good, BASKET_ID="994100100000001"),                      # line 2 ok
        dict(good, BASKET_ID="994100100000002", QUANTITY="x"),        # 3 bad_type
        dict(good, BASKET_ID="994100100000003", PROD_CODE=""),        # 4 missing_value
        dict(good, BASKET_ID="994100100000004", BASKET_TYPE="Big"),   # 5 unknown_code
        dict(good, BASKET_ID="994100100000005", SHOP_WEEK="200653"),  # 6 week_number_out_of_range
        dict(day(118, 0), BASKET_ID="994111800000006"),               # 7 week_outside_range (200820)
        dict(good, BASKET_ID="994100100000007", SHOP_DATE="20060417", SHOP_WEEKDAY="2"),  # 8 date_outside_week
        dict(good, BASKET_ID="994100100000008", SHOP_WEEKDAY="8"),    # 9 weekday_out_of_range
        dict(good, BASKET_ID="994100100000009", SHOP_WEEKDAY="3"),    # 10 weekday_mismatch
        dict(good, BASKET_ID="994100100000010", SHOP_HOUR="24"),      # 11 hour_out_of_range
        dict(good, BASKET_ID="994100100000011", QUANTITY="0"),        # 12 quantity_lt_1
        dict(good, BASKET_ID="994100100000012", SPEND="-0.10"),       # 13 negative_spend
        # line 14 is a malformed line (inserted below), then a conflicting basket (lines 15, 16)
        dict(good, BASKET_ID="994100100000013", PROD_CODE="PRD0900001", SHOP_HOUR="9"),
        dict(good, BASKET_ID="994100100000013", PROD_CODE="PRD0900002", SHOP_HOUR="10"),
        dict(good, BASKET_ID="994100100000014"),                      # 17 ok
    ]
    raw = tmp_path / "raw"
    path = write(raw / "transactions_200607.csv", rows, raw_lines={12: "1,2,3"})
    out = tmp_path / "out"
    manifest = run_splits(cfg(**{"splits.max_reject_fraction": 1.0}), str(raw), out)
    expected = [
        (3, "bad_type"), (4, "missing_value"), (5, "unknown_code"), (6, "week_number_out_of_range"),
        (7, "week_outside_range"), (8, "date_outside_week"), (9, "weekday_out_of_range"),
        (10, "weekday_mismatch"), (11, "hour_out_of_range"), (12, "quantity_lt_1"),
        (13, "negative_spend"), (14, "malformed_line"), (15, "basket_conflict"), (16, "basket_conflict"),
    ]
    assert rejects(out) == [(str(path), line, reason) for line, reason in expected]
    acc = manifest["rows"]
    assert acc["read"] == 16 and acc["kept"] == 2 and acc["rejected"] == 14
    assert acc["rejected_by_reason"]["basket_conflict"] == 2
    assert [r["basket_id"] % 100 for r in samples(out)] == [1, 14]


def test_too_many_rejects_fail_after_writing_them(tmp_path):
    raw = tmp_path / "raw"
    out = tmp_path / "out"
    write(raw / "transactions_200607.csv", [dict(day(1, 0))])
    run_splits(cfg(), str(raw), out)
    before = (out / "manifest.json").read_text()
    write(raw / "transactions_200607.csv", [dict(day(1, 0)), dict(day(1, 0), SHOP_HOUR="25")])
    with pytest.raises(UserError, match="hour_out_of_range 1"):
        run_splits(cfg(), str(raw), out)
    assert (out / "manifest.json").read_text() == before  # previous complete output untouched
    failed = tmp_path / "out.failed"
    assert not (failed / "manifest.json").exists()
    assert duckdb.execute("select count(*) from read_parquet(?)",
                          [str(failed / "rejects" / "rejects.parquet")]).fetchone()[0] == 1


def test_input_errors_are_one_clear_line(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with pytest.raises(UserError, match="no transactions_"):
        run_splits(cfg(), str(raw), tmp_path / "out")
    (raw / "transactions_200607.csv").write_text(
        "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,PROD_CODE\n")
    with pytest.raises(UserError, match=r"transactions_200607.csv: missing required column SPEND"):
        run_splits(cfg(), str(raw), tmp_path / "out")
    write(raw / "transactions_200607.csv", [])
    with pytest.raises(UserError, match="no data rows"):
        run_splits(cfg(), str(raw), tmp_path / "out")
    write(raw / "transactions_200607.csv", [dict(day(1, 0), SPEND="abc"), dict(day(1, 1), SPEND="")])
    with pytest.raises(UserError, match=r"all 2 rows rejected \(bad_type 1, missing_value 1\)"):
        run_splits(cfg(), str(raw), tmp_path / "out")
    (raw / "transactions_200607.csv").unlink()
    (raw / "transactions_200609.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="transactions_200609.csv.gz: cannot read"):
        run_splits(cfg(), str(raw), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_time_csv_is_checked(tmp_path):
    raw = tmp_path / "raw"
    write(raw / "transactions_200607.csv", [dict(day(1, 0))])
    (raw / "time.csv").write_text("shop_week,date_from,date_to\n200607,20060410,20060416\n200608,20060418,20060424\n")
    with pytest.raises(UserError, match="week 200608 runs 20060418..20060424"):
        run_splits(cfg(), str(raw), tmp_path / "out")


def sample_weeks(tmp_path, sample_raw, n=3):
    """A raw folder with the first n weekly files of the real sample (symlinks)."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for f in sorted(sample_raw.glob("transactions_2006[01]*.csv.gz"))[:n]:
        (raw / f.name).symlink_to(f)
    return raw


@pytest.mark.parametrize("threads", [1, 2])
def test_deterministic_output(tmp_path, sample_raw, threads):
    raw = sample_weeks(tmp_path, sample_raw)
    a = run_splits(cfg(**{"duckdb.threads": threads}), str(raw), tmp_path / "a")
    b = run_splits(cfg(**{"duckdb.threads": threads}), str(raw), tmp_path / "b")
    assert a["fingerprint"] == b["fingerprint"]
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "samples").rglob("*.parquet"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "samples").rglob("*.parquet"))
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_every_file_is_deterministic_on_the_whole_sample(tmp_path, sample_raw, prepared_sample):
    """A second 2-thread run on the whole real sample writes every file with the same bytes (the
    manifest records each file's blake2b): items/ too, which DuckDB's partitioned writer used to
    write in a different row order from run to run (2 of 18 weeks differed)."""
    from retail_sim.manifest import read_manifest

    again = run_splits(sample_config(), str(sample_raw), tmp_path / "again")
    first = read_manifest(prepared_sample)
    assert sample_config().duckdb.threads == 2
    assert any(rel.startswith("items/") for rel in again["files"])
    assert again["files"] == first["files"]
    assert again["quality"] == first["quality"]


def parquet_rows(folder, order):
    """Every row of the Parquet files under folder (hive partitions as columns), sorted."""
    return duckdb.execute(
        f"select * from read_parquet(?, hive_partitioning = true, union_by_name = true) order by {order}",
        [str(folder / "**" / "*.parquet")]).fetchall()


def test_week_slices_and_work_file_change_nothing(tmp_path, sample_raw, monkeypatch):
    """Items and prices built in several week slices (the latest price of each (product, store)
    carried from slice to slice), the history in several customer slices and the work database in
    a file instead of memory give the same outputs as one slice in memory; the audits pass on both."""
    from retail_sim import prepare
    from retail_sim.audit import run_audits

    raw = sample_weeks(tmp_path, sample_raw, n=8)
    one = run_splits(cfg(), str(raw), tmp_path / "one")
    monkeypatch.setattr(prepare, "MEMORY_BYTES_PER_LINE", 10**12)  # any input is "too big" for memory
    many = run_splits(cfg(**{"splits.items_per_slice": 40_000}), str(raw), tmp_path / "many")
    assert one["durations"].keys() == many["durations"].keys()
    for sub, order in [("samples", "basket_id"), ("items", "basket_id, product_idx"),
                       ("prices", "week, product_idx, store_idx"), ("vocab", "all"), ("rejects", "all")]:
        assert parquet_rows(tmp_path / "one" / sub, order) == parquet_rows(tmp_path / "many" / sub, order), sub
    # history: the same events and counts; the two running decayed sums may differ in the last bit
    # (DuckDB's window sum adds a partition's rows in a tree aligned on the rows of the whole slice)
    history = [parquet_rows(tmp_path / name / "history", "customer_idx, product_idx, shop_ts") for name in ("one", "many")]
    assert [row[:6] for row in history[0]] == [row[:6] for row in history[1]]
    np.testing.assert_allclose([row[6:] for row in history[0]], [row[6:] for row in history[1]], rtol=1e-14)
    parts = sorted(p.name for p in (tmp_path / "many" / "samples").rglob("*.parquet"))
    assert len(set(parts)) > 1  # the samples were written in several slices too
    assert len(list((tmp_path / "many" / "history").glob("part-*.parquet"))) > 1  # and the history
    # the history's customer slices written by four connections at once instead of two: the same bytes
    # (each part on one DuckDB thread; its bits depend on its slice only, not on who writes it, or when)
    run_splits(cfg(**{"splits.items_per_slice": 40_000, "duckdb.threads": 4}), str(raw), tmp_path / "wide")
    written = {name: {p.name: p.read_bytes() for p in (tmp_path / name / "history").glob("part-*.parquet")}
               for name in ("many", "wide")}
    assert written["many"] == written["wide"]
    for prepared in (tmp_path / "one", tmp_path / "many"):
        results = run_audits(prepared)
        assert len(results) >= 10 and all(r.violations == 0 for r in results)


def test_basket_across_weeks_is_a_conflict(tmp_path):
    # one basket_id on two days of two weeks (files): every line of it is rejected
    raw = tmp_path / "raw"
    write(raw / "transactions_200607.csv", [dict(day(1, 0), BASKET_ID="994100100000001"),
                                            dict(day(1, 0), BASKET_ID="994100100000002")])
    write(raw / "transactions_200608.csv", [dict(day(2, 0), BASKET_ID="994100100000001", PROD_CODE="PRD0900002")])
    out = tmp_path / "out"
    manifest = run_splits(cfg(**{"splits.max_reject_fraction": 1.0}), str(raw), out)
    assert manifest["rows"]["rejected_by_reason"] == {"basket_conflict": 2}
    assert [(r[0].rsplit("/", 1)[1], r[1], r[2]) for r in rejects(out)] == [
        ("transactions_200607.csv", 2, "basket_conflict"), ("transactions_200608.csv", 2, "basket_conflict")]
    assert [r["basket_id"] % 100 for r in samples(out)] == [2]


@pytest.mark.parametrize("limit, expected", [
    ("8GB", 8 * 10**9), ("8 GiB", 8 * 2**30), ("500MB", 500 * 10**6), ("1.5gb", 15 * 10**8), ("lots", None),
])
def test_memory_limit_bytes(limit, expected):
    from retail_sim.prepare import memory_limit_bytes

    assert memory_limit_bytes(cfg(**{"duckdb.memory_limit": limit})) == expected


def test_work_database_in_memory_only_when_lines_fit(tmp_path):
    from retail_sim.prepare import CSV_BYTES_PER_LINE, MEMORY_BYTES_PER_LINE, work_database

    small, big = tmp_path / "transactions_200607.csv", tmp_path / "transactions_200608.csv.gz"
    small.write_bytes(b"x" * 1000)
    big.write_bytes(b"x" * 1000)
    lines = 2 * 10**9 // 2 // MEMORY_BYTES_PER_LINE  # what fits in half of 2GB
    assert work_database([small], cfg(**{"duckdb.memory_limit": "2GB"}), tmp_path) == ":memory:"
    with open(small, "r+b") as fh:
        fh.truncate((lines + 1000) * CSV_BYTES_PER_LINE)
    assert work_database([small], cfg(**{"duckdb.memory_limit": "2GB"}), tmp_path) == str(tmp_path / "work.duckdb")
    assert work_database([big], cfg(**{"duckdb.memory_limit": "lots"}), tmp_path) == str(tmp_path / "work.duckdb")


def test_real_sample_exact_counts(prepared_sample):
    manifest = json.loads((prepared_sample / "manifest.json").read_text())
    rows = manifest["rows"]
    assert rows["read"] == 486_351 and rows["kept"] == 486_351 and rows["rejected"] == 0
    assert rows["merged_duplicate_lines"] == 0 and rows["items"] == 486_351
    assert manifest["baskets"]["kept"] == 74_415 and manifest["baskets"]["outside_splits"] == 0
    by_split = {k: v["baskets"] for k, v in manifest["baskets"]["by_split"].items()}
    assert by_split == {"train": 53_570, "validation": 12_449, "test": 8_396}
    assert manifest["vocab"] == {"products": 4_614, "customers": 3_595, "stores": 759}
    assert manifest["weeks_present"] == [1, *range(3, 15), *range(44, 49)]
    con = duckdb.connect()
    anon_rows = con.execute(
        "select sum(seq_len) filter (where is_anonymous), count(*) filter (where is_anonymous)"
        " from read_parquet(?, hive_partitioning = true)",
        [str(prepared_sample / "samples" / "*" / "*" / "*.parquet")]).fetchone()
    raw_anonymous = con.execute(
        "select count(distinct basket_id) from read_csv(?, all_varchar = true) where CUST_CODE is null",
        [str(SAMPLE_RAW / "*.csv.gz")]).fetchone()[0]
    assert anon_rows[1] == raw_anonymous == 15_228  # anonymous baskets are kept
    assert manifest["complete"] is True and len(manifest["inputs"]) == 18


def test_jobs_each_taken_once_and_cancel_stops_the_rest():
    """prepare.Jobs: connections running at once take every job exactly once, in the order given;
    after cancel (11 failed while 12's parts were being written) no connection takes another."""
    import threading

    from retail_sim.prepare import Jobs

    jobs, done, lock = Jobs(range(200)), [], threading.Lock()

    def do(con, job):
        with lock:
            done.append((con, job))

    threads = [threading.Thread(target=jobs.run, args=(k, do)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job for _, job in done) == list(range(200))
    for k in range(4):  # each connection took its jobs in the order given
        mine = [job for con, job in done if con == k]
        assert mine == sorted(mine)
    stopped, taken = Jobs("abc"), []

    def fail(con, job):
        taken.append(job)
        stopped.cancel()

    stopped.run(None, fail)
    assert taken == ["a"]


def test_week_slices_bound_items():
    from retail_sim.prepare import week_slices

    counts = [(1, 5), (3, 5), (4, 1), (7, 20), (8, 2)]
    assert week_slices(counts, 10) == [(1, 3), (4, 4), (7, 7), (8, 8)]
    assert week_slices(counts, 100) == [(1, 8)]
    assert week_slices([], 10) == []


def test_weekly_prices_file_does_not_depend_on_the_tables_row_groups(tmp_path):
    """11_outputs writes prices/weekly_prices.parquet with the same bytes whether stage 07's appends
    left the table in whole row groups or in uneven ones (a scan's batches, and so the file's row
    groups, follow the table's row groups; 214.4M rows once gave two runs different files)."""
    from retail_sim.sqlrun import run_file, set_variables

    rows = ("select (i % 997)::integer as product_idx, (i % 13)::integer as store_idx, (i // 12961)::integer as week, "
            "(i % 101) / 7.0 as median_unit_price, 1 as n_lines from range(300000) t(i) where {where}")
    files = []
    weeks = ((0, 0), (1, 6), (7, 7), (8, 20), (21, 23))  # 07 appends slices of consecutive weeks
    for name, chunks in (("whole", ["true"]), ("uneven", [f"i // 12961 between {a} and {b}" for a, b in weeks])):
        con = duckdb.connect()
        con.execute("create table products (product_idx integer); create table customers (customer_idx integer); "
                    "create table stores (store_idx integer); create table rejects (source_file varchar, line bigint); "
                    "create table weekly_prices (product_idx integer, store_idx integer, week integer, "
                    "median_unit_price double, n_lines integer)")
        for where in chunks:  # each append in (week, product_idx, store_idx) order, as in 07
            con.execute(f"insert into weekly_prices select * from ({rows.format(where=where)}) "
                        "order by week, product_idx, store_idx")
        out = tmp_path / name
        for sub in ("vocab", "prices", "rejects"):
            (out / sub).mkdir(parents=True)
        set_variables(con, {"out": str(out)})
        run_file(con, "11_outputs.sql")
        files.append((out / "prices" / "weekly_prices.parquet").read_bytes())
    assert files[0] == files[1]
