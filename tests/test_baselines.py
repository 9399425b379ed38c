"""Baselines and ranking metrics on a hand-made dataset with answers worked out by hand.

Products 3..7 (ids 0-2 are PAD/UNK/MASK, V = 8). Training baskets: {3,4,5}, {3,4}, {3,6}, {7}.
popularity: 3->3, 4->2, 5->1, 6->1, 7->1.
co-purchase: (3,4)=2, (3,5)=1, (4,5)=1, (3,6)=1, everything else 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from retail_sim.baselines import (
    BaselineScorer,
    OwnHistory,
    copurchase_from_pairs,
    own_history,
    training_counts,
)
from retail_sim.metrics import grouped_ranking_metrics, macro_f1, ranking_metrics, target_ranks
from retail_sim.vocab import MASK_IDX, PAD_IDX

V = 8


def views(folder, *names):
    """A DuckDB connection with the `items` / `samples` views over hand-made files, defined as
    sql/prepared_views.sql defines them (the baselines read those views)."""
    import duckdb

    con = duckdb.connect()
    con.execute("set variable prepared = ?", [str(folder)])
    if "items" in names:
        con.execute("create view items as select * replace (week::integer as week) "
                    "from read_parquet(getvariable('prepared') || '/items/*/*.parquet', hive_partitioning = true)")
    if "samples" in names:
        con.execute("create view samples as select * "
                    "from read_parquet(getvariable('prepared') || '/samples/*/*/*.parquet', hive_partitioning = true)")
    return con


TRAIN_BASKET = np.array([1, 1, 1, 2, 2, 3, 3, 4])
TRAIN_PRODUCT = np.array([3, 4, 5, 3, 4, 3, 6, 7])


POPULARITY = np.array([0, 0, 0, 3, 2, 1, 1, 1], dtype=np.float64)
PAIRS = [(3, 4, 2), (3, 5, 1), (4, 5, 1), (3, 6, 1)]


def expected_copurchase() -> torch.Tensor:
    expected = torch.zeros(V, V, dtype=torch.float64)
    for a, b, n in PAIRS:
        expected[a, b] = expected[b, a] = n
    return expected


def test_copurchase_from_pairs():
    a, b, n = (np.array(col) for col in zip(*PAIRS, strict=True))
    co = copurchase_from_pairs(a, b, n, V)
    assert torch.equal(co.to_dense(), expected_copurchase())
    assert co.nnz == 8 and all((np.diff(co.indices[lo:hi]) > 0).all() for lo, hi in zip(co.indptr[:-1], co.indptr[1:], strict=True))
    # basket scores: basket 0 sees {3, 4} -> row 3 + row 4; basket 1 sees {6}
    scores = co.basket_scores(np.array([0, 0, 1]), np.array([3, 4, 6]), 2)
    assert scores.tolist() == [[0, 0, 0, 2, 2, 2, 1, 0], [0, 0, 0, 1, 0, 0, 0, 0]]


def test_training_counts_in_duckdb(tmp_path):
    """The hand-made training baskets (week 1) plus a week-2 basket outside the training weeks."""
    basket = np.r_[TRAIN_BASKET, 5, 5]
    product = np.r_[TRAIN_PRODUCT, 3, 7]
    week = np.r_[np.ones(len(TRAIN_BASKET), int), 2, 2]
    for w in (1, 2):
        folder = tmp_path / "items" / f"week={w}"
        folder.mkdir(parents=True)
        keep = week == w
        pq.write_table(pa.table({"basket_id": basket[keep], "product_idx": product[keep],
                                 "customer_idx": np.zeros(keep.sum(), int), "unit_price": np.ones(keep.sum())}),
                       folder / "part-0.parquet")
    popularity, co, n_lines = training_counts(views(tmp_path, "items"), [1, 1], V)
    assert popularity.tolist() == POPULARITY.tolist() and n_lines == len(TRAIN_BASKET)
    assert torch.equal(co.to_dense(), expected_copurchase())


def test_target_ranks_break_ties_towards_lower_id():
    scores = torch.tensor([[0.0, 5.0, 5.0, 1.0], [3.0, 2.0, 1.0, 0.0]])
    # row 0: target 2 ties with id 1 (lower id goes first) -> rank 2; row 1: target 3 is last -> 4
    assert target_ranks(scores, torch.tensor([2, 3])).tolist() == [2, 4]
    assert target_ranks(scores, torch.tensor([1, 0])).tolist() == [1, 1]


def test_ranking_metrics_by_hand():
    m = ranking_metrics(np.array([1, 2, 15, 40]))
    assert m["n_items"] == 4
    assert m["accuracy"] == pytest.approx(0.25)
    assert m["recall@10"] == pytest.approx(0.5)
    assert m["recall@20"] == pytest.approx(0.75)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 15 + 1 / 40) / 4)
    g = grouped_ranking_metrics(np.array([1, 2, 15, 40]), np.array([0, 0, 2, 2]), 3)
    assert g["n_items"].tolist() == [2, 0, 2]
    assert g["recall@10"][0] == 1.0 and np.isnan(g["recall@10"][1]) and g["recall@10"][2] == 0.0
    assert g["mrr"][2] == pytest.approx((1 / 15 + 1 / 40) / 2)


def test_macro_f1_by_hand():
    # class 0: tp 1, support 2, predicted 1 -> F1 2/3; class 1: tp 1, support 1, predicted 2 -> 2/3;
    # class 2: never present nor predicted -> left out
    assert macro_f1([0, 0, 1], [0, 1, 1], 3) == pytest.approx(2 / 3)
    # class 2 present but never predicted -> F1 0 counts
    assert macro_f1([0, 2], [0, 0], 3) == pytest.approx((2 / 3 + 0) / 2)


def test_scorer_ranks_by_hand():
    history = OwnHistory(
        basket_id=np.array([200, 200]), product_idx=np.array([6, 7]), n_baskets=np.array([2.0, 1.0])
    )
    a, b, n = (np.array(col) for col in zip(*PAIRS, strict=True))
    scorer = BaselineScorer(POPULARITY, copurchase_from_pairs(a, b, n, V), history)
    # basket 100: visible {4}, hidden 5 (anonymous: no history); basket 200: visible {3}, hidden 6
    product_ids = torch.tensor([[4, MASK_IDX, PAD_IDX], [3, MASK_IDX, PAD_IDX]])
    scores = scorer.scores(product_ids, np.array([100, 200]))
    targets = torch.tensor([5, 6])
    ranks = {name: target_ranks(s, targets).tolist() for name, s in scores.items()}
    # popularity: A: 3 ahead (4 visible) -> 2; B: 4 ahead, 5 ties with lower id (3 visible) -> 3
    assert ranks["popularity"] == [2, 3]
    # co-purchase A: C[4]: 3->2, 5->1 => 3 ahead -> 2; B: C[3]: 4->2, 5->1, 6->1; 5 ties on count,
    # popularity tiebreak equal (1 and 1), lower id first -> 3
    assert ranks["co_purchase"] == [2, 3]
    # own history: A anonymous -> popularity order -> 2; B: 6 bought twice before -> 1
    assert ranks["own_history"] == [2, 1]
    for s in scores.values():  # specials and visible items are never candidates
        assert torch.isinf(s[:, :3]).all() and torch.isinf(s[0, 4]) and torch.isinf(s[1, 3])


def test_own_history_sql_is_point_in_time(tmp_path):
    d = dt.date
    # basket, customer, date, hour, products
    baskets = [
        (10, 1, d(2006, 4, 10), 9, [6, 7]),
        (11, 1, d(2006, 4, 11), 9, [6]),
        (20, 1, d(2006, 4, 12), 10, [3, 6]),
        (21, 1, d(2006, 4, 12), 10, [4]),  # same (date, hour) as 20: not earlier than 20
        (22, 1, d(2006, 4, 12), 11, [3]),
        (30, 0, d(2006, 4, 12), 12, [3]),  # anonymous: no history
        (40, 2, d(2006, 4, 13), 9, [5]),  # first basket of customer 2
    ]
    items = {"basket_id": [], "shop_date": [], "shop_hour": [], "customer_idx": [], "product_idx": []}
    for basket, customer, date, hour, products in baskets:
        for p in products:
            for key, value in zip(items, (basket, date, hour, customer, p), strict=True):
                items[key].append(value)
    (tmp_path / "items" / "week=1").mkdir(parents=True)
    pq.write_table(pa.table(items), tmp_path / "items" / "week=1" / "part-0.parquet")
    evaluated = [b for b in baskets if b[0] >= 20]
    samples = pa.table({
        "basket_id": [b[0] for b in evaluated], "customer_idx": [b[1] for b in evaluated],
        "shop_date": [b[2] for b in evaluated], "shop_hour": [b[3] for b in evaluated],
    })
    folder = tmp_path / "samples" / "split=validation" / "bucket=1"
    folder.mkdir(parents=True)
    pq.write_table(samples, folder / "part-0.parquet")
    hist = own_history(views(tmp_path, "items", "samples"), "validation", np.array([20, 21, 22, 30, 40]))
    rows = list(zip(hist.basket_id.tolist(), hist.product_idx.tolist(), hist.n_baskets.tolist(), strict=True))
    assert rows == [
        (20, 6, 2.0), (20, 7, 1.0),  # baskets 10 and 11 only (21 is not strictly earlier)
        (21, 6, 2.0), (21, 7, 1.0),
        (22, 3, 1.0), (22, 4, 1.0), (22, 6, 3.0), (22, 7, 1.0),  # 10, 11, 20, 21
    ]
    row, product, count = hist.lookup(np.array([22, 30, 20]))
    assert row.tolist() == [0, 0, 0, 0, 2, 2] and product.tolist() == [3, 4, 6, 7, 6, 7]
    # only the baskets asked for (evaluate's sample)
    part = own_history(views(tmp_path, "items", "samples"), "validation", np.array([21, 40]))
    assert part.basket_id.tolist() == [21, 21] and part.product_idx.tolist() == [6, 7]
