"""T1–T6 encoders: pure, vectorised numpy functions of sample columns and tensor-cache arrays.

Inputs are arrays over a batch (or a window) of baskets; nothing loops per basket. Every output
is float32 and finite for any input (NULL arrives as NaN, -1 or a masked flag, see each function).
"""

from __future__ import annotations

import numpy as np

from retail_sim.data.batch import CUSTOMER_DIM, PRICE_DIM, STORE_DIM, TRIP_DIM
from retail_sim.data.codes import AUXILIARY_CODES, TRIP_BLOCKS
from retail_sim.widths import SEGMENT_DIM

# ---------------------------------------------------------------- T1 customer context [192]


def cold_start_weight(n_baskets: np.ndarray, cold_start_k: float) -> np.ndarray:
    """[B] weight of the customer's own state: n_baskets / k, capped at 1 (0 = segment prior only)."""
    if cold_start_k <= 0:
        return (np.asarray(n_baskets) > 0).astype(np.float32)
    return np.clip(np.asarray(n_baskets, dtype=np.float32) / np.float32(cold_start_k), 0.0, 1.0)


def encode_customer(cache, customer_idx: np.ndarray, week: np.ndarray, cold_start_k: float) -> np.ndarray:
    """T1 [B, 192] = segment 64 ‖ history 96 ‖ affinity 32.

    segment  [0:64]   cache.segment_embeddings[s], s = cache.customer_segment[customer_idx]
                      (anonymous and out-of-vocab customers -> row 0's segment)
    history  [64:160] w * state[:96]  + (1 - w) * segment_prior[s, :96]
    affinity [160:192] w * state[96:] + (1 - w) * segment_prior[s, 96:]
    state, n = cache.get_customer_state_batch(customer_idx, week) (weeks strictly before `week`),
    w = cold_start_weight(n, cold_start_k): 0 for anonymous or no earlier basket, 1 from k baskets.
    """
    idx = np.asarray(customer_idx, dtype=np.int64)
    idx = np.where((idx >= 0) & (idx < cache.customer_segment.shape[0]), idx, 0)
    segment = np.asarray(cache.customer_segment)[idx]
    state, n_baskets = cache.get_customer_state_batch(idx, np.asarray(week, dtype=np.int64))
    w = cold_start_weight(n_baskets, cold_start_k)[:, None]
    prior = np.asarray(cache.segment_prior)[segment]
    out = np.empty((idx.size, CUSTOMER_DIM), dtype=np.float32)
    out[:, :SEGMENT_DIM] = np.asarray(cache.segment_embeddings)[segment]
    out[:, SEGMENT_DIM:] = w * np.asarray(state, dtype=np.float32) + (1.0 - w) * prior
    return out


# ---------------------------------------------------------------- T2 product embeddings [S, 256]
# T2 = cache.product_embeddings[input id] + cache.positional_encodings[position], zeros at PAD:
# gathered inline by assemble.build_batches for a whole chunk (oracle: tests/oracles.py).


# ---------------------------------------------------------------- T3 temporal context [64]

HOUR_BANDS = (0, 9, 12, 14, 17, 19, 21)  # early, morning, lunch, afternoon, after work, evening, late
RECENCY_BANDS = (0, 1, 4, 8, 15, 31)  # days: same day, 1–3, 4–7, 8–14, 15–30, 31+


def _onehot(values: np.ndarray, n: int, valid: np.ndarray | None = None) -> np.ndarray:
    """[B, n] one-hot of integer values in [0, n); others (and ~valid) all zero."""
    v = np.asarray(values, dtype=np.int64)
    ok = (v >= 0) & (v < n)
    if valid is not None:
        ok &= valid
    return (np.arange(n)[None, :] == np.where(ok, v, -1)[:, None]).astype(np.float32)


def _band(values: np.ndarray, edges: tuple[int, ...], valid: np.ndarray) -> np.ndarray:
    """[B, len(edges)] one-hot of the band [edges[i], edges[i+1]) that holds each value."""
    return _onehot(np.searchsorted(np.asarray(edges), values, side="right") - 1, len(edges), valid)


