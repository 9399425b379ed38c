"""Tensor cache kernels on hand-made inputs with hand-worked answers (no prepared folder)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from retail_sim.cache import customer_state, graph, linalg, products, quality, segments
from retail_sim.cache.build import positional_encodings
from retail_sim.config import GraphConfig
from retail_sim.errors import UserError


def test_history_accumulator_decayed_mean_by_hand():
    # half-life 1 week: a basket 2 weeks older weighs 0.25; lines name rows of the table
    table = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    acc = customer_state.HistoryAccumulator(n_customers=2, table=table, half_life_weeks=1.0)
    assert acc.state(np.array([1])).tolist() == [[0.0, 0.0]]
    acc.add_week(1, np.array([1]), np.array([0]), np.array([1.0]))
    assert acc.state(np.array([1, 2])).tolist() == [[1.0, 0.0], [0.0, 0.0]]
    # week 3: two lines of [0, 1] for customer 1 and one for customer 2
    acc.add_week(3, np.array([1, 1, 2]), np.array([1, 1, 2]), np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(acc.state(np.array([1])), [[0.25 / 2.25, 2.0 / 2.25]])
    np.testing.assert_allclose(acc.state(np.array([2])), [[3.0, 3.0]])
    # a line weight counts like repeated lines
    acc2 = customer_state.HistoryAccumulator(1, table, 1.0)
    acc2.add_week(1, np.array([1]), np.array([0]), np.array([1.0]))
    acc2.add_week(3, np.array([1]), np.array([1]), np.array([2.0]))
    np.testing.assert_allclose(acc2.state(np.array([1])), acc.state(np.array([1])))


def test_weighted_row_sums_are_the_line_by_line_sums_bit_for_bit():
    """The sparse product adds weight * row per line in line order: the bits of the plain loop
    (customer_state, and so the bit-identity hashes, do not depend on how the sums are computed)."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 8))
    lines = 2_000
    group = np.sort(rng.integers(0, 300, lines))
    rows, weights = rng.integers(0, 50, lines), rng.integers(1, 9, lines).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    got = customer_state.weighted_row_sums(starts, rows, weights, torch.from_numpy(table))
    want = np.zeros_like(got)
    g = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1
    for line in range(lines):  # weight * row rounded, then added: the order of the old index_add_
        want[g[line]] = want[g[line]] + weights[line] * table[rows[line]]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("half_life,expected", [(1.0, 0.5), (2.0, 0.5**0.5), (8.0, 0.5**0.125)])
def test_decay_per_week(half_life, expected):
    assert customer_state.decay_per_week(half_life) == pytest.approx(expected)


def test_lookup_exact_week_only():
    keys = np.array([1 * customer_state.WEEK_KEY + 3, 1 * customer_state.WEEK_KEY + 7, 4 * customer_state.WEEK_KEY + 3])
    row, found = customer_state.lookup(keys, np.array([1, 1, 4, 0, 1, 9, 4]), np.array([3, 7, 3, 3, 5, 3, 117]))
    assert found.tolist() == [True, True, True, False, False, False, False]
    assert row[found].tolist() == [0, 1, 2]
    _, found = customer_state.lookup(np.zeros(0, np.int64), np.array([1]), np.array([1]))
    assert found.tolist() == [False]


def test_affinity_by_hand():
    rows = {name: np.array([0, 4]) for name in customer_state._SHARE_COLUMNS}
    rows.update(
        b_baskets=np.array([0, 4]), b_home_store=np.array([0, 3]), b_stores=np.array([0, 2]),
        b_spend_cents=np.array([0, 4000]), b_lines=np.array([0, 12]), week=np.array([5, 10]),
        prev_week=np.array([np.nan, 8.0]), first_week=np.array([5, 2]), b_weeks=np.array([0, 3]),
    )
    a = customer_state.affinity(rows)
    assert a.shape == (2, 32) and a.dtype == np.float32
    assert not a[0].any()  # no earlier basket -> zeros
    names = [n for n, _ in customer_state.AFFINITY_COLUMNS]
    got = dict(zip(names, a[1].tolist(), strict=True))
    assert got["home_store_share"] == pytest.approx(0.75)
    assert got["store_variety"] == pytest.approx(0.5)
    assert got["format_ls"] == pytest.approx(1.0)
    assert got["log_baskets"] == pytest.approx(np.log1p(4))
    assert got["log_spend_per_basket"] == pytest.approx(np.log1p(10.0))
    assert got["log_products_per_basket"] == pytest.approx(np.log1p(3.0))
    assert got["log_weeks_since_last"] == pytest.approx(np.log1p(2.0))
    assert got["active_week_share"] == pytest.approx(3 / 8)


