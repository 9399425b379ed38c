"""Issue 11, "Safe by default": one test per case of the issue's table (test_caseNN_...), each the
case's repro made small. Each failed on main at e07a91d; what now happens is in docs/safety.md."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, SAMPLE_CONFIG
from lgsr_files import day, weekly_files, write
from typer.testing import CliRunner

from retail_sim.cache.tensor_cache import TensorCache
from retail_sim.config import Config, apply
from retail_sim.data.testing import FakeCache, tiny_samples, write_prepared
from retail_sim.errors import UserError
from retail_sim.evaluate import evaluate
from retail_sim.inputs import resolve_inputs
from retail_sim.prepare import run_splits
from retail_sim.prepared import Prepared
from retail_sim.train import train
from retail_sim.train.checkpoint import save_checkpoint
from retail_sim.train.run_log import read_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"duckdb.threads": 1, "duckdb.memory_limit": "1GB"}


def splits_config(**extra) -> Config:
    return apply(Config(), {**SMALL, **extra})


def tiny_config(**extra) -> Config:
    return apply(Config(), {
        "loader.batch_size": 32, "train.epochs": 2, "train.log_every": 1, "train.quick_val_every": 3,
        "train.quick_val_batches": 1, "train.device": "cpu", "train.checkpoint_every": 0,
        "train.warmup_steps": 2, **extra,
    })


def cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retail_sim", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def dead_pid() -> int:
    """The PID of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A small prepared folder (read-only by convention; tests copy it to change it)."""
    return write_prepared(tmp_path_factory.mktemp("tiny") / "prepared", {
        "train": tiny_samples(300, weeks=(1, 10), seed=0),
        "validation": tiny_samples(80, weeks=(11, 12), seed=1),
        "test": tiny_samples(80, weeks=(13, 14), seed=2),
    })


def test_case01_splits_never_deletes_what_it_did_not_write(tmp_path):
    """Repro: `retail-sim splits --raw x --out x` deleted the raw CSVs, exit 0; `--out .` gave a
    traceback and left `..tmp-PID`."""
    raw = weekly_files(tmp_path / "x")
    before = sorted(p.name for p in raw.iterdir())
    with pytest.raises(UserError, match=r"--out .*/x is the input .*/x — choose a folder of its own"):
        run_splits(splits_config(), str(raw), raw)
    with pytest.raises(UserError, match="lies inside the input"):
        run_splits(splits_config(), str(raw), raw / "prepared")
    with pytest.raises(UserError, match="holds the input"):
        run_splits(splits_config(), str(raw / "transactions_200607.csv"), tmp_path)
    assert sorted(p.name for p in raw.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty and not a complete `splits` output"):
        run_splits(splits_config(), str(raw), mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    out = tmp_path / "prepared"  # its own complete output is replaced
    first = run_splits(splits_config(), str(raw), out)
    assert run_splits(splits_config(), str(raw), out)["fingerprint"] == first["fingerprint"]
    proc = cli("splits", "--raw", raw, "--out", ".", cwd=mine)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "not empty and not a complete `splits` output" in proc.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and not list(tmp_path.glob(".*tmp-*"))


def test_case02_two_files_of_one_week_are_refused_and_the_demo_has_its_own_folder(tmp_path):
    """Repro: `make demo` filled data/raw with synthetic weeks; real files copied there beside them
    were read together with them (a .csv and a .csv.gz of one week both read), exit 0."""
    raw = weekly_files(tmp_path / "raw")
    write(raw / "transactions_200607.csv.gz", [dict(day(1, 3), BASKET_ID="994100100000777")])
    with pytest.raises(UserError, match=r"transactions_200607\.csv and .*transactions_200607\.csv\.gz: 2 input files "
                                        r"for week 200607 — keep one"):
        resolve_inputs(raw)
    other = weekly_files(tmp_path / "elsewhere", weeks=(1,))
    with pytest.raises(UserError, match="for week 200607"):  # the same week in two folders of a glob
        resolve_inputs(f"{tmp_path}/*/transactions_*.csv")
    assert other.is_dir()
    makefile = (REPO / "Makefile").read_text()
    demo = makefile.split("\ndemo:")[1].split("\n\n")[0]
    assert "synth --out $(SYNTH)" in demo and "--raw $(SYNTH)" in demo and "$(RAW)" not in demo
    assert re.search(r"^SYNTH\s+\?= data/synth$", makefile, re.M) and re.search(r"^RAW\s+\?= data/raw$", makefile, re.M)
    from retail_sim.cli import synth

    assert inspect.signature(synth).parameters["out"].default == Path("data/synth") != Path(Config().paths.raw)


def test_case03_a_nan_loss_stops_training_and_evaluate_refuses_the_model(tiny, tmp_path):
    """Repro: `train --lr 1e30 --max-steps 30` (loss NaN at every step) exited 0 and `evaluate`
    scored it recall@10 = MRR = 1.0."""
    run = tmp_path / "run"
    cfg = tiny_config(**{"train.lr": 1e30, "train.max_steps": 30, "train.checkpoint_every": 1,
                         "train.log_every": 50, "train.quick_val_every": 0})
    with pytest.raises(UserError, match=r"the training loss is nan at step 2 .* training stopped; .*last\.pt keeps "
                                        r"step 1, the last finite state"):
        train(cfg, tiny, run, cache=FakeCache())
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["step"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert not (run / "best.pt").exists()
    assert read_metrics(run, "end")[-1]["stopped"] == "non_finite_loss"
    # that last finite model (weights ~1e30) scores inf: evaluate refuses instead of ranking every target first
    with pytest.raises(UserError, match="item scores hold NaN or inf"):
        evaluate(cfg, run / "last.pt", tiny, split="validation", out=tmp_path / "eval", cache=FakeCache())


def test_case04_a_folder_name_with_glob_characters_reads_exactly_that_folder(tmp_path):
    """Repro: `cache --prepared 'prep[12]'` built from the sibling `prep1` (DuckDB globbed the folder part)."""
    write_prepared(tmp_path / "p1", {"train": tiny_samples(40, weeks=(1, 10), seed=0)})
    write_prepared(tmp_path / "p[12]", {"train": tiny_samples(50, weeks=(1, 10), seed=1)})
    con = Prepared(tmp_path / "p[12]").connect()
    assert con.execute("select count(*) from samples").fetchone()[0] == 50
    assert con.execute("select count(distinct basket_id) from items").fetchone()[0] == 50
    con.close()
    weekly_files(tmp_path / "raw1", lines=3)  # same file names, 3 lines a week
    raw = weekly_files(tmp_path / "raw[1]")  # 1 line a week
    manifest = run_splits(splits_config(), str(raw), tmp_path / "out*")
    assert manifest["rows"]["read"] == 2 and manifest["rows"]["kept"] == 2


def test_case05_an_edited_manifest_is_refused(tiny, tmp_path):
    """Repro: widening splits.train_weeks in manifest.json was trusted by cache and evaluate."""
    folder = tmp_path / "prepared"
    shutil.copytree(tiny, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["config"]["splits"] = {"train_weeks": [1, 12], "validation_weeks": [13, 13], "test_weeks": [14, 14]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"manifest.json: content does not match its fingerprint .* run `retail-sim splits"):
        Prepared(folder)
    with pytest.raises(UserError, match="does not match its fingerprint"):
        train(tiny_config(**{"train.max_steps": 1}), folder, tmp_path / "run", cache=FakeCache())
    proc = cli("audit", "--prepared", folder)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "does not match its fingerprint" in proc.stderr


def test_case06_a_missing_or_damaged_data_file_is_named_with_the_command_that_rebuilds_it(tiny, prepared_sample, tmp_path):
    """Repro: a deleted samples file trained on fewer baskets without a word; bit flips in a samples
    file decoded to other values silently."""
    folder = tmp_path / "prepared"
    shutil.copytree(tiny, folder)
    victim = sorted((folder / "samples" / "split=train" / "bucket=2").glob("*.parquet"))[0]
    victim.unlink()
    with pytest.raises(UserError, match=rf"{re.escape(str(victim))}: missing .* run `retail-sim splits .*--out {folder}` again"):
        Prepared(folder)
    with pytest.raises(UserError, match="missing"):
        train(tiny_config(**{"train.max_steps": 1}), folder, tmp_path / "run", cache=FakeCache())
    # a stray file would be read by the views' globs: refused too
    shutil.copytree(tiny, folder, dirs_exist_ok=True)
    shutil.copy(victim, victim.with_name("part-9.parquet"))
    with pytest.raises(UserError, match=r"part-9.parquet: not written by this run"):
        Prepared(folder)
    # a changed byte keeps the size and the row count: the cheap check passes, `audit` hashes every file
    sample = tmp_path / "sample"
    shutil.copytree(prepared_sample, sample, ignore=shutil.ignore_patterns("tensor_cache"))
    damaged = sorted((sample / "samples" / "split=train" / "bucket=1").glob("*.parquet"))[0]
    data = damaged.read_bytes()
    at = data.rindex(b"DuckDB")  # the footer's created_by: the file still decodes
    damaged.write_bytes(data[:at] + b"DuckDC" + data[at + 6:])
    from retail_sim.audit import file_hashes

    hashes = file_hashes(Prepared(sample))  # the first check of `retail-sim audit` (run_audits)
    assert hashes.violations == 1 and hashes.sample[0][0].startswith(str(damaged.relative_to(sample)))


SMALL_DISK = """
import sys
from pathlib import Path
from retail_sim.cache.history import write_history_index
from retail_sim.errors import UserError
try:
    write_history_index(Path(sys.argv[1]), Path(sys.argv[2]), 10)
