"""Purchase history: the event log of `splits`, its audit, and the loader's as-of lookup."""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_sim.audit import AUDIT_DIR, run_audits
from retail_sim.cache.history import load_history_index, write_history_index
from retail_sim.data.history import N_FEATURES, HistoryIndex, candidates, encode_history, rank_order
from retail_sim.data.testing import record_files
from retail_sim.prepared import Prepared

DECAY, SHORT = 0.95, 0.8


def event_table(events: list[tuple[int, int, int, int]]) -> pa.Table:
    """The event log of (customer, product, shop_ts, n_baskets) events, the running columns
    computed here in plain Python (the oracle of sql/12_history.sql)."""
    events = sorted(events)
    rows = []
    state: dict[tuple[int, int], tuple[int, float, float]] = {}
    for i, (c, p, ts, n) in enumerate(events):
        cb, d, s = state.get((c, p), (0, 0.0, 0.0))
        cb, d, s = cb + n, d + n * (1 / DECAY) ** (ts / 168), s + n * (1 / SHORT) ** (ts / 168)
        state[(c, p)] = (cb, d, s)
        nxt = events[i + 1][2] if i + 1 < len(events) and events[i + 1][:2] == (c, p) else None
        rows.append((c, p, ts, n, nxt, cb, d, s))
    cols = list(zip(*rows, strict=True))
    return pa.table({name: pa.array(col, pa.int32() if name == "next_shop_ts" else None) for name, col in zip(
        ("customer_idx", "product_idx", "shop_ts", "n_baskets", "next_shop_ts", "cum_baskets", "cum_decay",
         "cum_short_decay"), cols, strict=True)})


@pytest.fixture
def tiny_index(tmp_path) -> HistoryIndex:
    # customer 1: product 5 at hours 0 and 168 (two baskets at 168), product 7 at hour 100;
    # customer 2: product 9 at hour 50; customer 3 has no events
    table, n = event_table([(1, 5, 0, 1), (1, 5, 168, 2), (1, 7, 100, 1), (2, 9, 50, 1)]), 3
    (tmp_path / "history").mkdir()
    pq.write_table(table, tmp_path / "history" / "part-0000.parquet", row_group_size=2)  # runs cross row groups
    write_history_index(tmp_path, tmp_path, n)
    return load_history_index(tmp_path, DECAY, SHORT)


def test_as_of_lookup_worked_by_hand(tiny_index):
    customer = np.array([1, 1, 1, 2, 0, 3, 1])
    ts = np.array([200, 168, 100, 51, 500, 500, 0])
    hist_len = np.array([4, 2, 1, 1, 0, 0, 0])
    ids, feats = encode_history(tiny_index, customer, ts, hist_len, k=2)
    # hour 200: product 5 (3 baskets, decayed .95^(200/168) + 2 * .95^(32/168)) before 7 (.95^(100/168))
    assert ids.tolist() == [[5, 7], [7, 5], [5, 0], [9, 0], [0, 0], [0, 0], [0, 0]]
    d5 = DECAY ** (200 / 168) + 2 * DECAY ** (32 / 168)
    np.testing.assert_allclose(feats[0, 0], [np.log1p(d5), np.log1p(SHORT ** (200 / 168) + 2 * SHORT ** (32 / 168)),
                                             np.log1p(3), 3 / 4, np.log1p(32 / 24)], rtol=1e-6)
    np.testing.assert_allclose(feats[0, 1], [np.log1p(DECAY ** (100 / 168)), np.log1p(SHORT ** (100 / 168)),
                                             np.log1p(1), 1 / 4, np.log1p(100 / 24)], rtol=1e-6)
    # hour 168: the two baskets at 168 are not earlier, so 7 (hour 100: .95^(68/168) = 0.979)
    # outranks 5 (hour 0: .95^1 = 0.95); hour 100: only 5 (7 was bought in that very hour)
    assert feats[1, 1, 2] == pytest.approx(np.log1p(1))  # product 5: one basket before hour 168
    assert (feats[2:, 1] == 0).all() and (feats[4:] == 0).all()
    assert feats.dtype == np.float32 and feats.shape == (7, 2, N_FEATURES)


