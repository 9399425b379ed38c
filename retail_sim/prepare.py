"""`retail-sim splits`: runs sql/01..11 in order over the raw CSVs and writes the prepared folder.

Python only orchestrates: it checks the inputs, passes parameters as DuckDB variables, runs the
numbered SQL files (06-07 and 09-10 once per slice of weeks), writes the manifest last, and moves
the finished folder into place.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from retail_sim import __version__, calendar, hints, quality
from retail_sim.config import Config
from retail_sim.errors import UserError
from retail_sim.files import (
    is_complete_output,
    output_folder,
    remove_owned,
    swap_into_place,
    work_folder,
)
from retail_sim.inputs import fingerprint_file, header_variant, resolve_inputs
from retail_sim.integrity import file_records
from retail_sim.manifest import write_manifest
from retail_sim.prepared import DATA_FOLDERS, empty_splits
from retail_sim.progress import log, log_at, peak_rss_mb, query_progress, stage
from retail_sim.sqlrun import (
    code_variables,
    connect,
    glob_literal,
    run_file,
    set_threads,
    set_variables,
)
from retail_sim.sqlrun import (
    threads as duckdb_threads,
)
from retail_sim.vocab import FIRST_PRODUCT_IDX

SPLITS = ("train", "validation", "test")


def calendar_variables(cfg: Config) -> dict[str, Any]:
    cal = cfg.calendar
    return {
        "origin_year": cal.origin_shop_week // 100,
        "origin_ww": cal.origin_shop_week % 100,
        "weeks_per_year": cal.weeks_per_year,
        "origin_date": dt.date.fromisoformat(cal.origin_date),
        "first_week": cal.first_week,
        "last_week": cal.last_week,
    }


def split_variables(cfg: Config) -> dict[str, Any]:
    s = cfg.splits
    return {
        "train_first": s.train_weeks[0], "train_last": s.train_weeks[1],
        "validation_first": s.validation_weeks[0], "validation_last": s.validation_weeks[1],
        "test_first": s.test_weeks[0], "test_last": s.test_weeks[1],
        "max_seq_len": s.max_seq_len,
        "bucket_edges": list(s.bucket_edges),
        "price_window_weeks": s.price_window_weeks,
        "row_group_size": s.row_group_size,
        "first_product_idx": FIRST_PRODUCT_IDX,
    }


def history_variables(cfg: Config, audit_baskets: int = 2000) -> dict[str, Any]:
    """Variables of sql/12_history.sql and sql/audits/11_history.sql."""
    h = cfg.history
    return {
        "history_k": h.k, "history_decay": h.decay, "history_short_decay": h.short_decay,
        "origin_date": dt.date.fromisoformat(cfg.calendar.origin_date), "history_audit_baskets": audit_baskets,
    }


def week_of(shop_week: int, cfg: Config) -> int:
    """Fiscal YYYYWW -> week index (200607 -> 1 by default); independent of which weeks exist."""
    return calendar.week_of(shop_week, cfg.calendar)


def week_start(week: int, cfg: Config) -> dt.date:
    """The Monday that starts `week`."""
    return calendar.week_start(week, cfg.calendar)


def check_time_csv(files: list[Path], cfg: Config) -> int:
    """If a time.csv lies beside the inputs, check every week's dates against the calendar."""
    checked = 0
    for folder in sorted({f.parent for f in files}):
        path = folder / "time.csv"
        if not path.is_file():
            continue
        try:
            rows = duckdb.execute(
                "select shop_week, date_from, date_to from read_csv(?, header = true, auto_detect = false,"
                " columns = {'shop_week': 'INTEGER', 'date_from': 'VARCHAR', 'date_to': 'VARCHAR'})",
                [glob_literal(path)],
            ).fetchall()
        except duckdb.Error as exc:
            raise UserError(f"{path}: cannot read as shop_week,date_from,date_to ({str(exc).splitlines()[0]})") from None
        for shop_week, date_from, date_to in rows:
            start = week_start(week_of(shop_week, cfg), cfg)
            expected = (start.strftime("%Y%m%d"), (start + dt.timedelta(days=6)).strftime("%Y%m%d"))
            if (date_from, date_to) != expected:
                raise UserError(
                    f"{path}: week {shop_week} runs {date_from}..{date_to} but the calendar "
                    f"(calendar.origin_shop_week/origin_date) gives {expected[0]}..{expected[1]} — fix the calendar settings"
                )
            checked += 1
    return checked


