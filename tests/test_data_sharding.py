"""The epoch plan: disjoint, complete, equal per rank, worker-count invariant, resumable."""

import numpy as np
import pytest

from retail_sim.data.sharding import batch_rows, plan_epoch, worker_batches

# 3 buckets, uneven row groups (incl. an empty one)
STREAM = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 1])
ROWS = np.array([7, 5, 9, 3, 0, 11, 4, 6, 2, 8])
STARTS = np.concatenate([[0], np.cumsum(ROWS)])


def global_rows(plan, b):
    g, r = batch_rows(plan, b)
    assert (r >= 0).all() and (r < ROWS[g]).all()
    return STARTS[g] + r


def rows_of_rank(plan, rank, workers=0, start=0):
    """Batches of one rank as the torch DataLoader would collect them from its workers."""
    per_worker = [list(worker_batches(plan.rank_batches(rank), start, w, workers)) for w in range(max(workers, 1))]
    order = []
    while any(per_worker):
        for q in per_worker:
            if q:
                order.append(q.pop(0))
    return order


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("drop_last", [True, False])
def test_plan_disjoint_complete_equal(world_size, workers, drop_last):
    plan = plan_epoch(STREAM, ROWS, seed=3, epoch=1, batch_size=4, world_size=world_size, window=2, drop_last=drop_last)
    per_rank = [rows_of_rank(plan, r, workers) for r in range(world_size)]
    assert len({len(b) for b in per_rank}) == 1  # DDP never hangs
    # worker split collects exactly the rank's batches in plan order
    for r in range(world_size):
        assert per_rank[r] == list(plan.rank_batches(r))
    seen = [global_rows(plan, b) for r in range(world_size) for b in per_rank[r]]
    flat = np.concatenate(seen)
    for b in (b for r in range(world_size) for b in per_rank[r]):  # one bucket per batch
        assert len(set(STREAM[np.searchsorted(STARTS, global_rows(plan, b), side="right") - 1])) == 1
    if drop_last:
        assert len(flat) == len(set(flat))  # disjoint
        assert all(len(s) == 4 for s in seen)
        assert len(flat) + plan.n_rows_dropped == ROWS.sum()
        # per bucket at most one partial batch is dropped, plus the world-size tail
        assert plan.n_rows_dropped <= 3 * 3 + (world_size - 1) * 4
    else:
        assert set(flat) == set(range(ROWS.sum()))  # complete
        assert len(flat) == ROWS.sum() + sum(
            len(global_rows(plan, b)) for b in range(plan.n_batches - plan.n_batches_padded, plan.n_batches)
        )


def test_plan_is_pure_and_seeded():
    a = plan_epoch(STREAM, ROWS, seed=1, epoch=0, batch_size=4, window=2)
    b = plan_epoch(STREAM, ROWS, seed=1, epoch=0, batch_size=4, window=2)
    c = plan_epoch(STREAM, ROWS, seed=1, epoch=1, batch_size=4, window=2)
    rows = lambda p: [tuple(global_rows(p, i)) for i in range(p.n_batches)]  # noqa: E731
    assert rows(a) == rows(b)
    assert rows(a) != rows(c)
    assert sorted(map(sorted, rows(a))) != sorted(map(sorted, rows(c)))  # not just reordered batches


def test_unshuffled_plan_reads_in_order():
    plan = plan_epoch(STREAM, ROWS, seed=0, epoch=0, batch_size=5, shuffle=False, drop_last=False)
    flat = np.concatenate([global_rows(plan, i) for i in range(plan.n_batches)])
    order = np.concatenate([np.arange(STARTS[g], STARTS[g + 1]) for s in (1, 2, 3) for g in np.nonzero(STREAM == s)[0]])
    assert (flat == order).all()


def test_interleaves_buckets_and_keeps_stream_order():
    plan = plan_epoch(STREAM, ROWS, seed=5, epoch=2, batch_size=2, window=2)
    assert len(set(plan.batch_stream[:6])) > 1
    for s in range(len(plan.streams)):
        ks = plan.batch_number[plan.batch_stream == s]
        assert (ks == np.arange(ks.size)).all()


@pytest.mark.parametrize("workers", [0, 2, 3])
def test_resume_yields_exactly_the_rest(workers):
    plan = plan_epoch(STREAM, ROWS, seed=9, epoch=4, batch_size=3, world_size=2, window=3)
    full = rows_of_rank(plan, 1, workers)
    for start in (0, 1, 4, len(full)):
        assert rows_of_rank(plan, 1, workers, start) == full[start:]


def test_counts_in_plan():
    plan = plan_epoch(STREAM, ROWS, seed=0, epoch=0, batch_size=4, world_size=3, window=2)
    # buckets: 1 -> 29 rows (7 batches, 1 dropped row), 2 -> 3 rows (0 batches), 3 -> 23 (5, 3 dropped)
    assert [s.n_batches for s in plan.streams] == [7, 0, 5]
    assert plan.n_batches == 12 and plan.n_batches_dropped == 0 and plan.n_rows_dropped == 1 + 3 + 3
    plan = plan_epoch(STREAM, ROWS, seed=0, epoch=0, batch_size=4, world_size=5, window=2)
    assert plan.n_batches == 10 and plan.n_batches_dropped == 2 and plan.batches_per_rank == 2


def test_batches_windows_equals_batch_windows_one_by_one():
    from retail_sim.data.sharding import batch_windows, batches_windows

    plan = plan_epoch(np.array([1, 1, 2, 1, 1, 2]), np.array([7, 5, 9, 3, 6, 4]), seed=3, epoch=1, batch_size=4,
                      window=2, drop_last=False)
    for s, st in enumerate(plan.streams):
        ks = np.arange(st.n_batches)
        window, pos, sizes = batches_windows(plan, s, ks)
        parts = [batch_windows(plan, s, int(k)) for k in ks]
        assert sizes.tolist() == [w.size for w, _ in parts] and sizes[-1] < 4  # the last batch is partial
        assert window.tolist() == [x for w, _ in parts for x in w.tolist()]
        assert pos.tolist() == [x for _, p in parts for x in p.tolist()]
