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
