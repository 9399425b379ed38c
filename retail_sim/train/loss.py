"""The training objective: masked-item cross-entropy plus weighted auxiliary cross-entropies."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from retail_sim.config import AuxiliaryConfig
from retail_sim.data.batch import AUXILIARY_TASKS, IGNORE_INDEX, WorldModelBatch


def auxiliary_weights(cfg: AuxiliaryConfig) -> dict[str, float]:
    """task -> loss weight; tasks switched off (globally or per task) or with weight 0 are left out."""
    if not cfg.enabled:
        return {}
    weights = {}
    for task in AUXILIARY_TASKS:
        weight = float(getattr(cfg, task))
        if getattr(cfg, f"{task}_enabled") and weight > 0:
            weights[task] = weight
    return weights


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy over the targets != -100 and their count.

    logits [..., C] float, targets [...] int64. Returns (sum [], count [] int64); a batch without
    any label gives sum 0 that still depends on the logits (so backward and DDP see the graph)."""
    flat_logits = logits.reshape(-1, logits.shape[-1]).float()
    flat_targets = targets.reshape(-1)
    total = F.cross_entropy(flat_logits, flat_targets, ignore_index=IGNORE_INDEX, reduction="sum")
    count = (flat_targets != IGNORE_INDEX).sum()
    return total, count


def world_model_loss(
    outputs: dict[str, torch.Tensor], batch: WorldModelBatch, weights: dict[str, float]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss = mean masked-item CE + sum_task weight * mean auxiliary CE (each over its non -100 labels).

    Returns (loss [], parts) where parts holds per-term (sum, count) pairs as `<term>_sum` and
    `<term>_count` (detached), so validation can average exactly over many batches and ranks."""
    item_sum, item_count = masked_cross_entropy(outputs["item_logits"], batch.masked_targets)
    loss = item_sum / item_count.clamp(min=1)
    parts = {"item_sum": item_sum.detach(), "item_count": item_count}
    for task in AUXILIARY_TASKS:
        labels = batch.auxiliary_labels.get(task)
        if labels is None:
            continue
        aux_sum, aux_count = masked_cross_entropy(outputs[f"aux_{task}"], labels)
        parts[f"{task}_sum"] = aux_sum.detach()
        parts[f"{task}_count"] = aux_count
        if task in weights:
            loss = loss + weights[task] * aux_sum / aux_count.clamp(min=1)
    # keep every auxiliary head in the graph even when disabled or unlabelled (DDP needs all grads)
    for task in AUXILIARY_TASKS:
        if f"aux_{task}" in outputs:
            loss = loss + 0.0 * outputs[f"aux_{task}"].sum()
    return loss, parts


def combine_parts(parts: dict[str, float], weights: dict[str, float]) -> dict[str, float]:
    """Turn summed parts (sums and counts over batches/ranks) into mean losses and the total."""
    out = {}
    item = parts.get("item_sum", 0.0) / max(parts.get("item_count", 0.0), 1.0)
    out["item_loss"] = item
    total = item
    for task in AUXILIARY_TASKS:
        if f"{task}_count" in parts:
            value = parts[f"{task}_sum"] / max(parts[f"{task}_count"], 1.0)
            out[f"{task}_loss"] = value
            total += weights.get(task, 0.0) * value
    out["loss"] = total
    return out