def _duck(step: str, fn):
    """Run a DuckDB step; an input problem DuckDB finds (bad gzip, unreadable file) is a UserError."""
    try:
        return fn()
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise UserError(f"{step}: {str(exc).splitlines()[0]}") from None


def run_splits(cfg: Config, raw: str | Path, out: Path) -> dict[str, Any]:
    """Run the splits stage; return the manifest. Writes to a temp folder, then moves it to `out`.
    Refused before any work: an `out` that is, holds or lies inside an input, or that is neither
    empty nor a complete splits output; another run on `out` (files.output_folder)."""
    files = resolve_inputs(raw)
    inputs = [*([Path(raw)] if Path(raw).is_dir() else []), *files]
    with output_folder(Path(out), "splits", inputs, is_complete_output("splits"), "a complete `splits` output") as out:
        return _run_splits(cfg, raw, out)


def _run_splits(cfg: Config, raw: str | Path, out: Path) -> dict[str, Any]:
    out = Path(out)
    durations: dict[str, float] = {}
    started = time.perf_counter()
    with stage("inputs", durations):
        files = resolve_inputs(raw)
        variants = {str(f): header_variant(f) for f in files}
        weeks_checked = check_time_csv(files, cfg)
        log(f"  {len(files)} files ({sum(1 for v in variants.values() if v == 'named')} with the named header), "
            f"time.csv weeks checked: {weeks_checked}")

    work = work_folder(out)
    for sub in ("vocab", "prices", "rejects", "samples"):
        (work / sub).mkdir(parents=True)
    hasher = ThreadPoolExecutor(max_workers=1)
    fingerprints = hasher.map(fingerprint_file, files)
    database = work_database(files, cfg, work)
    log(f"  work database: {'in memory' if database == ':memory:' else database}")
    con = connect(cfg, database, temp_directory=work / "duckdb_tmp")
    try:
        # per-slice tables that several connections read at once (_write_files): in memory (spilled
        # to duckdb_tmp past the limit) whether the work database is in memory or in a file
        con.execute("attach ':memory:' as scratch")
        set_variables(con, {
            "input_files": [glob_literal(f) for f in files],
            **calendar_variables(cfg), **split_variables(cfg), **code_variables(),
        })
        with stage("01 lines: read, type, validate", durations), query_progress(con, "01 lines"), any_order(con):
            _duck("reading the input CSVs", lambda: run_file(con, "01_lines.sql"))
        with stage("02 basket headers and conflicts", durations):
            run_file(con, "02_basket_headers.sql")
        with stage("03-04 rejects", durations):
            reject_files = [str(files[i]) for (i,) in con.execute(
                "select file_index from rejected_files order by file_index").fetchall()]
            if reject_files:
                set_variables(con, {"reject_files": [glob_literal(f) for f in reject_files]})
                _duck("re-reading files with rejects", lambda: run_file(con, "03_reject_lines.sql"))
            run_file(con, "04_rejects.sql")
        accounting = _accounting(con)
        if accounting["read"] == 0:
            raise UserError(f"{raw}: no data rows in {len(files)} input file(s) — nothing to prepare")
        if accounting["kept"] == 0:
            reasons = ", ".join(f"{k} {v:,}" for k, v in accounting["rejected_by_reason"].items())
            raise UserError(f"{raw}: all {accounting['read']:,} rows rejected ({reasons}) — nothing to prepare; "
                            f"check the files' header and format against data/README.md")
        with stage("05 vocab", durations):
            run_file(con, "05_vocab.sql")
        with stage("06-07 items and prices by slice of weeks", durations):
            _items_and_prices(con, cfg)
            _drop(con, "lines", "basket_headers", "product_weekly_prices")
        with stage("08 baskets, splits, history", durations):
            run_file(con, "08_baskets.sql")
            _drop(con, "kept_baskets")
        with stage("09-10 samples by slice of weeks", durations):
            _write_samples(con, cfg, work)
        with stage("quality profile of the kept baskets", durations):
            profile = quality.weekly_profile(con)
            _drop(con, "basket_sets")
        # 12 must run on one DuckDB thread (the bits of its window sums), so 11 and 12's slices of
        # customers run as single-threaded statements at once, one connection per DuckDB thread
        # (at least two): 12's slices start beside 11, and the main connection takes the slices
        # left when 11 is done
        history = HistoryParts(con, cfg, work)
        connections = max(2, duckdb_threads(con))
        with one_thread(con), ThreadPoolExecutor(max_workers=connections - 1) as beside:
            parts = [beside.submit(history.write, con.cursor()) for _ in range(connections - 1)]
            try:
                with stage("11 vocab, items, prices, rejects files", durations):
                    set_variables(con, {"out": str(work)})
                    run_file(con, "11_outputs.sql")
                    _write_items(con, work)
                history.write(con, close=False)
            except BaseException:
                history.parts.cancel()  # the other connections stop after their current part
                raise
            for done in parts:
                done.result()
        history.finish(durations)
        manifest = _manifest(con, cfg, files, variants, accounting)
        manifest["quality"] = profile
    finally:
        con.close()
    manifest["inputs"] = [dict(fp, header=variants[fp["path"]]) for fp in fingerprints]
    hasher.shutdown()
    (work / "work.duckdb").unlink(missing_ok=True)
    shutil.rmtree(work / "duckdb_tmp", ignore_errors=True)

    fraction = accounting["rejected"] / accounting["read"]
    if fraction > cfg.splits.max_reject_fraction:
        failed = out.parent / f"{out.name}.failed"
        remove_owned(failed)
        os.replace(work, failed)
        top = ", ".join(f"{k} {v}" for k, v in accounting["rejected_by_reason"].items())
        raise UserError(
            f"{accounting['rejected']} of {accounting['read']} rows rejected ({fraction:.4%} > "
            f"splits.max_reject_fraction {cfg.splits.max_reject_fraction}): {top} — see "
            f"{failed}/rejects/rejects.parquet; fix the input or raise the limit"
        )
    with stage("file records", durations):
        manifest.update(closing_records(raw, work))
    durations["total"] = round(time.perf_counter() - started, 3)
    manifest["durations"] = durations
    manifest["peak_rss_mb"] = round(peak_rss_mb(), 1)
    manifest["fingerprint"] = write_manifest(work, manifest)
    swap_into_place(work, out)
    print_summary(manifest)
    for line in warnings(cfg, manifest, hints.splits(out, raw)):
        log(f"warning: {line}")
    return manifest