def test_ties_rank_by_count_then_product(tmp_path):
    # products 4 and 6 bought at the same hours: equal decayed counts and counts -> product order
    table, n = event_table([(1, 6, 10, 1), (1, 4, 10, 1), (1, 8, 10, 2)]), 1
    (tmp_path / "history").mkdir()
    pq.write_table(table, tmp_path / "history" / "part-0000.parquet")
    write_history_index(tmp_path, tmp_path, n)
    index = load_history_index(tmp_path, DECAY, SHORT)
    ids, _ = encode_history(index, np.array([1]), np.array([20]), np.array([3]), k=5)
    assert ids.tolist() == [[8, 4, 6, 0, 0]]


def assert_rank_order(index: HistoryIndex) -> None:
    """Each customer's events by cum_decay desc, cum_baskets desc, product, shop_ts (INDEX_ORDER)."""
    customer = np.repeat(np.arange(len(index.customer_events) - 1), np.diff(index.customer_events))
    keys = (index.event_ts, index.event_product, -index.cum_baskets.astype(np.int64), -index.cum_decay[:, 0], customer)
    assert (np.lexsort(keys) == np.arange(len(customer))).all()  # the full key is unique: sorted iff identity


def test_index_holds_each_customer_in_rank_order(tiny_index):
    assert_rank_order(tiny_index)  # runs cross row groups (row_group_size=2)
    # customer 1: 5 at hour 168 (cum_decay 1 + 2/0.95), 7 at 100 (0.95^(-100/168)), 5 at 0 (1); customer 2: 9
    assert tiny_index.event_product.tolist() == [5, 7, 5, 9]
    assert tiny_index.event_ts.tolist() == [168, 100, 0, 50]


def test_rank_order_is_the_five_key_sort_with_ties_and_unsorted_customers():
    # rank_order's fast path (customer runs ranked as rows, data/history._rank_order) must give
    # the permutation of the plain five-key sort, also where it has to fall back: customers out of
    # order, decays one ulp apart, and ties on (customer, cum_decay, cum_baskets, product)
    rng = np.random.default_rng(0)
    for trial in range(300):
        m = int(rng.integers(1, 60))
        c = rng.integers(0, 5, m) if trial % 3 == 0 else np.sort(rng.integers(0, 5, m))
        p, ts, n = rng.integers(0, 4, m), rng.integers(0, 3, m), rng.integers(1, 3, m)
        d = rng.choice([1.0, 2.0, np.nextafter(2.0, 3.0), 3.5], m)
        assert (rank_order(c, p, ts, n, d) == np.lexsort((ts, p, -n, -d, c))).all(), trial
    # a valid log (no ties: a product's later events have a larger cum_baskets), in log order
    events = sorted({(int(c), int(p), int(t)) for c, p, t in rng.integers(0, [40, 30, 500], (3000, 3))})
    c, p, ts = (np.array(x) for x in zip(*events, strict=True))
    idx = np.lexsort((ts, p, c))
    first = np.r_[True, (c[1:] != c[:-1]) | (p[1:] != p[:-1])]
    run = np.cumsum(first) - 1
    n = np.arange(c.size) - np.flatnonzero(first)[run] + 1
    d = np.array([(1 / DECAY) ** (t / 168) for t in ts])
    d = np.cumsum(d) - np.r_[0, np.cumsum(d)][np.flatnonzero(first)][run]
    assert (idx == np.arange(c.size)).all()
    assert (rank_order(c, p, ts, n, d) == np.lexsort((ts, p, -n, -d, c))).all()


def test_unknown_and_out_of_range_customers_have_no_history(tiny_index):
    cand = candidates(tiny_index, np.array([-1, 0, 99]), np.array([500, 500, 500]))
    assert cand.row.size == 0


# ------------------------------------------------------------------ the real sample


@pytest.fixture(scope="module")
def sample_index(prepared_sample, tmp_path_factory) -> HistoryIndex:
    folder = tmp_path_factory.mktemp("history_index")
    n_customers = pq.read_metadata(prepared_sample / "vocab" / "customers.parquet").num_rows
    write_history_index(prepared_sample, folder, n_customers)
    return load_history_index(folder, DECAY, SHORT)


def brute_force(items: dict[str, np.ndarray], customer: int, ts: int, k: int) -> tuple[list[int], dict[int, tuple]]:
    """The oracle: top-k products of the customer's items at hours < ts, ranked by decayed count,
    count, product; and per product (count, decayed, short decayed, last hour)."""
    lo, hi = np.searchsorted(items["customer_idx"], [customer, customer + 1])
    sel = slice(lo, hi)
    earlier = items["shop_ts"][sel] < ts
    prods = items["product_idx"][sel][earlier]
    hours = items["shop_ts"][sel][earlier]
    stats = {}
    for p in np.unique(prods):
        h = hours[prods == p]
        stats[int(p)] = (len(h), float(np.sum(DECAY ** ((ts - h) / 168))), float(np.sum(SHORT ** ((ts - h) / 168))),
                         int(h.max()))
    ranked = sorted(stats, key=lambda p: (-stats[p][1], -stats[p][0], p))
    return ranked[:k], stats


