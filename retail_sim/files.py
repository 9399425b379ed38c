"""Writing outputs safely: a file is replaced whole or not at all, a folder is built beside its
target and swapped in last, so a reader never sees half of one and a failed run keeps the previous."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_write(path: Path | str, mode: str = "wb", fsync: bool = False) -> Iterator[IO]:
    """Open a temp file beside `path` for writing; when the block ends without an error it replaces
    `path` (fsync first when asked), otherwise it is removed and `path` keeps its old content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def work_folder(out: Path) -> Path:
    """An empty folder `.<name>.tmp-<pid>` beside `out` to build its replacement in."""
    work = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def swap_into_place(work: Path, out: Path) -> None:
    """Move the finished folder `work` to `out`: the previous complete `out` stays until then."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(work, out)
    shutil.rmtree(old, ignore_errors=True)
