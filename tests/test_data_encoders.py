"""T1–T6 torch encoders (retail_sim/data/features.py) on hand-worked values, finite for every input,
and equal to the numpy reference encoders (tests/oracle_encoders.py) within 1e-6 on fuzzed inputs."""

import math

import numpy as np
import oracle_encoders as ref
import pytest
import torch
from oracles import encode_products, position_uniforms

from retail_sim.data import features as F
from retail_sim.data.testing import FakeCache
from retail_sim.vocab import MASK_IDX

TABLES = F.calendar_tables(52)


def days(iso):
    return int((np.datetime64(iso) - np.datetime64("1970-01-01")).astype(int))


def t(x, dtype=None):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def encode_temporal(shop_week, week, shop_date, shop_weekday, shop_hour, gap, history, first_week=1, last_week=117):
    return F.temporal_context(t(shop_week), t(week), t(shop_date), t(shop_weekday), t(shop_hour),
                              t(gap, torch.float32), t(history), TABLES, first_week=first_week,
                              last_week=last_week).numpy()


def temporal(shop_week, week, date, weekday, hour, gap, history=0):
    return encode_temporal([shop_week], [week], [days(date)], [weekday], [hour], [gap], [history])[0]


def price_features(*prices):
    return F.price_features(torch.from_numpy(np.stack([np.asarray(p, dtype=np.float64) for p in prices]))).numpy()


def cache_tables(cache):
    names = ("customer_segment", "customer_state", "customer_state_keys", "customer_state_n_baskets", "segment_prior",
             "segment_embeddings")
    return {n: torch.from_numpy(np.asarray(getattr(cache, n))) for n in names}


def test_temporal_sunday_1pm_christmas_eve():
    # 2006-12-24 is a Sunday (weekday 1) in fiscal week 200638 = week 32
    v = temporal(200638, 32, "2006-12-24", 1, 13, np.nan, history=9)
    ww = 37 / 52 * 2 * math.pi
    assert v[0] == pytest.approx(math.sin(ww), abs=1e-6) and v[1] == pytest.approx(math.cos(ww), abs=1e-6)
    assert v[12:14] == pytest.approx([0.0, 1.0], abs=1e-6)  # weekday 1 -> angle 0
    assert v[14:21].tolist() == [1, 0, 0, 0, 0, 0, 0] and v[21] == 1  # Sunday, weekend
    h = 2 * math.pi * 13 / 24
    assert v[22:27] == pytest.approx([math.sin(h), math.cos(h), math.sin(2 * h), math.cos(2 * h), 13 / 23], abs=1e-6)
    assert v[27:34].tolist() == [0, 0, 1, 0, 0, 0, 0]  # 12–13: lunch band
    tt = 31 / 116
    assert v[34:38] == pytest.approx([tt, tt * tt, math.sin(math.pi * tt), math.cos(math.pi * tt)], abs=1e-6)
    assert v[42] == 1 and (v[43:51] == 0).all()  # recency missing
    assert v[51] == pytest.approx(math.log(10) / math.log(101), abs=1e-6)
    # Christmas: 1 day until, 364 since 2005-12-25; in the 14 days before, not in the week after
    assert v[52:58] == pytest.approx([1 / 365, 364 / 365, math.exp(-1 / 7), math.exp(-52), 1, 0], abs=1e-6)
    # Easter 2006-04-16 was 252 days before; Easter 2007-04-08 is 105 days after
    assert v[58:64] == pytest.approx([105 / 365, 252 / 365, math.exp(-15), math.exp(-36), 0, 0], abs=1e-6)


def test_temporal_recency_and_easter_day():
    v = temporal(200607, 1, "2006-04-16", 1, 8, 3)  # Easter Sunday 2006, 3 days after the last basket
    assert v[42] == 0 and v[43] == pytest.approx(math.log(4) / math.log(366), abs=1e-6)
    assert v[44] == pytest.approx(math.exp(-3 / 7), abs=1e-6)
    assert v[45:51].tolist() == [0, 1, 0, 0, 0, 0]  # 1–3 days
    assert v[27:34].tolist() == [1, 0, 0, 0, 0, 0, 0]  # before 9: early
    assert v[59] == 0 and v[61] == 1 and v[63] == 1  # Easter day: since 0, in the week after
    assert v[34] == 0  # week 1 = start of the trend
    assert F.easter_sunday(torch.tensor([2008])).item() == days("2008-03-23")


