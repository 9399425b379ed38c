"""Handing batches from DataLoader worker processes to the main process: 3 shared-memory tensors
(floats, ints, attention mask) and their shapes instead of ~17 tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from retail_sim.data.batch import WorldModelBatch

_FLOATS = ("customer_context", "product_embeddings", "temporal_context", "price_features", "store_context", "trip_context",
           "history_features")
_INTS = ("product_ids", "masked_positions", "masked_targets", "history_ids", "basket_id", "week")


def pack(batch: WorldModelBatch) -> tuple:
    """A batch as 3 tensors + shapes: worker processes hand over 3 shared-memory tensors instead of ~17."""
    aux = tuple(batch.auxiliary_labels)
    ints = [getattr(batch, f) for f in _INTS] + [batch.auxiliary_labels[k] for k in aux]
    floats = [getattr(batch, f) for f in _FLOATS]
    spec = (tuple(tuple(t.shape) for t in floats), tuple(tuple(t.shape) for t in ints), aux)
    return (torch.cat([t.reshape(-1) for t in floats]), torch.cat([t.reshape(-1) for t in ints]),
            batch.attention_mask, spec)


def unpack(packed: tuple) -> WorldModelBatch:
    """Inverse of pack: views into the packed tensors."""
    floats, ints, attention_mask, (float_shapes, int_shapes, aux) = packed
    out: dict[str, Any] = {"attention_mask": attention_mask}
    for buf, names, shapes in ((floats, _FLOATS, float_shapes), (ints, _INTS + aux, int_shapes)):
        at = 0
        for name, shape in zip(names, shapes, strict=True):
            n = int(np.prod(shape))
            out[name] = buf[at:at + n].view(shape)
            at += n
    out["auxiliary_labels"] = {k: out.pop(k) for k in aux}
    out["history_mask"] = out["history_ids"] != 0  # a function of the ids: not sent
    return WorldModelBatch(**out)
