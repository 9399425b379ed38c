"""Masking rates, 80/10/10, never PAD, at least one per basket, determinism; trip-context rule."""

import numpy as np
from oracles import choose_positions, mask_baskets, masked_lists

from retail_sim.data.encoders import auxiliary_labels, encode_trip
from retail_sim.data.masking import (
    KEEP,
    MASK_TOKEN,
    RANDOM_TOKEN,
    UNCHANGED,
    apply_kinds,
    assign_kinds,
    evaluation_sample,
    trip_hidden,
    uniforms,
)
from retail_sim.vocab import FIRST_PRODUCT_IDX, MASK_IDX, PAD_IDX

N_PRODUCTS = 1003


def batch(B=4000, S=40, seed=0):
    rng = np.random.default_rng(seed)
    seq_len = rng.integers(1, S + 1, B)
    ids = rng.integers(FIRST_PRODUCT_IDX, N_PRODUCTS, (B, S))
    ids[np.arange(S)[None, :] >= seq_len[:, None]] = PAD_IDX
    basket_id = 994100100000000 + rng.choice(10**9, B, replace=False)
    return ids, seq_len, basket_id


def run(ids, seq_len, basket_id, epoch=0, evaluation=False, mask_prob=0.15):
    return mask_baskets(ids, seq_len, basket_id, seed=7, epoch=epoch, mask_prob=mask_prob, mask_token_frac=0.8,
                        random_token_frac=0.1, n_products_total=N_PRODUCTS, evaluation=evaluation)


def test_uniforms_are_uniform_and_keyed():
    u = uniforms(np.arange(20000), 1, 0, 1, 8)
    assert u.shape == (20000, 8) and (u >= 0).all() and (u < 1).all()
    assert abs(u.mean() - 0.5) < 0.005 and abs((u < 0.15).mean() - 0.15) < 0.005
    assert (uniforms(np.array([5, 9]), 1, 0, 1, 8)[1] == u[9]).all()  # independent of neighbours
    assert not np.allclose(uniforms(np.arange(100), 1, 1, 1), uniforms(np.arange(100), 1, 0, 1))
    assert not np.allclose(uniforms(np.arange(100), 1, 0, 2), uniforms(np.arange(100), 1, 0, 1))


def test_choose_positions_hand_worked():
    u = np.array([[0.1, 0.9, 0.05, 0.01], [0.9, 0.9, 0.9, 0.9], [0.01, 0.01, 0.01, 0.01]])
    chosen = choose_positions(u, np.array([0.0, 0.7, 0.0]), np.array([3, 4, 2]), 0.15)
    assert chosen.tolist() == [[True, False, True, False],  # position 3 is PAD
                               [False, False, True, False],  # none drawn: floor(0.7 * 4) = 2
                               [True, True, False, False]]


def test_kinds_and_ids_hand_worked():
    chosen = np.array([[True, True, True, False]])
    kind = assign_kinds(np.array([[0.5, 0.85, 0.95, 0.1]]), chosen, 0.8, 0.1)
    assert kind.tolist() == [[MASK_TOKEN, RANDOM_TOKEN, UNCHANGED, KEEP]]
    ids = apply_kinds(np.array([[10, 11, 12, 13]]), kind, np.array([[0.0, 0.5, 0.0, 0.0]]), 13)
    assert ids.tolist() == [[MASK_IDX, FIRST_PRODUCT_IDX + 5, 12, 13]]
    pos, tgt = masked_lists(np.array([[10, 11, 12, 13], [20, 21, 0, 0]]), np.array([[True, False, True, False], [False, True, False, False]]))
    assert pos.tolist() == [[0, 2], [1, -100]] and tgt.tolist() == [[10, 12], [21, -100]]


def test_rates_and_proportions_over_many_draws():
    ids, seq_len, basket_id = batch()
    m = run(ids, seq_len, basket_id)
    real = np.arange(ids.shape[1])[None, :] < seq_len[:, None]
    assert not (m.chosen & ~real).any()  # never PAD
    assert (m.chosen.sum(1) >= 1).all()  # at least one per basket
    long = seq_len >= 30  # the at-least-one rule barely moves long baskets
    rate = m.chosen[long].sum() / real[long].sum()
    assert abs(rate - 0.15) < 0.01, rate
    kinds = m.kind[m.chosen]
    assert abs((kinds == MASK_TOKEN).mean() - 0.8) < 0.02
    assert abs((kinds == RANDOM_TOKEN).mean() - 0.1) < 0.015
    assert abs((kinds == UNCHANGED).mean() - 0.1) < 0.015
    assert (m.input_ids[m.kind == MASK_TOKEN] == MASK_IDX).all()
    rnd = m.input_ids[m.kind == RANDOM_TOKEN]
    assert (rnd >= FIRST_PRODUCT_IDX).all() and (rnd < N_PRODUCTS).all()
    assert (m.input_ids[m.kind == UNCHANGED] == ids[m.kind == UNCHANGED]).all()
    assert (m.input_ids[~m.chosen] == ids[~m.chosen]).all()
    assert (m.input_ids[~real] == PAD_IDX).all()
    # targets are the true ids at the listed positions
    for b in range(50):
        n = m.chosen[b].sum()
        assert (m.masked_positions[b, :n] == np.nonzero(m.chosen[b])[0]).all()
        assert (m.masked_targets[b, :n] == ids[b, m.chosen[b]]).all()
        assert (m.masked_positions[b, n:] == -100).all() and (m.masked_targets[b, n:] == -100).all()


