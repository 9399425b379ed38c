"""Reference implementations kept as test oracles: each states a rule of the loader the plain way
(one padded [B, S] batch at a time), and a test checks the fast implementation in the package
against it on the same inputs. The package has one implementation of each rule; these are not
imported by it.

- mask_baskets: the masking rule on a padded batch; retail_sim.data.masking.mask_slots is the
  one the loader runs (flat slots of several batches, each padded to its own S).
- encode_products: T2 on a padded batch; retail_sim.data.assemble.build_batches gathers it inline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_sim.data.batch import IGNORE_INDEX
from retail_sim.data.masking import (
    _GOLDEN,
    CHOOSE,
    EVAL_EPOCH,
    KEEP,
    MASK_TOKEN,
    PICK,
    _splitmix,
    apply_kinds,
    assign_kinds,
    basket_keys,
    uniforms,
)
from retail_sim.vocab import MASK_IDX, PAD_IDX, UNK_IDX


def position_uniforms(basket_id: np.ndarray, seed: int, epoch: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three independent [B, width] uniform draws (21 bits each) from one 64-bit hash per position:
    (choose, kind, random id)."""
    keys = basket_keys(basket_id, seed, epoch, CHOOSE)
    with np.errstate(over="ignore"):
        z = _splitmix(keys[:, None] + np.arange(width, dtype=np.uint64)[None, :] * _GOLDEN)
    scale = 1.0 / (1 << 21)
    mask = np.uint64((1 << 21) - 1)
    return (
        (z >> np.uint64(43)).astype(np.float64) * scale,
        ((z >> np.uint64(22)) & mask).astype(np.float64) * scale,
        ((z >> np.uint64(1)) & mask).astype(np.float64) * scale,
    )


def choose_positions(u_choose: np.ndarray, u_pick: np.ndarray, seq_len: np.ndarray, mask_prob: float) -> np.ndarray:
    """[B, S] bool: real positions (index < seq_len) chosen with mask_prob; a basket with none
    chosen gets the position floor(u_pick * seq_len). PAD is never chosen."""
    B, S = u_choose.shape
    real = np.arange(S)[None, :] < seq_len[:, None]
    chosen = (u_choose < mask_prob) & real
    none = ~chosen.any(axis=1) & (seq_len > 0)
    if none.any():
        rows = np.nonzero(none)[0]
        pos = np.minimum((u_pick[rows] * seq_len[rows]).astype(np.int64), seq_len[rows] - 1)
        chosen[rows, pos] = True
    return chosen


def masked_lists(product_ids: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """masked_positions, masked_targets [B, M] int64 (M = most chosen in a basket, >= 1),
    ascending positions, IGNORE_INDEX padding."""
    counts = chosen.sum(axis=1)
    M = max(int(counts.max()) if counts.size else 0, 1)
    order = np.argsort(~chosen, axis=1, kind="stable")[:, :M]
    valid = np.arange(M)[None, :] < counts[:, None]
    targets = np.take_along_axis(product_ids, order, axis=1) if product_ids.shape[1] else np.zeros_like(order)
    positions = np.where(valid, order, IGNORE_INDEX).astype(np.int64)
    return positions, np.where(valid, targets, IGNORE_INDEX).astype(np.int64)


@dataclass
class Masked:
    input_ids: np.ndarray  # [B, S] int64 ids after masking (PAD 0 at padding)
    chosen: np.ndarray  # [B, S] bool
    kind: np.ndarray  # [B, S] int8
    masked_positions: np.ndarray  # [B, M] int64
    masked_targets: np.ndarray  # [B, M] int64


def mask_baskets(
    product_ids: np.ndarray,
    seq_len: np.ndarray,
    basket_id: np.ndarray,
    *,
    seed: int,
    epoch: int,
    mask_prob: float,
    mask_token_frac: float,
    random_token_frac: float,
    n_products_total: int,
    evaluation: bool = False,
) -> Masked:
    """Choose and replace masked items of a padded batch [B, S]. Evaluation: epoch EVAL_EPOCH
    and always the MASK token, so the masks are a function of (seed, basket id)."""
    B, S = product_ids.shape
    if evaluation:
        epoch, mask_token_frac, random_token_frac = EVAL_EPOCH, 1.0, 0.0
    u_choose, u_kind, u_random = position_uniforms(basket_id, seed, epoch, S)
    chosen = choose_positions(u_choose, uniforms(basket_id, seed, epoch, PICK), seq_len, mask_prob)
    if mask_token_frac >= 1.0:
        kind = np.where(chosen, MASK_TOKEN, KEEP).astype(np.int8)
        input_ids = np.where(chosen, MASK_IDX, product_ids)
    else:
        kind = assign_kinds(u_kind, chosen, mask_token_frac, random_token_frac)
        input_ids = apply_kinds(product_ids, kind, u_random, n_products_total)
    input_ids = np.where(np.arange(S)[None, :] < seq_len[:, None], input_ids, PAD_IDX).astype(np.int64)
    positions, targets = masked_lists(product_ids, chosen)
    return Masked(input_ids, chosen, kind, positions, targets)


def encode_products(cache, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """T2 [B, S, 256] = cache.product_embeddings[input_id] + cache.positional_encodings[position]
    at real positions; all zeros at PAD. Ids outside the vocab read the UNK row."""
    table = cache.product_embeddings
    ids = np.where((input_ids >= 0) & (input_ids < table.shape[0]), input_ids, UNK_IDX)
    S = ids.shape[1]
    out = np.asarray(table[ids], dtype=np.float32)
    out += cache.positional_encodings[:S]
    out[~attention_mask] = 0.0
    return out