def test_pca_direction_sign_and_padding():
    t = np.linspace(-1, 1, 21)
    x = np.stack([t, -2 * t, np.full_like(t, 5.0)], axis=1)
    mean, comps = linalg.pca_fit(x, k=4)
    np.testing.assert_allclose(mean, [0, 0, 5], atol=1e-12)
    direction = np.array([1, -2, 0]) / np.sqrt(5)
    np.testing.assert_allclose(comps[:, 0], -direction, atol=1e-9)  # largest loading (-2) made positive
    assert comps.shape == (3, 4) and not comps[:, 3].any()
    proj = linalg.project(x, mean, comps)
    np.testing.assert_allclose(np.abs(proj[:, 0]), np.abs(t) * np.sqrt(5), atol=1e-9)
    # weights: a row with weight 0 does not move the mean
    mean_w, _ = linalg.pca_fit(np.array([[0.0], [10.0]]), 1, weights=np.array([1.0, 0.0]))
    assert mean_w.tolist() == [0.0]


def test_project_rows_do_not_depend_on_neighbours():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 16)).astype(np.float32)
    mean, comps = linalg.pca_fit(x, 4)
    full = linalg.project(x, mean, comps)
    part = linalg.project(x[[3, 17, 40]], mean, comps)
    assert np.array_equal(full[[3, 17, 40]], part)


def test_auc_by_hand():
    # pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 -> 3.5 / 4
    assert quality.auc(np.array([0.9, 0.5]), np.array([0.5, 0.1])) == pytest.approx(0.875)
    assert quality.auc(np.array([1.0]), np.array([2.0])) == 0.0


def test_coherence_ceiling_by_hand():
    # classes of 3, 2 and 1 rows, k=2: 2/2 for each of the 3, 1/2 for each of the 2, 0 for the last
    category = np.array([0, 0, 0, 1, 1, 2])
    assert quality.coherence_ceiling(category, k=2) == pytest.approx((3 * 1.0 + 2 * 0.5 + 0.0) / 6)
    onehot = quality.hierarchy_embeddings(category[:, None] + 1)
    assert quality.category_coherence(onehot, category, k=2) == quality.coherence_ceiling(category, k=2)


def test_category_coherence_by_hand():
    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    assert quality.category_coherence(emb, np.array([0, 0, 1, 1]), k=1) == 1.0
    assert quality.category_coherence(emb, np.array([0, 1, 0, 1]), k=1) == 0.0


def test_hierarchy_baseline_cosine_counts_shared_levels():
    codes = np.array([[1, 1], [1, 2], [2, 2], [0, 1]])
    h = quality.hierarchy_embeddings(codes)
    assert quality.cosine_pairs(h, np.array([0, 1, 0]), np.array([1, 2, 2])).tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert h[3].sum() == 1.0  # unknown level code gets no one-hot


def test_neighbour_table_keeps_heaviest_and_normalises():
    a = np.array([0, 0, 0, 1])
    b = np.array([1, 2, 3, 2])
    w = np.array([1.0, 3.0, 3.0, 2.0])
    dst, src, wn = graph.neighbour_table(4, a, b, w, max_neighbours=2)
    table = {(int(d), int(s)): float(x) for d, s, x in zip(dst, src, wn, strict=True)}
    # node 0: neighbours 1 (1), 2 (3), 3 (3) -> keeps 2 and 3 (ties go to the lower id), 0.5 each
    assert table[(0, 2)] == pytest.approx(0.5) and table[(0, 3)] == pytest.approx(0.5) and (0, 1) not in table
    # node 2: neighbours 0 (3), 1 (2) -> 0.6, 0.4
    assert table[(2, 0)] == pytest.approx(0.6) and table[(2, 1)] == pytest.approx(0.4)
    assert table[(3, 0)] == pytest.approx(1.0)
    op = graph.mean_operator(4, dst, src, wn)
    h = torch.eye(4)
    np.testing.assert_allclose(torch.sparse.mm(op, h)[2].numpy(), [0.6, 0.4, 0, 0], atol=1e-6)


