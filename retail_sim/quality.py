"""The raw-data quality profile: per week of kept data, its baskets, lines, customers and the share
of known customers' baskets that replay one of their earlier baskets (sql/quality/weekly_profile.sql).
`splits` records it in the manifest (`quality.weeks`); `flag_weeks` names the weeks far from the
rest, which `splits` and `retail-sim audit` print as warnings (exit 0): some circulating LGSR
copies hold whole weeks of replayed baskets, and a metric on those weeks measures the copy, not
the shoppers."""

from __future__ import annotations

import statistics
from typing import Any

from retail_sim import sqlrun
from retail_sim.config import QualityConfig


def weekly_profile(con) -> dict[str, Any]:
    """{"weeks": [{week, baskets, lines, customers, known_baskets, replayed_baskets, replay_share}]}
    from the work database of `splits` (its basket_sets table, filled by sql/09_samples.sql)."""
    rows = sqlrun.select(con, "quality/weekly_profile.sql").to_pylist()
    for row in rows:
        row["replay_share"] = round(float(row["replay_share"]), 6)
    return {"weeks": rows}


def flag_weeks(weeks: list[dict[str, Any]], q: QualityConfig) -> list[str]:
    """One line per week whose replay share exceeds the median week's by more than
    quality.replay_share_excess, or whose baskets are more than quality.volume_ratio times (or less
    than 1 / volume_ratio of) the median week's. Fewer than 3 weeks: nothing to compare."""
    if len(weeks) < 3:
        return []
    share = statistics.median(w["replay_share"] for w in weeks)
    volume = statistics.median(w["baskets"] for w in weeks)
    lines = []
    for w in weeks:
        if w["replay_share"] > share + q.replay_share_excess:
            lines.append(f"week {w['week']}: {w['replay_share']:.1%} of known customers' baskets replay an earlier "
                         f"basket of theirs (median week {share:.1%}; quality.replay_share_excess "
                         f"{q.replay_share_excess}) — check the input file of that week before trusting metrics on it")
        if volume > 0 and not volume / q.volume_ratio <= w["baskets"] <= volume * q.volume_ratio:
            lines.append(f"week {w['week']}: {w['baskets']:,} baskets, the median week has {volume:,.0f} "
                         f"(quality.volume_ratio {q.volume_ratio}) — check the input file of that week")
    return lines
