"""progress.Ticker: rate-limited progress lines."""

from retail_sim.progress import Ticker, format_eta


def test_ticker_prints_at_most_every_interval_and_at_the_end(capsys):
    t = Ticker("scoring test", 300, "baskets", every_s=3600.0)
    t.add(100)
    t.add(100)
    assert capsys.readouterr().err == ""  # inside the interval
    t.add(100)
    err = capsys.readouterr().err
    assert "scoring test: 300/300 baskets" in err and "ETA 00:00:00" in err


def test_format_eta():
    assert format_eta(3725) == "01:02:05" and format_eta(float("nan")) == "--:--:--"


def test_query_progress_logs_duckdb_estimate_while_a_statement_runs(capsys):
    import re

    import duckdb

    from retail_sim.progress import query_progress

    con = duckdb.connect()
    con.execute("set threads = 1")
    with query_progress(con, "long scan", every_s=0.05):
        # a scan long enough (~1-3 s) for several polls; DuckDB estimates progress from rows scanned
        con.execute("select count(*) from range(300000000) where hash(range) % 7 = 0").fetchall()
    lines = [line for line in capsys.readouterr().err.splitlines() if "long scan:" in line]
    assert lines and all(re.search(r"long scan: \d+% \(ETA \d\d:\d\d:\d\d\)$", line) for line in lines)
    assert con.execute("select current_setting('enable_progress_bar')").fetchone()[0] is False


def test_ticker_shows_slow_rates_with_two_significant_digits(capsys):
    t = Ticker("co-purchase pairs", 1, "slices of weeks")
    t.start -= 8.0  # one slice in 8 s
    t.add(1)
    assert "1/1 slices of weeks (0.12/s, ETA 00:00:00)" in capsys.readouterr().err


def test_query_progress_lets_the_statements_own_error_through():
    """After a failure the connection may be unusable (a fatal DuckDB error invalidates the
    database): the block's error must reach the caller, not one from resetting the setting."""
    import duckdb
    import pytest

    from retail_sim.progress import query_progress

    con = duckdb.connect()
    with pytest.raises(ValueError, match="the statement's error"), query_progress(con, "scan", every_s=60):
        con.close()  # stands in for an invalidated database: any further execute raises
        raise ValueError("the statement's error")


def test_splits_setting_blocks_let_the_statements_own_error_through():
    """prepare.any_order and prepare.one_thread put DuckDB's setting back after their block, and
    only after a block that succeeded: after a failure the connection may be unusable."""
    import duckdb
    import pytest

    from retail_sim.prepare import any_order, one_thread

    for block in (any_order, one_thread):
        con = duckdb.connect()
        con.execute("set threads = 2")
        with block(con):
            pass
        assert con.execute("select current_setting('preserve_insertion_order'), current_setting('threads')"
                           ).fetchone() == (True, 2)
        with pytest.raises(ValueError, match="the statement's error"), block(con):
            con.close()  # stands in for an invalidated database: any further execute raises
            raise ValueError("the statement's error")
