"""Hand-made LGSR CSV files for the splits tests: rows as dicts over sensible defaults."""

from __future__ import annotations

import gzip
from pathlib import Path

SEG_HEADER = (
    "SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,PROD_CODE_20,"
    "PROD_CODE_30,PROD_CODE_40,CUST_CODE,seg_1,seg_2,BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,"
    "BASKET_TYPE,BASKET_DOMINANT_MISSION,STORE_CODE,STORE_FORMAT,STORE_REGION"
)
NAMED_HEADER = SEG_HEADER.replace("seg_1", "CUST_PRICE_SENSITIVITY").replace("seg_2", "CUST_LIFESTAGE")
FIELDS = [f.upper() for f in SEG_HEADER.split(",")]
FIELDS[12], FIELDS[13] = "SEG_1", "SEG_2"

# week 1 = 200607 = Mon 2006-04-10 .. Sun 2006-04-16; 20060410 is a Monday (SHOP_WEEKDAY 2)
DEFAULT = {
    "SHOP_WEEK": "200607", "SHOP_DATE": "20060410", "SHOP_WEEKDAY": "2", "SHOP_HOUR": "10",
    "QUANTITY": "1", "SPEND": "1.00", "PROD_CODE": "PRD0900001", "PROD_CODE_10": "CL00001",
    "PROD_CODE_20": "DEP00001", "PROD_CODE_30": "G00001", "PROD_CODE_40": "D00001",
    "CUST_CODE": "CUST0000000001", "SEG_1": "CT", "SEG_2": "DI", "BASKET_ID": "994100100000001",
    "BASKET_SIZE": "M", "BASKET_PRICE_SENSITIVITY": "MM", "BASKET_TYPE": "Top Up",
    "BASKET_DOMINANT_MISSION": "Fresh", "STORE_CODE": "STORE00001", "STORE_FORMAT": "LS",
    "STORE_REGION": "E01",
}


def line(**values) -> str:
    row = {**DEFAULT, **{k.upper(): v for k, v in values.items()}}
    return ",".join('""' if row[f] in ("", None) else str(row[f]) for f in FIELDS)


def write(path: Path, rows: list[dict], header: str = SEG_HEADER, raw_lines: dict[int, str] | None = None) -> Path:
    """Write rows (dicts of overrides) to path (.csv or .csv.gz). raw_lines: {index: text} inserts
    literal lines before rows[index] (for malformed lines)."""
    lines = [header]
    for i, r in enumerate(rows):
        if raw_lines and i in raw_lines:
            lines.append(raw_lines[i])
        lines.append(line(**r))
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def day(week: int, weekday_offset: int) -> dict:
    """SHOP_WEEK/SHOP_DATE/SHOP_WEEKDAY for a day of a week: offset 0 = Monday .. 6 = Sunday."""
    import datetime as dt

    d = dt.date(2006, 4, 10) + dt.timedelta(days=7 * (week - 1) + weekday_offset)
    year, ww = 2006 + (week + 6 - 1) // 52, (week + 6 - 1) % 52 + 1
    return {
        "SHOP_WEEK": f"{year}{ww:02d}",
        "SHOP_DATE": d.strftime("%Y%m%d"),
        "SHOP_WEEKDAY": str((d.isoweekday() % 7) + 1),  # Sunday = 1
    }


def weekly_files(folder: Path, weeks=(1, 2), lines: int = 1, bom: bool = False) -> Path:
    """transactions_YYYYWW.csv of customer 1, one basket per week of `lines` products each
    (PRD0900001..); with `bom`, each file starts with a UTF-8 byte-order mark. Returns folder."""
    for week in weeks:
        d = day(week, 0)
        rows = [dict(d, BASKET_ID=f"9941{week:03d}00000001", PROD_CODE=f"PRD09{k + 1:05d}") for k in range(lines)]
        path = write(Path(folder) / f"transactions_{d['SHOP_WEEK']}.csv", rows)
        if bom:
            path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return Path(folder)
