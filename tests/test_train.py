"""The training loop on a tiny prepared folder (the loader's stand-in writer and FakeCache):
checkpoints, resume equivalence, early stopping, cache refusal, LR schedule, two-rank DDP."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from retail_sim.config import Config, apply, from_dict
from retail_sim.data.testing import FakeCache, tiny_samples, write_prepared
from retail_sim.errors import UserError
from retail_sim.train import train
from retail_sim.train.checkpoint import load_checkpoint, save_checkpoint
from retail_sim.train.loop import build_model
from retail_sim.train.run_log import read_metrics
from retail_sim.train.schedule import warmup_cosine

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "prepared"
    return write_prepared(root, {
        "train": tiny_samples(300, weeks=(1, 10), seed=0),
        "validation": tiny_samples(80, weeks=(11, 12), seed=1),
        "test": tiny_samples(80, weeks=(13, 14), seed=2),
    })


def tiny_config(**extra) -> Config:
    return apply(Config(), {
        "loader.batch_size": 32, "train.epochs": 2, "train.log_every": 1, "train.quick_val_every": 3,
        "train.quick_val_batches": 1, "train.device": "cpu", "train.checkpoint_every": 0,
        "train.warmup_steps": 2, **extra,
    })


def test_warmup_cosine_by_hand():
    assert [warmup_cosine(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warmup_cosine(8, 4, 12) == pytest.approx(0.5)  # halfway through the 8 decay steps
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0)
    assert warmup_cosine(0, 0, 10) == 1.0


def test_checkpoint_round_trip_weights_only(tiny_prepared, tmp_path):
    cfg = tiny_config(**{"train.max_steps": 4})
    result = train(cfg, tiny_prepared, tmp_path / "run", cache=FakeCache())
    assert result.step == 4 and result.stopped == "max_steps"
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(tmp_path / "run" / name, map_location="cpu", weights_only=True)
        for key in ("model", "optimizer", "scheduler", "loader", "rng", "step", "epoch", "config",
                    "cache_fingerprint", "best_val_loss"):
            assert key in ckpt, key
        assert ckpt["step"] == 4 and ckpt["cache_fingerprint"] == "fake"
        assert from_dict(ckpt["config"]) == cfg
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    restored = build_model(from_dict(ckpt["config"]), ckpt["n_products"])
    restored.load_state_dict(ckpt["model"])
    for a, b in zip(restored.state_dict().values(), result.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not list((tmp_path / "run").glob(".*tmp*"))
    kinds = {r["kind"] for r in read_metrics(tmp_path / "run")}
    assert {"train", "quick_val", "val", "end"} <= kinds
    # the run folder holds its resolved config, which --config reads back
    from retail_sim.config import load_config

    assert load_config(tmp_path / "run" / "config.toml") == cfg


def test_atomic_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "cache_fingerprint": "a"})

    def broken(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "cache_fingerprint": "b"})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_resume_gives_the_losses_of_an_uninterrupted_run(tiny_prepared, tmp_path):
    cfg = tiny_config()
    full = train(cfg, tiny_prepared, tmp_path / "full", cache=FakeCache())
    cut = train(cfg, tiny_prepared, tmp_path / "cut", cache=FakeCache(), stop_after_steps=5)
    assert cut.stopped == "interrupted" and cut.step == 5
    resumed = train(cfg, tiny_prepared, tmp_path / "cut", resume="auto", cache=FakeCache())
    assert resumed.step == full.step > 5
    losses_full = [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "full", "train")]
    losses_cut = [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "cut", "train")]
    assert losses_cut == losses_full  # exact: same batches, masks, dropout and optimiser state
    val_full = [r["loss"] for r in read_metrics(tmp_path / "full", "val")]
    val_cut = [r["loss"] for r in read_metrics(tmp_path / "cut", "val")]
    assert val_cut == val_full
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_of_another_cache_is_refused(tiny_prepared, tmp_path):
    cfg = tiny_config(**{"train.max_steps": 1})
    train(cfg, tiny_prepared, tmp_path / "run", cache=FakeCache())
    with pytest.raises(UserError, match="another tensor cache"):
        train(cfg, tiny_prepared, tmp_path / "run", resume="auto", cache=FakeCache(fingerprint="other"))


def test_early_stopping_and_grad_accumulation(tiny_prepared, tmp_path):
    # lr 0: the validation loss never improves after the first epoch -> stop after patience epochs
    cfg = tiny_config(**{"train.lr": 0.0, "train.epochs": 6, "train.patience": 2, "train.grad_accum": 2,
                         "train.quick_val_every": 0})
    result = train(cfg, tiny_prepared, tmp_path / "run", cache=FakeCache())
    assert result.stopped == "early_stopping" and result.epoch == 3
    vals = read_metrics(tmp_path / "run", "val")
    assert [r["best"] for r in vals] == [True, False, False]
    steps_per_epoch = vals[0]["step"]
    assert steps_per_epoch >= 1 and result.step == 3 * steps_per_epoch
    assert math.isfinite(result.best_val_loss)



def test_val_max_batches_caps_the_epoch_end_validation(tiny_prepared, tmp_path):
    # 80 validation baskets at eval batch size 16: one partial batch or more per length bucket; the cap scores 2
    base = {"train.epochs": 1, "train.quick_val_every": 0, "train.eval_batch_size": 16}
    train(tiny_config(**base), tiny_prepared, tmp_path / "all", cache=FakeCache())
    train(tiny_config(**base, **{"train.val_max_batches": 2}), tiny_prepared, tmp_path / "cap", cache=FakeCache())
    full, capped = read_metrics(tmp_path / "all", "val")[0], read_metrics(tmp_path / "cap", "val")[0]
    assert full["batches"] > 2 and capped["batches"] == 2
    assert 0 < capped["masked_items"] < full["masked_items"]


DDP_SCRIPT = """
import os, sys, torch
from pathlib import Path
sys.path.insert(0, {repo!r})
from retail_sim.config import Config, apply
from retail_sim.data.testing import FakeCache
from retail_sim.train import train
torch.set_num_threads(1)
cfg = apply(Config(), {{"loader.batch_size": 16, "train.epochs": 1, "train.max_steps": 4, "train.log_every": 1,
                       "train.quick_val_every": 2, "train.quick_val_batches": 1, "train.device": "cpu"}})