def test_civil_dates_agree_with_numpy_on_every_day_of_the_table():
    d = torch.arange(F.LAST_TABLE_DAY)
    year, month, day = F.civil_from_days(d)
    nd = np.arange(F.LAST_TABLE_DAY).astype("datetime64[D]")
    assert (year.numpy() == nd.astype("datetime64[Y]").astype(np.int64) + 1970).all()
    assert (month.numpy() == nd.astype("datetime64[M]").astype(np.int64) % 12 + 1).all()
    assert (day.numpy() == (nd - nd.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1).all()
    assert (F.days_from_civil(year, month, day) == d).all()
    years = torch.arange(1900, 2101)
    assert (F.easter_sunday(years).numpy() == ref.easter_sunday(years.numpy()).astype(np.int64)).all()


def test_date_table_equals_the_direct_computation():
    sample = torch.tensor([0, 1, 13_248, 13_505, 14_000, F.LAST_TABLE_DAY - 1])
    assert torch.equal(TABLES["date_table"][sample], F.dates(sample).float())


def test_prices_hand_worked():
    # a promotion: unit 1.0, base 1.25, prior NULL, category average 2.0
    f = price_features([1.0], [1.25], [np.nan], [2.0])[0]
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
    zero, up = price_features([0.0, 2.2], [0.0, 2.0], [0.0, 2.0], [np.nan, 2.0])
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


def test_prices_equal_the_reference_on_fuzzed_inputs():
    """Whole cents (the real data), odd values, NULLs and extremes: within 1e-6 of the numpy
    reference, and bit for bit in practice."""
    rng = np.random.default_rng(1)
    n = 20_000
    x = rng.choice([0.0, np.nan, 1e308, -1.0, np.inf, -np.inf, 1e-300, 0.5, 9.99, 0.005, 1e5, 1e5 + 0.01], (4, n))
    x[:, ::3] = rng.lognormal(0, 3, (4, x[:, ::3].shape[1]))
    x[:, 1::3] = np.round(rng.lognormal(0.5, 1, (4, x[:, 1::3].shape[1])), 2)
    x = np.where(np.isfinite(x), np.clip(x, -1e30, 1e30), x).astype(np.float32).astype(np.float64)  # as rows.py reads them
    got, want = price_features(*x), ref.price_features(*x)
    assert np.isfinite(got).all() and np.abs(got.astype(np.float64) - want).max() <= 1e-6
    assert (got.view(np.int32) != want.view(np.int32)).mean() < 1e-4


def test_temporal_finite_for_odd_input():
    v = encode_temporal([200600, 200799, 0, 200652, 200701, 200613], [-5, 0, 1, 46, 47, 999],
                        [0, -1, days("2008-07-06"), days("2006-12-25"), days("2007-01-01"), days("2100-02-28")],
                        [0, 8, 7, 2, 3, -1], [-1, 24, 23, 0, 12, 99], [np.nan, -3, 0, 400, 1e9, 31],
                        [0, -1, 10**9, 5, 1, 0])
    assert v.shape == (6, 64) and np.isfinite(v).all()
    assert v[0, 14:21].sum() == 0 and v[1, 27:34].sum() == 0  # invalid weekday/hour -> zeros


def test_temporal_equals_the_reference_on_fuzzed_inputs():
    rng = np.random.default_rng(2)
    n = 5000
    first, last = days("1970-01-01"), days("2099-12-31")
    args = (
        rng.integers(200601, 200853, n), rng.integers(-3, 130, n),
        np.concatenate([rng.integers(first, last + 1, n - 5), [first, last, days("2006-04-10"), days("2008-02-29"),
                                                               days("2007-12-25")]]),
        rng.integers(-1, 10, n), rng.integers(-2, 27, n),
        np.where(rng.random(n) < 0.3, np.nan, rng.integers(-2, 500, n)).astype(np.float32), rng.integers(-1, 300, n),
    )
    want = ref.encode_temporal(*args, first_week=1, last_week=117)
    got = encode_temporal(*args)
    assert got.dtype == np.float32 and np.abs(got.astype(np.float64) - want).max() <= 1e-6
    assert (got.view(np.int32) != want.view(np.int32)).mean() < 1e-4


def test_customer_blend_with_segment_prior():
    cache = FakeCache(n_customers=30, n_segments=4)
    # customer 7 (segment 3, first week 1 + 7 % 5 = 3): at week 5 two earlier weeks -> n = 2
    out = F.customer_context(t([7, 0, 7, 99]), t([5, 5, 30, 5]), cache_tables(cache), 5.0).numpy()
    assert out.shape == (4, 192) and out.dtype == np.float32
    assert out[0, :64] == pytest.approx(cache.segment_embeddings[3])
    w = 2 / 5
    state = 7 / 100 + 5 / 1000
    assert out[0, 64:] == pytest.approx(w * state + (1 - w) * cache.segment_prior[3], abs=1e-6)
    assert out[1, :64] == pytest.approx(cache.segment_embeddings[0])  # anonymous: segment 0, prior only
    assert out[1, 64:] == pytest.approx(cache.segment_prior[0])
    assert out[2, 64:] == pytest.approx(np.full(128, 7 / 100 + 30 / 1000), abs=1e-6)  # 27 baskets >= k
    assert (out[3] == out[1]).all()  # out-of-vocab customer -> anonymous
    assert F.cold_start_weight(t([0, 1, 5, 50]), 5.0).tolist() == pytest.approx([0, 0.2, 1, 1])
    assert F.cold_start_weight(t([0, 1, 5, 50]), 0.0).tolist() == [0, 1, 1, 1]


@pytest.mark.parametrize("cold_start_k", [5.0, 3.0, 0.0])
def test_customer_equals_the_reference(cold_start_k):
    cache = FakeCache(n_customers=30, n_segments=4)
    rng = np.random.default_rng(5)
    c, w = rng.integers(-2, 40, 3000), rng.integers(-1, 210, 3000)
    got = F.customer_context(t(c), t(w), cache_tables(cache), cold_start_k).numpy()
    want = ref.encode_customer(cache, c, w, cold_start_k)
    assert got.view(np.int32).tobytes() == want.view(np.int32).tobytes()


def test_products_pad_zero_and_positions():
    cache = FakeCache()
    ids = np.array([[5, MASK_IDX, 0], [9, 0, 0]])
    out = encode_products(cache, ids, ids != 0)
    assert out.shape == (2, 3, 256) and out.dtype == np.float32
    assert out[0, 0] == pytest.approx(cache.product_embeddings[5] + cache.positional_encodings[0])
    assert out[0, 1] == pytest.approx(cache.product_embeddings[MASK_IDX] + cache.positional_encodings[1])
    assert (out[0, 2] == 0).all() and (out[1, 1:] == 0).all()


def test_store_and_trip():
    cache = FakeCache(n_stores=5)
    table = torch.from_numpy(cache.store_embeddings)
    s = F.store_context(t([3, 0, 17, -2]), table).numpy()
    assert (s[0] == cache.store_embeddings[3]).all() and (s[2] == cache.store_embeddings[0]).all()
    assert (s[3] == cache.store_embeddings[0]).all()
    codes = np.array([[1, 3, 0, 2], [-1, -1, -1, -1], [0, 0, 2, 1]], dtype=np.int8)
    v = F.trip_context(t(codes), t([True, True, False])).numpy()
    assert v.shape == (3, 48)
    assert np.nonzero(v[0])[0].tolist() == [1, 16 + 3, 32 + 0, 40 + 2]
    assert (v[1] == 0).all() and (v[2] == 0).all()  # unknown, hidden
    labels = F.auxiliary_labels(t(codes), t([True, True, False]), ("mission_type", "mission_focus",
                                                                    "price_sensitivity", "basket_size"))
    assert labels["mission_type"].tolist() == [1, -100, -100]
    assert labels["basket_size"].tolist() == [2, -100, -100]


def test_trip_and_labels_equal_the_reference():
    rng = np.random.default_rng(6)
    codes = rng.integers(-1, 4, (2000, 4)).astype(np.int8)
    visible = rng.random(2000) < 0.5
    assert (F.trip_context(t(codes), t(visible)).numpy() == ref.encode_trip(codes, visible)).all()
    got = F.auxiliary_labels(t(codes), t(~visible), tuple(ref.AUXILIARY_CODES))
    want = ref.auxiliary_labels(codes, ~visible)
    assert all((got[k].numpy() == want[k]).all() for k in want)


def test_position_uniforms_independent():
    a, b, c = position_uniforms(np.arange(5000), 3, 0, 10)
    for x in (a, b, c):
        assert abs(x.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(b.ravel(), c.ravel())[0, 1]) < 0.02