def _year_start(days: np.ndarray, add_years: int = 0) -> np.ndarray:
    return (days.astype("datetime64[D]").astype("datetime64[Y]") + add_years).astype("datetime64[D]")


def _christmas(year_start: np.ndarray) -> np.ndarray:
    return (year_start.astype("datetime64[M]") + 11).astype("datetime64[D]") + 24


def easter_sunday(year: np.ndarray) -> np.ndarray:
    """Gregorian Easter Sunday of each year (anonymous Gregorian algorithm) as datetime64[D]."""
    y = np.asarray(year, dtype=np.int64)
    a, b, c = y % 19, y // 100, y % 100
    d, e = b // 4, b % 4
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    start = (y - 1970).astype("datetime64[Y]").astype("datetime64[M]")
    return (start + (month - 1)).astype("datetime64[D]") + (day - 1)


def _holiday(days: np.ndarray, this_year: np.ndarray, prev_year: np.ndarray, next_year: np.ndarray) -> np.ndarray:
    """[B, 6] distance to a yearly holiday: until/365, since/365, exp(-until/7), exp(-since/7),
    flag 1–14 days before, flag 0–6 days after (day itself included)."""
    d = days.astype("datetime64[D]")
    nxt = np.where(d <= this_year, this_year, next_year)
    last = np.where(d >= this_year, this_year, prev_year)
    until = (nxt - d).astype(np.float64)
    since = (d - last).astype(np.float64)
    return np.stack(
        [until / 365, since / 365, np.exp(-until / 7), np.exp(-since / 7),
         (until >= 1) & (until <= 14), (since >= 0) & (since <= 6)], axis=1
    ).astype(np.float32)


def _week_of_year(shop_week: np.ndarray, weeks_per_year: int) -> np.ndarray:
    """[B, 12] T3[0:12)."""
    ww = (np.asarray(shop_week, dtype=np.int64) % 100 - 1).astype(np.float64)
    ang = 2 * np.pi * ww[:, None] * np.arange(1, 7)[None, :] / weeks_per_year
    out = np.empty((ww.size, 12))
    out[:, 0::2], out[:, 1::2] = np.sin(ang), np.cos(ang)
    return out


def _weekday(shop_weekday: np.ndarray) -> np.ndarray:
    """[B, 10] T3[12:22)."""
    wd = np.asarray(shop_weekday, dtype=np.int64)
    ok = (wd >= 1) & (wd <= 7)
    a = 2 * np.pi * (wd - 1) / 7
    return np.concatenate([
        np.stack([np.where(ok, np.sin(a), 0), np.where(ok, np.cos(a), 0)], axis=1),
        _onehot(wd - 1, 7), ((wd == 1) | (wd == 7))[:, None],
    ], axis=1)


def _hour(shop_hour: np.ndarray) -> np.ndarray:
    """[B, 12] T3[22:34)."""
    h = np.asarray(shop_hour, dtype=np.int64)
    ok = (h >= 0) & (h <= 23)
    a = 2 * np.pi * h / 24
    cyc = np.stack([np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a), h / 23], axis=1)
    return np.concatenate([np.where(ok[:, None], cyc, 0), _band(h, HOUR_BANDS, ok)], axis=1)


def _trend(week: np.ndarray, first_week: int, last_week: int) -> np.ndarray:
    """[B, 4] T3[34:38)."""
    t = np.clip((np.asarray(week, dtype=np.float64) - first_week) / max(last_week - first_week, 1), 0, 1)
    return np.stack([t, t * t, np.sin(np.pi * t), np.cos(np.pi * t)], axis=1)