def closing_records(raw: str | Path, work: Path) -> dict[str, Any]:
    """What the manifest records last: the --raw it was written from and every file with its bytes,
    rows and blake2b (integrity.py)."""
    return {"raw": str(raw), "files": file_records(work, DATA_FOLDERS)}


def warnings(cfg: Config, manifest: dict[str, Any], rerun: str) -> list[str]:
    """The empty splits (their weeks, the weeks present, the key to set) and the weeks whose replay
    share or volume is far from the rest."""
    empty = empty_splits(manifest["baskets"]["by_split"], manifest["weeks_present"], cfg.splits, rerun)
    return list(empty.values()) + quality.flag_weeks(manifest["quality"]["weeks"], cfg.quality)


# Bytes a line takes as CSV text and as a row of `lines` in memory (12.1M synthetic lines: 1.73 GB
# of CSV, 2.6 GB in memory, 0.24 GB in the compressed database file); gzip shrinks LGSR ~10x.
CSV_BYTES_PER_LINE = 143
MEMORY_BYTES_PER_LINE = 216
GZIP_RATIO = 10


def memory_limit_bytes(cfg: Config) -> int | None:
    """duckdb.memory_limit in bytes ('8GB', '8 GiB', '500MB', '75%'); None if it cannot be read."""
    text = cfg.duckdb.memory_limit.strip().upper().replace(" ", "")
    if text.endswith("%"):
        try:
            return int(float(text[:-1]) / 100 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except ValueError:
            return None
    units = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * units[unit])
            except ValueError:
                return None
    return None


