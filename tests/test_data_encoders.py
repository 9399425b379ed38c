"""T1–T6 encoders on hand-worked values; finite for every input."""

import math

import numpy as np
import pytest
from oracles import encode_products, position_uniforms

from retail_sim.data.encoders import (
    auxiliary_labels,
    cold_start_weight,
    easter_sunday,
    encode_customer,
    encode_store,
    encode_temporal,
    encode_trip,
    price_features,
)
from retail_sim.data.testing import FakeCache
from retail_sim.vocab import MASK_IDX


def days(iso):
    return int((np.datetime64(iso) - np.datetime64("1970-01-01")).astype(int))


def temporal(shop_week, week, date, weekday, hour, gap, history=0):
    return encode_temporal(
        np.array([shop_week]), np.array([week]), np.array([days(date)]), np.array([weekday]), np.array([hour]),
        np.array([gap], dtype=np.float64), np.array([history]), first_week=1, last_week=117,
    )[0]


def test_temporal_sunday_1pm_christmas_eve():
    # 2006-12-24 is a Sunday (weekday 1) in fiscal week 200638 = week 32
    t = temporal(200638, 32, "2006-12-24", 1, 13, np.nan, history=9)
    ww = 37 / 52 * 2 * math.pi
    assert t[0] == pytest.approx(math.sin(ww), abs=1e-6) and t[1] == pytest.approx(math.cos(ww), abs=1e-6)
    assert t[12:14] == pytest.approx([0.0, 1.0], abs=1e-6)  # weekday 1 -> angle 0
    assert t[14:21].tolist() == [1, 0, 0, 0, 0, 0, 0] and t[21] == 1  # Sunday, weekend
    h = 2 * math.pi * 13 / 24
    assert t[22:27] == pytest.approx([math.sin(h), math.cos(h), math.sin(2 * h), math.cos(2 * h), 13 / 23], abs=1e-6)
    assert t[27:34].tolist() == [0, 0, 1, 0, 0, 0, 0]  # 12–13: lunch band
    tt = 31 / 116
    assert t[34:38] == pytest.approx([tt, tt * tt, math.sin(math.pi * tt), math.cos(math.pi * tt)], abs=1e-6)
    assert t[42] == 1 and (t[43:51] == 0).all()  # recency missing
    assert t[51] == pytest.approx(math.log(10) / math.log(101), abs=1e-6)
    # Christmas: 1 day until, 364 since 2005-12-25; in the 14 days before, not in the week after
    assert t[52:58] == pytest.approx([1 / 365, 364 / 365, math.exp(-1 / 7), math.exp(-52), 1, 0], abs=1e-6)
    # Easter 2006-04-16 was 252 days before; Easter 2007-04-08 is 105 days after
    assert t[58:64] == pytest.approx([105 / 365, 252 / 365, math.exp(-15), math.exp(-36), 0, 0], abs=1e-6)


def test_temporal_recency_and_easter_day():
    t = temporal(200607, 1, "2006-04-16", 1, 8, 3)  # Easter Sunday 2006, 3 days after the last basket
    assert t[42] == 0 and t[43] == pytest.approx(math.log(4) / math.log(366), abs=1e-6)
    assert t[44] == pytest.approx(math.exp(-3 / 7), abs=1e-6)
    assert t[45:51].tolist() == [0, 1, 0, 0, 0, 0]  # 1–3 days
    assert t[27:34].tolist() == [1, 0, 0, 0, 0, 0, 0]  # before 9: early
    assert t[59] == 0 and t[61] == 1 and t[63] == 1  # Easter day: since 0, in the week after
    assert t[34] == 0  # week 1 = start of the trend
    assert str(easter_sunday(np.array([2008]))[0]) == "2008-03-23"


def test_prices_hand_worked():
    # a promotion: unit 1.0, base 1.25, prior NULL, category average 2.0
    f = price_features(np.array([1.0]), np.array([1.25]), np.array([np.nan]), np.array([2.0]))[0]
    assert f.shape == (64,) and f.dtype == np.float32
    assert f[0:24:2] == pytest.approx(np.zeros(12)) and f[1:24:2] == pytest.approx(np.ones(12))  # log 1 = 0
    assert f[24] == 0 and f[26] == pytest.approx(math.log(1.25) / 5, abs=1e-6)
    assert f[29] == pytest.approx(0.2, abs=1e-6) and f[30] == 1 and f[31] == 0  # 20% off, promo
    assert f[33:37].tolist() == [0, 0, 1, 0]  # prior missing
    r = math.log(0.5)
    assert f[40] == pytest.approx(r / 3, abs=1e-6) and f[41] == pytest.approx(math.tanh(r), abs=1e-6)
    assert f[45:50].tolist() == [1, 0, 0, 0, 0]  # much cheaper than its category
    assert f[50] == pytest.approx(0.1, abs=1e-6) and f[55] == 0
    assert (f[56:63] == 0).all() and f[63] == 1  # velocity: prior NULL -> only the missing flag


