"""Fiscal weeks of the LGSR calendar: week k (1-based) -> YYYYWW and its Monday..Sunday dates."""

from __future__ import annotations

import datetime as dt

import numpy as np

from retail_sim.calendar import shop_week_of, week_start
from retail_sim.config import CalendarConfig


def shop_week(calendar: CalendarConfig, k: int) -> int:
    """Fiscal YYYYWW of week k: 52 weeks a year from 200607 by default (200652 -> 200701)."""
    return shop_week_of(k, calendar)


def week_monday(calendar: CalendarConfig, k: int) -> dt.date:
    return week_start(k, calendar)


def week_dates(calendar: CalendarConfig, k: int) -> np.ndarray:
    """SHOP_DATE (YYYYMMDD) of Monday..Sunday of week k: [7] int64."""
    monday = week_monday(calendar, k)
    days = [monday + dt.timedelta(days=d) for d in range(7)]
    return np.array([d.year * 10000 + d.month * 100 + d.day for d in days], dtype=np.int64)


# SHOP_WEEKDAY of Monday..Sunday (1 = Sunday ... 7 = Saturday)
WEEKDAY_CODES = np.array([2, 3, 4, 5, 6, 7, 1], dtype=np.int64)


def _holds_christmas(monday: dt.date) -> bool:
    christmas_day = dt.date(monday.year, 12, 25)
    return monday <= christmas_day <= monday + dt.timedelta(days=6)


def season_factor(calendar: CalendarConfig, k: int, christmas: float, pre_christmas: float) -> float:
    """Basket-rate multiplier of week k: lower in the week holding 25 December, higher the week before."""
    monday = week_monday(calendar, k)
    if _holds_christmas(monday):
        return christmas
    if _holds_christmas(monday + dt.timedelta(days=7)):
        return pre_christmas
    return 1.0


def time_csv(calendar: CalendarConfig, weeks: int) -> str:
    """The text of time.csv: `shop_week,date_from,date_to` for weeks 1..weeks."""
    lines = ["shop_week,date_from,date_to"]
    for k in range(1, weeks + 1):
        dates = week_dates(calendar, k)
        lines.append(f"{shop_week(calendar, k)},{dates[0]},{dates[6]}")
    return "\n".join(lines) + "\n"
