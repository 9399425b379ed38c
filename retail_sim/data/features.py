"""T1–T6 as torch functions of compact-batch fields and tensor-cache tables, on any device.

Pure and vectorised over a batch; no function reads a value back to the host, so a CUDA step
never waits on them. Every output is float32 and finite for any input (NULL arrives as NaN or -1).
Arithmetic that feeds a threshold or a sine runs in float64, as the reference numpy encoders in
tests/oracle_encoders.py do; results agree with them within 1e-6 (tests/test_data_encoders.py).
"""

from __future__ import annotations

import functools
import math

import torch

from retail_sim.data.codes import TRIP_BLOCKS
from retail_sim.widths import CUSTOMER_DIM, PRICE_DIM, SEGMENT_DIM

F64 = torch.float64


@functools.lru_cache(maxsize=64)
def constant(values, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A small constant tensor (a number or a tuple of numbers), built once per device and never
    written to: on CUDA `torch.tensor(..., device=...)` copies from host memory and waits for the
    stream each call."""
    return torch.tensor(values, dtype=dtype, device=device)

# ---------------------------------------------------------------- T1 customer context [192]

WEEK_KEY = 1 << 16  # customer-state key = customer_idx * WEEK_KEY + week (cache/customer_state.py)


def cold_start_weight(n_baskets: torch.Tensor, cold_start_k: float) -> torch.Tensor:
    """[B] float32 weight of the customer's own state: n_baskets / k capped at 1 (0 = segment prior only)."""
    if cold_start_k <= 0:
        return (n_baskets > 0).float()
    k = constant(float(cold_start_k), torch.float32, n_baskets.device)
    return (n_baskets.float() / k).clamp(0.0, 1.0)


def customer_context(customer_idx: torch.Tensor, week: torch.Tensor, t: dict[str, torch.Tensor],
                     cold_start_k: float) -> torch.Tensor:
    """T1 [B, 192] = segment 64 ‖ history 96 ‖ affinity 32.

    segment  [0:64]   segment_embeddings[s], s = customer_segment[customer_idx]
                      (anonymous and out-of-vocab customers -> row 0's segment)
    history  [64:160] w * state[:96]  + (1 - w) * segment_prior[s, :96]
    affinity [160:192] w * state[96:] + (1 - w) * segment_prior[s, 96:]
    state, n = the customer's row for `week` in customer_state (as of the start of the week, from
    earlier weeks; zeros and 0 without a row or for anonymous customers), w = cold_start_weight(n).
    """
    idx = customer_idx.long()
    idx = torch.where((idx >= 0) & (idx < t["customer_segment"].shape[0]), idx, 0)
    segment = t["customer_segment"].index_select(0, idx).long()
    keys = t["customer_state_keys"]
    prior = t["segment_prior"].index_select(0, segment)
    if keys.shape[0] == 0:  # no customer has an earlier basket
        blend = (1.0 - cold_start_weight(torch.zeros_like(idx), cold_start_k)[:, None]) * prior
    else:
        key = idx * WEEK_KEY + week.long()
        pos = torch.searchsorted(keys, key).clamp(max=keys.shape[0] - 1)
        found = (keys.index_select(0, pos) == key) & (idx > 0)
        state = t["customer_state"].index_select(0, pos).masked_fill(~found[:, None], 0.0)
        n = t["customer_state_n_baskets"].index_select(0, pos).masked_fill(~found, 0)
        w = cold_start_weight(n, cold_start_k)[:, None]
        blend = w * state + (1.0 - w) * prior
    return torch.cat([t["segment_embeddings"].index_select(0, segment), blend], dim=1)


assert CUSTOMER_DIM == SEGMENT_DIM + 128


# ---------------------------------------------------------------- T2 product embeddings [S, 256]
# T2 = product_embeddings[input id] + positional_encodings[position] at real positions, zeros at
# PAD: data/encoder.py gathers it straight into the [B, S, 256] tensor.


# ---------------------------------------------------------------- T3 temporal context [64]

HOUR_BANDS = (0, 9, 12, 14, 17, 19, 21)  # early, morning, lunch, afternoon, after work, evening, late
RECENCY_BANDS = (0, 1, 4, 8, 15, 31)  # days: same day, 1–3, 4–7, 8–14, 15–30, 31+
LAST_TABLE_DAY = 47_482  # 2100-01-01 as days since 1970-01-01: T3's date table covers [1970, 2100)


def _onehot(values: torch.Tensor, n: int, valid: torch.Tensor | None = None) -> torch.Tensor:
    """[B, n] float64 one-hot of integer values in [0, n); others (and ~valid) all zero."""
    v = values.long()
    ok = (v >= 0) & (v < n)
    if valid is not None:
        ok = ok & valid
    return (torch.arange(n, device=v.device)[None, :] == torch.where(ok, v, -1)[:, None]).to(F64)


def _band(values: torch.Tensor, edges: tuple[int, ...], valid: torch.Tensor) -> torch.Tensor:
    """[B, len(edges)] one-hot of the band [edges[i], edges[i+1]) that holds each value."""
    e = constant(tuple(edges), values.dtype, values.device)
    return _onehot(torch.searchsorted(e, values, right=True) - 1, len(edges), valid)


def week_of_year(shop_week: torch.Tensor, weeks_per_year: int) -> torch.Tensor:
    """[B, 12] T3[0:12): sin, cos of 2πk(ww-1)/weeks_per_year, k = 1..6, ww = shop_week % 100."""
    ww = (shop_week.long() % 100 - 1).to(F64)
    k = torch.arange(1, 7, device=ww.device)
    ang = 2 * math.pi * ww[:, None] * k[None, :] / weeks_per_year
    return torch.stack([torch.sin(ang), torch.cos(ang)], dim=2).reshape(-1, 12)


def weekday(shop_weekday: torch.Tensor) -> torch.Tensor:
    """[B, 10] T3[12:22): sin, cos of 2π(weekday-1)/7, one-hot (1 = Sunday .. 7), weekend."""
    wd = shop_weekday.long()
    ok = (wd >= 1) & (wd <= 7)
    a = 2 * math.pi * (wd - 1).to(F64) / 7
    return torch.cat([
        torch.stack([torch.where(ok, torch.sin(a), 0), torch.where(ok, torch.cos(a), 0)], dim=1),
        _onehot(wd - 1, 7), ((wd == 1) | (wd == 7)).to(F64)[:, None],
    ], dim=1)


def hour(shop_hour: torch.Tensor) -> torch.Tensor:
    """[B, 12] T3[22:34): sin, cos of 2πh/24 and 4πh/24, h/23, hour-band one-hot."""
    h = shop_hour.long()
    ok = (h >= 0) & (h <= 23)
    hf = h.to(F64)  # int / float promotes to float32 in torch: the arithmetic stays in float64
    a = 2 * math.pi * hf / 24
    cyc = torch.stack([torch.sin(a), torch.cos(a), torch.sin(2 * a), torch.cos(2 * a), hf / 23], dim=1)
    return torch.cat([torch.where(ok[:, None], cyc, 0), _band(h, HOUR_BANDS, ok)], dim=1)


def trend(week: torch.Tensor, first_week: int, last_week: int) -> torch.Tensor:
    """[B, 4] T3[34:38): t, t², sin πt, cos πt of t = (week - first_week)/(last_week - first_week) in [0, 1]."""
    t = ((week.to(F64) - first_week) / max(last_week - first_week, 1)).clamp(0, 1)
    return torch.stack([t, t * t, torch.sin(math.pi * t), torch.cos(math.pi * t)], dim=1)


def recency(days_since_prev_basket: torch.Tensor, history_length: torch.Tensor) -> torch.Tensor:
    """[B, 10] T3[42:52): missing flag, log1p(days)/log1p(365) (<= 2), exp(-days/7), recency band
    one-hot, log1p(history_length)/log1p(100) (<= 3)."""
    gap = days_since_prev_basket.to(F64)
    known = torch.isfinite(gap) & (gap >= 0)
    g = torch.where(known, gap, 0.0)
    hist = history_length.to(F64).clamp(0, 1e6)
    return torch.cat([
        torch.stack([(~known).to(F64), torch.where(known, (torch.log1p(g) / math.log1p(365)).clamp(max=2.0), 0),
                     torch.where(known, torch.exp(-g / 7), 0)], dim=1),
        _band(g, RECENCY_BANDS, known),
        (torch.log1p(hist) / math.log1p(100)).clamp(max=3.0)[:, None],
    ], dim=1)


def civil_from_days(days: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(year, month 1..12, day 1..31) of int64 days since 1970-01-01 (proleptic Gregorian;
    H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = torch.div(z, 146_097, rounding_mode="floor")
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = torch.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2).long(), month, day


def days_from_civil(year: torch.Tensor, month: torch.Tensor | int, day: torch.Tensor | int) -> torch.Tensor:
    """int64 days since 1970-01-01 of (year, month, day) (H. Hinnant's days_from_civil)."""
    month = torch.as_tensor(month, device=year.device)
    y = year - (month <= 2).long()
    era = torch.div(y, 400, rounding_mode="floor")
    yoe = y - era * 400
    doy = (153 * torch.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def easter_sunday(year: torch.Tensor) -> torch.Tensor:
    """Gregorian Easter Sunday of each year (anonymous Gregorian algorithm) as days since 1970-01-01."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return days_from_civil(year, month, day)


def _holiday(d: torch.Tensor, this_year: torch.Tensor, prev_year: torch.Tensor, next_year: torch.Tensor) -> torch.Tensor:
    """[B, 6] distance to a yearly holiday: until/365, since/365, exp(-until/7), exp(-since/7),
    flag 1–14 days before, flag 0–6 days after (day itself included)."""
    nxt = torch.where(d <= this_year, this_year, next_year)
    last = torch.where(d >= this_year, this_year, prev_year)
    until, since = (nxt - d).to(F64), (d - last).to(F64)
    return torch.stack([until / 365, since / 365, torch.exp(-until / 7), torch.exp(-since / 7),
                        ((until >= 1) & (until <= 14)).to(F64), ((since >= 0) & (since <= 6)).to(F64)], dim=1)


def dates(days: torch.Tensor) -> torch.Tensor:
    """[B, 16] float64 = T3[38:42) ‖ T3[52:64) of int64 days since 1970-01-01: day-of-year sin, cos
    (2π doy/365.25), day-of-month sin, cos (2π(dom-1)/31); Christmas (25 Dec) and Easter Sunday:
    until/365, since/365, exp(-until/7), exp(-since/7), 1–14 days before, 0–6 after."""
    year, _, day = civil_from_days(days)
    doy = (days - days_from_civil(year, 1, 1)).to(F64)
    dom = (day - 1).to(F64)
    cal = torch.stack([torch.sin(2 * math.pi * doy / 365.25), torch.cos(2 * math.pi * doy / 365.25),
                       torch.sin(2 * math.pi * dom / 31), torch.cos(2 * math.pi * dom / 31)], dim=1)
    xmas = _holiday(days, days_from_civil(year, 12, 25), days_from_civil(year - 1, 12, 25),
                    days_from_civil(year + 1, 12, 25))
    easter = _holiday(days, easter_sunday(year), easter_sunday(year - 1), easter_sunday(year + 1))
    return torch.cat([cal, xmas, easter], dim=1)


def calendar_tables(weeks_per_year: int) -> dict[str, torch.Tensor]:
    """The T3 parts that depend on one small integer, as float32 tables built once by the functions
    above: week_of_year [100, 12] by shop_week % 100, weekday [10, 10] by weekday + 1 (-1..8),
    hour [26, 12] by hour + 1 (-1..24), date [LAST_TABLE_DAY, 16] by days since 1970-01-01."""
    return {
        "week_of_year_table": week_of_year(torch.arange(100), weeks_per_year).float(),
        "weekday_table": weekday(torch.arange(-1, 9)).float(),
        "hour_table": hour(torch.arange(-1, 25)).float(),
        "date_table": dates(torch.arange(LAST_TABLE_DAY)).float(),
    }


def temporal_context(shop_week, week, shop_date, shop_weekday, shop_hour, days_since_prev_basket, history_length,
                     t: dict[str, torch.Tensor], *, first_week: int, last_week: int) -> torch.Tensor:
    """T3 [B, 64] (shop_date: days since 1970-01-01; days_since_prev_basket NaN when NULL).

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
    Weekday, hour and date parts are looked up in calendar_tables; dates outside 1970..2099 read
    the table's nearest end.
    """
    d = t["date_table"].index_select(0, shop_date.long().clamp(0, LAST_TABLE_DAY - 1))
    return torch.cat([
        t["week_of_year_table"].index_select(0, shop_week.long() % 100),
        t["weekday_table"].index_select(0, shop_weekday.long().clamp(-1, 8) + 1),
        t["hour_table"].index_select(0, shop_hour.long().clamp(-1, 24) + 1),
        trend(week, first_week, last_week).float(),
        d[:, :4],
        recency(days_since_prev_basket, history_length).float(),
        d[:, 4:],
    ], dim=1)


# ---------------------------------------------------------------- T4 price features [S, 64]

PRICE_FLOOR, PRICE_CAP = 0.01, 1e5  # log prices are taken of prices clipped to this range
FOURIER_FREQS = tuple(2.0 ** (k / 2 - 2) for k in range(12))  # 0.25 .. 11.3 radians per unit of log price
_LOG_SCALE = 5.0
_RELATIVE_BANDS = (-math.inf, -0.5, -0.1, 0.1 + 1e-12, 0.5 + 1e-12)


def price_features(prices: torch.Tensor) -> torch.Tensor:
    """T4 [n, 64] float32 of prices [4, n] = (unit, base, prior, category average) of each item (NaN =
    NULL). lp = log(clip(price, 0.01, 1e5)); ratios use prices clipped to [0.01, 1e5] (unit price to
    [0, 1e5]); every feature of a missing input is 0 except its flag.

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
    x = prices.to(F64)  # [4, n]: feature-major, every row below is one contiguous vector
    n, dev = x.shape[1], x.device
    present = torch.isfinite(x) & (x >= 0)
    logs = torch.log(torch.where(present, x, 1.0).clamp(PRICE_FLOOR, PRICE_CAP)).masked_fill(~present, 0.0)
    hp = present[0]
    ps = torch.where(hp, x[0].clamp(max=PRICE_CAP), 0.0)  # prices in ratios are clipped
    # the unit price against each other price (base, prior, category avg): both present, and the other
    # price > 0 and clipped as its denominator (1 for base, inf for the others where it cannot divide)
    other, has = x[1:], present[1:]
    pair = hp & has  # [unit & base, unit & prior, unit & category avg]
    divides = pair & (torch.where(has, other, 0.0) > 0)
    den = torch.where(divides, torch.where(has, other, 1.0).clamp(PRICE_FLOOR, PRICE_CAP),
                      constant(_DENOMINATOR_FILL, F64, dev)[:, None])
    ratio = ps / den  # unit/base, unit/prior, unit/category avg
    hpb, hv, hr = divides[0], pair[1], pair[2]
    # the four clipped log ratios, 0 where an input is missing: base/unit, unit/cat (r), base/cat (rb), unit/prior (v)
    left, right = constant(_LOG_LEFT, torch.int64, dev), constant(_LOG_RIGHT, torch.int64, dev)
    ratios = (logs.index_select(0, left) - logs.index_select(0, right)).clamp(-3, 3)
    ratios.masked_fill_(~(present.index_select(0, left) & present.index_select(0, right)), 0.0)
    r, v = ratios[1], ratios[3]
    thirds = ratios / 3
    scaled = logs / _LOG_SCALE  # lp, lb, lq, lc over 5
    angle = math.pi * r / 3
    ang = constant(FOURIER_FREQS, F64, dev)[:, None] * logs[:1]  # [12, n]
    flags = torch.stack([
        ps < 0.95 * den[0], ps > 1.05 * den[0],  # promo, above base: with hpb below
        ps == 0, ((ps > 0) & (ps < PRICE_FLOOR)) | (ps > PRICE_CAP),  # zero, clipped: with hp
        v > 0.02, v < -0.02, v.abs() <= 0.02,  # velocity up, down, unchanged: with hv
    ]) & torch.stack([hpb, hpb, hp, hp, hv, hv, hv])
    lower = constant(_RELATIVE_BANDS, F64, dev)[:, None]
    upper = constant((*_RELATIVE_BANDS[1:], math.inf), F64, dev)[:, None]
    bands = (r >= lower) & (r < upper) & hr  # band i: [edge i, edge i+1)
    tanh_in = ratios.index_select(0, constant(_TANH_ROWS, torch.int64, dev)) * constant(_TANH_SCALES, F64, dev)[:, None]
    pool = torch.cat([
        torch.sin(ang), torch.cos(ang), scaled, scaled ** 2, thirds, thirds ** 2, thirds.abs(),
        torch.tanh(tanh_in),
        torch.stack([
            torch.log1p(ps) / _LOG_SCALE,
            torch.where(hpb, (1 - ratio[0]).clamp(0, 1), 0.0),  # discount depth
            ratio[2].clamp(0, 5) / 5,
            torch.where(hr, torch.sin(angle), 0.0),
            torch.where(hr, torch.cos(angle), 0.0),
            torch.where(hv & torch.isfinite(den[1]), (ratio[1] - 1).clamp(-1, 1), 0.0),
        ]),
        torch.cat([~present, ~pair, bands, flags]).to(F64),
    ])
    pool[:24].masked_fill_(~hp, 0.0)  # the Fourier rows of a missing unit price
    rows = pool.index_select(0, constant(_POOL_ROWS, torch.int64, dev))  # [64, n]
    return torch.empty(n, PRICE_DIM, device=dev).copy_(rows.T)


# price_features builds its rows as a few blocks, concatenated into one pool, and takes the 64 T4 rows
# from it with one gather: 112 torch ops a call instead of 201 for writing each row on its own (the
# same bits; real sample, B = 64: the whole encoder x0.91 on the CPU, docs/loader.md stop 30)
_DENOMINATOR_FILL = (1.0, math.inf, math.inf)  # base, prior, category avg where the unit price cannot divide
_LOG_LEFT, _LOG_RIGHT = (1, 0, 1, 0), (0, 3, 3, 2)  # lb - lp, lp - lc, lb - lc, lp - lq
_TANH_ROWS, _TANH_SCALES = (1, 1, 2, 3), (1.0, 3.0, 3.0, 5.0)  # tanh r, tanh 3r, tanh 3rb, tanh 5v
_POOL_BLOCKS = (("sin", 12), ("cos", 12), ("scaled", 4), ("scaled_sq", 4), ("thirds", 4), ("thirds_sq", 4),
                ("thirds_abs", 4), ("tanh", 4), ("single", 6), ("missing", 4), ("unpaired", 3), ("band", 5),
                ("flag", 7))  # in price_features' torch.cat order
_T4_ROWS = (  # (block, row) of each T4 feature, in the docstring's order
    *[(block, k) for k in range(12) for block in ("sin", "cos")],  # Fourier
    ("scaled", 0), ("single", 0), ("scaled", 1), ("scaled", 2), ("scaled", 3), ("single", 1), ("flag", 0),
    ("flag", 1), ("thirds", 0), ("missing", 0), ("missing", 1), ("missing", 2), ("missing", 3), ("flag", 2),
    ("flag", 3), ("scaled_sq", 0),  # log-price
    ("thirds", 1), ("tanh", 0), ("tanh", 1), ("thirds_sq", 1), ("thirds_abs", 1), *[("band", k) for k in range(5)],
    ("single", 2), ("thirds", 2), ("tanh", 2), ("single", 3), ("single", 4), ("unpaired", 2),  # relative
    ("thirds", 3), ("tanh", 3), ("flag", 4), ("flag", 5), ("flag", 6), ("thirds_abs", 3), ("single", 5),
    ("unpaired", 1),  # velocity
)
_POOL_AT = {block: sum(k for _, k in _POOL_BLOCKS[:i]) for i, (block, _) in enumerate(_POOL_BLOCKS)}
_POOL_ROWS = tuple(_POOL_AT[block] + row for block, row in _T4_ROWS)
assert len(_POOL_ROWS) == PRICE_DIM


# ---------------------------------------------------------------- T5 store context [96]


def store_context(store_idx: torch.Tensor, store_embeddings: torch.Tensor) -> torch.Tensor:
    """T5 [B, 96] = store_embeddings[store_idx]; unknown or out-of-range -> row 0 (mean store)."""
    idx = store_idx.long()
    return store_embeddings.index_select(0, torch.where((idx >= 0) & (idx < store_embeddings.shape[0]), idx, 0))


# ---------------------------------------------------------------- T6 trip context [48]

TRIP_STARTS = tuple(sum(w for _, w in TRIP_BLOCKS[:j]) for j in range(len(TRIP_BLOCKS)))
TRIP_WIDTH = sum(w for _, w in TRIP_BLOCKS)  # 48


def trip_context(codes: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """T6 [B, 48] from class codes [B, 4] (order of codes.AUXILIARY_CODES; -1 = unknown):
    mission type one-hot in [0:16), dominant mission [16:32), price sensitivity [32:40),
    basket size [40:48); unknown or hidden (~visible) baskets -> zeros."""
    c = codes.long()
    widths = constant(tuple(w for _, w in TRIP_BLOCKS), torch.int64, c.device)
    starts = constant(TRIP_STARTS, torch.int64, c.device)
    ok = (c >= 0) & (c < widths) & visible[:, None]
    out = torch.zeros(c.shape[0], TRIP_WIDTH + 1, device=c.device)  # column TRIP_WIDTH takes the rest
    out.scatter_(1, torch.where(ok, starts + c, TRIP_WIDTH), 1.0)
    return out[:, :TRIP_WIDTH]


def auxiliary_labels(codes: torch.Tensor, active: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """name -> [B] int64 class id where active and known, else -100."""
    c = codes.long()
    return {name: torch.where(active & (c[:, j] >= 0), c[:, j], -100) for j, name in enumerate(names)}
