"""`evaluate` end to end on the tiny prepared folder: every scorer ranks the same hidden items,
the breakdowns add up, the files and the plot are written."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pytest
import torch

from retail_sim.config import Config, apply
from retail_sim.data.testing import FakeCache, tiny_samples, write_prepared
from retail_sim.evaluate import SCORERS, evaluate, format_table
from retail_sim.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("evaltiny")
    splits = {"train": tiny_samples(300, weeks=(1, 10), seed=0),
              "validation": tiny_samples(80, weeks=(11, 12), seed=1),
              "test": tiny_samples(80, weeks=(13, 14), seed=2)}
    # mark the validation customers above 20 as unseen in train (the cold-start breakdown)
    v = splits["validation"]
    splits["validation"] = v.append_column("is_unseen_in_train", pc.greater(v.column("customer_idx"), 20))
    config = {"splits": {"train_weeks": [1, 10], "validation_weeks": [11, 12], "test_weeks": [13, 14]}}
    prepared = write_prepared(root / "prepared", splits, config=config)  # with items/ for the baselines
    cfg = apply(Config(), {"loader.batch_size": 32, "train.epochs": 1, "train.device": "cpu",
                                "train.quick_val_every": 0, "train.eval_batch_size": 16})
    train(cfg, prepared, root / "run", cache=FakeCache())
    return cfg, prepared, root


def test_evaluate_tables_add_up(trained):
    cfg, prepared, root = trained
    tables = evaluate(cfg, root / "run" / "best.pt", prepared, split="validation", group_by="date",
                      out=root / "eval", cache=FakeCache())
    overall = tables["overall"].to_pylist()
    assert [r["scorer"] for r in overall] == list(SCORERS)
    n = {r["n_items"] for r in overall}
    assert len(n) == 1 and n.pop() > 80  # every scorer ranks the same hidden items, >= 1 per basket
    for r in overall:
        assert 0 <= r["accuracy"] <= r["recall@10"] <= r["recall@20"] <= 1
        assert r["accuracy"] <= r["mrr"] <= 1
    model = overall[0]
    assert 0 <= model["mission_type_accuracy"] <= 1 and 0 <= model["mission_type_macro_f1"] <= 1
    assert overall[1]["mission_type_accuracy"] is not None  # popularity row: the majority class
    assert overall[2]["mission_type_accuracy"] is None
    seg = tables["cold_start"].to_pylist()
    for name in SCORERS:
        rows = [r for r in seg if r["scorer"] == name]
        assert sum(r["n_items"] for r in rows) == overall[0]["n_items"]
        assert {r["segment"] for r in rows} == {"cold_start", "rest"}
        assert all(r["n_items"] > 0 for r in rows)
    by_date = tables["by_date"].to_pylist()
    assert sum(r["n_items"] for r in by_date if r["scorer"] == "model") == overall[0]["n_items"]
    for name in ("overall", "cold_start", "by_date"):
        assert (root / "eval" / f"{name}.parquet").is_file() and (root / "eval" / f"{name}.csv").is_file()
    import matplotlib.image

    img = matplotlib.image.imread(root / "eval" / "recall10_by_date.png")
    assert img.shape[2] in (3, 4) and (img[..., :3] < 1).any()
    text = format_table(tables["overall"], ["scorer", "n_items", "recall@10"])
    assert text.splitlines()[2].startswith("model")


def test_evaluate_is_deterministic_and_groups_by_hour(trained):
    cfg, prepared, root = trained
    a = evaluate(cfg, root / "run" / "best.pt", prepared, split="validation", group_by="hour",
                 out=root / "eval_hour_a", cache=FakeCache())
    b = evaluate(cfg, root / "run" / "best.pt", prepared, split="validation", group_by="hour",
                 out=root / "eval_hour_b", cache=FakeCache())
    assert a["overall"].equals(b["overall"])
    hours = a["by_hour"].column("hour").to_pylist()
    assert all(len(h) == len("2006-06-19 08:00") for h in hours)


def test_evaluate_scores_a_fixed_sample_of_baskets(trained):
    cfg, prepared, root = trained
    capped = apply(cfg, {"train.eval_max_baskets": 30})
    tables = evaluate(capped, root / "run" / "best.pt", prepared, split="validation", group_by="week",
                      out=root / "eval_sample", cache=FakeCache())
    summary = json.loads((root / "eval_sample" / "summary.json").read_text())
    assert summary["n_baskets"] == 30 and summary["n_baskets_in_split"] == 80
    n_items = tables["overall"].column("n_items").to_pylist()
    assert len(set(n_items)) == 1 and 30 <= n_items[0] < 80  # >= 1 hidden item per scored basket
    again = evaluate(capped, root / "run" / "best.pt", prepared, split="validation", group_by="week",
                     out=root / "eval_sample_again", cache=FakeCache())
    assert tables["overall"].equals(again["overall"])