def test_loader_history_equals_a_brute_force_recount_on_the_real_sample(prepared_sample, sample_index):
    con = duckdb.connect()
    items = con.execute(
        "select customer_idx, product_idx, ((shop_date - date '2006-04-10') * 24 + shop_hour)::bigint as shop_ts "
        "from read_parquet(?, hive_partitioning = true) where customer_idx > 0 order by customer_idx",
        [str(prepared_sample / "items" / "*" / "*.parquet")]).fetchnumpy()
    baskets = con.execute(
        "select basket_id, customer_idx, ((shop_date - date '2006-04-10') * 24 + shop_hour)::bigint as shop_ts, "
        "history_length from read_parquet(?) "
        "order by (count(*) over (partition by customer_idx, shop_date, shop_hour) > 1 and customer_idx > 0) desc, "
        "hash(basket_id) limit 3000",
        [str(prepared_sample / "samples" / "*" / "*" / "*.parquet")]).fetchnumpy()
    assert_rank_order(sample_index)
    k = 32  # small enough that long histories are cut
    ids, feats = encode_history(sample_index, baskets["customer_idx"], baskets["shop_ts"], baskets["history_length"], k)
    cut = 0
    for i in range(len(ids)):
        c, ts = int(baskets["customer_idx"][i]), int(baskets["shop_ts"][i])
        expected, stats = brute_force(items, c, ts, k) if c > 0 else ([], {})
        got = [int(p) for p in ids[i] if p != 0]
        cut += len(stats) > k
        assert len(got) == min(k, len(stats)), (i, c, ts)
        assert set(got) <= set(stats), "a product not bought strictly before the basket's hour"
        for r, p in enumerate(got):
            n, d, s, last = stats[p]
            exp_p = expected[r]
            if p != exp_p:  # only an exact tie may differ
                assert stats[exp_p][:2] == pytest.approx((n, d), rel=1e-12)
            np.testing.assert_allclose(
                feats[i, r], [np.log1p(d), np.log1p(s), np.log1p(n), n / baskets["history_length"][i],
                              np.log1p((ts - last) / 24)], rtol=2e-6, atol=1e-6)
        assert (feats[i, len(got):] == 0).all()
    assert cut > 100  # the check saw histories longer than k


def test_history_audit_passes_and_catches_a_same_hour_product(prepared_sample, tmp_path):
    assert {r.name: r.violations for r in run_audits(prepared_sample)}["11_history"] == 0
    copy = tmp_path / "prepared"
    shutil.copytree(prepared_sample, copy)
    part = sorted((copy / "history").glob("*.parquet"))[0]
    # a product the customer first bought in a basket that shares its date and hour with another
    # basket of the customer: move that event one hour earlier, so the other basket "sees" it
    con = duckdb.connect()
    con.execute("create table h as select * from read_parquet(?)", [str(part)])
    customer, product, ts = con.execute(
        """
        with twins as (
            select customer_idx, ((shop_date - date '2006-04-10') * 24 + shop_hour)::integer as shop_ts
            from read_parquet(?) where customer_idx > 0 group by all having count(*) > 1
        )
        select h.customer_idx, h.product_idx, h.shop_ts from h join twins using (customer_idx, shop_ts)
        where h.cum_baskets = h.n_baskets and h.n_baskets = 1 order by all limit 1
        """, [str(copy / "samples" / "*" / "*" / "*.parquet")]).fetchone()
    con.execute("update h set shop_ts = shop_ts - 1 where customer_idx = ? and product_idx = ? and shop_ts = ?",
                [customer, product, ts])
    con.execute(f"copy (select * from h order by all) to '{part}' (format parquet)")
    con.close()
    record_files(copy)  # a bug of `splits` itself, not a file changed after it
    con = Prepared(copy).connect()
    rows = con.execute((AUDIT_DIR / "11_history.sql").read_text()).fetchall()
    con.close()
    assert (product, "not_strictly_earlier") in {(r[1], r[3]) for r in rows}
