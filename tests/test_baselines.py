"""Baselines and ranking metrics on a hand-made dataset with answers worked out by hand.

Products 3..7 (ids 0-2 are PAD/UNK/MASK, V = 8). Training baskets: {3,4,5}, {3,4}, {3,6}, {7}.
popularity: 3->3, 4->2, 5->1, 6->1, 7->1.
co-purchase: (3,4)=2, (3,5)=1, (4,5)=1, (3,6)=1, everything else 0.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from retail_sim.baselines import BaselineScorer, copurchase_from_pairs, training_counts
from retail_sim.data.testing import index_from_events
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
    popularity, co, n_lines = training_counts(views(tmp_path, "items"), [1, 1], V, 1)
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
    # customer 1 bought product 6 at hours 100 and 200 and product 7 at hour 900 (decay 0.95 a week)
    history = index_from_events([1, 1, 1], [6, 6, 7], [100, 200, 900], [1, 1, 1], n_customers=2)
    a, b, n = (np.array(col) for col in zip(*PAIRS, strict=True))
    scorer = BaselineScorer(POPULARITY, copurchase_from_pairs(a, b, n, V), history, alpha=0.5)
    # basket A: anonymous, visible {4}, hidden 5; basket B: customer 1 at hour 1000, visible {3}, hidden 7
    product_ids = torch.tensor([[4, MASK_IDX, PAD_IDX], [3, MASK_IDX, PAD_IDX]])
    scores = scorer.scores(product_ids, np.array([0, 1]), np.array([1000, 1000]))
    targets = torch.tensor([5, 7])
    ranks = {name: target_ranks(s, targets).tolist() for name, s in scores.items()}
    # popularity: A: 3 ahead (4 visible) -> 2; B: 4, 5 and 6 ahead (3 visible), 5 6 7 all 1 -> 4
    assert ranks["popularity"] == [2, 4]
    # co-purchase A: C[4]: 3->2, 5->1 => 3 ahead -> 2; B: C[3]: 4->2, 5->1, 6->1, 7->0 -> 4
    assert ranks["co_purchase"] == [2, 4]
    # own history: A anonymous -> popularity order -> 2; B: 6 (2 baskets) ahead of 7 (1) -> 2
    assert ranks["own_history"] == [2, 2]
    # decayed: 6 = .95^(900/168) + .95^(800/168) = 1.544 > 7 = .95^(100/168) = 0.970 -> 2; A as popularity
    assert ranks["decayed_history"] == [2, 2]
    # history + co-purchase (alpha .5), B: 6: .5 * 1.544/2.514 + .5 * 1/sqrt(3) = .596, 4: .5 * 2/sqrt(6) = .408,
    # 5: .5 * 1/sqrt(3) = .289, 7: .5 * .970/2.514 = .193 -> 4
    assert ranks["history_co_purchase"] == [2, 4]
    blend = scores["history_co_purchase"][1]
    assert blend[6].item() == pytest.approx(0.5 * 1.5440 / 2.5140 + 0.5 / np.sqrt(3), abs=1e-3)
    # with alpha 1 only the history counts: 7 is second
    scorer.blend.alpha = 1.0
    assert target_ranks(scorer.scores(product_ids, np.array([0, 1]), np.array([1000, 1000]))["history_co_purchase"],
                        targets).tolist()[1] == 2
    for s in scores.values():  # specials and visible items are never candidates
        assert torch.isinf(s[:, :3]).all() and torch.isinf(s[0, 4]) and torch.isinf(s[1, 3])
