"""The persistent synthetic world, built once per run: product tree, prices and promotions,
stores, and the customer table. Every week is then drawn from it (retail_sim/synth/week.py).

All of it is a pure function of (SynthConfig, seed): numpy Generators seeded from
SeedSequence([seed, 0, part]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_sim.config import SynthConfig
from retail_sim.synth import calibration as cal
from retail_sim.synth.sampling import (
    CategoricalRows,
    CategoricalSegments,
    split_children,
    stratified_codes,
)

N_KINDS = 3  # fresh, grocery, nonfood
PRICE_TILT = np.array([0.7, 0.0, -0.5, 0.0])  # weight x relative_price^-tilt for LA, MM, UM, XX baskets
PROMO_DISCOUNTS = np.array([0.1, 0.2, 0.25, 0.3, 0.33, 0.4, 0.5])
FAVOURITE_DECAY = 0.8  # favourite j of a kind is re-bought with weight 1 / (j + 1)^0.8
LOYALTY_A = 3.0
MEAN_LINES_BY_TYPE = np.array([8.6, 20.7, 2.4])  # Top Up, Full Shop, Small Shop (LGSR.md)  # Beta(a, b) of home-store loyalty: a fixed, b from the mean


def part_rng(seed: int, *part: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *part])))


@dataclass
class Catalogue:
    """P products in a strict 4-level tree, with prices and promotions.

    Index order: products are sorted by class (PROD_CODE_10), so `class_of` is non-decreasing.
    """

    number: np.ndarray  # [P] the 5 digits after PRD09 (a shuffle of 1..P)
    class_of: np.ndarray  # [P] 0..249 (CL)
    department_of_class: np.ndarray  # [250] 0..89 (DEP)
    group_of_department: np.ndarray  # [90] 0..30 (G)
    division_of_group: np.ndarray  # [31] 0..8 (D)
    kind_of_class: np.ndarray  # [250] 0 fresh, 1 grocery, 2 nonfood
    popularity: np.ndarray  # [P] purchase weight, summing to each division's row share
    base_price: np.ndarray  # [P] regular unit price in week 1
    relative_price: np.ndarray  # [P] base price / median base price of its class
    multibuy: np.ndarray  # [P] P(QUANTITY > 1) of a line
    rise_week: np.ndarray  # [P] week from which the regular price is raised (0 = never)
    rise: np.ndarray  # [P] that raise, e.g. 0.05
    discount: np.ndarray  # [W + 1, P] float32 promotion discount in week k (0 = none)

    @property
    def size(self) -> int:
        return len(self.class_of)

    def unit_cents(self, week: int) -> np.ndarray:
        """Unit price of every product in week k, in cents: [P] int64 (at least 1)."""
        regular = self.base_price * (1.0 + self.rise * (self.rise_week > 0) * (week >= self.rise_week))
        return np.maximum(np.rint(regular * (1.0 - self.discount[week]) * 100.0), 1).astype(np.int64)


def department_products(products: int) -> np.ndarray:
    """Products per division (D) for a catalogue of `products`: the real 4,997 split, rescaled."""
    if products == int(cal.DEPARTMENT_PRODUCTS.sum()):
        return cal.DEPARTMENT_PRODUCTS.copy()
    share = cal.DEPARTMENT_PRODUCTS / cal.DEPARTMENT_PRODUCTS.sum()
    counts = np.maximum(np.floor(share * products).astype(np.int64), cal.DEPARTMENT_CL)
    counts[np.argmax(counts)] += products - counts.sum()
    return counts


def build_catalogue(cfg: SynthConfig, seed: int) -> Catalogue:
    rng = part_rng(seed, 0, 1)
    n_div = len(cal.DEPARTMENT_G)
    group_div = np.repeat(np.arange(n_div), cal.DEPARTMENT_G)
    dep_group, class_dep, product_class = [], [], []
    g0 = d0 = c0 = 0
    for div, n_products in enumerate(department_products(cfg.products)):
        n_g, n_dep, n_cl = cal.DEPARTMENT_G[div], cal.DEPARTMENT_DEP[div], cal.DEPARTMENT_CL[div]
        dep_group.append(g0 + split_children(rng, n_g, n_dep))
        class_dep.append(d0 + split_children(rng, n_dep, n_cl))
        sizes = rng.lognormal(0.0, 0.8, n_cl)
        product_class.append(c0 + split_children(rng, n_cl, int(n_products), sizes))
        g0, d0, c0 = g0 + n_g, d0 + n_dep, c0 + n_cl
    group_of_department = np.concatenate(dep_group)
    department_of_class = np.concatenate(class_dep)
    class_of = np.concatenate(product_class)
    division = group_div[group_of_department[department_of_class[class_of]]]
    n = len(class_of)

    class_level = rng.lognormal(0.0, 0.3, len(department_of_class))[class_of]
    base = cal.PRICE_LEVEL * cal.DEPARTMENT_PRICE_MEDIAN[division] * class_level * rng.lognormal(0.0, 0.6, n)
    base = np.maximum(np.round(base, 2), 0.05)

    # cheaper products sell more: popularity x (price / division median)^-POPULARITY_PRICE_POWER
    popularity = rng.lognormal(0.0, cal.POPULARITY_SIGMA, n)
    popularity *= (base / cal.DEPARTMENT_PRICE_MEDIAN[division]) ** -cal.POPULARITY_PRICE_POWER
    div_total = np.bincount(division, weights=popularity, minlength=n_div)
    popularity *= (cal.DEPARTMENT_ROW_SHARE / cal.DEPARTMENT_ROW_SHARE.sum())[division] / div_total[division]
    class_median = np.array([np.median(base[class_of == c]) for c in range(len(department_of_class))])
    relative = base / class_median[class_of]

    multibuy = base ** -0.4  # multi-buys are of cheap products
    multibuy *= (1.0 - cal.QUANTITY_SHARES[0]) / np.average(multibuy, weights=popularity)
    multibuy = np.minimum(multibuy, 0.8)

    rise_week = np.where(rng.random(n) < 0.4, rng.integers(2, max(cfg.weeks, 2) + 1, n), 0)
    rise = rng.uniform(0.03, 0.12, n)
    discount = promotions(rng, n, cfg.weeks, cfg.promo_share)
    return Catalogue(
        number=rng.permutation(n) + 1, class_of=class_of, department_of_class=department_of_class,
        group_of_department=group_of_department, division_of_group=group_div,
        kind_of_class=cal.DEPARTMENT_KIND[group_div[group_of_department[department_of_class]]],
        popularity=popularity, base_price=base, relative_price=relative, multibuy=multibuy,
        rise_week=rise_week, rise=rise, discount=discount,
    )


def promotions(rng: np.random.Generator, n_products: int, weeks: int, share: float) -> np.ndarray:
    """Promotion discounts [weeks + 1, P] float32: episodes of 1-4 weeks at 10-50% off."""
    discount = np.zeros((weeks + 1, n_products), dtype=np.float32)
    mean_length = 2.5
    episodes = rng.poisson(share * weeks / mean_length, n_products)
    product = np.repeat(np.arange(n_products), episodes)
    start = rng.integers(1, weeks + 1, len(product))
    length = rng.integers(1, 5, len(product))
    off = PROMO_DISCOUNTS[rng.integers(0, len(PROMO_DISCOUNTS), len(product))].astype(np.float32)
    for step in range(4):  # at most 4 weeks per episode
        live = (step < length) & (start + step <= weeks)
        np.maximum.at(discount, (start[live] + step, product[live]), off[live])
    return discount


@dataclass
class Stores:
    number: np.ndarray  # [N] the 5 digits after STORE, increasing
    format: np.ndarray  # [N] index into cal.STORE_FORMATS
    region: np.ndarray  # [N] index into cal.STORE_REGIONS
    weight: np.ndarray  # [N] basket weight
    in_region: CategoricalSegments  # draws a store of a region, by weight
    by_region: np.ndarray  # [N] store indices sorted by region (the items of in_region)
    overall: CategoricalRows  # one row: draws any store, by weight


def _scaled_counts(counts: np.ndarray, total: int) -> np.ndarray:
    scaled = np.floor(counts / counts.sum() * total).astype(np.int64)
    scaled[np.argsort(-(counts / counts.sum() * total - scaled), kind="stable")[: total - scaled.sum()]] += 1
    return scaled


def build_stores(cfg: SynthConfig, seed: int) -> Stores:
    rng = part_rng(seed, 0, 2)
    n = cfg.stores
    top = max(int(round(cal.STORE_MAX_NUMBER * n / 761)), n)
    middle = rng.choice(np.arange(2, top), size=n - 2, replace=False) if n > 2 else np.array([], int)
    number = np.sort(np.concatenate([[1, top], middle]))[:n]
    fmt = rng.permutation(np.repeat(np.arange(4), _scaled_counts(cal.STORE_FORMAT_COUNTS, n)))
    region = rng.permutation(np.repeat(np.arange(12), _scaled_counts(cal.STORE_REGION_COUNTS, n)))
    weight = cal.STORE_FORMAT_BASKETS[fmt] * rng.lognormal(0.0, 0.4, n)
    by_region = np.argsort(region, kind="stable")
    return Stores(
        number=number, format=fmt, region=region, weight=weight,
        in_region=CategoricalSegments.from_weights(weight[by_region], region[by_region]),
        by_region=by_region, overall=CategoricalRows.from_weights(weight[None, :]),
    )


@dataclass
class Customers:
    """C customers; row C of the per-customer tables is the anonymous shopper (global tastes)."""

    number: np.ndarray  # [C] the 10 digits after CUST
    seg1: np.ndarray  # [C] index into cal.SEG1_CODES
    seg2: np.ndarray  # [C] index into cal.SEG2_CODES
    first_week: np.ndarray  # [C]
    last_week: np.ndarray  # [C]
    rate: np.ndarray  # [C] expected baskets per active week
    home_store: np.ndarray  # [C]
    loyalty: np.ndarray  # [C] P(basket in the home store)
    favourite_share: np.ndarray  # [C + 1] P(line from a favourite); 0 for anonymous
    type_cum: np.ndarray  # [C + 1, 3] cumulative shares of Top Up, Full Shop, Small Shop
    weekday: np.ndarray  # [C + 1] usual weekday 0..6 (Monday = 0)
    hour: np.ndarray  # [C + 1] usual hour
    classes: list[CategoricalRows]  # per kind: [C + 1 rows, classes of the kind]
    kind_classes: list[np.ndarray]  # per kind: class ids of its columns
    favourites: np.ndarray  # [C, sum(FAVOURITES_PER_KIND)] product indices, grouped by kind

    @property
    def size(self) -> int:
        return len(self.number)


def build_customers(cfg: SynthConfig, seed: int, catalogue: Catalogue, stores: Stores) -> Customers:
    rng = part_rng(seed, 0, 3)
    c, weeks = cfg.customers, cfg.weeks
    number = rng.choice(max(1_000_000, 10 * c) - 1, size=c, replace=False) + 1
    first = np.where(rng.random(c) < cfg.new_customer_share, rng.integers(1, weeks + 1, c), 1)
    last = np.where(rng.random(c) < cfg.churn_share,
                    first + np.floor(rng.random(c) * (weeks + 1 - first)).astype(np.int64), weeks)
    rate = np.minimum(cal.RATE_MEDIAN * rng.lognormal(0.0, cal.RATE_SIGMA, c), cal.RATE_MAX)
    main_types = np.array(cal.TYPE_SHARES[:3]) / sum(cal.TYPE_SHARES[:3])
    type_mix = np.vstack([rng.dirichlet(6.0 * main_types, c), main_types])
    # expected rows of each customer: segments and habits are stratified on it
    rows = rate * (last - first + 1) * (type_mix[:c] @ MEAN_LINES_BY_TYPE)
    seg1 = stratified_codes(rng, rows, np.array(cal.SEG1_SHARES))
    seg2 = stratified_codes(rng, rows, np.array(cal.SEG2_SHARES))
    home = stores.overall.draw(np.zeros(c, np.int64), rng.random(c))
    m = cfg.home_store_share
    loyalty = rng.beta(LOYALTY_A, LOYALTY_A * (1 - m) / m, c)
    f = cfg.favourite_share
    fav_share = np.append(rng.beta(2.0, 2.0 * (1 - f) / f, c), 0.0)
    type_cum = np.cumsum(type_mix, axis=1)
    type_cum[:, -1] = 1.0
    hour_p = cal.HOUR_BASKETS / cal.HOUR_BASKETS.sum()
    weekday = np.append(stratified_codes(rng, rows, np.ones(7)), 0)
    hour = cal.HOURS[np.append(stratified_codes(rng, rows, hour_p), 0)]

    # category preferences: global class weight x personal taste x lifestage tilt
    n_classes = len(catalogue.department_of_class)
    class_weight = np.bincount(catalogue.class_of, weights=catalogue.popularity, minlength=n_classes)
    lifestage_tilt = rng.lognormal(0.0, 0.3, (7, n_classes))
    taste = np.empty((c + 1, n_classes))
    for lo in range(0, c, 50_000):  # bounded temporaries
        hi = min(lo + 50_000, c)
        taste[lo:hi] = class_weight * rng.lognormal(0.0, cfg.preference_sigma, (hi - lo, n_classes))
        taste[lo:hi] *= lifestage_tilt[seg2[lo:hi]]
    taste[c] = class_weight
    kind_classes = [np.flatnonzero(catalogue.kind_of_class == k) for k in range(N_KINDS)]
    classes = [CategoricalRows.from_weights(taste[:, cols]) for cols in kind_classes]
    del taste

    favourites = np.empty((c, sum(cal.FAVOURITES_PER_KIND)), dtype=np.int64)
    within = CategoricalSegments.from_weights(catalogue.popularity, catalogue.class_of)
    col = 0
    for kind, count in enumerate(cal.FAVOURITES_PER_KIND):
        rows = np.repeat(np.arange(c), count)
        cls = kind_classes[kind][classes[kind].draw(rows, rng.random(len(rows)))]
        favourites[:, col:col + count] = within.draw(cls, rng.random(len(rows))).reshape(c, count)
        col += count
    return Customers(
        number=number, seg1=seg1, seg2=seg2, first_week=first, last_week=last, rate=rate,
        home_store=home, loyalty=loyalty, favourite_share=fav_share, type_cum=type_cum,
        weekday=weekday, hour=hour, classes=classes, kind_classes=kind_classes, favourites=favourites,
    )


@dataclass
class World:
    catalogue: Catalogue
    stores: Stores
    customers: Customers


def build_world(cfg: SynthConfig, seed: int) -> World:
    catalogue = build_catalogue(cfg, seed)
    stores = build_stores(cfg, seed)
    return World(catalogue, stores, build_customers(cfg, seed, catalogue, stores))