except UserError as exc:
    print(exc)
    sys.exit(2)
"""


def test_case07_a_full_disk_is_one_clear_line_not_sigbus(tmp_path):
    """Repro: `cache` on a 40 MB tmpfs died with SIGBUS (rc 135, no message): open_memmap makes a
    sparse file whose pages fail when written. Here: the history index's memmaps on a 1 MB tmpfs."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare -rm (user and mount namespaces) to mount a small tmpfs")
    prepared, small = tmp_path / "prepared", tmp_path / "small"
    (prepared / "history").mkdir(parents=True)
    small.mkdir()
    n = 200_000  # ~6 MB of index arrays
    ints = pa.array(np.arange(n, dtype=np.int32))
    pq.write_table(pa.table({"customer_idx": pa.array(np.full(n, 1, np.int32)), "product_idx": ints, "shop_ts": ints,
                             "n_baskets": ints, "next_shop_ts": ints, "cum_baskets": ints,
                             "cum_decay": pa.array(np.ones(n)), "cum_short_decay": pa.array(np.ones(n))}),
                   prepared / "history" / "part-0000.parquet")
    script = tmp_path / "fill.py"
    script.write_text(SMALL_DISK)
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"',
                           "sh", str(small), sys.executable, str(script), str(prepared), str(small)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert re.search(r"history_\w+\.npy: no space left on the device for [\d.]+ MB", proc.stdout), proc.stdout


