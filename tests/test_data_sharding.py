"""The epoch plan: disjoint, complete, equal per rank, worker-count invariant, resumable."""

import numpy as np
import pytest

from retail_sim.data.sharding import (
    batch_rows,
    part_bounds,
    plan_epoch,
    rank_pieces,
    span_parts,
    span_starts,
    window_permutation,
    window_row_location,
)

# 3 buckets, uneven row groups (incl. an empty one)
STREAM = np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 1])
ROWS = np.array([7, 5, 9, 3, 0, 11, 4, 6, 2, 8])
STARTS = np.concatenate([[0], np.cumsum(ROWS)])


def global_rows(plan, b):
    g, r = batch_rows(plan, b)
    assert (r >= 0).all() and (r < ROWS[g]).all()
    return STARTS[g] + r


def pieces_rows(plan, pieces):
    """The global rows of each of a RankPieces' batches, read back from its pieces in batch order
    (what the main process rebuilds from the workers' pieces)."""
    order, offsets = pieces.batch_pieces()
    out = []
    for i in range(pieces.n_batches):
        got = []
        for j in order[offsets[i]:offsets[i + 1]]:
            s, w = int(pieces.stream[j]), int(pieces.window[j])
            rows = window_permutation(plan, s, w)[pieces.lo[j]:pieces.hi[j]]
            grp, off = window_row_location(plan.streams[s], w, rows)
            got.extend((STARTS[grp] + off).tolist())
        out.append(got)
    return out


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("window_rows", [2, 5, 13, 10**6])
def test_plan_disjoint_complete_equal(world_size, drop_last, window_rows):
    plan = plan_epoch(STREAM, ROWS, seed=3, epoch=1, batch_size=4, world_size=world_size, window=2,
                      window_rows=window_rows, drop_last=drop_last)
    per_rank = [list(plan.rank_batches(r)) for r in range(world_size)]
    assert len({len(b) for b in per_rank}) == 1  # DDP never hangs
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


@pytest.mark.parametrize("window_rows", [3, 7, 10**6])
def test_resume_yields_exactly_the_rest(window_rows):
    """The pieces of a rank's batches from `start` rebuild exactly the rows of its batches from
    `start` on, whichever batch the cut falls in."""
    plan = plan_epoch(STREAM, ROWS, seed=9, epoch=4, batch_size=3, world_size=2, window=3, window_rows=window_rows)
    full = pieces_rows(plan, rank_pieces(plan, 1))
    assert full == [global_rows(plan, int(b)).tolist() for b in plan.rank_batches(1)]
    for start in (0, 1, 4, len(full)):
        assert pieces_rows(plan, rank_pieces(plan, 1, start)) == full[start:]


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


