"""LGSR CSV text of a synthetic week, built column-wise with Arrow string kernels.

Fields are written as the real files write them: unquoted, missing values as `""`, SPEND as
the shortest decimal with one or two places (2.0, 0.9, 1.23), LF line ends, rows ordered by
STORE_CODE then PROD_CODE. Lookup texts (product, customer, store, basket attributes) are built
once per run; each row is then a join of taken texts: no per-row Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_sim.synth import calibration as cal
from retail_sim.synth.week import WeekBaskets, WeekLines
from retail_sim.synth.world import World

COLUMNS_BEFORE = ("SHOP_WEEK,SHOP_DATE,SHOP_WEEKDAY,SHOP_HOUR,QUANTITY,SPEND,PROD_CODE,PROD_CODE_10,"
                  "PROD_CODE_20,PROD_CODE_30,PROD_CODE_40,CUST_CODE")
COLUMNS_AFTER = ("BASKET_ID,BASKET_SIZE,BASKET_PRICE_SENSITIVITY,BASKET_TYPE,BASKET_DOMINANT_MISSION,"
                 "STORE_CODE,STORE_FORMAT,STORE_REGION")
SEGMENT_COLUMNS = {"seg": "seg_1,seg_2", "named": "CUST_PRICE_SENSITIVITY,CUST_LIFESTAGE"}
EMPTY = '""'
BASKET_ID_PREFIX = 9941 * 10**11  # 9941, then the 3-digit week index, then an 8-digit serial
# the digits after the decimal point of a cent amount's last two digits: 0 -> "0", 50 -> "5", 7 -> "07"
CENTS_TEXT = pa.array(["0" if c == 0 else f"{c // 10}" if c % 10 == 0 else f"{c:02d}" for c in range(100)])


def header(variant: str) -> str:
    """The header line (with LF) of header variant 'seg' or 'named'."""
    return f"{COLUMNS_BEFORE},{SEGMENT_COLUMNS[variant]},{COLUMNS_AFTER}\n"


@dataclass(frozen=True)
class RowTexts:
    product: pa.Array  # [P] "PRD0900001,CL00001,DEP00001,G00001,D00001"
    customer: pa.Array  # [C + 1] "CUST0000000013,CT,BU"; row C: '"","",""'
    store: pa.Array  # [N] "STORE00001,LS,E02\n"
    attributes: pa.Array  # [3*4*4*5] "L,MM,Top Up,Fresh", see attribute_index
    product_number: np.ndarray  # [P] the sort key of PROD_CODE


def attribute_index(b: WeekBaskets) -> np.ndarray:
    return ((b.size * 4 + b.price_sensitivity) * 4 + b.basket_type) * 5 + b.mission


def row_texts(world: World, variant: str) -> RowTexts:
    cat, cust, stores = world.catalogue, world.customers, world.stores
    group = cat.group_of_department[cat.department_of_class[cat.class_of]]
    product = [
        f"PRD09{n:05d},CL{c + 1:05d},DEP{d + 1:05d},G{g + 1:05d},D{v + 1:05d}"
        for n, c, d, g, v in zip(cat.number.tolist(), cat.class_of.tolist(),
                                 cat.department_of_class[cat.class_of].tolist(), group.tolist(),
                                 cat.division_of_group[group].tolist(), strict=True)
    ]
    seg1 = cal.SEG1_CODES if variant == "seg" else cal.SEG1_NAMED
    seg2 = [s or EMPTY for s in cal.SEG2_CODES] if variant == "seg" else cal.SEG2_NAMED
    customer = [f"CUST{n:010d},{seg1[a]},{seg2[b]}"
                for n, a, b in zip(cust.number.tolist(), cust.seg1.tolist(), cust.seg2.tolist(), strict=True)]
    customer.append(f"{EMPTY},{EMPTY},{EMPTY}")
    store = [f"STORE{n:05d},{cal.STORE_FORMATS[f]},{cal.STORE_REGIONS[r]}\n"
             for n, f, r in zip(stores.number.tolist(), stores.format.tolist(), stores.region.tolist(), strict=True)]
    attributes = [f"{size},{ps},{bt},{m}" for size in cal.BASKET_SIZES for ps in cal.PRICE_SENSITIVITIES
                  for bt in cal.BASKET_TYPES for m in cal.MISSIONS]
    return RowTexts(pa.array(product), pa.array(customer), pa.array(store), pa.array(attributes),
                    cat.number)


def basket_ids(week: int, serial: np.ndarray) -> np.ndarray:
    """BASKET_ID: digits 5-7 are the week index (001 = 200607): [B] int64."""
    return BASKET_ID_PREFIX + week * 10**8 + serial.astype(np.int64)


def spend_text(cents: np.ndarray) -> pa.Array:
    """SPEND from cents: 123 -> "1.23", 90 -> "0.9", 200 -> "2.0"."""
    return pc.binary_join_element_wise(pc.cast(pa.array(cents // 100), pa.string()),
                                       CENTS_TEXT.take(pa.array(cents % 100)), ".")


def row_order(texts: RowTexts, baskets: WeekBaskets, lines: WeekLines) -> np.ndarray:
    """Rows by STORE_CODE, then PROD_CODE, then line order (stable): [R] int64."""
    key = baskets.store[lines.basket] * (len(texts.product_number) + 1) + texts.product_number[lines.product]
    return np.argsort(key, kind="stable")


def week_csv(texts: RowTexts, week: int, shop_week: int, dates: np.ndarray, weekday_codes: np.ndarray,
             baskets: WeekBaskets, lines: WeekLines) -> pa.Array:
    """The week's rows as one Arrow string array, each row ending in LF, ordered by store then product."""
    order = row_order(texts, baskets, lines)
    basket = lines.basket[order]
    day_hour = pa.array([f"{shop_week},{dates[d]},{weekday_codes[d]},{h}" for d in range(7) for h in range(24)])
    head = day_hour.take(pa.array(baskets.day * 24 + baskets.hour))
    tail = pc.binary_join_element_wise(
        texts.customer.take(pa.array(baskets.customer)),
        pc.cast(pa.array(basket_ids(week, baskets.serial)), pa.string()),
        texts.attributes.take(pa.array(attribute_index(baskets))),
        texts.store.take(pa.array(baskets.store)),
        ",",
    )
    rows = pa.array(basket)
    return pc.binary_join_element_wise(
        head.take(rows),
        pc.cast(pa.array(lines.quantity[order]), pa.string()),
        spend_text(lines.spend_cents[order]),
        texts.product.take(pa.array(lines.product[order])),
        tail.take(rows),
        ",",
    )


def text_bytes(rows: pa.Array) -> memoryview:
    """The concatenated bytes of a string array (its value buffer between the first and last offset)."""
    if len(rows) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    return memoryview(rows.buffers()[2])[int(offsets[0]):int(offsets[-1])]
