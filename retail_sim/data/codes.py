"""Fixed code tables of the basket attributes: T6 one-hot slots and auxiliary label ids.

The order is the label id (-100 = ignore, for XX / NULL)."""

MISSION_TYPES = ("Top Up", "Full Shop", "Small Shop")  # BASKET_TYPE
DOMINANT_MISSIONS = ("Fresh", "Grocery", "Mixed", "Nonfood")  # BASKET_DOMINANT_MISSION
PRICE_SENSITIVITIES = ("LA", "MM", "UM")  # BASKET_PRICE_SENSITIVITY
BASKET_SIZES = ("S", "M", "L")  # BASKET_SIZE

# auxiliary task -> (sample column, classes)
AUXILIARY_CODES = {
    "mission_type": ("mission_type", MISSION_TYPES),
    "mission_focus": ("dominant_mission", DOMINANT_MISSIONS),
    "price_sensitivity": ("basket_price_sensitivity", PRICE_SENSITIVITIES),
    "basket_size": ("basket_size", BASKET_SIZES),
}

# T6 [48] = mission type 16 ‖ dominant mission 16 ‖ basket price sensitivity 8 ‖ basket size 8.
# Each block is a fixed one-hot code: class i sets slot i of its block; the remaining slots of a
# block stay zero (reserved). Unknown (XX / NULL) and hidden trip context are all zeros.
TRIP_BLOCKS = (
    ("mission_type", 16),
    ("mission_focus", 16),
    ("price_sensitivity", 8),
    ("basket_size", 8),
)
