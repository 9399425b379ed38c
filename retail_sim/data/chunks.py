"""Reading and building a worker's pieces of batches a chunk at a time, and putting them in batch order.

WindowReader holds the shuffle windows the current pieces need (sharding.RankPieces: a batch cut at
window boundaries) and hands out their rows; piece_messages reads READ_BATCHES pieces at a time and
builds their compact batches in calls of up to CHUNK_SLOTS [B, S] slots; in_batch_order puts pieces
from any number of workers back into the rank's batch order. A batch's values do not depend on its
chunk or its pieces (tests/test_data_loader.py compares with one batch per call).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from retail_sim.arrays import budget_cuts
from retail_sim.data.compact import CompactBatch, merge
from retail_sim.data.rows import BasketRows, GroupCursor, GroupReader, Layout
from retail_sim.data.sharding import EpochPlan, RankPieces, window_permutation

READ_BATCHES = 32  # pieces of batches (training) or batches (evaluation) read and built together
CHUNK_SLOTS = 4096  # [B, S] slots built in one assemble.compact_batches call
ORDER_BATCHES = 65_536  # batches whose piece order in_batch_order holds as Python ints (an epoch's: 24 MiB at 214.4M rows)


def chunk_cuts(sizes: np.ndarray, lens: np.ndarray, max_seq_len: int, budget: int) -> np.ndarray:
    """[k+1] batch offsets cutting consecutive batches (sizes [G], their rows' lengths lens [n]) into
    build calls of at most `budget` slots each (a batch above the budget alone)."""
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    longest = np.maximum.reduceat(lens, row0[:-1]) if lens.size else np.zeros(sizes.size, np.int64)
    cost = sizes * np.clip(longest, 1, max(max_seq_len, 1))
    return np.array(budget_cuts(cost.tolist(), budget), dtype=np.int64)


class WindowReader:
    """Holds, per stream, the shuffle window the current pieces need (its slices' rows and the
    window's permutation), released after its unit's last piece. A slice that is a whole row group
    is one read; otherwise the row groups of the current span are decoded front to back, a window's
    share at a time (GroupCursor), and a reader that skips a window still decodes its rows."""

    def __init__(self, plan: EpochPlan, layout: Layout):
        self.plan = plan
        self.groups = GroupReader(layout)
        self.windows: dict[tuple[int, int], tuple[list[BasketRows], np.ndarray, np.ndarray]] = {}
        self.cursors: dict[int, dict[int, GroupCursor]] = {}  # stream -> row group -> cursor of the current span

    def _window(self, s: int, w: int) -> tuple[list[BasketRows], np.ndarray, np.ndarray]:
        """(its slices' rows, [parts + 1] first window row of each, the window's permutation); the
        parts are not concatenated, which would hold the window twice while it is read."""
        key = (s, w)
        if key not in self.windows:
            st = self.plan.streams[s]
            groups, lo, hi = st.window_slices(w)
            keep = {int(g) for g in groups}
            n_rows = lambda g: int(st.group_rows[np.flatnonzero(st.groups == g)[0]])  # noqa: E731
            cursors = {g: c for g, c in self.cursors.get(s, {}).items() if g in keep}  # other spans' are done
            parts = []
            for g, a, b in zip(groups.tolist(), lo.tolist(), hi.tolist(), strict=True):
                if b > a and a == 0 and b == n_rows(g) and g not in cursors:  # a whole row group: one read
                    parts.append(self.groups.read(g))
                elif b > a:
                    if g not in cursors:
                        cursors[g] = GroupCursor(self.groups, g, max(b - a, min(n_rows(g), 1024)))
                    parts.append(cursors[g].take(a, b))
            self.cursors[s] = cursors
            starts = np.concatenate([[0], np.cumsum([p.n for p in parts])]).astype(np.int64)
            self.windows[key] = (parts, starts, window_permutation(self.plan, s, w))
        return self.windows[key]

    def release(self, s: int, w: int) -> None:
        """Drop window w of stream s (its last piece is built)."""
        self.windows.pop((s, w), None)

    def pieces(self, streams: np.ndarray, windows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> BasketRows:
        """Rows of pieces [p] (stream, window, positions [lo, hi) of the window's permuted order), piece
        after piece. A stream's earlier windows are released when a later one is read."""
        taken, order = [], []
        at0 = np.concatenate([[0], np.cumsum(hi - lo)])
        pos = np.arange(int(at0[-1]), dtype=np.int64) - np.repeat(at0[:-1] - lo, hi - lo)  # position in its window
        piece = np.repeat(np.arange(lo.size), hi - lo)
        for s, w in dict.fromkeys(zip(streams.tolist(), windows.tolist(), strict=True)):
            for key in [key for key in self.windows if key[0] == s and key[1] != w]:
                del self.windows[key]
            parts, starts, perm = self._window(s, w)
            at = np.flatnonzero((streams[piece] == s) & (windows[piece] == w))
            row = perm[pos[at]]
            part = np.searchsorted(starts, row, side="right") - 1
            for j in np.unique(part).tolist():
                sel = part == j
                taken.append(parts[j].take(row[sel] - starts[j]))
                order.append(at[sel])
        rows = BasketRows.concat(taken)
        if len(taken) > 1:  # back to piece order
            rows = rows.take(np.argsort(np.concatenate(order), kind="stable"))
        return rows


def piece_messages(pieces: RankPieces, mine: np.ndarray, reader: WindowReader, build, max_seq_len: int,
                   group: int) -> Iterator[tuple[np.ndarray, list[CompactBatch]]]:
    """(piece numbers, their compact batches) for the pieces `mine` (ascending), `group` pieces a
    message; rows are read READ_BATCHES pieces at a time and built in calls of up to CHUNK_SLOTS
    slots (build(rows, sizes, streams) -> batches). A window is released after its unit's last piece."""
    last = np.append(pieces.unit[1:] != pieces.unit[:-1], True)  # the last piece of its unit
    for a in range(0, mine.size, max(group, 1)):
        ids, out = mine[a:a + max(group, 1)], []
        for b in range(0, ids.size, max(READ_BATCHES, 1)):
            part = ids[b:b + max(READ_BATCHES, 1)]
            sizes = pieces.hi[part] - pieces.lo[part]
            rows = reader.pieces(pieces.stream[part], pieces.window[part], pieces.lo[part], pieces.hi[part])
            cuts = chunk_cuts(sizes, np.diff(rows.offsets), max_seq_len, CHUNK_SLOTS)
            row0 = np.concatenate([[0], np.cumsum(sizes)])
            for c0, c1 in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
                out.extend(build(rows.slice(int(row0[c0]), int(row0[c1])), sizes[c0:c1], pieces.stream[part[c0:c1]]))
            for j in part[last[part]].tolist():
                reader.release(int(pieces.stream[j]), int(pieces.window[j]))
        yield ids, out


def in_batch_order(messages: Iterator[tuple[np.ndarray, list[CompactBatch]]], pieces: RankPieces) -> Iterator[CompactBatch]:
    """The rank's batches in order from messages of pieces arriving in any order: pieces wait until
    their batch is due (a batch of several pieces is compact.merge of them). Held: the pieces of the
    windows whose batches have begun and not ended (about one window per stream) and the messages
    received ahead of them."""
    order, offsets = pieces.batch_pieces()
    have: dict[int, CompactBatch] = {}
    for a in range(0, pieces.n_batches, ORDER_BATCHES):
        # Python ints (this loop runs in the main process for every batch), ORDER_BATCHES at a time
        b = min(a + ORDER_BATCHES, pieces.n_batches)
        part = order[offsets[a]:offsets[b]].tolist()
        bounds = (offsets[a:b + 1] - offsets[a]).tolist()
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            need = part[start:end]
            for p in need:
                while p not in have:
                    ids, batches = next(messages)
                    have.update(zip(np.asarray(ids).tolist(), batches, strict=True))
            yield have.pop(need[0]) if len(need) == 1 else merge([have.pop(p) for p in need])