def _toy_graph():
    """60 nodes in 3 communities, edges only inside a community, hierarchy codes uninformative."""
    rng = np.random.default_rng(0)
    n = 60
    community = np.arange(n) % 3
    a, b = np.triu_indices(n, 1)
    keep = (community[a] == community[b]) & (rng.random(len(a)) < 0.5)
    codes = np.stack([rng.integers(1, 4, n) for _ in range(4)], axis=1)
    return n, community, a[keep], b[keep], codes, np.zeros((n, 3))


def test_graphsage_learns_toy_communities_deterministically():
    n, community, a, b, codes, price = _toy_graph()
    dst, src, w = graph.neighbour_table(n, a, b, np.ones(len(a)), 25)
    op = graph.mean_operator(n, dst, src, w)
    cfg = GraphConfig(steps=60, batch_size=64, negatives=3, lr=0.01)
    runs = []
    with products.with_threads(1):
        for _ in range(2):
            model, metrics = graph.train_graphsage(codes, price, op, a, b, np.ones(len(a)), np.ones(n), cfg, 32, seed=5)
            runs.append(graph.embed(model, codes, price, np.arange(1, n + 1), op))
    assert np.array_equal(runs[0], runs[1])
    z = runs[0]
    assert z.shape == (n, 32) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    na, nb = np.triu_indices(n, 1)
    cross = community[na] != community[nb]
    assert quality.link_auc(z, a, b, na[cross], nb[cross]) > 0.9
    assert quality.category_coherence(z, community, k=5) > 0.8
    assert metrics["loss_last"] < metrics["loss_first"]


def test_unseen_products_embed_from_hierarchy_and_price_only():
    n, community, a, b, codes, price = _toy_graph()
    dst, src, w = graph.neighbour_table(n, a, b, np.ones(len(a)), 25)
    op = graph.mean_operator(n, dst, src, w)
    cfg = GraphConfig(steps=5, batch_size=32, negatives=2)
    with products.with_threads(1):
        model, _ = graph.train_graphsage(codes, price, op, a, b, np.ones(len(a)), np.ones(n), cfg, 16, seed=1)
        empty = graph.mean_operator(3, *(np.zeros(0, np.int64),) * 2, np.zeros(0))
        # three "new" products: the first two share codes and price -> the same vector; no ID row is read
        new_codes = np.stack([codes[0], codes[0], codes[1]])
        z = graph.embed(model, new_codes, np.zeros((3, 3)), np.zeros(3), empty)
        trained = graph.embed(model, codes, price, np.arange(1, n + 1), op)
        # a trained product's own row differs from its cold-start (unseen ID, no neighbours) vector
        cold = graph.embed(model, codes[:1], price[:1], np.zeros(1), graph.mean_operator(1, *(np.zeros(0, np.int64),) * 2, np.zeros(0)))
        # hierarchy_mix=1 gives the same vector to every product with the same codes
        mixed = graph.embed(model, codes, price, np.arange(1, n + 1), op, hierarchy_mix=1.0)
    assert np.array_equal(z[0], z[1]) and not np.array_equal(z[0], z[2])
    assert not np.allclose(trained[0], cold[0])
    same = np.flatnonzero((codes == codes[0]).all(axis=1))
    assert len(same) > 1 and np.allclose(mixed[same], mixed[same[0]], atol=1e-6)
    assert np.allclose(np.linalg.norm(mixed, axis=1), 1, atol=1e-5)


def test_hierarchy_codes_unseen_code_is_zero():
    vocab = {f"prod_code_{x}": np.array(["A", "B", "C"]) for x in (10, 20, 30, 40)}
    codes = products.hierarchy_codes(vocab, np.array([True, True, False]))
    assert codes[:, 0].tolist() == [1, 2, 0]


