"""`retail-sim synth`: write transactions_YYYYWW.csv (one per fiscal week) and time.csv.

Streams week by week: the world (products, stores, customers) is built once, then week k is
drawn with its own Generator seeded from (seed, 1, k), formatted and written before week k+1,
so memory stays bounded by the world plus one week whatever the number of weeks.
"""

from __future__ import annotations

import gzip as gzip_module
import time
from pathlib import Path

from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.files import atomic_write
from retail_sim.progress import log, peak_rss_mb
from retail_sim.synth import calendar
from retail_sim.synth import calibration as cal
from retail_sim.synth.week import draw_baskets, draw_lines
from retail_sim.synth.world import build_world, part_rng
from retail_sim.synth.writer import header, row_texts, text_bytes, week_csv


def week_file(shop_week: int, gzip: bool) -> str:
    return f"transactions_{shop_week}.csv" + (".gz" if gzip else "")


def check_output(out: Path, names: set[str]) -> None:
    """Refuse to leave transaction files of another run beside the new ones (splits would read both)."""
    stale = sorted(p.name for p in out.glob("transactions*.csv*") if p.name not in names)
    if stale:
        raise UserError(f"{out / stale[0]}: transaction file not written by this run ({len(stale)} such); "
                        "remove them or choose an empty --out folder")


def write_file(path: Path, parts: list, gzip: bool, level: int) -> int:
    """Write parts (bytes-like) to path atomically; gzip with mtime 0 and no name."""
    with atomic_write(path, "wb") as raw:
        if gzip:
            with gzip_module.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level) as gz:
                for part in parts:
                    gz.write(part)
        else:
            for part in parts:
                raw.write(part)
        size = raw.tell()
    return size


def generate(cfg: Config, out: Path, gzip: bool = False) -> dict:
    """Write cfg.synth.weeks weekly LGSR files and time.csv into out; return a summary."""
    s = cfg.synth  # its values are checked by config.validate
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shop_weeks = [calendar.shop_week(cfg.calendar, k) for k in range(1, s.weeks + 1)]
    check_output(out, {week_file(w, gzip) for w in shop_weeks})
    start = time.perf_counter()
    world = build_world(s, cfg.seed)
    texts = row_texts(world, s.header)
    head = header(s.header).encode("ascii")
    log(f"synth: world of {s.customers:,} customers, {s.products:,} products, {s.stores} stores "
        f"built in {time.perf_counter() - start:.1f}s")
    total_rows = total_baskets = total_bytes = 0
    for k, shop_week in enumerate(shop_weeks, start=1):
        rng = part_rng(cfg.seed, 1, k)
        season = calendar.season_factor(cfg.calendar, k, cal.CHRISTMAS_FACTOR, cal.PRE_CHRISTMAS_FACTOR)
        baskets = draw_baskets(world, s, k, season, rng)
        lines = draw_lines(world, s, baskets, k, rng)
        rows = week_csv(texts, k, shop_week, calendar.week_dates(cfg.calendar, k), calendar.WEEKDAY_CODES,
                        baskets, lines)
        total_bytes += write_file(out / week_file(shop_week, gzip), [head, text_bytes(rows)], gzip, s.gzip_level)
        total_rows += len(rows)
        total_baskets += len(baskets.lines)
        if k % 10 == 0 or k == s.weeks:
            seconds = time.perf_counter() - start
            log(f"synth: week {k}/{s.weeks} ({shop_week}): {total_rows:,} rows so far, "
                f"{total_rows / seconds:,.0f} rows/s, peak {peak_rss_mb():,.0f} MB")
    (out / "time.csv").write_text(calendar.time_csv(cfg.calendar, s.weeks))
    seconds = time.perf_counter() - start
    log(f"synth: {total_rows:,} rows, {total_baskets:,} baskets in {s.weeks} weekly files under {out} "
        f"({total_bytes / 1e6:,.0f} MB{' gzipped' if gzip else ''}) in {seconds:.1f}s")
    return {"rows": total_rows, "baskets": total_baskets, "weeks": s.weeks, "bytes": total_bytes,
            "seconds": round(seconds, 3)}
