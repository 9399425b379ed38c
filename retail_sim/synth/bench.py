"""`retail-sim bench synth`: rows/s and peak memory of a generation of about `rows` rows, and the
speed of the Arrow row writer against a plain Python f-string writer on the same week."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from retail_sim.config import Config, apply
from retail_sim.progress import log, peak_rss_mb
from retail_sim.synth import calendar
from retail_sim.synth import calibration as cal
from retail_sim.synth.generate import generate
from retail_sim.synth.week import draw_baskets, draw_lines
from retail_sim.synth.world import build_world, part_rng
from retail_sim.synth.writer import basket_ids, row_order, row_texts, text_bytes, week_csv

ROWS_PER_CUSTOMER = 620  # measured: 2,000 customers x 117 weeks -> 1.24M rows


def python_rows(texts, shop_week: int, dates, baskets, lines, week: int) -> bytes:
    """The same rows as writer.week_csv, formatted one at a time in Python (the baseline)."""
    order = row_order(texts, baskets, lines)
    product, customer, store = texts.product.to_pylist(), texts.customer.to_pylist(), texts.store.to_pylist()
    ids = basket_ids(week, baskets.serial).tolist()
    out = []
    for i in order.tolist():
        b = int(lines.basket[i])
        d, cents = int(baskets.day[b]), int(lines.spend_cents[i])
        frac = "0" if cents % 100 == 0 else f"{cents % 100 // 10}" if cents % 10 == 0 else f"{cents % 100:02d}"
        out.append(
            f"{shop_week},{dates[d]},{calendar.WEEKDAY_CODES[d]},{baskets.hour[b]},{lines.quantity[i]},"
            f"{cents // 100}.{frac},{product[lines.product[i]]},{customer[baskets.customer[b]]},{ids[b]},"
            f"{cal.BASKET_SIZES[baskets.size[b]]},{cal.PRICE_SENSITIVITIES[baskets.price_sensitivity[b]]},"
            f"{cal.BASKET_TYPES[baskets.basket_type[b]]},{cal.MISSIONS[baskets.mission[b]]},{store[baskets.store[b]]}"
        )
    return "".join(out).encode("ascii")


def writer_speedup(cfg: Config, week: int = 10) -> tuple[int, float, float]:
    """(rows, Arrow writer s, Python writer s) for one week of the default world; checks equal bytes."""
    world = build_world(cfg.synth, cfg.seed)
    texts = row_texts(world, cfg.synth.header)
    rng = part_rng(cfg.seed, 1, week)
    baskets = draw_baskets(world, cfg.synth, week, 1.0, rng)
    lines = draw_lines(world, cfg.synth, baskets, week, rng)
    shop_week, dates = calendar.shop_week(cfg.calendar, week), calendar.week_dates(cfg.calendar, week)
    start = time.perf_counter()
    fast = bytes(text_bytes(week_csv(texts, week, shop_week, dates, calendar.WEEKDAY_CODES, baskets, lines)))
    arrow_s = time.perf_counter() - start
    start = time.perf_counter()
    slow = python_rows(texts, shop_week, dates, baskets, lines, week)
    python_s = time.perf_counter() - start
    if fast != slow:
        raise AssertionError("Arrow and Python writers disagree")
    return len(lines.basket), arrow_s, python_s


def bench(rows: int, out: Path | None = None) -> dict:
    customers = max(20, round(rows / ROWS_PER_CUSTOMER))
    cfg = apply(Config(), {"synth.customers": customers})
    scratch = Path(tempfile.mkdtemp(prefix="retail-sim-bench-synth-")) if out is None else Path(out)
    try:
        log(f"bench synth: {customers:,} customers x {cfg.synth.weeks} weeks into {scratch}")
        summary = generate(cfg, scratch)
        peak = peak_rss_mb()
    finally:
        if out is None:
            shutil.rmtree(scratch, ignore_errors=True)
    n, arrow_s, python_s = writer_speedup(apply(Config(), {}))
    result = {**summary, "customers": customers, "rows_per_s": round(summary["rows"] / summary["seconds"]),
              "peak_rss_mb": round(peak), "writer_rows": n, "writer_speedup": round(python_s / arrow_s, 1)}
    print(f"synth: {summary['rows']:,} rows ({customers:,} customers x {cfg.synth.weeks} weeks, "
          f"{summary['bytes'] / 1e9:.2f} GB) in {summary['seconds']:.1f}s = {result['rows_per_s']:,} rows/s; "
          f"peak RSS {peak:,.0f} MB")
    print(f"row writer: Arrow {n / arrow_s:,.0f} rows/s vs Python f-strings {n / python_s:,.0f} rows/s "
          f"on the same {n:,}-row week (identical bytes): {result['writer_speedup']}x")
    return result
