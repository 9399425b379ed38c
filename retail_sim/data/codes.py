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
