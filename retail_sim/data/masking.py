"""Masked-item selection and trip-context dropout: pure, vectorised, keyed by basket id.

Every random draw is a counter-based hash of (seed, epoch, stream, basket_id, position), so a
basket's masks depend neither on which batch it lands in, nor on the number of workers or
ranks, nor on the order of iteration. Evaluation uses a fixed epoch, which makes its masks a
function of the basket id alone.
"""

from __future__ import annotations

import numpy as np

from retail_sim.vocab import FIRST_PRODUCT_IDX, MASK_IDX

# stream tags: independent draws for each decision
CHOOSE, PICK, TRIP, SAMPLE = 1, 2, 5, 7
EVAL_EPOCH = -1  # the epoch evaluation masks are drawn for

KEEP, MASK_TOKEN, RANDOM_TOKEN, UNCHANGED = 0, 1, 2, 3  # kind of each position

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 arrays (wrapping arithmetic)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def basket_keys(basket_id: np.ndarray, seed: int, epoch: int, stream: int) -> np.ndarray:
    """[B] uint64 key of each basket for one random stream."""
    head = np.uint64((seed * 1_000_003 + epoch * 7919 + stream * 104_729) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        key = _splitmix(np.full(1, head, dtype=np.uint64))
        return _splitmix(np.asarray(basket_id, dtype=np.int64).view(np.uint64) ^ key)


def evaluation_sample(basket_id: np.ndarray, max_baskets: int, seed: int) -> np.ndarray:
    """The baskets `evaluate` scores: every one when max_baskets is 0 or not exceeded, else the
    max_baskets with the smallest hash key of (seed, basket id) — a uniform sample that depends on
    neither order nor batching, and a larger cap keeps every basket of a smaller one.
    basket_id [n] distinct -> sorted [min(n, max_baskets)] int64."""
    ids = np.unique(np.asarray(basket_id, dtype=np.int64))
    if max_baskets <= 0 or len(ids) <= max_baskets:
        return ids
    keys = basket_keys(ids, seed, EVAL_EPOCH, SAMPLE)
    pick = np.argsort(keys, kind="stable")[:max_baskets]
    return np.sort(ids[pick])


def uniforms(basket_id: np.ndarray, seed: int, epoch: int, stream: int, width: int | None = None) -> np.ndarray:
    """Uniform [0, 1) draws: [B] when width is None, else [B, width] (one per position)."""
    keys = basket_keys(basket_id, seed, epoch, stream)
    with np.errstate(over="ignore"):
        if width is not None:
            keys = _splitmix(keys[:, None] + np.arange(width, dtype=np.uint64)[None, :] * _GOLDEN)
    return (keys >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def assign_kinds(u_kind: np.ndarray, chosen: np.ndarray, mask_token_frac: float, random_token_frac: float) -> np.ndarray:
    """[B, S] int8: KEEP where not chosen; of chosen, MASK_TOKEN (u < mask_token_frac),
    RANDOM_TOKEN (next random_token_frac), else UNCHANGED."""
    kind = np.where(
        u_kind < mask_token_frac,
        MASK_TOKEN,
        np.where(u_kind < mask_token_frac + random_token_frac, RANDOM_TOKEN, UNCHANGED),
    ).astype(np.int8)
    kind[~chosen] = KEEP
    return kind


def apply_kinds(product_ids: np.ndarray, kind: np.ndarray, u_random: np.ndarray, n_products_total: int) -> np.ndarray:
    """[B, S] input ids: MASK_IDX at MASK_TOKEN, a uniform product id in
    [FIRST_PRODUCT_IDX, n_products_total) at RANDOM_TOKEN, the true id elsewhere."""
    n_real = max(n_products_total - FIRST_PRODUCT_IDX, 1)
    random_ids = FIRST_PRODUCT_IDX + np.minimum((u_random * n_real).astype(np.int64), n_real - 1)
    out = np.where(kind == MASK_TOKEN, MASK_IDX, product_ids)
    return np.where(kind == RANDOM_TOKEN, random_ids, out)


def mask_slots(
    product_ids: np.ndarray,
    real: np.ndarray,
    row_of: np.ndarray,
    position: np.ndarray,
    row_slot: np.ndarray,
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
) -> tuple[np.ndarray, np.ndarray]:
    """Choose and replace the masked items of several batches laid out as flat slots (each batch
    padded to its own S): slots [T] with their row, position and real flag, rows [n] with their
    first slot and real length. Each real position is chosen with mask_prob (a basket with none
    gets the position floor(u * seq_len)); of the chosen, MASK_TOKEN / RANDOM_TOKEN / UNCHANGED by
    mask_token_frac / random_token_frac. Evaluation: epoch EVAL_EPOCH and always the MASK token,
    so the masks are a function of (seed, basket id). Every draw is keyed by (basket, position),
    so a value does not depend on the batch or chunk (oracle: tests/oracles.py mask_baskets).
    Returns (input ids [T] int64, chosen slots [K] int64 ascending)."""
    if evaluation:
        epoch, mask_token_frac, random_token_frac = EVAL_EPOCH, 1.0, 0.0
    keys = basket_keys(basket_id, seed, epoch, CHOOSE)
    with np.errstate(over="ignore"):
        z = _splitmix(keys[row_of] + position.astype(np.uint64) * _GOLDEN)
    chosen = ((z >> np.uint64(43)).astype(np.float64) * (1.0 / (1 << 21)) < mask_prob) & real
    counts = np.add.reduceat(chosen, row_slot[:-1], dtype=np.int64) if seq_len.size else seq_len
    none = (counts == 0) & (seq_len > 0)
    if none.any():
        rows = np.flatnonzero(none)
        u_pick = uniforms(basket_id[rows], seed, epoch, PICK)
        chosen[row_slot[rows] + np.minimum((u_pick * seq_len[rows]).astype(np.int64), seq_len[rows] - 1)] = True
    idx = np.flatnonzero(chosen)
    input_ids = product_ids.copy()
    if mask_token_frac >= 1.0:
        input_ids[idx] = MASK_IDX
        return input_ids, idx
    zc = z[idx]
    mask = np.uint64((1 << 21) - 1)
    scale = 1.0 / (1 << 21)
    kind = assign_kinds(((zc >> np.uint64(22)) & mask).astype(np.float64) * scale, np.ones(idx.size, dtype=bool),
                        mask_token_frac, random_token_frac)
    u_random = ((zc >> np.uint64(1)) & mask).astype(np.float64) * scale
    input_ids[idx] = apply_kinds(product_ids[idx], kind, u_random, n_products_total)
    return input_ids, idx


def trip_hidden(basket_id: np.ndarray, *, seed: int, epoch: int, dropout: float) -> np.ndarray:
    """[B] bool: True = T6 zeroed and the auxiliary labels active; False = T6 visible, labels ignored."""
    return uniforms(basket_id, seed, epoch, TRIP) < dropout