def _dates(shop_date: np.ndarray) -> np.ndarray:
    """[B, 16] T3[38:42) ‖ T3[52:64): calendar, Christmas, Easter of int days since 1970-01-01."""
    days = np.asarray(shop_date, dtype=np.int64)
    d = days.astype("datetime64[D]")
    y0 = _year_start(days)
    doy = (d - y0).astype(np.float64)
    dom = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.float64)
    cal = np.stack([np.sin(2 * np.pi * doy / 365.25), np.cos(2 * np.pi * doy / 365.25),
                    np.sin(2 * np.pi * dom / 31), np.cos(2 * np.pi * dom / 31)], axis=1)
    xmas = _holiday(days, _christmas(y0), _christmas(_year_start(days, -1)), _christmas(_year_start(days, 1)))
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    easter = _holiday(days, easter_sunday(year), easter_sunday(year - 1), easter_sunday(year + 1))
    return np.concatenate([cal, xmas, easter], axis=1)


def _recency(days_since_prev_basket: np.ndarray, history_length: np.ndarray) -> np.ndarray:
    """[B, 10] T3[42:52)."""
    gap = np.asarray(days_since_prev_basket, dtype=np.float64)
    known = np.isfinite(gap) & (gap >= 0)
    g = np.where(known, gap, 0.0)
    hist = np.clip(np.asarray(history_length, dtype=np.float64), 0, 1e6)
    return np.concatenate([
        np.stack([~known, np.where(known, np.minimum(np.log1p(g) / np.log1p(365), 2.0), 0),
                  np.where(known, np.exp(-g / 7), 0)], axis=1),
        _band(g, RECENCY_BANDS, known),
        np.minimum(np.log1p(hist) / np.log1p(100), 3.0)[:, None],
    ], axis=1)


def encode_temporal(
    shop_week: np.ndarray,
    week: np.ndarray,
    shop_date: np.ndarray,
    shop_weekday: np.ndarray,
    shop_hour: np.ndarray,
    days_since_prev_basket: np.ndarray,
    history_length: np.ndarray,
    *,
    first_week: int,
    last_week: int,
    weeks_per_year: int = 52,
) -> np.ndarray:
    """T3 [B, 64]. shop_date: int days since 1970-01-01; days_since_prev_basket: NaN when NULL.

    [0:12)  fiscal week-of-year ww = shop_week % 100: sin, cos of 2πk(ww-1)/52 for k = 1..6
    [12:14) weekday sin, cos of 2π(weekday-1)/7      [14:21) weekday one-hot (1 = Sunday .. 7)
    [21]    weekend (Saturday or Sunday)
    [22:24) hour sin, cos of 2πh/24   [24:26) sin, cos of 4πh/24   [26] h/23
    [27:34) hour band one-hot: <9, 9–11, 12–13, 14–16, 17–18, 19–20, 21+
    [34:38) trend t = (week-first_week)/(last_week-first_week) in [0,1]: t, t², sin πt, cos πt
    [38:42) day-of-year sin, cos (2π doy/365.25); day-of-month sin, cos (2π(dom-1)/31)
    [42]    recency missing (no earlier basket)   [43] log1p(days)/log1p(365)   [44] exp(-days/7)
    [45:51) recency band one-hot: 0, 1–3, 4–7, 8–14, 15–30, 31+ days
    [51]    log1p(history_length)/log1p(100)
    [52:58) Christmas (25 Dec): until/365, since/365, exp(-until/7), exp(-since/7), 1–14 days before, 0–6 after
    [58:64) Easter Sunday: the same six
    """
    dates = _dates(shop_date)
    return np.concatenate([
        _week_of_year(shop_week, weeks_per_year), _weekday(shop_weekday), _hour(shop_hour),
        _trend(week, first_week, last_week), dates[:, :4], _recency(days_since_prev_basket, history_length),
        dates[:, 4:],
    ], axis=1).astype(np.float32)


