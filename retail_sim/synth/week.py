"""One fiscal week of synthetic baskets and lines, drawn from the world with its own Generator.

Basket attributes are drawn first (customer, store, day, hour, mission, price sensitivity, line
count, size); then each line's kind (fresh / grocery / nonfood, driven by the mission), product
(a favourite, or a class from the customer's tastes and a product of it, tilted by price
sensitivity and promotions), quantity and spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_sim.config import SynthConfig
from retail_sim.synth import calibration as cal
from retail_sim.synth.sampling import CategoricalSegments, cumulative, draw_rows, duplicate_lines
from retail_sim.synth.world import FAVOURITE_DECAY, N_KINDS, PRICE_TILT, World

TYPE_XX = 3
MISSION_XX = 4
PRICE_SENSITIVITY_XX = 3
MISSION_CUM = cumulative(cal.MISSION_BY_TYPE)
PRICE_SENSITIVITY_CUM = cumulative(cal.PRICE_SENSITIVITY_BY_SEG1)
SIZE_CUM = cumulative(cal.SIZE_BY_TYPE_LINES)  # [type, lines - 1, S/M/L]
KIND_CUM = cumulative(cal.KIND_BY_MISSION)
HOUR_CUM = cumulative(cal.HOUR_BASKETS)
SMALL_SHOP_CUM = cumulative(cal.SMALL_SHOP_LINES)
XX_CUM = cumulative(cal.XX_LINES)
TOP_UP_SHORT_CUM = cumulative(cal.TOP_UP_SHORT_LINES)
QUANTITY_MULTI_CUM = cumulative(np.append(cal.QUANTITY_SHARES[1:], 1.0 - cal.QUANTITY_SHARES.sum()))
FAVOURITE_CUM = [cumulative(1.0 / np.arange(1, n + 1) ** FAVOURITE_DECAY) for n in cal.FAVOURITES_PER_KIND]
FAVOURITE_OFFSET = np.concatenate([[0], np.cumsum(cal.FAVOURITES_PER_KIND)[:-1]])


@dataclass
class WeekBaskets:
    """B baskets of one week. Customer index C means anonymous."""

    customer: np.ndarray  # [B]
    store: np.ndarray  # [B]
    day: np.ndarray  # [B] 0..6, Monday = 0
    hour: np.ndarray  # [B] 8..22
    basket_type: np.ndarray  # [B] index into cal.BASKET_TYPES
    mission: np.ndarray  # [B] index into cal.MISSIONS
    price_sensitivity: np.ndarray  # [B] index into cal.PRICE_SENSITIVITIES
    size: np.ndarray  # [B] index into cal.BASKET_SIZES
    lines: np.ndarray  # [B] line count
    serial: np.ndarray  # [B] the last 8 digits of BASKET_ID, distinct


@dataclass
class WeekLines:
    """R lines of one week."""

    basket: np.ndarray  # [R] index into WeekBaskets
    product: np.ndarray  # [R] index into the catalogue
    quantity: np.ndarray  # [R]
    spend_cents: np.ndarray  # [R]


def negative_binomial(rng: np.random.Generator, r: float, mean: float, n: int) -> np.ndarray:
    return rng.negative_binomial(r, r / (r + mean), n)


def line_counts(rng: np.random.Generator, basket_type: np.ndarray) -> np.ndarray:
    """Lines per basket by BASKET_TYPE (calibrated to the real distributions): [B] int64."""
    n = len(basket_type)
    u = rng.random(n)
    small = 1 + draw_rows(np.broadcast_to(SMALL_SHOP_CUM, (n, SMALL_SHOP_CUM.size)), u)
    xx = 1 + draw_rows(np.broadcast_to(XX_CUM, (n, XX_CUM.size)), u)
    short = 1 + draw_rows(np.broadcast_to(TOP_UP_SHORT_CUM, (n, 3)), rng.random(n))
    top_up = np.where(rng.random(n) < cal.TOP_UP_SHORT, short,
                      np.minimum(4 + negative_binomial(rng, *cal.TOP_UP_NB, n), cal.TOP_UP_MAX))
    full = np.minimum(cal.FULL_SHOP_MIN + negative_binomial(rng, *cal.FULL_SHOP_NB, n), cal.FULL_SHOP_MAX)
    return np.choose(basket_type, [top_up, full, small, xx]).astype(np.int64)


def basket_sizes(basket_type: np.ndarray, lines: np.ndarray, u: np.ndarray) -> np.ndarray:
    """BASKET_SIZE (0 S, 1 M, 2 L) given type and line count, as in the real data: S only with
    1-2 lines, M with at most 9, L from 10 lines on: [B] int64."""
    row = np.minimum(lines, 9) - 1
    size = draw_rows(SIZE_CUM[basket_type, row], u)
    return np.where(lines >= 10, 2, size)


def draw_baskets(world: World, cfg: SynthConfig, week: int, season: float,
                 rng: np.random.Generator) -> WeekBaskets:
    cust, stores = world.customers, world.stores
    c = cust.size
    active = (cust.first_week <= week) & (week <= cust.last_week)
    expected = cust.rate * active * season
    known = np.repeat(np.arange(c), rng.poisson(expected))
    n_anon = rng.poisson(expected.sum() * cfg.anonymous_share / (1.0 - cfg.anonymous_share))
    customer = np.concatenate([known, np.full(n_anon, c, dtype=np.int64)])
    b = len(customer)
    is_known = customer < c
    known_idx = np.minimum(customer, c - 1)

    home = is_known & (rng.random(b) < cust.loyalty[known_idx])
    region = stores.region[cust.home_store[known_idx]]
    away = stores.by_region[stores.in_region.draw(region, rng.random(b))]
    anywhere = stores.overall.draw(np.zeros(b, np.int64), rng.random(b))
    store = np.where(home, cust.home_store[known_idx], np.where(is_known, away, anywhere))

    habit = is_known & (rng.random(b) < cfg.habit_share)
    day = np.where(habit, cust.weekday[customer], rng.integers(0, 7, b))
    hour_any = cal.HOURS[draw_rows(np.broadcast_to(HOUR_CUM, (b, HOUR_CUM.size)), rng.random(b))]
    hour = np.where(rng.random(b) < cfg.habit_share, cust.hour[customer], hour_any)
    hour = np.where(is_known, hour, hour_any)

    xx_share = cal.TYPE_SHARES[TYPE_XX] / sum(cal.TYPE_SHARES)
    basket_type = np.where(rng.random(b) < xx_share, TYPE_XX,
                           draw_rows(cust.type_cum[customer], rng.random(b)))
    mission = draw_rows(MISSION_CUM[basket_type], rng.random(b))
    seg_row = np.where(is_known, cust.seg1[known_idx], 4)
    sensitivity = draw_rows(PRICE_SENSITIVITY_CUM[seg_row], rng.random(b))
    sensitivity = np.where(basket_type == TYPE_XX, PRICE_SENSITIVITY_XX, sensitivity)
    lines = line_counts(rng, basket_type)
    size = basket_sizes(basket_type, lines, rng.random(b))
    serial = rng.choice(max(1_000_000, 2 * b), size=b, replace=False)
    return WeekBaskets(customer, store, day, hour, basket_type, mission, sensitivity, size, lines, serial)


def product_tables(world: World, cfg: SynthConfig, week: int) -> list[CategoricalSegments]:
    """Product-within-class draw tables for LA, MM, UM, XX baskets of this week: popularity x
    promotion lift x relative price^-tilt."""
    cat = world.catalogue
    lift = 1.0 + cfg.promo_lift * cat.discount[week]
    return [CategoricalSegments.from_weights(cat.popularity * lift * cat.relative_price ** -tilt, cat.class_of)
            for tilt in PRICE_TILT]


def draw_lines(world: World, cfg: SynthConfig, baskets: WeekBaskets, week: int,
               rng: np.random.Generator) -> WeekLines:
    cat, cust = world.catalogue, world.customers
    basket = np.repeat(np.arange(len(baskets.lines)), baskets.lines)
    customer = baskets.customer[basket]
    kind = draw_rows(KIND_CUM[baskets.mission[basket]], rng.random(len(basket)))
    sensitivity = baskets.price_sensitivity[basket]
    tables = product_tables(world, cfg, week)

    def by_taste(idx: np.ndarray) -> np.ndarray:
        """Products for lines idx: a class from the customer's tastes, a product of it."""
        out = np.empty(len(idx), dtype=np.int64)
        kind_of = kind[idx]
        for k in range(N_KINDS):
            at = np.flatnonzero(kind_of == k)
            rows = idx[at]
            classes = cust.kind_classes[k][cust.classes[k].draw(customer[rows], rng.random(len(rows)))]
            u = rng.random(len(rows))
            for s, table in enumerate(tables):
                pick = sensitivity[rows] == s
                out[at[pick]] = table.draw(classes[pick], u[pick])
        return out

    product = np.empty(len(basket), dtype=np.int64)
    favourite = rng.random(len(basket)) < cust.favourite_share[customer]
    fav_idx = np.flatnonzero(favourite)
    fav_kind = kind[fav_idx]
    slot = np.empty(len(fav_idx), dtype=np.int64)
    for k in range(N_KINDS):
        sel = fav_kind == k
        n = int(sel.sum())
        slot[sel] = FAVOURITE_OFFSET[k] + draw_rows(np.broadcast_to(FAVOURITE_CUM[k], (n, FAVOURITE_CUM[k].size)),
                                                    rng.random(n))
    product[fav_idx] = cust.favourites[customer[fav_idx], slot]
    taste_idx = np.flatnonzero(~favourite)
    product[taste_idx] = by_taste(taste_idx)

    # a product at most once per basket: redraw repeats from tastes, then anywhere in the kind
    for attempt in range(100):
        dup = np.flatnonzero(duplicate_lines(basket, product, cat.size))
        if len(dup) == 0:
            break
        if attempt < 5:
            product[dup] = by_taste(dup)
        else:
            product[dup] = rng.integers(0, cat.size, len(dup))
    else:  # pragma: no cover - 100 rounds of redraws leave no repeat in practice
        raise RuntimeError("could not remove repeated products from baskets")

    on_promo = cat.discount[week][product] > 0
    multi = rng.random(len(basket)) < np.minimum(cat.multibuy[product] * np.where(on_promo, 1.5, 1.0), 0.9)
    n_multi = int(multi.sum())
    value = draw_rows(np.broadcast_to(QUANTITY_MULTI_CUM, (n_multi, QUANTITY_MULTI_CUM.size)), rng.random(n_multi))
    tail = 12 + np.ceil(rng.lognormal(cal.QUANTITY_TAIL_MU, cal.QUANTITY_TAIL_SIGMA, n_multi))
    many = np.where(value < len(cal.QUANTITY_VALUES) - 1, cal.QUANTITY_VALUES[np.minimum(value + 1, 10)],
                    np.minimum(tail, cal.QUANTITY_MAX))
    quantity = np.ones(len(basket), dtype=np.int64)
    quantity[multi] = many.astype(np.int64)
    spend = quantity * cat.unit_cents(week)[product]
    return WeekLines(basket=basket, product=product, quantity=quantity, spend_cents=spend)