HOLD_LOCK = """
import sys, time
from pathlib import Path
from retail_sim.files import folder_lock
with folder_lock(Path(sys.argv[1]), "train"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_case08_a_second_run_into_a_held_folder_names_the_holder(tiny, tmp_path):
    """Repro: two `train` into one --out interleaved metrics.jsonl and the worse best.pt won."""
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"run: in use by PID {holder.pid} \(retail-sim train\)"):
            train(tiny_config(**{"train.max_steps": 1}), tiny, run, cache=FakeCache())
        assert not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    train(tiny_config(**{"train.max_steps": 1}), tiny, run, cache=FakeCache())  # free once the holder is gone


def test_case09_interrupted_and_killed_runs_leave_no_temp_folders(tiny, tmp_path, monkeypatch):
    """Repro: Ctrl-C or kill left `.X.tmp-PID` folders that were never cleaned."""
    import retail_sim.prepare as prepare
    from retail_sim.files import WORK_MARKER

    raw, out = weekly_files(tmp_path / "raw"), tmp_path / "prepared"
    stale = tmp_path / f".prepared.tmp-{dead_pid()}"  # of a run killed earlier
    live = tmp_path / f".prepared.tmp-{os.getppid()}"  # of a run still going
    for folder in (stale, live):
        folder.mkdir()
        (folder / WORK_MARKER).write_text("")
    foreign = tmp_path / f".prepared.tmp-{dead_pid()}"  # not marked as retail-sim's: never removed
    foreign.mkdir()

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "closing_records", interrupt)  # the run's last step, its folder nearly full
    with pytest.raises(KeyboardInterrupt):
        run_splits(splits_config(), str(raw), out)
    assert not stale.exists() and live.is_dir() and foreign.is_dir()
    assert not (tmp_path / f".prepared.tmp-{os.getpid()}").exists() and not out.exists()
    # a run folder: a checkpoint's temp file of a dead run goes at the next run
    run = tmp_path / "run"
    run.mkdir()
    (run / f".last.pt.tmp-{dead_pid()}").write_bytes(b"partial")
    train(tiny_config(**{"train.max_steps": 1}), tiny, run, cache=FakeCache())
    assert not list(run.glob(".*tmp*"))


def _interrupt_when(proc: subprocess.Popen, pattern: str) -> str:
    """Read proc's stderr until a line matches `pattern`, send SIGINT, return all of stderr."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if re.search(pattern, line):
            proc.send_signal(signal.SIGINT)
            break
    rest, _ = proc.communicate(timeout=120)[::-1]
    return "".join(seen) + (rest or "")


