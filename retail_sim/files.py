"""Writing outputs safely: a file is replaced whole or not at all, a folder is built beside its
target and swapped in last, so a reader never sees half of one and a failed run keeps the previous.

Guards of an output folder (`output_folder`): it may not be, hold or lie inside an input; a
non-empty folder is replaced only when it is a complete output of the same command; one run at a
time holds it (an flock on `.<name>.lock` beside it, released by the kernel when the holder dies);
temp folders of dead runs are removed before, and this run's temp folder after a failure or an
interrupt. Only folders retail-sim marked as its own work (WORK_MARKER) or that hold one of its
manifests are ever removed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import mmap
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from retail_sim.errors import UserError

WORK_MARKER = ".retail-sim-work"  # in every temp folder work_folder makes; removed before the swap
STAGES = ("splits", "cache")  # the commands whose folders hold a manifest.json with this `stage`
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


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


def work_path(out: Path, pid: int | None = None) -> Path:
    """`.<name>.tmp-<pid>` beside `out`: where run `pid` (default this process) builds it."""
    return out.parent / f".{out.name}.tmp-{os.getpid() if pid is None else pid}"


def work_folder(out: Path) -> Path:
    """An empty folder `.<name>.tmp-<pid>` beside `out` to build its replacement in, marked as ours."""
    work = work_path(out)
    remove_owned(work)
    work.mkdir(parents=True)
    (work / WORK_MARKER).write_text(f"{os.getpid()}\n")
    return work


def swap_into_place(work: Path, out: Path) -> None:
    """Move the finished folder `work` to `out`: the previous complete `out` stays until then."""
    (work / WORK_MARKER).unlink(missing_ok=True)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(work, out)
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- what is ours


def manifest_stage(folder: Path) -> str | None:
    """The `stage` of a complete manifest.json in `folder` (splits, cache), else None."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("stage") if isinstance(manifest, dict) and manifest.get("complete") else None


def is_owned(folder: Path) -> bool:
    """A folder retail-sim made: a temp folder with its marker, or an output with its manifest."""
    return (folder / WORK_MARKER).is_file() or manifest_stage(folder) in STAGES


def remove_owned(folder: Path) -> None:
    """Remove `folder` if retail-sim made it; refuse (UserError) to touch one it did not."""
    if not folder.exists():
        return
    if not folder.is_dir() or not is_owned(folder):
        raise UserError(f"{folder}: in the way and not written by retail-sim — move it away and run again")
    shutil.rmtree(folder)


