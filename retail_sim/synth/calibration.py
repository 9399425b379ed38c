"""Target figures of the real LGSR data that the generator imitates.

Shares and counts come from /work/shared/data/LGSR.md ("sample": the 5,000-customer sample,
113 weeks) or, where marked "18-week sample", from ../shared/data/lgsr-sample (486,351 rows,
74,415 baskets). Tables are raw counts; code normalises them.
"""

from __future__ import annotations

import numpy as np

# --- basket attributes -------------------------------------------------------------------------

BASKET_TYPES = ("Top Up", "Full Shop", "Small Shop", "XX")
TYPE_SHARES = (0.33, 0.11, 0.55, 0.013)  # by basket (LGSR.md)
MISSIONS = ("Fresh", "Grocery", "Mixed", "Nonfood", "XX")
# baskets by BASKET_TYPE (rows, in BASKET_TYPES order) x DOMINANT_MISSION (18-week sample)
MISSION_BY_TYPE = np.array([
    [13544, 3041, 8161, 226, 0],
    [3531, 395, 4524, 4, 0],
    [21799, 10195, 5013, 3381, 0],
    [0, 0, 0, 0, 1],
], dtype=np.float64)
PRICE_SENSITIVITIES = ("LA", "MM", "UM", "XX")  # BASKET_PRICE_SENSITIVITY; XX only with type XX
BASKET_SIZES = ("S", "M", "L")

# baskets by customer seg_1 (rows: AZ/LA, BG/UM, CT/MM, DY/XX, anonymous) x basket
# price sensitivity LA, MM, UM (18-week sample)
PRICE_SENSITIVITY_BY_SEG1 = np.array([
    [7989, 6447, 1351],
    [1210, 6637, 8432],
    [5098, 14874, 6257],
    [62, 127, 56],
    [4268, 7520, 3145],
], dtype=np.float64)

# lines per basket. Small Shop: counts of 1..10 lines (18-week sample); XX: shares of 1..3.
SMALL_SHOP_LINES = np.array([13426, 11211, 8239, 4153, 1968, 865, 383, 95, 45, 3], dtype=np.float64)
XX_LINES = np.array([0.967, 0.031, 0.002])
# Top Up: 1-3 lines with these counts (share TOP_UP_SHORT), else 4 + NegBin(r, mean)
TOP_UP_SHORT_LINES = np.array([102, 273, 330], dtype=np.float64)
TOP_UP_SHORT = 0.027
TOP_UP_NB = (2.5, 4.75)
TOP_UP_MAX = 40
FULL_SHOP_MIN = 8  # Full Shop: 8 + NegBin(r, mean), at most FULL_SHOP_MAX lines
FULL_SHOP_NB = (4.0, 12.65)
FULL_SHOP_MAX = 87

# BASKET_SIZE given type and line count 1..9 (columns S, M, L; 18-week sample); 10+ lines -> L.
SIZE_BY_TYPE_LINES = np.array([
    # Top Up
    [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 1595, 436], [0, 2321, 615], [0, 1955, 1144],
     [0, 1579, 1237], [0, 635, 1879], [0, 471, 1719]],
    # Full Shop
    [[0, 0, 1]] * 9,
    # Small Shop
    [[10659, 2767, 0], [8109, 3092, 10], [0, 8217, 22], [0, 4120, 33], [0, 1929, 39],
     [0, 833, 32], [0, 356, 27], [0, 75, 20], [0, 41, 4]],
    # XX
    [[404, 167, 10], [12, 7, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0],
     [0, 1, 0], [0, 1, 0]],
], dtype=np.float64)

# baskets by hour 8..22 (LGSR.md): 8 and 21 collect the early and late hours
HOURS = np.arange(8, 23)
HOUR_BASKETS = np.array([28252, 19396, 26083, 33270, 38389, 42447, 43009, 41962, 40004, 36491,
                         32846, 27736, 22608, 40534, 1], dtype=np.float64)

# --- lines -------------------------------------------------------------------------------------

