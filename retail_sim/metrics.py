"""Evaluation metrics as pure functions over arrays: ranks, accuracy, recall@k, MRR, macro-F1.

Ranks are 1-based; ties are broken towards the lower product id (a fixed rule shared by the
model and every baseline, so equal scores never favour one of them)."""

from __future__ import annotations

import numpy as np
import torch

from retail_sim.vocab import FIRST_PRODUCT_IDX

RECALL_KS = (10, 20)
EXCLUDED_SCORE = float("-inf")


def exclude_known(scores: torch.Tensor, product_ids: torch.Tensor) -> torch.Tensor:
    """scores [N, V] with the special ids and each row's visible products ([N, S] input ids, MASK
    at hidden positions) set to -inf (in place, returned): the candidates no scorer may rank, as
    products are distinct within a basket. Used for the model and every baseline alike."""
    scores[:, :FIRST_PRODUCT_IDX] = EXCLUDED_SCORE
    visible = product_ids.clamp(min=0).to(scores.device)
    scores.scatter_(1, visible, EXCLUDED_SCORE)  # ids < FIRST_PRODUCT_IDX land on already-excluded columns
    return scores


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """scores [N, V] float, targets [N] int64 -> ranks [N] int64 (1 = best).

    rank = 1 + #(candidates scoring higher) + #(candidates scoring equal with a lower id)."""
    target_scores = scores.gather(1, targets.unsqueeze(1))  # [N, 1]
    ids = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)  # [1, V]
    ahead = (scores > target_scores) | ((scores == target_scores) & (ids < targets.unsqueeze(1)))
    return ahead.sum(dim=1) + 1


def ranking_metrics(ranks: np.ndarray) -> dict[str, float]:
    """ranks [N] (1-based) -> accuracy (rank 1), recall@10, recall@20, MRR, n_items. NaN when N = 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    n = len(ranks)
    out = {"n_items": n}
    if n == 0:
        out.update({"accuracy": float("nan"), **{f"recall@{k}": float("nan") for k in RECALL_KS}, "mrr": float("nan")})
        return out
    out["accuracy"] = float(np.mean(ranks == 1))
    for k in RECALL_KS:
        out[f"recall@{k}"] = float(np.mean(ranks <= k))
    out["mrr"] = float(np.mean(1.0 / ranks))
    return out


def grouped_ranking_metrics(ranks: np.ndarray, groups: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Per-group ranking metrics: ranks [N], groups [N] in 0..n_groups-1 -> name -> [n_groups]
    (NaN for an empty group)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    count = np.bincount(groups, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"n_items": count.astype(np.int64),
               "accuracy": np.bincount(groups, weights=(ranks == 1), minlength=n_groups) / count}
        for k in RECALL_KS:
            out[f"recall@{k}"] = np.bincount(groups, weights=(ranks <= k), minlength=n_groups) / count
        out["mrr"] = np.bincount(groups, weights=1.0 / ranks, minlength=n_groups) / count
    return out


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes that occur in y_true or y_pred
    (a class neither present nor predicted has no F1 and is left out). NaN when empty."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        return float("nan")
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_classes).astype(np.float64)
    support = np.bincount(y_true, minlength=n_classes).astype(np.float64)
    predicted = np.bincount(y_pred, minlength=n_classes).astype(np.float64)
    present = (support + predicted) > 0
    f1 = 2 * tp[present] / (support[present] + predicted[present])
    return float(np.mean(f1))
