"""retail_sim/files.py and sqlrun.glob_literal in isolation: which output folders are refused, which
temp folders are removed, the lock, the preallocated memmap, literal globs."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from retail_sim.errors import UserError
from retail_sim.files import (
    WORK_MARKER,
    check_overlap,
    check_replaceable,
    folder_lock,
    holds_only,
    is_complete_output,
    output_folder,
    preallocated_memmap,
    remove_owned,
    remove_stale,
    work_folder,
    work_path,
)
from retail_sim.sqlrun import glob_literal


@pytest.fixture
def tree(tmp_path):
    """raw/ with a file, raw/sub/, a file elsewhere."""
    (tmp_path / "raw" / "sub").mkdir(parents=True)
    (tmp_path / "raw" / "a.csv").write_text("x")
    (tmp_path / "b.csv").write_text("y")
    return tmp_path


@pytest.mark.parametrize("out, inputs, problem", [
    ("raw", ["raw"], "is the input"),
    ("raw/sub", ["raw"], "lies inside the input"),
    ("raw/new", ["raw/a.csv"], None),  # a new folder beside an input file
    (".", ["raw/a.csv"], "holds the input"),
    ("raw", ["raw/a.csv"], "holds the input"),
    ("elsewhere", ["raw", "b.csv"], None),
    ("raw/a.csv", ["raw/a.csv"], "is the input"),
])
def test_check_overlap(tree, monkeypatch, out, inputs, problem):
    monkeypatch.chdir(tree)
    if problem is None:
        check_overlap(Path(out), [Path(i) for i in inputs])
    else:
        with pytest.raises(UserError, match=problem):
            check_overlap(Path(out), [Path(i) for i in inputs])


def test_check_replaceable(tmp_path):
    complete = is_complete_output("splits")
    check_replaceable(tmp_path / "new", complete, "x")  # missing: fine
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", complete, "x")
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "manifest.json").write_text(json.dumps({"stage": "splits", "complete": True}))
    check_replaceable(tmp_path / "ours", complete, "x")
    with pytest.raises(UserError, match="not empty and not a cache"):
        check_replaceable(tmp_path / "ours", is_complete_output("cache"), "a cache")
    (tmp_path / "ours" / "manifest.json").write_text(json.dumps({"stage": "splits", "complete": False}))
    with pytest.raises(UserError, match="not empty"):
        check_replaceable(tmp_path / "ours", complete, "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="a file, not a folder"):
        check_replaceable(tmp_path / "file", complete, "x")
    names = holds_only(lambda name: name.endswith(".pt"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_text("")
    check_replaceable(tmp_path / "run", names, "a run folder")
    (tmp_path / "run" / "thesis.tex").write_text("")
    with pytest.raises(UserError, match="not empty and not a run folder"):
        check_replaceable(tmp_path / "run", names, "a run folder")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remove_stale_takes_only_marked_folders_and_temp_files_of_dead_processes(tmp_path):
    out = tmp_path / "p[1]"  # glob characters in the name
    out.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    made = {}
    for key, name, marked in (("dead", f".p[1].tmp-{dead}", True), ("old", f".p[1].old-{dead}", False),
                              ("alive", f".p[1].tmp-{alive}", True), ("foreign", f".p[1].tmp-{dead + 100000}", False),
                              ("other", f".q.tmp-{dead}", True)):
        made[key] = tmp_path / name
        made[key].mkdir()
        if marked:
            (made[key] / WORK_MARKER).write_text("")
    (made["old"] / "manifest.json").write_text(json.dumps({"stage": "splits", "complete": True}))  # a replaced output
    (out / f".last.pt.tmp-{dead}").write_text("")
    (out / f".last.pt.tmp-{alive}").write_text("")
    removed = remove_stale(out)
    assert sorted(p.name for p in removed) == sorted([f".p[1].tmp-{dead}", f".p[1].old-{dead}", f".last.pt.tmp-{dead}"])
    assert made["alive"].exists() and made["foreign"].exists() and made["other"].exists()
    assert (out / f".last.pt.tmp-{alive}").exists()


def test_work_folder_and_remove_owned(tmp_path):
    work = work_folder(tmp_path / "out")
    assert (work / WORK_MARKER).is_file() and work.name == f".out.tmp-{os.getpid()}"
    remove_owned(work)
    assert not work.exists()
    (tmp_path / "theirs").mkdir()
    with pytest.raises(UserError, match="not written by retail-sim"):
        remove_owned(tmp_path / "theirs")


def test_output_folder_removes_its_work_folder_on_failure_and_interrupt(tmp_path):
    out = tmp_path / "out"
    for error in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(error), output_folder(out, "test"):
            work_folder(out)
            raise error()
        assert not list(tmp_path.glob(".out.tmp-*"))


HOLD = """
import sys, time
from pathlib import Path
from retail_sim.files import folder_lock
with folder_lock(Path(sys.argv[1]), "splits"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_folder_lock_names_the_holder_and_is_free_when_it_dies(tmp_path):
    target = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"out: in use by PID {holder.pid} \(retail-sim splits\) \(lock .*\.out\.lock\)"):
            with folder_lock(target, "cache"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(target, "cache") as lock:  # the kernel released it with the dead holder
        assert lock.read_text() == f"PID {os.getpid()} (retail-sim cache)\n"


def test_preallocated_memmap_turns_a_full_disk_into_a_user_error(tmp_path, monkeypatch):
    array = preallocated_memmap(tmp_path / "a.npy", np.int32, (10, 3))
    array[:] = 7
    array.flush()
    del array
    assert np.load(tmp_path / "a.npy").sum() == 210

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(UserError, match=r"b.npy: no space left on the device for 0.0 MB"):
        preallocated_memmap(tmp_path / "b.npy", np.float64, (1000,))
    assert not (tmp_path / "b.npy").exists()


@pytest.mark.parametrize("name", ["p[12]", "a*b", "a?b", "a]b", "a**b", "x[!1]"])
def test_glob_literal_reads_exactly_the_named_folder(tmp_path, name):
    con = duckdb.connect()
    for folder, value in ((name, 1), ("p1", 2), ("ab", 3), ("aab", 4), ("axb", 5), ("x2", 6)):
        (tmp_path / folder).mkdir(exist_ok=True)
        con.execute("set variable target = ?", [str(tmp_path / folder / "f.parquet")])
        con.execute(f"copy (select {value} as v) to (getvariable('target')) (format parquet)")
    pattern = glob_literal(tmp_path / name) + "/*.parquet"
    assert con.execute("select list(v) from read_parquet(?)", [pattern]).fetchone()[0] == [1]


def test_an_interrupt_before_the_work_marker_leaves_no_temp_folder(tmp_path):
    # Ctrl-C between work_folder's mkdir and its marker (seen in CI): the empty folder is removed
    out = tmp_path / "prepared"
    with pytest.raises(KeyboardInterrupt), output_folder(out, "splits"):
        work_path(out).mkdir()
        raise KeyboardInterrupt
    assert not work_path(out).exists()
    keep = tmp_path / "other"  # a temp-named folder holding files but no marker is not ours: kept
    with pytest.raises(KeyboardInterrupt), output_folder(keep, "splits"):
        work_path(keep).mkdir()
        (work_path(keep) / "data.csv").write_text("x")
        raise KeyboardInterrupt
    assert (work_path(keep) / "data.csv").exists()
