"""retail-sim: training data, loader and trainer for retail basket world models (dunnhumby LGSR)."""

__version__ = "0.1.0"