class TemporalEncoder:
    """encode_temporal with its calendar parts looked up in tables built once by the same functions:
    week-of-year by shop_week % 100, weekday, hour, and the date parts over [first_day, last_day]
    (dates outside are computed directly). Output identical to encode_temporal."""

    def __init__(self, first_week: int, last_week: int, weeks_per_year: int, first_day: int, last_day: int):
        self.first_week, self.last_week, self.weeks_per_year = first_week, last_week, weeks_per_year
        self.week_of_year = _week_of_year(np.arange(100), weeks_per_year)
        self.weekday = _weekday(np.arange(-1, 9))  # index weekday + 1; -1 and 8 give the zero row
        self.hour = _hour(np.arange(-1, 25))  # index hour + 1
        self.first_day = first_day
        self.dates = _dates(np.arange(first_day, last_day + 1))

    def __call__(self, shop_week, week, shop_date, shop_weekday, shop_hour, days_since_prev_basket, history_length):
        n = np.asarray(week).shape[0]
        out = np.empty((n, 64), dtype=np.float32)
        out[:, 0:12] = self.week_of_year[np.asarray(shop_week, dtype=np.int64) % 100]
        out[:, 12:22] = self.weekday[np.clip(np.asarray(shop_weekday, dtype=np.int64), -1, 8) + 1]
        out[:, 22:34] = self.hour[np.clip(np.asarray(shop_hour, dtype=np.int64), -1, 24) + 1]
        out[:, 34:38] = _trend(week, self.first_week, self.last_week)
        i = np.asarray(shop_date, dtype=np.int64) - self.first_day
        inside = (i >= 0) & (i < self.dates.shape[0])
        dates = self.dates[np.where(inside, i, 0)] if inside.all() else np.where(
            inside[:, None], self.dates[np.clip(i, 0, self.dates.shape[0] - 1)], _dates(shop_date))
        out[:, 38:42] = dates[:, :4]
        out[:, 42:52] = _recency(days_since_prev_basket, history_length)
        out[:, 52:64] = dates[:, 4:]
        return out


# ---------------------------------------------------------------- T4 price features [S, 64]

PRICE_FLOOR, PRICE_CAP = 0.01, 1e5  # log prices are taken of prices clipped to this range
FOURIER_FREQS = 2.0 ** (np.arange(12) / 2 - 2)  # 0.25 .. 11.3 radians per unit of log price
_LOG_SCALE = 5.0


