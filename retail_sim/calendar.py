"""The fiscal calendar of the LGSR files: fiscal YYYYWW <-> week index <-> dates.

week = (YYYY - origin YYYY) * weeks_per_year + (WW - origin WW) + 1, so 200607 -> 1 and 200701 -> 47
by default; week w runs from the Monday origin_date + 7 (w - 1) to the Sunday after.
"""

from __future__ import annotations

import datetime as dt

from retail_sim.config import CalendarConfig

EPOCH = dt.date(1970, 1, 1)


def week_of(shop_week: int, cal: CalendarConfig) -> int:
    """Fiscal YYYYWW -> week index (200607 -> 1 by default); independent of which weeks exist."""
    return (shop_week // 100 - cal.origin_shop_week // 100) * cal.weeks_per_year + (
        shop_week % 100 - cal.origin_shop_week % 100
    ) + 1


def shop_week_of(week: int, cal: CalendarConfig) -> int:
    """Week index -> fiscal YYYYWW (the inverse of week_of; 52 weeks a year: 200652 -> 200701)."""
    index = cal.origin_shop_week % 100 - 1 + week - 1
    return (cal.origin_shop_week // 100 + index // cal.weeks_per_year) * 100 + index % cal.weeks_per_year + 1


def week_start(week: int, cal: CalendarConfig) -> dt.date:
    """The Monday that starts `week`."""
    return dt.date.fromisoformat(cal.origin_date) + dt.timedelta(days=7 * (week - 1))


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01 (the int form of shop_date in the loader)."""
    return (date - EPOCH).days