# QUANTITY: share of lines (LGSR.md, 18-week sample for 7..12); 2 never occurs; the rest
# (TAIL) is 12 + ceil(lognormal(QUANTITY_TAIL_MU, QUANTITY_TAIL_SIGMA)), at most QUANTITY_MAX.
QUANTITY_VALUES = np.array([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
QUANTITY_SHARES = np.array([0.825, 0.1375, 0.0183, 0.0037, 0.0068, 0.0024, 0.0019, 0.0014,
                            0.0004, 0.0005, 0.0004])
QUANTITY_TAIL_MU = 2.8
QUANTITY_TAIL_SIGMA = 1.0
QUANTITY_MAX = 1685

# --- customers ---------------------------------------------------------------------------------

SEG1_CODES = ("AZ", "BG", "CT", "DY")  # seg variant; named variant: LA, UM, MM, XX
SEG1_NAMED = ("LA", "UM", "MM", "XX")
SEG1_SHARES = (21.5, 22.3, 36.6, 0.1)  # % of rows (LGSR.md)
SEG2_CODES = ("AT", "BU", "CZ", "DI", "EQ", "FN", "")  # "" = known customer, lifestage unknown
SEG2_NAMED = ("YA", "OT", "OA", "YF", "OF", "PE", "XX")
SEG2_SHARES = (10.6, 24.2, 9.9, 16.5, 4.2, 5.5, 9.8)  # % of rows; 9.8 = 29.3 empty - 19.5 anonymous
# baskets per week while active: lognormal(median, sigma) capped; fitted (with the arrival and
# churn shares of SynthConfig) so that over 113 weeks the baskets per customer have median ~39,
# mean ~76 and active weeks median ~30 (LGSR.md), and over the 18 weeks of lgsr-sample median
# ~12, mean ~16.5, with ~72% of customers seen
RATE_MEDIAN = 0.85
RATE_SIGMA = 0.85
RATE_MAX = 8.0
CHRISTMAS_FACTOR = 0.65  # rows per week: 17,237 in Christmas week vs ~27,000 otherwise
PRE_CHRISTMAS_FACTOR = 1.08

# --- products: the 9 top-level departments (PROD_CODE_40) of the 18-week sample ------------------

# kind: 0 fresh, 1 grocery, 2 nonfood -- the line kinds the dominant missions draw from
DEPARTMENT_KIND = np.array([0, 0, 1, 2, 2, 2, 2, 1, 1])
DEPARTMENT_G = np.array([3, 6, 7, 4, 3, 2, 1, 3, 2])  # PROD_CODE_30 per department (31)
DEPARTMENT_DEP = np.array([7, 27, 22, 11, 9, 3, 1, 8, 2])  # PROD_CODE_20 (90)
DEPARTMENT_CL = np.array([22, 80, 69, 25, 29, 3, 1, 18, 3])  # PROD_CODE_10 (250)
DEPARTMENT_PRODUCTS = np.array([379, 1718, 1834, 139, 742, 6, 1, 162, 16])  # PROD_CODE (4,997)
DEPARTMENT_ROW_SHARE = np.array([0.0898, 0.4975, 0.2872, 0.0062, 0.0981, 0.0016, 0.0001, 0.0162,
                                 0.0033])
DEPARTMENT_PRICE_MEDIAN = np.array([0.91, 1.21, 0.85, 1.25, 0.97, 4.08, 9.36, 4.47, 0.42])
POPULARITY_PRICE_POWER = 0.2
# list prices sit above the row-weighted medians because cheaper products sell more
PRICE_LEVEL = 1.12
POPULARITY_SIGMA = 1.0  # product popularity lognormal (rows per product p10/p50/p90 = 15/55/206)
# probability that a line's kind is fresh / grocery / nonfood, by DOMINANT_MISSION
KIND_BY_MISSION = np.array([
    [0.80, 0.12, 0.08],  # Fresh
    [0.10, 0.80, 0.10],  # Grocery
    [0.42, 0.43, 0.15],  # Mixed
    [0.05, 0.05, 0.90],  # Nonfood
    [0.587, 0.307, 0.106],  # XX: the row shares of the kinds
])
FAVOURITES_PER_KIND = (12, 10, 4)

# --- stores ------------------------------------------------------------------------------------

STORE_FORMATS = ("LS", "MS", "SS", "XLS")
STORE_FORMAT_COUNTS = np.array([330, 236, 167, 28])
STORE_FORMAT_BASKETS = np.array([133.0, 78.0, 41.0, 193.0])  # baskets per store (18-week sample)
STORE_REGIONS = ("E01", "E02", "E03", "N01", "N02", "N03", "S01", "S02", "S03", "W01", "W02", "W03")
STORE_REGION_COUNTS = np.array([60, 60, 58, 63, 59, 75, 62, 77, 56, 64, 73, 54])  # 761
STORE_MAX_NUMBER = 2908