def work_database(files: list[Path], cfg: Config, work: Path) -> str:
    """':memory:' when the estimated in-memory size of `lines` is at most half the memory
    limit, else a database file in the work folder (compressed: ~20 bytes a line on disk).

    In memory every table is ~3x cheaper to write (no compression, no block writes), and DuckDB
    still spills past the limit; the file keeps a 223M-line input at ~5 GB instead of ~48 GB."""
    csv_bytes = sum(f.stat().st_size * (GZIP_RATIO if f.name.endswith(".gz") else 1) for f in files)
    limit = memory_limit_bytes(cfg)
    in_memory = csv_bytes / CSV_BYTES_PER_LINE * MEMORY_BYTES_PER_LINE
    return ":memory:" if limit is not None and in_memory <= limit / 2 else str(work / "work.duckdb")


def week_slices(items_per_week: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Consecutive week ranges holding at most `limit` items each (a single week may exceed it)."""
    slices: list[tuple[int, int]] = []
    first, prev, total = None, None, 0
    for week, n in items_per_week:
        if first is not None and total + n > limit:
            slices.append((first, prev))
            first, total = None, 0
        if first is None:
            first = week
        total += n
        prev = week
    if first is not None:
        slices.append((first, prev))
    return slices


def _items_and_prices(con, cfg: Config) -> None:
    """06 then 07 for consecutive week ranges of at most ~items_per_slice kept lines, in week order
    (07 carries the latest price of each (product, store) from one slice to the next)."""
    counts = con.execute("select week, n_lines from kept_lines_per_week order by week").fetchall()
    previous = (1, 0)  # an empty week range before the first slice
    for first, last in week_slices(counts, cfg.splits.items_per_slice):
        set_variables(con, {"slice_first": first, "slice_last": last,
                            "previous_first": previous[0], "previous_last": previous[1]})
        run_file(con, "06_items.sql")
        run_file(con, "07_prices.sql")
        log(f"  weeks {first}-{last}: items and prices")
        previous = (first, last)
    _drop(con, "slice_items", "price_state")


def _drop(con, *tables: str) -> None:
    """Drop work tables no later stage reads (and the views over them): their memory, or their
    blocks of the work database file, go to the tables that come next."""
    views = {"lines": ("kept_lines", "rejected_files", "line_reject_counts"),
             "basket_headers": ("kept_lines_per_week",)}
    for table in tables:
        for view in views.get(table, ()):
            con.execute(f"drop view if exists {view}")
        con.execute(f"drop table if exists {table}")


def _write_samples(con, cfg: Config, work: Path) -> None:
    """09 then 10 for consecutive week ranges of at most ~items_per_slice items: the samples files of
    the baskets in a split, and basket_sets (every kept basket's product set, for the quality profile)."""
    counts = con.execute("select week, count(*) from items group by week order by week").fetchall()
    for n, (first, last) in enumerate(week_slices(counts, cfg.splits.items_per_slice)):
        set_variables(con, {"slice_first": first, "slice_last": last})
        run_file(con, "09_samples.sql")
        parts = con.execute("select distinct split, bucket from scratch.slice_samples"
                            " where split is not null order by 1, 2").fetchall()
        jobs = []
        for split, bucket in parts:
            folder = work / "samples" / f"split={split}" / f"bucket={bucket}"
            folder.mkdir(parents=True, exist_ok=True)
            jobs.append({"split": split, "bucket": bucket, "target": str(folder / f"part-{n:04d}.parquet"),
                         "row_group_size": cfg.splits.row_group_size})
        _write_files(con, "10_write_samples.sql", jobs)
        log(f"  weeks {first}-{last}: {len(parts)} files")
    _drop(con, "scratch.slice_samples")


def _write_items(con, work: Path) -> None:
    """items/week=W/data_0.parquet for every week, by sql/11_write_items.sql."""
    jobs = []
    for (week,) in con.execute("select distinct week from items order by week").fetchall():
        folder = work / "items" / f"week={week}"
        folder.mkdir(parents=True)
        jobs.append({"week": week, "target": str(folder / "data_0.parquet")})
    _write_files(con, "11_write_items.sql", jobs)


def _write_files(con, name: str, jobs: list[dict[str, Any]]) -> None:
    """Run the COPY of SQL file `name` once per job (its DuckDB variables; each job writes its own
    file) on as many connections to the same database at once as DuckDB has threads, each taking
    the next job when it is free (Jobs). Each file is the same bytes as when written alone; a small
    COPY keeps about one core busy, so on the real sample stage 09-10 (24 files) took 0.70 s of
    wall time instead of 0.92 in one connection. Tables the jobs read must be in the main or the
    `scratch` database: temp tables are private to their connection."""
    writers = min(len(jobs), duckdb_threads(con))
    queued = Jobs(jobs)

    def write(cursor, job: dict[str, Any]) -> None:
        set_variables(cursor, job)
        run_file(cursor, name)

    if writers <= 1:
        queued.run(con, write)
        return
    cursors = [con.cursor() for _ in range(writers)]
    try:
        with ThreadPoolExecutor(max_workers=writers) as pool:
            for done in [pool.submit(queued.run, cursor, write) for cursor in cursors]:
                done.result()
    finally:
        for cursor in cursors:
            cursor.close()


class Jobs:
    """Jobs that several connections run at once: each connection takes the next job not yet taken
    (in the order given) when it is free, so none waits while another still has a share to do."""

    def __init__(self, jobs: Iterable[Any]):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        for job in jobs:
            self._queue.put(job)

    def run(self, con, do: Callable[[Any, Any], None]) -> None:
        """do(con, job) for each job this connection takes, until none is left."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            do(con, job)

    def cancel(self) -> None:
        """Take every job not yet taken: each connection stops after its current one."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


class HistoryParts:
    """history/part-NNNN.parquet: the event log of sql/12_history.sql, one slice of customers (at
    most splits.items_per_slice items) per part, so each slice's window sort stays in memory.
    Several connections write parts at once (`write`: Jobs), with DuckDB on one thread
    (one_thread): a part's bits depend only on its slice, not on which connection writes it or
    when. `finish` records the stage's time, from the first part's start to the last part's end."""

    STAGE = "12 purchase history by slice of customers"

    def __init__(self, con, cfg: Config, work: Path):
        self.cfg, self.work = cfg, work
        (work / "history").mkdir()
        counts = con.execute(
            "select customer_idx, count(*) from items where customer_idx > 0 group by 1 order by 1"
        ).fetchall()
        self.parts = Jobs(enumerate(week_slices(counts, cfg.splits.items_per_slice)))
        self.lock = threading.Lock()
        self.started = self.ended = time.perf_counter()
        log_at(f"{self.STAGE} ...")

    def write(self, con, close: bool = True) -> None:
        """Write parts on `con` until no slice is left; then close `con` (close)."""
        try:
            set_variables(con, history_variables(self.cfg))
            self.parts.run(con, self._part)
        finally:
            if close:
                con.close()

    def _part(self, con, part: tuple[int, tuple[int, int]]) -> None:
        n, (first, last) = part
        set_variables(con, {"slice_first": first, "slice_last": last,
                            "target": str(self.work / "history" / f"part-{n:04d}.parquet")})
        run_file(con, "12_history.sql")
        log(f"  customers {first}-{last}: history part {n}")
        with self.lock:
            self.ended = max(self.ended, time.perf_counter())

    def finish(self, durations: dict[str, float]) -> None:
        seconds = self.ended - self.started
        durations[self.STAGE] = round(seconds, 3)
        log_at(f"{self.STAGE} done in {seconds:.1f}s")


@contextmanager
def any_order(con):
    """DuckDB free to store a statement's rows in any order (preserve_insertion_order off), then back
    on. For 01: the CSV reader's threads then append their chunks as they finish instead of
    waiting for file order (real sample: 0.55 -> 0.37 s). Nothing reads `lines` in its stored order:
    every later stage groups, joins or sorts it on its keys."""
    con.execute("set preserve_insertion_order = false")
    yield
    # only after the block succeeded, as progress.query_progress: after a fatal DuckDB error this
    # would raise and hide the error that matters; a failed run does not go on
    con.execute("set preserve_insertion_order = true")


@contextmanager
def one_thread(con):
    """DuckDB on one thread (a setting of the database, so of all its connections), then back to
    the configured count. One thread for 12: its running window sums (cum_decay, cum_short_decay)
    add a partition's rows in a tree whose alignment follows how the rows were partitioned among
    the threads, so with 2 threads their last bits changed from run to run (12.1M rows: 500K of
    9.5M cum_decay values, relative difference <= 7.4e-16). One thread gives the same file every
    run."""
    threads = duckdb_threads(con)
    set_threads(con, 1)
    yield
    set_threads(con, threads)  # only after success, as any_order


def _accounting(con) -> dict[str, Any]:
    lines = con.execute("select count(*) from lines").fetchone()[0]
    malformed = con.execute("select count(*) from reader_rejects").fetchone()[0]
    by_reason = dict(con.execute(
        "select reason, sum(n_lines)::bigint from (select reason, n_lines from line_reject_counts"
        " union all select 'malformed_line', count(*) from reader_rejects having count(*) > 0)"
        " group by reason order by reason"
    ).fetchall())
    rejected = sum(by_reason.values())
    read = lines + malformed
    return {"read": read, "kept": read - rejected, "rejected": rejected, "rejected_by_reason": by_reason}


def _manifest(con, cfg: Config, files, variants, accounting) -> dict[str, Any]:
    accounting["rejects_written"] = con.execute("select count(*) from rejects").fetchone()[0]
    merged = con.execute("select coalesce(sum(n_lines - 1), 0), count(*) from items").fetchone()
    accounting["merged_duplicate_lines"] = int(merged[0])
    accounting["items"] = merged[1]
    by_split: dict[str, Any] = {}
    rows = con.execute(
        "select split, count(*), avg(is_anonymous::int), avg(is_unseen_in_train::int),"
        " avg(is_first_basket::int), sum((n_products > seq_len)::int)"
        " from baskets where split is not null group by split"
    ).fetchall()
    for split, n, anon, unseen, first, truncated in rows:
        by_split[split] = {
            "baskets": n, "anonymous_share": round(anon, 6),
            "unseen_in_train_share": round(unseen, 6), "first_basket_share": round(first, 6),
            "truncated_baskets": truncated, "by_bucket": {},
        }
    for split, bucket, n in con.execute(
        "select split, bucket, count(*) from baskets where split is not null group by all order by all"
    ).fetchall():
        by_split[split]["by_bucket"][str(bucket)] = n
    totals = con.execute(
        "select count(*), count(*) filter (where split is null) from baskets"
    ).fetchone()
    weeks = [r[0] for r in con.execute("select distinct week from baskets order by 1").fetchall()]
    return {
        "stage": "splits",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "rows": accounting,
        "baskets": {"kept": totals[0], "outside_splits": totals[1], "by_split": by_split},
        "weeks_present": weeks,
        "vocab": {
            "products": con.execute("select count(*) from products").fetchone()[0],
            "customers": con.execute("select count(*) from customers").fetchone()[0],
            "stores": con.execute("select count(*) from stores").fetchone()[0],
        },
        "versions": {
            "retail_sim": __version__, "duckdb": duckdb.__version__, "python": platform.python_version(),
        },
    }


def print_summary(manifest: dict[str, Any]) -> None:
    rows = manifest["rows"]
    log("")
    log(f"rows read {rows['read']:,}  kept {rows['kept']:,}  rejected {rows['rejected']:,}  "
        f"(merged duplicate lines {rows['merged_duplicate_lines']:,})")
    for reason, n in rows["rejected_by_reason"].items():
        log(f"  rejected {reason:<26} {n:,}")
    by_split = manifest["baskets"]["by_split"]
    buckets = sorted({b for s in by_split.values() for b in s["by_bucket"]}, key=int)
    log(f"{'split':<11}{'baskets':>12}" + "".join(f"{'b' + b:>11}" for b in buckets)
        + f"{'anon':>8}{'unseen':>8}{'first':>8}")
    for split in SPLITS:
        if split in by_split:
            s = by_split[split]
            log(f"{split:<11}{s['baskets']:>12,}" + "".join(f"{s['by_bucket'].get(b, 0):>11,}" for b in buckets)
                + f"{s['anonymous_share']:>8.1%}{s['unseen_in_train_share']:>8.1%}{s['first_basket_share']:>8.1%}")
    log("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in manifest["durations"].items()))