def test_prices_zero_spend_and_velocity():
    f = price_features(np.array([0.0, 2.2]), np.array([0.0, 2.0]), np.array([0.0, 2.0]), np.array([np.nan, 2.0]))
    zero, up = f
    assert zero[37] == 1 and zero[33] == 0  # a real zero price, not missing
    assert zero[24] == pytest.approx(math.log(0.01) / 5, abs=1e-6)
    assert zero[29] == 0 and zero[55] == 1  # base 0: no discount; category missing
    v = math.log(1.1)
    assert up[56] == pytest.approx(v / 3, abs=1e-6) and up[58] == 1 and up[59] == 0 and up[60] == 0
    assert up[62] == pytest.approx(0.1, abs=1e-5) and up[31] == 1 and up[47] == 1  # +10%: within ±0.1 log of cat


@pytest.mark.parametrize("value", [0.0, np.nan, 1e300, -5.0, np.inf, 1e-30, 3.7])
def test_prices_finite_for_any_input(value):
    rng = np.random.default_rng(0)
    others = rng.choice([0.0, np.nan, 1e300, 1.5, -1.0, np.inf], (3, 50))
    f = price_features(np.full(50, value), *others)
    assert np.isfinite(f).all() and np.abs(f).max() < 10


def test_prices_fuzz_finite():
    rng = np.random.default_rng(1)
    x = rng.choice([0.0, np.nan, 1e308, -1.0, np.inf, -np.inf, 1e-300, 0.5, 9.99], (4, 5000))
    x[:, ::3] = rng.lognormal(0, 3, (4, x[:, ::3].shape[1]))
    assert np.isfinite(price_features(*x)).all()


def test_temporal_finite_for_odd_input():
    n = 6
    t = encode_temporal(np.array([200600, 200799, 0, 200652, 200701, 200613]), np.array([-5, 0, 1, 46, 47, 999]),
                        np.array([0, -1, days("2008-07-06"), days("2006-12-25"), days("2007-01-01"), days("2100-02-28")]),
                        np.array([0, 8, 7, 2, 3, -1]), np.array([-1, 24, 23, 0, 12, 99]),
                        np.array([np.nan, -3, 0, 400, 1e9, 31]), np.array([0, -1, 10**9, 5, 1, 0]),
                        first_week=1, last_week=117)
    assert t.shape == (n, 64) and np.isfinite(t).all()
    assert t[0, 14:21].sum() == 0 and t[1, 27:34].sum() == 0  # invalid weekday/hour -> zeros


def test_customer_blend_with_segment_prior():
    cache = FakeCache(n_customers=30, n_segments=4)
    # customer 7 (segment 3, first week 1 + 7 % 5 = 3): at week 5 two earlier weeks -> n = 2
    out = encode_customer(cache, np.array([7, 0, 7, 99]), np.array([5, 5, 30, 5]), cold_start_k=5.0)
    assert out.shape == (4, 192) and out.dtype == np.float32
    assert out[0, :64] == pytest.approx(cache.segment_embeddings[3])
    w = 2 / 5
    state = 7 / 100 + 5 / 1000
    assert out[0, 64:] == pytest.approx(w * state + (1 - w) * cache.segment_prior[3], abs=1e-6)
    assert out[1, :64] == pytest.approx(cache.segment_embeddings[0])  # anonymous: segment 0, prior only
    assert out[1, 64:] == pytest.approx(cache.segment_prior[0])
    assert out[2, 64:] == pytest.approx(np.full(128, 7 / 100 + 30 / 1000), abs=1e-6)  # 27 baskets >= k
    assert (out[3] == out[1]).all()  # out-of-vocab customer -> anonymous
    assert cold_start_weight(np.array([0, 1, 5, 50]), 5.0).tolist() == pytest.approx([0, 0.2, 1, 1])