def is_empty(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def remove_stale(out: Path) -> list[Path]:
    """Remove `.<name>.tmp-<pid>` / `.<name>.old-<pid>` folders beside `out` and `.<file>.tmp-<pid>`
    files inside it whose process is gone (a killed or crashed run); return what was removed."""
    removed: list[Path] = []
    candidates = [p for p in out.parent.glob(f".{glob.escape(out.name)}.*-*") if p.is_dir()]
    if out.is_dir():
        candidates += [p for p in out.glob(".*.tmp-*") if p.is_file()]
    for path in candidates:
        m = _TEMP.match(path.name)
        if not m or pid_alive(int(m.group("pid"))):
            continue
        if path.is_file():
            path.unlink(missing_ok=True)
        elif is_owned(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            continue
        removed.append(path)
    return removed


# ----------------------------------------------------------------------------- guards


def _inside(a: Path, b: Path) -> bool:
    """a equals b or lies inside it (both resolved)."""
    return a == b or b in a.parents


def check_overlap(out: Path, inputs: Iterable[Path], option: str = "--out") -> None:
    """Refuse an output folder equal to, inside or containing one of the inputs (files or folders)."""
    target = Path(out).resolve()
    for item in inputs:
        source = Path(item).resolve()
        if _inside(source, target) or (source.is_dir() and _inside(target, source)):
            where = "is" if source == target else ("holds" if _inside(source, target) else "lies inside")
            raise UserError(f"{option} {out} {where} the input {item} — choose a folder of its own for the output")


def check_replaceable(out: Path, replaceable: Callable[[Path], bool], what: str, option: str = "--out") -> None:
    """Refuse a non-empty `out` that is not `what` (a complete output of the same command)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{option} {out}: a file, not a folder — choose a folder for the output")
    if not is_empty(out) and not replaceable(out):
        raise UserError(f"{option} {out}: not empty and not {what} — retail-sim replaces only its own "
                        "output; choose an empty or new folder")


@contextmanager
def folder_lock(folder: Path, command: str) -> Iterator[Path]:
    """Hold `.<name>.lock` beside `folder` for the block: a second run on the same folder stops with
    a line naming the holder's PID. The kernel releases the lock when the holder exits or dies."""
    import fcntl

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"{folder}: in use by {holder} (lock {lock}) — wait for it to end or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()} (retail-sim {command})\n".encode(), 0)
        yield lock
    finally:
        os.close(fd)


@contextmanager
def output_folder(out: Path, command: str, inputs: Iterable[Path] = (),
                  replaceable: Callable[[Path], bool] | None = None, what: str = "", option: str = "--out"
                  ) -> Iterator[Path]:
    """The guarded write of one output folder: check_overlap, check_replaceable (when given), the
    lock, stale temp folders removed; a failure or an interrupt inside the block removes this run's
    temp folder (work_path). Yields `out`."""
    out = Path(out)
    if out.name in ("", ".", ".."):
        out = out.resolve()
    check_overlap(out, inputs, option)
    if replaceable is not None:
        check_replaceable(out, replaceable, what, option)
    with folder_lock(out, command):
        remove_stale(out)
        try:
            yield out
        except BaseException:
            work = work_path(out)
            if work.is_dir() and is_owned(work):
                shutil.rmtree(work, ignore_errors=True)
            elif work.is_dir():  # interrupted between work_folder's mkdir and its marker: empty
                with contextlib.suppress(OSError):
                    work.rmdir()
            raise


def is_complete_output(stage: str) -> Callable[[Path], bool]:
    """Predicate: a folder holding a complete manifest of `stage`."""
    return lambda folder: manifest_stage(folder) == stage


def holds_only(names: Callable[[str], bool]) -> Callable[[Path], bool]:
    """Predicate: every entry of a folder has a name this command writes."""
    return lambda folder: all(names(p.name) for p in folder.iterdir())


# ----------------------------------------------------------------------------- disk space


def no_space(exc: BaseException) -> bool:
    """An OSError of a full disk or quota (or a file-size limit)."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


_STATM: dict[int, int] = {}  # pid -> open descriptor of /proc/self/statm (opened per process: a fork's is the parent's)


def mapped_bytes() -> int:
    """Resident shared pages of this process in bytes (the file pages it maps and shared memory),
    from /proc/self/statm (1.5 us to read); 0 where there is none (not Linux)."""
    pid = os.getpid()
    try:
        if pid not in _STATM:
            _STATM[pid] = os.open("/proc/self/statm", os.O_RDONLY)
        return int(os.pread(_STATM[pid], 256, 0).split()[2]) * mmap.PAGESIZE
    except (OSError, AttributeError):  # no /proc (macOS), no os.pread (Windows)
        return 0


def file_map(array) -> mmap.mmap | None:
    """The file mapping a memory-mapped array (np.load(mmap_mode=...), np.memmap, or a view of
    one) reads and writes, else None."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def unmap(maps: Iterable[mmap.mmap | None]) -> None:
    """Take the pages of these file mappings (None: an array without one, skipped) out of this
    process's RSS (madvise MADV_DONTNEED):
    they stay in the page cache (written ones dirty, still to be written back), and the next access
    maps them again with a minor fault; what the arrays hold does not change."""
    if not hasattr(mmap, "MADV_DONTNEED"):  # a platform without it (Windows): nothing to do
        return
    for m in maps:
        if m is not None:
            m.madvise(mmap.MADV_DONTNEED)


def unmap_over(maps: Iterable[mmap.mmap | None], limit_bytes: int) -> bool:
    """unmap(maps) when this process maps more than limit_bytes of file pages (mapped_bytes);
    True when it did. Unmapping costs the next accesses their faults, so the loops that call it
    do so past a bound, not every time."""
    if mapped_bytes() <= limit_bytes:
        return False
    unmap(maps)
    return True


def preallocated_memmap(path: Path, dtype, shape: tuple[int, ...]) -> np.memmap:
    """np.lib.format.open_memmap(mode='w+') with its blocks allocated up front: open_memmap alone
    makes a sparse file, and filling it on a full disk kills the process with SIGBUS; here a full
    disk is a UserError naming the file and the bytes it needs."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            del array
            Path(path).unlink(missing_ok=True)
            raise UserError(f"{path}: no space left on the device for {size / 1e6:,.1f} MB — free space "
                            "and run again (the previous output is unchanged)") from None
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without fallocate
            raise
    finally:
        os.close(fd)
    return array
