"""retail-sim: training data, loader and trainer for retail basket world models (dunnhumby LGSR).

Public names are imported lazily so `import retail_sim` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "retail_sim.config",
    "load_config": "retail_sim.config",
    "TensorCache": "retail_sim.cache.tensor_cache",
    "WorldModelBatch": "retail_sim.data.batch",
    "Prepared": "retail_sim.prepared",
    "WorldModelDataset": "retail_sim.data.dataset",
    "WorldModelDataLoader": "retail_sim.data.loader",
    "EvaluationDataLoader": "retail_sim.data.evaluation",
    "WorldModel": "retail_sim.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retail_sim' has no attribute {name!r}")