def test_products_pad_zero_and_positions():
    cache = FakeCache()
    ids = np.array([[5, MASK_IDX, 0], [9, 0, 0]])
    real = ids != 0
    out = encode_products(cache, ids, real)
    assert out.shape == (2, 3, 256) and out.dtype == np.float32
    assert out[0, 0] == pytest.approx(cache.product_embeddings[5] + cache.positional_encodings[0])
    assert out[0, 1] == pytest.approx(cache.product_embeddings[MASK_IDX] + cache.positional_encodings[1])
    assert (out[0, 2] == 0).all() and (out[1, 1:] == 0).all()


def test_store_and_trip():
    cache = FakeCache(n_stores=5)
    s = encode_store(cache, np.array([3, 0, 17, -2]))
    assert (s[0] == cache.store_embeddings[3]).all() and (s[2] == cache.store_embeddings[0]).all()
    assert (s[3] == cache.store_embeddings[0]).all()
    codes = np.array([[1, 3, 0, 2], [-1, -1, -1, -1], [0, 0, 2, 1]], dtype=np.int8)
    t = encode_trip(codes, np.array([True, True, False]))
    assert t.shape == (3, 48)
    assert np.nonzero(t[0])[0].tolist() == [1, 16 + 3, 32 + 0, 40 + 2]
    assert (t[1] == 0).all() and (t[2] == 0).all()  # unknown, hidden
    labels = auxiliary_labels(codes, np.array([True, True, False]))
    assert labels["mission_type"].tolist() == [1, -100, -100]
    assert labels["basket_size"].tolist() == [2, -100, -100]


def test_position_uniforms_independent():
    a, b, c = position_uniforms(np.arange(5000), 3, 0, 10)
    for x in (a, b, c):
        assert abs(x.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(b.ravel(), c.ravel())[0, 1]) < 0.02


def test_table_temporal_encoder_matches_reference():
    from retail_sim.data.encoders import TemporalEncoder

    rng = np.random.default_rng(2)
    n = 3000
    first, last = days("2006-04-03"), days("2008-07-13")
    args = (
        rng.integers(200601, 200853, n), rng.integers(-3, 130, n),
        np.concatenate([rng.integers(first, last + 1, n - 5), [first - 40, last + 400, 0, first, last]]),
        rng.integers(-1, 10, n), rng.integers(-2, 27, n),
        np.where(rng.random(n) < 0.3, np.nan, rng.integers(-2, 500, n)), rng.integers(-1, 300, n),
    )
    ref = encode_temporal(*args, first_week=1, last_week=117)
    got = TemporalEncoder(1, 117, 52, first, last)(*args)
    assert got.dtype == np.float32 and np.allclose(got, ref, atol=1e-6)


def test_unit_price_table_bit_identical():
    """The whole-cent lookup gives the bits the direct computation gives (hits, misses, -0.0, NaN, huge)."""
    from retail_sim.data.encoders import UnitPriceTable

    rng = np.random.default_rng(4)
    n = 3000
    odd = [0.0, -0.0, np.nan, np.inf, -1.0, 1e300, 1e-300, 0.005, 0.015, 99.99, 100.0, 100.01, 1.1]
    p = np.concatenate([np.round(rng.lognormal(0, 1, n), 2).astype(np.float32), odd]).astype(np.float64)
    others = [np.where(rng.random(p.size) < 0.2, np.nan, p * f) for f in (1.1, 1.05, 0.9)]
    table = UnitPriceTable(n_cents=10_000)  # 99.99 is the last whole cent it holds
    direct = price_features(p, *others)
    looked_up = price_features(p, *others, unit_table=table)
    assert direct.view(np.int32).tobytes() == looked_up.view(np.int32).tobytes()
    hp = np.isfinite(p) & (p >= 0)
    hit = table.keys.view(np.int64)[np.rint(np.where(hp & (p < 99.99), p, 0) * 100).astype(np.int64)] == p.view(np.int64)
    assert hit[:n].all() and not hit[n + 1] and not hit[-1]  # whole cents hit; -0.0 and 1.1 (float64) miss
    out = np.full((2 * p.size, 64), 7.0, dtype=np.float32)
    price_features(p, *others, out=out, rows=np.arange(0, 2 * p.size, 2), unit_table=table)
    assert (out[::2] == direct).all() and (out[1::2] == 7.0).all()
