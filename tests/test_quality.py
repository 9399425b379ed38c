"""The raw-data quality profile (sql/quality/weekly_profile.sql, retail_sim/quality.py): counts on
hand-made baskets worked out by hand, the warnings as a pure function, and `retail-sim audit`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lgsr_files import day, write

from retail_sim.config import Config, QualityConfig, apply
from retail_sim.prepare import run_splits
from retail_sim.quality import flag_weeks

A, B = "CUST0000000001", "CUST0000000002"


def basket(week: int, serial: int, products: list[int], customer: str = A, hour: str = "10") -> list[dict]:
    anonymous = {"SEG_1": "", "SEG_2": ""} if not customer else {}
    return [dict(day(week, 0), SHOP_HOUR=hour, BASKET_ID=f"9941{week:03d}{serial:08d}", CUST_CODE=customer,
                 PROD_CODE=f"PRD09{p:05d}", **anonymous) for p in products]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Customer A: week 1 {1, 2} (product 1 on two lines); week 2 {1, 2} (replays week 1) and {1};
    week 3 {2, 1} (replays week 1, order does not matter) and, in the same hour, {1} (replays
    week 2's). Customer B: week 3 {1, 2}, B's first basket. Anonymous: week 3 {1, 2}, not counted."""
    rows = (basket(1, 1, [1, 1, 2]) + basket(2, 2, [1, 2]) + basket(2, 3, [1], hour="11")
            + basket(3, 4, [2, 1]) + basket(3, 5, [1]) + basket(3, 6, [1, 2], customer=B)
            + basket(3, 7, [1, 2], customer=""))
    root = tmp_path_factory.mktemp("quality")
    write(root / "raw" / "transactions.csv", rows)
    cfg = apply(Config(), {"duckdb.threads": 1, "duckdb.memory_limit": "1GB", "splits.train_weeks": [1, 1],
                           "splits.validation_weeks": [2, 2], "splits.test_weeks": [3, 3]})
    run_splits(cfg, str(root / "raw"), root / "prepared")
    return root / "prepared"


def test_weekly_profile_by_hand(prepared):
    from retail_sim.prepared import Prepared

    weeks = Prepared(prepared).manifest["quality"]["weeks"]
    assert weeks == [
        {"week": 1, "baskets": 1, "lines": 3, "customers": 1, "known_baskets": 1, "replayed_baskets": 0, "replay_share": 0.0},
        {"week": 2, "baskets": 2, "lines": 3, "customers": 1, "known_baskets": 2, "replayed_baskets": 1, "replay_share": 0.5},
        {"week": 3, "baskets": 4, "lines": 7, "customers": 2, "known_baskets": 3, "replayed_baskets": 2,
         "replay_share": 0.666667},
    ]


def week(n: int, share: float, baskets: int = 100) -> dict:
    return {"week": n, "replay_share": share, "baskets": baskets}


@pytest.mark.parametrize("weeks, flagged", [
    ([week(1, 0.0), week(2, 0.9)], []),  # fewer than 3 weeks: nothing to compare
    ([week(1, 0.05), week(2, 0.06), week(3, 0.07), week(4, 0.06)], []),
    ([week(1, 0.05), week(2, 0.06), week(3, 0.90), week(4, 0.07), week(5, 0.05)], ["week 3: 90.0%"]),
    ([week(1, 0.05), week(2, 0.06), week(3, 0.32), week(4, 0.06)], ["week 3: 32.0%"]),  # 0.32 > median 0.06 + 0.25
    ([week(1, 0.05), week(2, 0.06), week(3, 0.30), week(4, 0.06)], []),  # 0.30 is not
    ([week(1, 0.1, 100), week(2, 0.1, 301), week(3, 0.1, 90), week(4, 0.1, 30), week(5, 0.1, 95)],
     ["week 2: 301 baskets", "week 4: 30 baskets"]),  # median 95: outside [31.7, 285]
])
def test_flag_weeks(weeks, flagged):
    lines = flag_weeks(weeks, QualityConfig())
    assert len(lines) == len(flagged) and all(line.startswith(f) for line, f in zip(lines, flagged, strict=True)), lines


def test_audit_warns_with_exit_0(prepared):
    proc = subprocess.run([sys.executable, "-m", "retail_sim", "audit", "--prepared", str(prepared),
                           "--set", "quality.replay_share_excess=0.1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: week 3: 66.7% of known customers' baskets replay")
    assert "quality.replay_share_excess 0.1" in warnings[0]