def test_masks_depend_on_basket_not_batch_and_change_with_epoch():
    ids, seq_len, basket_id = batch(B=200)
    full = run(ids, seq_len, basket_id)
    part = run(ids[50:80, :], seq_len[50:80], basket_id[50:80])
    assert (part.chosen == full.chosen[50:80]).all() and (part.input_ids == full.input_ids[50:80]).all()
    assert (run(ids, seq_len, basket_id, epoch=1).chosen != full.chosen).any()


def test_evaluation_masks_always_mask_token_and_fixed():
    ids, seq_len, basket_id = batch(B=500)
    a = run(ids, seq_len, basket_id, evaluation=True)
    b = run(ids, seq_len, basket_id, epoch=5, evaluation=True)
    assert (a.chosen == b.chosen).all()
    assert (a.input_ids[a.chosen] == MASK_IDX).all()
    assert (a.input_ids[~a.chosen] == ids[~a.chosen]).all()


def test_trip_context_never_visible_with_active_label():
    basket_id = np.arange(10000) + 123
    hidden = trip_hidden(basket_id, seed=0, epoch=0, dropout=0.5)
    assert abs(hidden.mean() - 0.5) < 0.02
    rng = np.random.default_rng(0)
    codes = rng.integers(-1, 3, (10000, 4)).astype(np.int8)
    t6 = encode_trip(codes, ~hidden)
    labels = auxiliary_labels(codes, hidden)
    blocks = {"mission_type": (0, 16), "mission_focus": (16, 32), "price_sensitivity": (32, 40), "basket_size": (40, 48)}
    for name, (a, b) in blocks.items():
        visible = t6[:, a:b].any(axis=1)
        active = labels[name] != -100
        assert not (visible & active).any()
        assert (visible | active | (codes[:, list(blocks).index(name)] < 0)).all()  # known: one or the other
    assert trip_hidden(basket_id, seed=0, epoch=0, dropout=0.0).sum() == 0
    assert trip_hidden(basket_id, seed=0, epoch=0, dropout=1.0).all()


def test_flat_slot_masking_equals_per_batch_masking():
    """mask_slots over several batches, each padded to its own S, gives each basket what mask_baskets gives."""
    from retail_sim.data.assemble import slot_layout
    from retail_sim.data.masking import mask_slots

    rng = np.random.default_rng(3)
    sizes = np.array([5, 1, 7, 3])
    lens = rng.integers(1, 13, sizes.sum())
    lens[6:13] = rng.integers(1, 4, 7)  # a batch of short baskets: S differs per batch
    offsets = np.concatenate([[0], np.cumsum(lens)])
    flat_ids = rng.integers(FIRST_PRODUCT_IDX, N_PRODUCTS, offsets[-1])
    basket_id = 994100100000000 + rng.choice(10**9, sizes.sum(), replace=False)
    sl = slot_layout(offsets, sizes, max_seq_len=9)  # lists above 9 are truncated
    pid = np.zeros(sl.real.size, dtype=np.int64)
    pid[sl.real] = flat_ids[(offsets[:-1][sl.row_of] + sl.position)[sl.real]]
    for evaluation in (False, True):
        kw = dict(seed=7, epoch=2, mask_prob=0.15, mask_token_frac=0.8, random_token_frac=0.1,
                  n_products_total=N_PRODUCTS, evaluation=evaluation)
        input_ids, chosen = mask_slots(pid, sl.real, sl.row_of, sl.position, sl.row_slot, sl.seq_len, basket_id, **kw)
        assert (np.diff(chosen) > 0).all()
        for b in range(sizes.size):
            r0, r1 = sl.row0[b], sl.row0[b + 1]
            t0, t1 = sl.row_slot[r0], sl.row_slot[r1]
            S = int(sl.S[b])
            assert S == min(max(lens[r0:r1]), 9)
            ref = mask_baskets(pid[t0:t1].reshape(-1, S), sl.seq_len[r0:r1], basket_id[r0:r1], **kw)
            assert (input_ids[t0:t1].reshape(-1, S) == ref.input_ids).all()
            mine = np.zeros(t1 - t0, dtype=bool)
            mine[chosen[(chosen >= t0) & (chosen < t1)] - t0] = True
            assert (mine.reshape(-1, S) == ref.chosen).all()


def test_evaluation_sample_is_fixed_nested_and_order_free():
    ids = np.arange(1_000, 11_000, 3, dtype=np.int64)  # 3,334 baskets
    assert np.array_equal(evaluation_sample(ids, 0, seed=7), ids)  # 0 = all
    assert np.array_equal(evaluation_sample(ids[::-1], 5_000, seed=7), ids)  # under the cap: all, sorted
    small, large = evaluation_sample(ids, 300, seed=7), evaluation_sample(ids, 1_000, seed=7)
    assert len(small) == 300 and len(large) == 1_000
    assert np.all(np.diff(small) > 0) and np.isin(small, ids).all()
    assert np.isin(small, large).all()  # a larger cap keeps every basket of a smaller one
    shuffled = np.random.default_rng(0).permutation(ids)
    assert np.array_equal(evaluation_sample(shuffled, 300, seed=7), small)  # order does not matter
    assert not np.array_equal(evaluation_sample(ids, 300, seed=8), small)  # the seed does
    # uniform: the sample's ids spread over the whole range (each tenth holds 30 +- 15)
    counts = np.histogram(small, bins=10, range=(1_000, 11_000))[0]
    assert counts.min() >= 15 and counts.max() <= 45
