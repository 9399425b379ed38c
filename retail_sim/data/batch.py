"""WorldModelBatch: the tensors one training or evaluation step sees.

Widths are the design's T1–T6 contract, fixed in retail_sim/widths.py (B = baskets, S = longest
basket in the batch, M = most masked positions of any basket in the batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch

from retail_sim.widths import (  # noqa: F401  (the T1–T6 widths, re-exported for the loader and the model)
    CUSTOMER_DIM,
    PRICE_DIM,
    PRODUCT_DIM,
    STORE_DIM,
    TEMPORAL_DIM,
    TRIP_DIM,
)

DENSE_DIM = CUSTOMER_DIM + TEMPORAL_DIM + STORE_DIM + TRIP_DIM  # 400
SEQUENCE_DIM = PRODUCT_DIM + PRICE_DIM  # 320
IGNORE_INDEX = -100
AUXILIARY_TASKS = ("mission_type", "mission_focus", "price_sensitivity", "basket_size")


@dataclass
class WorldModelBatch:
    customer_context: torch.Tensor  # [B, 192] float32 (T1)
    product_embeddings: torch.Tensor  # [B, S, 256] float32 (T2), zeros at PAD
    temporal_context: torch.Tensor  # [B, 64] float32 (T3)
    price_features: torch.Tensor  # [B, S, 64] float32 (T4), zeros at PAD and masked positions
    store_context: torch.Tensor  # [B, 96] float32 (T5)
    trip_context: torch.Tensor  # [B, 48] float32 (T6), zeros when its labels are active
    attention_mask: torch.Tensor  # [B, S] bool, True at real positions
    product_ids: torch.Tensor  # [B, S] int64, input ids after masking (PAD 0, MASK 2)
    masked_positions: torch.Tensor  # [B, M] int64, -100 padding
    masked_targets: torch.Tensor  # [B, M] int64 true product ids, -100 padding
    history_ids: torch.Tensor  # [B, K] int64: the customer's top-K earlier products, PAD 0 after the last
    history_features: torch.Tensor  # [B, K, F] float32 (data/history.py FEATURES), zeros at PAD
    history_mask: torch.Tensor  # [B, K] bool, True at real history products
    auxiliary_labels: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [B] int64, -100 ignore
    basket_id: torch.Tensor | None = None  # [B] int64
    week: torch.Tensor | None = None  # [B] int64

    def get_dense_context(self) -> torch.Tensor:
        """[B, 400] = T1 ‖ T3 ‖ T5 ‖ T6."""
        return torch.cat(
            [self.customer_context, self.temporal_context, self.store_context, self.trip_context], dim=-1
        )

    def get_sequence_features(self) -> torch.Tensor:
        """[B, S, 320] = T2 ‖ T4."""
        return torch.cat([self.product_embeddings, self.price_features], dim=-1)

    def _map(self, fn) -> WorldModelBatch:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                out[f.name] = fn(value)
            elif isinstance(value, dict):
                out[f.name] = {k: fn(v) for k, v in value.items()}
            else:
                out[f.name] = value
        return WorldModelBatch(**out)

    def to(self, device, non_blocking: bool = True) -> WorldModelBatch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def select(self, rows) -> WorldModelBatch:
        """The batch of baskets `rows` (indices or a bool mask over B); every field keeps its layout."""
        return self._map(lambda t: t[rows])

    def pin_memory(self) -> WorldModelBatch:
        return self._map(lambda t: t.pin_memory())

    @property
    def batch_size(self) -> int:
        return int(self.customer_context.shape[0])
