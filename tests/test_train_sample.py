"""On the prepared real sample (with its tensor cache): a bounded CPU run beats the popularity
baseline on the held-out test weeks' recall@10 (scored by `retail-sim evaluate`), and with the
customer's purchase history (model.history = bias, the default) it beats the same run without it
and the customer's own purchase counts."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import torch
from conftest import sample_config

from retail_sim.config import apply
from retail_sim.train import train

pytestmark = pytest.mark.slow


SHORT_RUN = {
    "train.max_steps": 500, "train.lr": 5e-3, "train.warmup_steps": 20, "model.dropout": 0.0,
    "train.quick_val_every": 0, "train.log_every": 100, "train.device": "cpu", "train.cpu_threads": 1,
}


def short_train(prepared, folder, **overrides):
    """500 steps of 64 baskets (~0.6 epoch of the sample's 53k training baskets), tiny preset, 1 thread."""
    previous = torch.get_num_threads()
    result = train(apply(sample_config(), {**SHORT_RUN, **overrides}), prepared, folder)
    torch.set_num_threads(previous)
    return result


@pytest.fixture(scope="module")
def short_run(cached_sample, tmp_path_factory):
    """The default model (purchase history as a logit bias)."""
    run = tmp_path_factory.mktemp("sample_run")
    return cached_sample, run, short_train(cached_sample, run)


def evaluate_cli(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retail_sim", "evaluate", "--device", "cpu", "--cpu-threads", "1",
                           *args], capture_output=True, text=True, timeout=timeout)


def test_short_cpu_run_beats_popularity_on_test_weeks(short_run):
    prepared, run, result = short_run
    assert result.step == 500
    out = evaluate_cli("--checkpoint", str(run / "last.pt"), "--prepared", str(prepared), "--split", "test",
                       "--group-by", "week", "--out", str(run / "eval_test"))
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("model", "popularity", "co_purchase", "own_history", "recall@10", "cold_start"):
        assert name in out.stdout
    for name in ("overall.parquet", "overall.csv", "by_week.parquet", "cold_start.csv", "recall10_by_week.png"):
        assert (run / "eval_test" / name).is_file()
    rows = {r["scorer"]: r for r in pq.read_table(run / "eval_test" / "overall.parquet").to_pylist()}
    assert rows["model"]["n_items"] == rows["popularity"]["n_items"] > 5000
    assert rows["model"]["recall@10"] > rows["popularity"]["recall@10"], rows
    # the point-in-time own-history baseline is far stronger than popularity on this data
    assert rows["own_history"]["recall@10"] > rows["popularity"]["recall@10"]
    weeks = pq.read_table(run / "eval_test" / "by_week.parquet").column("week").to_pylist()
    assert weeks and all(47 <= int(w) <= 117 for w in weeks)


def test_history_beats_the_same_model_without_it_and_own_purchase_counts(short_run, tmp_path):
    prepared, run, _ = short_run
    without = tmp_path / "no_history"
    short_train(prepared, without, **{"model.history": "none"})
    recall = {}
    for name, folder in (("with", run), ("without", without)):
        out = evaluate_cli("--checkpoint", str(folder / "last.pt"), "--prepared", str(prepared), "--split", "test",
                           "--group-by", "week", "--out", str(folder / "eval_history"))
        assert out.returncode == 0, out.stderr[-2000:]
        recall[name] = {r["scorer"]: r["recall@10"] for r in pq.read_table(folder / "eval_history" / "overall.parquet").to_pylist()}
    with_history, without_history = recall["with"], recall["without"]
    assert with_history["model"] > without_history["model"] + 0.05, recall
    assert with_history["model"] > with_history["own_history"], with_history
    # both runs are scored against the same baselines on the same hidden items
    assert with_history["own_history"] == without_history["own_history"]


def test_evaluate_refuses_a_checkpoint_of_another_cache(short_run, tmp_path):
    prepared, run, _ = short_run
    ckpt = torch.load(run / "last.pt", weights_only=True)
    ckpt["cache_fingerprint"] = "0000000000000000"
    torch.save(ckpt, tmp_path / "other.pt")
    out = evaluate_cli("--checkpoint", str(tmp_path / "other.pt"), "--prepared", str(prepared), timeout=120)
    assert out.returncode == 2 and "another tensor cache" in out.stderr and "Traceback" not in out.stderr


def test_bench_train_times_a_second_pass_over_the_same_batches(cached_sample, one_torch_thread, capsys):
    from retail_sim.train.bench import bench_train

    cfg = apply(sample_config(), {"train.device": "cpu", "loader.batch_size": 16})
    (result,) = bench_train(cfg, cached_sample, ["tiny"], steps=3)
    assert result["samples"] == 48 and result["batch_size"] == 16
    assert result["samples_per_s"] > 0 and result["first_pass_samples_per_s"] > 0
    assert result["ratio_to_loader"] == pytest.approx(result["samples_per_s"] / result["loader_samples_per_s"])
    assert "first pass" in capsys.readouterr().out