def _present(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (x >= 0)


def _logp(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, np.log(np.clip(np.where(present, x, 1.0), PRICE_FLOOR, PRICE_CAP)), 0.0)


UNIT_COLUMNS = np.array([*range(24), 24, 25, 33, 37, 38, 39])  # T4 columns that depend on the unit price only


def _unit_price_features(p: np.ndarray, hp: np.ndarray) -> np.ndarray:
    """[30, n] feature-major: the T4 columns UNIT_COLUMNS of unit prices p [n] float64 (hp = present)."""
    lp = _logp(p, hp)
    ps = np.where(hp, np.minimum(np.where(hp, p, 0.0), PRICE_CAP), 0.0)
    out = np.empty((UNIT_COLUMNS.size, p.shape[0]), dtype=np.float32)
    ang = FOURIER_FREQS[:, None] * lp[None, :]
    out[0:24:2] = np.sin(ang)
    out[1:24:2] = np.cos(ang)
    if not hp.all():
        out[:24, ~hp] = 0.0
    out[24] = lp / _LOG_SCALE
    out[25] = np.log1p(np.minimum(ps, PRICE_CAP)) / _LOG_SCALE
    out[26] = ~hp
    out[27] = hp & (ps == 0)
    out[28] = hp & (((ps > 0) & (ps < PRICE_FLOOR)) | (ps > PRICE_CAP))
    out[29] = (lp / _LOG_SCALE) ** 2
    return out


class UnitPriceTable:
    """_unit_price_features of every whole-cent price 0.00 .. (n_cents-1)/100 as float32 holds it, looked
    up by bit pattern (other prices are computed directly): 24 of T4's 64 columns are sines and
    cosines of the unit price, and prices repeat (the real sample: all unit prices whole cents)."""

    def __init__(self, n_cents: int = 20_000):
        self.keys = (np.arange(n_cents) / 100).astype(np.float32).astype(np.float64)
        self.table = np.ascontiguousarray(_unit_price_features(self.keys, _present(self.keys)).T)  # [n_cents, 30]

    def lookup(self, p: np.ndarray, hp: np.ndarray) -> np.ndarray:
        """[n, 30] rows of _unit_price_features(p, hp).T, bit-identical."""
        k = np.rint(np.where(hp & (p < (self.keys.size - 1) / 100), p, 0.0) * 100).astype(np.int64)
        hit = self.keys.view(np.int64)[k] == p.view(np.int64)
        out = self.table[k]
        if not hit.all():
            miss = np.flatnonzero(~hit)
            out[miss] = _unit_price_features(p[miss], hp[miss]).T
        return out


def price_features(
    unit_price: np.ndarray, base_price: np.ndarray, prior_price: np.ndarray, category_avg_price: np.ndarray,
    out: np.ndarray | None = None, rows: np.ndarray | None = None, unit_table: UnitPriceTable | None = None,
) -> np.ndarray:
    """T4 [n, 64] per item, written into out[rows] when `out` is given (out [T, 64] float32; rows [n]
    int, default all of out); unit_table looks up the unit-price-only columns (identical bits).
    lp = log(clip(price, 0.01, 1e5)); ratios use prices clipped to [0.01, 1e5] (unit price to [0, 1e5]);
    every feature of a missing input is 0 except its flag.

    Fourier [0:24)   sin, cos of f_k·lp(unit), f_k = 2^(k/2-2), k = 0..11 (interleaved sin, cos)
    Log-price [24:40): lp(unit)/5, log1p(unit)/5, lp(base)/5, lp(prior)/5, lp(category avg)/5,
                     discount depth clip(1 - unit/base, 0, 1), promo flag unit < 0.95·base,
                     above-base flag unit > 1.05·base, clip(lp(base)-lp(unit), ±3)/3,
                     missing flags unit, base, prior, category avg, zero-price flag,
                     clipped flag (outside [0.01, 1e5], zero excluded), (lp(unit)/5)²
    Relative [40:56) r = clip(lp(unit) - lp(cat), ±3): r/3, tanh r, tanh 3r, (r/3)², |r|/3,
                     band one-hot r < -0.5, [-0.5,-0.1), [-0.1,0.1], (0.1,0.5], > 0.5,
                     clip(unit/cat, 0, 5)/5, rb/3 and tanh 3rb with rb = clip(lp(base)-lp(cat), ±3),
                     sin(πr/3), cos(πr/3), missing flag (unit or category avg)
    Velocity [56:64) v = clip(lp(unit) - lp(prior), ±3): v/3, tanh 5v, up flag v > 0.02,
                     down flag v < -0.02, unchanged flag, |v|/3, clip(unit/prior - 1, ±1), missing flag
    """
    p, b, q, c = (np.asarray(x, dtype=np.float64) for x in (unit_price, base_price, prior_price, category_avg_price))
    n = p.shape[0]
    hp, hb, hq, hc = _present(p), _present(b), _present(q), _present(c)
    lp, lb, lq, lc = _logp(p, hp), _logp(b, hb), _logp(q, hq), _logp(c, hc)
    ps = np.where(hp, np.minimum(np.where(hp, p, 0.0), PRICE_CAP), 0.0)  # prices in ratios are clipped
    f = np.empty((PRICE_DIM, n), dtype=np.float32)  # feature-major: every assignment is one contiguous row

    hpb = hp & hb & (np.where(hb, b, 0) > 0)
    bs = np.where(hpb, np.clip(np.where(hpb, b, 1.0), PRICE_FLOOR, PRICE_CAP), 1.0)
    f[26], f[27], f[28] = lb / _LOG_SCALE, lq / _LOG_SCALE, lc / _LOG_SCALE
    f[29] = np.where(hpb, np.clip(1 - ps / bs, 0, 1), 0)
    f[30] = hpb & (ps < 0.95 * bs)
    f[31] = hpb & (ps > 1.05 * bs)
    f[32] = np.where(hp & hb, np.clip(lb - lp, -3, 3) / 3, 0)
    f[34], f[35], f[36] = ~hb, ~hq, ~hc

    hr = hp & hc
    r = np.where(hr, np.clip(lp - lc, -3, 3), 0.0)
    cs = np.where(hr & (np.where(hc, c, 0) > 0), np.clip(np.where(hc, c, 1.0), PRICE_FLOOR, PRICE_CAP), np.inf)
    f[40], f[41], f[42] = r / 3, np.tanh(r), np.tanh(3 * r)
    f[43], f[44] = (r / 3) ** 2, np.abs(r) / 3
    band = np.searchsorted(np.array([-np.inf, -0.5, -0.1, 0.1 + 1e-12, 0.5 + 1e-12]), r, side="right") - 1
    for i in range(5):  # band one-hot (the _band rule)
        f[45 + i] = hr & (band == i)
    f[50] = np.clip(ps / cs, 0, 5) / 5
    rb = np.where(hb & hc, np.clip(lb - lc, -3, 3), 0.0)
    f[51], f[52] = rb / 3, np.tanh(3 * rb)
    f[53] = np.where(hr, np.sin(np.pi * r / 3), 0)
    f[54] = np.where(hr, np.cos(np.pi * r / 3), 0)
    f[55] = ~hr

    hv = hp & hq
    v = np.where(hv, np.clip(lp - lq, -3, 3), 0.0)
    qs = np.where(hv & (np.where(hq, q, 0) > 0), np.clip(np.where(hq, q, 1.0), PRICE_FLOOR, PRICE_CAP), np.inf)
    f[56], f[57] = v / 3, np.tanh(5 * v)
    f[58], f[59] = hv & (v > 0.02), hv & (v < -0.02)
    f[60] = hv & (np.abs(v) <= 0.02)
    f[61] = np.abs(v) / 3
    f[62] = np.where(hv & np.isfinite(qs), np.clip(ps / qs - 1, -1, 1), 0)
    f[63] = ~hv

    f[UNIT_COLUMNS] = unit_table.lookup(p, hp).T if unit_table is not None else _unit_price_features(p, hp)
    if out is None:
        return np.ascontiguousarray(f.T)
    out[rows] = f.T
    return out


# ---------------------------------------------------------------- T5 store context [96]


def encode_store(cache, store_idx: np.ndarray) -> np.ndarray:
    """T5 [B, 96] = cache.store_embeddings[store_idx]; unknown or out-of-range -> row 0 (mean store)."""
    table = cache.store_embeddings
    idx = np.asarray(store_idx, dtype=np.int64)
    idx = np.where((idx >= 0) & (idx < table.shape[0]), idx, 0)
    out = np.asarray(table[idx], dtype=np.float32)
    assert out.shape[1] == STORE_DIM
    return out


# ---------------------------------------------------------------- T6 trip context [48]


def encode_trip(codes: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """T6 [B, 48] from class codes [B, 4] (order of codes.AUXILIARY_CODES; -1 = unknown):
    mission type one-hot in [0:16), dominant mission [16:32), price sensitivity [32:40),
    basket size [40:48); unknown or hidden (~visible) baskets -> zeros."""
    B = codes.shape[0]
    out = np.zeros((B, TRIP_DIM), dtype=np.float32)
    start = 0
    for j, (name, width) in enumerate(TRIP_BLOCKS):
        assert len(AUXILIARY_CODES[name][1]) <= width
        out[:, start:start + width] = _onehot(codes[:, j], width, visible)
        start += width
    return out


def auxiliary_labels(codes: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
    """name -> [B] int64 class id where active and known, else -100."""
    return {
        name: np.where(active & (codes[:, j] >= 0), codes[:, j], -100).astype(np.int64)
        for j, name in enumerate(AUXILIARY_CODES)
    }