def test_price_features_training_only():
    price = products.price_features(np.array([1.0, 4.0, 2.0, 99.0]), np.array([1, 1, 2, 1]), np.array([True, True, True, False]))
    assert price[3].tolist() == [0.0, 0.0]  # no training lines -> average, the later price is never read
    assert price[0, 0] < price[2, 0] < price[1, 0]
    assert price[2, 1] == pytest.approx(price[:3, 1].mean() * 0 + price[2, 1])  # alone in its category
    assert price[0, 1] == -price[1, 1]  # below / above the median of its category by the same ratio


def test_special_rows():
    rows = products.special_rows(np.array([[1.0, 2.0], [3.0, 4.0]]), dim=2, seed=0)
    assert rows[0].tolist() == [0, 0]
    assert rows[1].tolist() == [2, 3]
    assert np.linalg.norm(rows[2]) == pytest.approx(np.sqrt(2), rel=1e-6)


def test_positional_encodings():
    pe = positional_encodings(50, 256)
    assert pe.shape == (50, 256) and pe.dtype == np.float32
    assert pe[0, 0::2].tolist() == [0.0] * 128 and pe[0, 1::2].tolist() == [1.0] * 128
    assert pe[1, 0] == pytest.approx(np.sin(1.0)) and pe[3, 1] == pytest.approx(np.cos(3.0))


def test_segment_index_fixed_layout():
    idx = segments.segment_index(np.array(["YA", "OT", None, "XX"], dtype=object), np.array(["LA", "UM", None, "MM"], dtype=object))
    assert idx.tolist() == [1, 1 + 5 * 4 + 2, 1 + 6 * 4 + 3, 1 + 6 * 4 + 1]
    keys = segments.segment_keys()
    assert len(keys) == segments.N_SEGMENTS == 29 and keys[0] == "ANON|ANON" and keys[1] == "YA|LA"


def _vocab(codes):
    return {"product_code": np.array(codes), "prod_code_10": np.array(["C1"] * len(codes))}


def test_import_embeddings_list_and_columns(tmp_path):
    dim = 4
    path = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"product_code": ["P2", "P1"], "vec": [[1.0, 0, 0, 0], [0, 1.0, 0, 0]]}), path)
    table, metrics = products.import_embeddings(path, _vocab(["P1", "P2", "P3"]), dim, seed=0)
    assert table.shape == (6, dim)
    assert table[3].tolist() == [0, 1, 0, 0] and table[4].tolist() == [1, 0, 0, 0]
    assert table[5].tolist() == [0.5, 0.5, 0, 0]  # P3 missing: mean of its PROD_CODE_10
    assert metrics["products_filled_from_category"] == 1
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"product_id": ["P1"], **{f"e{i}": [float(i)] for i in range(dim)}}), wide)
    table, _ = products.import_embeddings(wide, _vocab(["P1"]), dim, seed=0)
    assert table[3].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "columns,message",
    [
        ({"product_code": ["P1"], "vec": [[1.0, 2.0]]}, "holds 2 floats"),
        ({"product_code": ["P9"], "vec": [[1.0, 2.0, 3.0, 4.0]]}, "not in the prepared vocab"),
        ({"product_code": ["P1"], "a": [1.0], "b": [2.0]}, "expected 4"),
        ({"sku": ["P1"], "vec": [[1.0, 2.0, 3.0, 4.0]]}, "no product id column"),
    ],
)
def test_import_embeddings_errors(tmp_path, columns, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(UserError, match=message):
        products.import_embeddings(path, _vocab(["P1"]), 4, seed=0)


@pytest.mark.parametrize("values, strict, expected", [
    ([], True, True), ([5], True, True), ([1, 2, 3, 4, 5, 6, 7], True, True),
    ([1, 2, 3, 3, 5, 6, 7], True, False), ([1, 2, 3, 3, 5, 6, 7], False, True),
    ([1, 2, 3, 2, 5, 6, 7], False, False),  # the decrease spans the first two chunks of 3
    ([1, 2, 3, 4, 5, 6, 0], False, False),  # in the last pair
])
def test_ascending_by_hand_across_chunk_boundaries(tmp_path, values, strict, expected):
    from retail_sim.cache.tensor_cache import ascending

    path = tmp_path / "a.npy"
    np.save(path, np.array(values, dtype=np.int64))
    assert ascending(np.load(path, mmap_mode="r"), strict=strict, chunk=3) is expected
    assert ascending(np.array(values, dtype=np.int64), strict=strict, chunk=3) is expected  # not memory-mapped