result = train(cfg, Path({prepared!r}), Path({out!r}) / "run", cache=FakeCache())
torch.save(result.model.state_dict(), Path({out!r}) / f"rank{{os.environ['RANK']}}.pt")
"""


def test_two_process_gloo_ddp_ends_with_identical_weights(tiny_prepared, tmp_path):
    script = tmp_path / "ddp_worker.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(repo=str(REPO), prepared=str(tiny_prepared), out=str(tmp_path))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["step"] == 4
    assert ckpt["loader"]["world_size"] == 2
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["kind"] == "train"  # only rank 0 writes: one line per step
    assert len(read_metrics(tmp_path / "run", "train")) == 4
    assert sum(1 for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
               if json.loads(line)["kind"] == "train") == 4


def test_nproc_relaunch_drops_only_the_nproc_option():
    from retail_sim.cli import _without_nproc

    assert _without_nproc(["train", "--nproc", "2", "--out", "runs/x"]) == ["train", "--out", "runs/x"]
    assert _without_nproc(["train", "--nproc=4", "--epochs", "1"]) == ["train", "--epochs", "1"]


def test_more_processes_than_gpus_is_a_user_error(monkeypatch):
    """NCCL refuses two ranks on one GPU (seen on an H100: 'Duplicate GPU detected'): say so first."""
    from retail_sim.train.distributed import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(UserError, match="use --nproc 1"):
        resolve_device("cuda", local_rank=0, local_world_size=2)
    with pytest.raises(UserError, match="2 processes on this machine but 1 visible GPU"):
        resolve_device("auto", local_rank=1)
    assert resolve_device("cpu", local_rank=1, local_world_size=4) == torch.device("cpu")