TRAIN_CLI_ON_FAKE_CACHE = """
import sys
import retail_sim.train
from retail_sim.cli import main
from retail_sim.data.testing import FakeCache

train = retail_sim.train.train
retail_sim.train.train = lambda *args, **kwargs: train(*args, cache=FakeCache(), **kwargs)
sys.argv = ["retail-sim", *sys.argv[1:]]
main()
"""


def test_case10_ctrl_c_is_one_line_exit_130_and_a_run_folder_is_kept(tiny, sample_raw, tmp_path):
    """Repro: Ctrl-C in `splits` printed a 30-line traceback; an interrupted `train` exited 0 and named
    a best.pt that did not exist; `train` again without --resume deleted metrics.jsonl."""
    out = tmp_path / "prepared"
    proc = subprocess.Popen([sys.executable, "-m", "retail_sim", "splits", "--config", SAMPLE_CONFIG,
                             "--raw", sample_raw, "--out", out], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    err = _interrupt_when(proc, r"inputs done in")
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted (SIGINT)")
    assert not out.exists() and not list(tmp_path.glob(".prepared.tmp-*"))
    # `retail-sim train` (on the tiny folder and a stand-in cache), interrupted at its first steps
    run = tmp_path / "run"
    train_cmd = [sys.executable, "-c", TRAIN_CLI_ON_FAKE_CACHE, "train", "--prepared", str(tiny), "--out", str(run),
                 "--device", "cpu", "--batch-size", "16", "--epochs", "1000", "--set", "train.log_every=1", "--set", "train.quick_val_every=0"]
    proc = subprocess.Popen(train_cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    err = _interrupt_when(proc, r"step \d+/")
    assert proc.returncode == 130, err[-3000:]
    assert re.search(r"interrupted at step \d+: .*last\.pt saved — continue with --resume auto\n$", err), err[-2000:]
    assert "best.pt" not in err and (run / "last.pt").is_file() and not (run / "best.pt").exists()
    metrics = (run / "metrics.jsonl").read_text()
    with pytest.raises(UserError, match="holds last.pt of an earlier run — continue it with --resume auto"):
        train(tiny_config(), tiny, run, cache=FakeCache())  # again, without --resume
    assert (run / "metrics.jsonl").read_text() == metrics


def test_case11_resume_with_loader_workers_gives_the_losses_of_an_uninterrupted_run(tiny, tmp_path):
    """Repro: with --num-workers 2, a run resumed after a stop had other losses than the uninterrupted
    one (the RNG was restored before the workers' DataLoader drew its base seed from it)."""
    cfg = tiny_config(**{"loader.num_workers": 2, "train.quick_val_every": 0})
    full = train(cfg, tiny, tmp_path / "full", cache=FakeCache())
    cut = train(cfg, tiny, tmp_path / "cut", cache=FakeCache(), stop_after_steps=5)
    assert cut.stopped == "interrupted" and cut.step == 5
    resumed = train(cfg, tiny, tmp_path / "cut", resume="auto", cache=FakeCache())
    assert resumed.step == full.step > 5
    losses = {name: [(r["step"], r["loss"]) for r in read_metrics(tmp_path / name, "train")] for name in ("full", "cut")}
    assert losses["cut"] == losses["full"]
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_case12_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path):
    """Repro: a weekly file saved with a BOM was rejected as 'missing required column SHOP_WEEK'."""
    raw = weekly_files(tmp_path / "raw", weeks=(1, 2), lines=2, bom=True)
    manifest = run_splits(splits_config(), str(raw), tmp_path / "out")
    assert manifest["rows"]["read"] == 4 and manifest["rows"]["rejected"] == 0


def test_case13_empty_splits_are_named_with_their_weeks_and_keys(tmp_path, capsys):
    """Repro: the default split weeks on data without weeks 81-117 gave empty validation and test
    splits without a word; `train` then said 'run make splits'."""
    raw, out = weekly_files(tmp_path / "raw", weeks=(1, 2, 3)), tmp_path / "out"
    run_splits(splits_config(), str(raw), out)
    why = (r"split 'validation' is empty: splits.validation_weeks = \[81, 95\] but the input holds weeks 1–3 — set "
           r"splits.validation_weeks in a config file")
    err = capsys.readouterr().err
    assert re.search("warning: " + why, err) and "warning: split 'test' is empty" in err
    assert "split 'train' is empty" not in err
    with pytest.raises(UserError, match=why):
        train(tiny_config(), out, tmp_path / "run", cache=FakeCache())
    checkpoint = tmp_path / "fake.pt"
    save_checkpoint(checkpoint, {"model": {}, "cache_fingerprint": "x"})
    with pytest.raises(UserError, match=r"split 'test' is empty: splits.test_weeks = \[96, 117\]"):
        evaluate(tiny_config(), checkpoint, out, split="test", cache=FakeCache())


@pytest.mark.parametrize("option, value, key", [
    ("--lr", "-1", "train.lr"), ("--lr", "inf", "train.lr"), ("--max-steps", "-5", "train.max_steps"),
    ("--epochs", "0", "train.epochs"), ("--batch-size", "0", "loader.batch_size"),
])
def test_case14_numeric_options_are_refused_in_one_line(option, value, key, tmp_path):
    """Repro: `--lr -1` gave a traceback; `--max-steps -5` and `--epochs 0` 'completed' with exit 0."""
    from retail_sim.cli import app

    result = CliRunner().invoke(app, ["train", "--prepared", str(tmp_path), option, value])
    assert isinstance(result.exception, UserError), result.output
    assert str(result.exception).startswith(f"{key} = ") and "\n" not in str(result.exception)


def test_case15_hints_repeat_the_users_folders_and_evaluate_finds_the_checkpoints_folder(tiny, tmp_path):
    """Repro: hints said `make cache` whatever --prepared the user gave; `evaluate --checkpoint`
    ignored the prepared folder the run was trained on."""
    run = tmp_path / "run"
    train(tiny_config(**{"train.max_steps": 1}), tiny, run, cache=FakeCache())
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["prepared"] == str(tiny.resolve()) and ckpt["prepared_fingerprint"] == Prepared(tiny).fingerprint
    config = tmp_path / "my.toml"
    config.write_text("seed = 0\n")
    proc = cli("evaluate", "--config", config, "--checkpoint", run / "last.pt", cwd=tmp_path)  # no --prepared
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{tiny}/tensor_cache: no manifest.json" in proc.stderr
    assert f"run `retail-sim cache --config {config} --prepared {tiny}`" in proc.stderr and "make" not in proc.stderr
    other = write_prepared(tmp_path / "other", {"train": tiny_samples(30, weeks=(1, 10), seed=3),
                                                "validation": tiny_samples(10, weeks=(11, 12), seed=4)})
    with pytest.raises(UserError, match=rf"trained on the prepared folder {tiny} .* but {other} has fingerprint"):
        evaluate(tiny_config(), run / "last.pt", other, cache=FakeCache())
    from retail_sim.evaluate import prepared_of

    assert prepared_of(ckpt, run / "last.pt", None, other).path == Path(ckpt["prepared"])  # the recorded folder first
    older = {k: v for k, v in ckpt.items() if not k.startswith("prepared")}  # a checkpoint of an older retail-sim
    assert prepared_of(older, run / "last.pt", None, other).path == other  # paths.prepared


def test_case16_tensor_cache_arrays_are_checked_against_its_manifest(cached_sample, tmp_path):
    """Repro: a cache array of another shape or dtype, or unsorted keys, gave tracebacks or wrong lookups."""
    cache = tmp_path / "prepared" / "tensor_cache"
    shutil.copytree(cached_sample / "tensor_cache", cache)
    TensorCache(cache)
    rebuild = f"run `retail-sim cache --prepared {cache.parent}` again"

    def damaged(name: str, change, message: str) -> None:
        path = cache / f"{name}.npy"
        original = path.read_bytes()
        np.save(path, change(np.load(path)))
        with pytest.raises(UserError, match=rf"{name}\.npy: {message} .*{re.escape(rebuild)}"):
            TensorCache(cache)
        path.write_bytes(original)

    damaged("customer_state_keys", lambda a: a[::-1].copy(), "keys not strictly increasing")
    damaged("customer_state_n_baskets", lambda a: a.astype(np.float32), r"float32 \[\d+\], the manifest says int32")
    damaged("history_event_ts", lambda a: a.view(np.float32), r"float32 \[\d+\], the manifest says int32")
    damaged("history_customer_events", lambda a: a[::-1].copy(), "offsets do not run from 0")
    damaged("segment_prior", lambda a: a.reshape(-1, 64), r"float32 \[\d+, 64\], the manifest says float32 \[29, 128\]")
    TensorCache(cache)
