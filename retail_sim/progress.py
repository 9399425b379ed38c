"""Progress lines on stderr for long steps, and a timer for stage durations."""

from __future__ import annotations

import math
import sys
import threading
import time
from contextlib import contextmanager


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def log_at(message: str) -> None:
    """`[HH:MM:SS] message`: the progress lines of long steps, stamped with the wall clock."""
    log(f"[{time.strftime('%H:%M:%S')}] {message}")


@contextmanager
def stage(name: str, durations: dict[str, float] | None = None):
    """Print `name ...` then `name done in X.Xs`; record seconds in `durations[name]`."""
    log_at(f"{name} ...")
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    if durations is not None:
        durations[name] = round(seconds, 3)
    log_at(f"{name} done in {seconds:.1f}s")


def format_eta(seconds: float) -> str:
    """hh:mm:ss, or --:--:-- when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Ticker:
    """`name: done/total unit (rate/s, ETA)` at most every `every_s` seconds, and at the end."""

    def __init__(self, name: str, total: int, unit: str, every_s: float = 30.0):
        self.name, self.total, self.unit, self.every_s = name, int(total), unit, every_s
        self.start = self.last = time.perf_counter()
        self.done = 0

    def add(self, n: int) -> None:
        self.done += int(n)
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else math.inf
            speed = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"  # slow units (slices, weeks): 0.12/s, not 0/s
            log_at(f"{self.name}: {self.done:,}/{self.total:,} {self.unit} ({speed}/s, ETA {format_eta(eta)})")


@contextmanager
def query_progress(con, name: str, every_s: float = 30.0):
    """While the block runs one long DuckDB statement on `con` (a CSV scan, say), log `name: N%
    (ETA)` every `every_s` seconds from DuckDB's own estimate (`con.query_progress()`, which it
    tracks only with its progress bar on: turned on for the block, without printing)."""
    con.execute("set enable_progress_bar = true")
    con.execute("set enable_progress_bar_print = false")
    stop, start = threading.Event(), time.perf_counter()

    def watch() -> None:
        while not stop.wait(every_s):
            done = con.query_progress()
            if done > 0:  # -1: no estimate (yet)
                elapsed = time.perf_counter() - start
                log_at(f"{name}: {done:.0f}% (ETA {format_eta(elapsed * (100 - done) / done)})")

    watcher = threading.Thread(target=watch, name="query-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
    # only after the statement succeeded: after a failed one (a fatal DuckDB error invalidates the
    # database) this would raise and hide the error that matters; a failed run does not go on
    con.execute("set enable_progress_bar = false")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and waited-for children not included), in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
