"""Finding and checking LGSR input files before DuckDB reads them (one clear line per problem)."""

from __future__ import annotations

import glob
import gzip
import re
from collections import defaultdict
from pathlib import Path

from retail_sim.errors import UserError
from retail_sim.integrity import blake2b

# The 22 columns in order; columns 13-14 come in two variants (LGSR.md).
COLUMNS = (
    "SHOP_WEEK", "SHOP_DATE", "SHOP_WEEKDAY", "SHOP_HOUR", "QUANTITY", "SPEND",
    "PROD_CODE", "PROD_CODE_10", "PROD_CODE_20", "PROD_CODE_30", "PROD_CODE_40", "CUST_CODE",
    "SEG_1", "SEG_2", "BASKET_ID", "BASKET_SIZE", "BASKET_PRICE_SENSITIVITY", "BASKET_TYPE",
    "BASKET_DOMINANT_MISSION", "STORE_CODE", "STORE_FORMAT", "STORE_REGION",
)
# Accepted spellings per position: the older header names and the known corrupted copies
# ('SFNND', 'BASKET_TYFN': a blind text replace in circulating copies).
ALIASES = {
    "SEG_1": ("SEG_1", "CUST_PRICE_SENSITIVITY"),
    "SEG_2": ("SEG_2", "CUST_LIFESTAGE"),
    "SPEND": ("SPEND", "SFNND"),
    "BASKET_TYPE": ("BASKET_TYPE", "BASKET_TYFN"),
}
WEEK_FILE = re.compile(r"^transactions_(\d{6})(?!\d)", re.IGNORECASE)  # transactions_YYYYWW<anything>
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark some editors put before the header


def resolve_inputs(raw: str | Path) -> list[Path]:
    """Input CSVs from a folder (transactions_*.csv[.gz] or transactions.csv), a file or a glob."""
    raw_str = str(raw)
    path = Path(raw_str)
    if path.is_dir():
        files = sorted(path.glob("transactions_*.csv")) + sorted(path.glob("transactions_*.csv.gz"))
        if not files:
            files = [f for f in (path / "transactions.csv", path / "transactions.csv.gz") if f.is_file()]
        if not files:
            raise UserError(
                f"{path}: no transactions_*.csv, transactions_*.csv.gz or transactions.csv here — "
                "put LGSR files there or pass --raw PATH_OR_GLOB"
            )
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in sorted(glob.glob(raw_str)) if Path(p).is_file()]
        if not files:
            raise UserError(f"{raw_str}: no such file, folder or matching files — check --raw")
    files = sorted(set(files), key=lambda p: p.name)
    check_one_file_per_week(files)
    return files


def check_one_file_per_week(files: list[Path]) -> None:
    """Refuse two input files named for the same fiscal week (transactions_200607.csv and
    transactions_200607.csv.gz, or copies in two folders): both would be read and mixed."""
    by_week: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        if m := WEEK_FILE.match(f.name):
            by_week[m.group(1)].append(f)
    for week, same in sorted(by_week.items()):
        if len(same) > 1:
            raise UserError(f"{same[0]} and {same[1]}: {len(same)} input files for week {week} — keep one "
                            "(both would be read and their rows mixed)")


def header_variant(path: Path) -> str:
    """Check the header of one file; return 'seg' or 'named'. Raises UserError naming the column."""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            line = fh.readline().removeprefix(BOM).decode("ascii", errors="replace")
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: cannot read ({exc}) — is it a CSV or a gzipped CSV?") from None
    if not line.strip():
        raise UserError(f"{path}: empty file (no header line) — remove it or replace it")
    names = [n.strip().strip('"').upper() for n in line.rstrip("\r\n").split(",")]
    for i, column in enumerate(COLUMNS):
        accepted = ALIASES.get(column, (column,))
        if i >= len(names) or names[i] not in accepted:
            if not any(a in names for a in accepted):
                raise UserError(f"{path}: missing required column {accepted[-1] if column.startswith('SEG') else column}"
                                f" (expected column {i + 1} of 22)")
            raise UserError(
                f"{path}: column {i + 1} is {names[i] if i < len(names) else 'missing'!s}, expected "
                f"{column} — LGSR columns must be in the published order"
            )
    if len(names) != len(COLUMNS):
        raise UserError(f"{path}: {len(names)} columns in the header, expected 22 — extra column {names[22]}")
    return "named" if names[12] == "CUST_PRICE_SENSITIVITY" else "seg"


def fingerprint_file(path: Path) -> dict:
    """Size and blake2b of the whole file's bytes (as stored, compressed or not)."""
    return {"path": str(path), "bytes": path.stat().st_size, "blake2b": blake2b(path)}
