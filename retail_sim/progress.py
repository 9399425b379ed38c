"""Progress lines on stderr for long steps, and a timer for stage durations."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def stage(name: str, durations: dict[str, float] | None = None):
    """Print `name ...` then `name done in X.Xs`; record seconds in `durations[name]`."""
    log(f"[{time.strftime('%H:%M:%S')}] {name} ...")
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    if durations is not None:
        durations[name] = round(seconds, 3)
    log(f"[{time.strftime('%H:%M:%S')}] {name} done in {seconds:.1f}s")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and waited-for children not included), in MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