@pytest.mark.parametrize("window", [1, 2, 3, 10])
@pytest.mark.parametrize("window_rows", [3, 4, 6, 11, 25, 10**6])
def test_windows_hold_at_most_window_rows_and_share_every_group(window, window_rows):
    """Each window holds at most window_rows rows; the parts of a span take the same share of each
    of its groups and together every row of them once; a span is cut into the fewest such parts."""
    if window_rows < window:
        with pytest.raises(ValueError, match="window_rows"):
            plan_epoch(STREAM, ROWS, seed=1, epoch=0, batch_size=4, window=window, window_rows=window_rows)
        return
    plan = plan_epoch(STREAM, ROWS, seed=1, epoch=0, batch_size=4, window=window, window_rows=window_rows)
    for st in plan.streams:
        assert (np.diff(st.window_rows) <= window_rows).all()
        seen = {int(g): np.zeros(ROWS[g], dtype=int) for g in st.groups}
        for w in range(st.n_windows):
            groups, lo, hi = st.window_slices(w)
            assert (hi - lo).sum() == st.window_rows[w + 1] - st.window_rows[w]
            sp = st.window_span[w]
            assert groups.tolist() == st.groups[st.span_groups[sp]:st.span_groups[sp + 1]].tolist()
            for g, a, b in zip(groups, lo, hi, strict=True):
                seen[int(g)][a:b] += 1
                n, P, p = ROWS[g], st.span_parts[sp], st.window_part[w]
                assert (a, b) == (p * n // P, (p + 1) * n // P)
        assert all((v == 1).all() for v in seen.values())  # every row in exactly one window
        for sp in range(st.span_parts.size):  # fewest parts: one part fewer would overflow a window
            rows = st.group_rows[st.span_groups[sp]:st.span_groups[sp + 1]]
            P = int(st.span_parts[sp])
            if P > 1:
                lo, hi = part_bounds(rows, P - 1, np.arange(P - 1))
                assert (hi - lo).sum(axis=1).max() > window_rows


@pytest.mark.parametrize("rows, window_rows, parts", [
    ([10], 10, 1), ([10], 9, 2), ([10], 3, 4), ([7, 5, 9], 21, 1), ([7, 5, 9], 20, 2), ([0, 0], 2, 1),
    ([1, 1, 1], 3, 1), ([3, 3, 3], 3, 3), ([5, 5], 3, 5),  # 4 parts of 5 rows: 1, 1, 1, 2 -> 2 + 2 > 3
])
def test_span_parts_worked_by_hand(rows, window_rows, parts):
    assert span_parts(np.array(rows), window_rows) == parts


@pytest.mark.parametrize("rows, window, window_rows, starts", [
    ([4, 4, 4, 4, 4], 4, 16, [0, 4, 5]),  # 4 whole groups fill the budget
    ([4, 4, 4, 4, 4], 4, 8, [0, 2, 4, 5]),  # a smaller budget: fewer whole groups, not shares of 4
    ([4, 4, 4, 4, 4], 2, 100, [0, 2, 4, 5]),  # at most `window` groups
    ([3, 9, 2, 0, 2], 3, 9, [0, 1, 2, 5]),  # an empty group costs nothing
    ([20, 1, 1, 1, 5], 3, 10, [0, 3, 5]),  # a group over the budget: `window` groups, cut into shares
    ([], 4, 8, [0]),
])
def test_span_starts_worked_by_hand(rows, window, window_rows, starts):
    assert span_starts(np.array(rows, dtype=np.int64), window, window_rows).tolist() == starts


@pytest.mark.parametrize("rows, items, window_items, starts", [
    ([4, 4, 4, 4, 4], [8, 8, 8, 8, 8], 0, [0, 4, 5]),  # no item budget: the row budget alone
    ([4, 4, 4, 4, 4], [8, 8, 8, 8, 8], 32, [0, 4, 5]),  # 4 groups of 8 items fill 32
    ([4, 4, 4, 4, 4], [8, 8, 8, 8, 8], 20, [0, 2, 4, 5]),  # 2 fit in 20 items
    ([4, 4, 4, 4, 4], [40, 8, 8, 8, 30], 20, [0, 1, 3, 4, 5]),  # a group over the items alone is its own span
    ([4, 4, 4, 4], [4, 40, 4, 4], 20, [0, 1, 2, 4]),
    ([20, 1, 1, 1, 5], [20, 1, 1, 1, 5], 3, [0, 3, 4, 5]),  # over the row budget: `window` groups in shares, whatever the items
])
def test_span_starts_item_budget_worked_by_hand(rows, items, window_items, starts):
    got = span_starts(np.array(rows, dtype=np.int64), 3 if rows[0] == 20 else 4, 16 if rows[0] != 20 else 10,
                      np.array(items, dtype=np.int64), window_items)
    assert got.tolist() == starts


def test_item_budget_holds_and_keeps_every_row():
    """Groups of uneven items (long and short baskets): every window of whole groups holds at most
    window_items items unless it is one group, and the plan batches the same rows as without it."""
    rng = np.random.default_rng(4)
    rows = rng.integers(1, 4097, 60)
    stream = np.repeat([1, 2, 3], 20)
    items = rows * np.repeat([2, 14, 40], 20)  # items per basket by bucket
    kw = dict(seed=5, epoch=1, batch_size=64, window=4, window_rows=16_384, drop_last=False)
    plan = plan_epoch(stream, rows, group_items=items, window_items=100_000, **kw)
    for st in plan.streams:
        g = st.groups
        for a, b in zip(st.span_groups[:-1], st.span_groups[1:], strict=True):
            assert b - a == 1 or items[g[a:b]].sum() <= 100_000
            assert b - a <= 4 and rows[g[a:b]].sum() <= 16_384
    spans = [np.diff(st.span_groups).mean() for st in plan.streams]
    assert spans[0] == 4 > spans[1] > spans[2]  # 2-item baskets: 4 groups a window; longer ones fewer
    rows_of = lambda p: sorted(x for i in range(p.n_batches) for x in zip(*batch_rows(p, i), strict=True))  # noqa: E731
    assert rows_of(plan) == rows_of(plan_epoch(stream, rows, **kw))


def test_a_budget_of_whole_groups_reads_whole_groups():
    """Groups no larger than window_rows: every window is whole row groups (one read each, no decoder
    kept open between windows), at most `window` of them, and the budget still holds."""
    rows = np.random.default_rng(3).integers(0, 4097, 60)
    stream = np.repeat([1, 2, 3], 20)
    for window_rows in (4096, 8192, 12_000, 16_384):
        plan = plan_epoch(stream, rows, seed=5, epoch=1, batch_size=64, window=4, window_rows=window_rows)
        for st in plan.streams:
            assert (st.span_parts == 1).all() and (np.diff(st.span_groups) <= 4).all()
            for w in range(st.n_windows):
                groups, lo, hi = st.window_slices(w)
                assert (lo == 0).all() and (hi == st.group_rows[st.span_groups[w]:st.span_groups[w + 1]]).all()
                assert (hi - lo).sum() <= window_rows


def test_window_rows_changes_the_shuffle_not_the_rows():
    """A row budget cuts the same spans finer: the same rows, batched in another order."""
    a = plan_epoch(STREAM, ROWS, seed=2, epoch=0, batch_size=4, window=3, drop_last=False)
    b = plan_epoch(STREAM, ROWS, seed=2, epoch=0, batch_size=4, window=3, window_rows=5, drop_last=False)
    rows = lambda p: [tuple(global_rows(p, i)) for i in range(p.n_batches)]  # noqa: E731
    assert sorted(x for r in rows(a) for x in r) == sorted(x for r in rows(b) for x in r)
    assert rows(a) != rows(b)
    assert rows(b) == rows(plan_epoch(STREAM, ROWS, seed=2, epoch=0, batch_size=4, window=3, window_rows=5,
                                      drop_last=False))  # pure


@pytest.mark.parametrize("world_size, start", [(1, 0), (2, 0), (3, 2)])
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("window_rows", [2, 5, 13, 10**6])
def test_rank_pieces_cover_each_batch_and_split_windows_between_workers(world_size, start, workers, drop_last,
                                                                          window_rows):
    """A rank's batches cut at window boundaries: each batch's pieces, in window order, are its rows
    (batch_rows); a unit is one window's pieces, numbered by first batch; each unit goes to one worker
    and the workers' pieces together are all pieces, each worker's in unit order."""
    plan = plan_epoch(STREAM, ROWS, seed=3, epoch=1, batch_size=4, world_size=world_size, window=2,
                      window_rows=window_rows, drop_last=drop_last)
    for rank in range(world_size):
        rest = plan.rank_batches(rank)[start:]
        p = rank_pieces(plan, rank, start)
        assert p.n_batches == rest.size and (np.diff(p.unit) >= 0).all()
        assert pieces_rows(plan, p) == [global_rows(plan, int(g)).tolist() for g in rest]
        order, offsets = p.batch_pieces()
        for i, g in enumerate(rest):
            for j in order[offsets[i]:offsets[i + 1]]:
                assert p.stream[j] == plan.batch_stream[g] and p.hi[j] > p.lo[j]
        first = [int(p.batch[p.unit == u].min()) for u in range(p.n_units)]
        assert first == sorted(first)
        for u in range(p.n_units):  # one window per unit, its batches ascending
            assert len({(int(s), int(w)) for s, w in zip(p.stream[p.unit == u], p.window[p.unit == u], strict=True)}) == 1
            assert (np.diff(p.batch[p.unit == u]) > 0).all()
        mine = [p.worker_pieces(w, workers) for w in range(max(workers, 1))]
        assert sorted(np.concatenate(mine).tolist()) == list(range(p.batch.size))
        owner = p.unit_workers(workers)
        assert all(set(owner[p.unit[m]].tolist()) <= {w} for w, m in enumerate(mine))
        for s in np.unique(p.stream):  # a span's windows go to one worker
            for sp in np.unique(p.span[p.stream == s]):
                assert len(set(owner[p.unit[(p.stream == s) & (p.span == sp)]].tolist())) == 1
