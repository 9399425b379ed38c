"""Reading and encoding a worker's batches a chunk at a time.

WindowReader holds, per stream (bucket), the shuffle window the current batches need and hands out
the rows of several batches at once; Chunks reads the next READ_BATCHES batches of a stream when the
first of them is due and encodes them in calls of up to CHUNK_SLOTS [B, S] slots. A batch's values
do not depend on its chunk (tests/test_data_loader.py compares with one batch per call).
"""

from __future__ import annotations

import numpy as np

from retail_sim.data.batch import WorldModelBatch
from retail_sim.data.rows import BasketRows, GroupReader, Layout
from retail_sim.data.sharding import EpochPlan, batches_windows, window_permutation

READ_BATCHES = 32  # batches of one stream read from the shuffle windows at once
CHUNK_SLOTS = 4096  # [B, S] slots encoded in one build_batches call (T2 + T4: 5 MiB)


def chunk_cuts(sizes: np.ndarray, lens: np.ndarray, max_seq_len: int, budget: int) -> np.ndarray:
    """[k+1] batch offsets cutting consecutive batches (sizes [G], their rows' lengths lens [n]) into
    encode calls of at most `budget` slots each (a batch above the budget alone)."""
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    longest = np.maximum.reduceat(lens, row0[:-1]) if lens.size else np.zeros(sizes.size, np.int64)
    cost = sizes * np.clip(longest, 1, max(max_seq_len, 1))
    cuts, total = [0], 0
    for b, c in enumerate(cost.tolist()):
        if total and total + c > budget:
            cuts.append(b)
            total = 0
        total += c
    return np.array([*cuts, sizes.size], dtype=np.int64)


class Chunks:
    """Batches i = 0, 1, ... of one worker, encoded a chunk at a time: the next READ_BATCHES batches
    of a stream are read together and encoded in calls of up to CHUNK_SLOTS slots when the first
    of them is due. A batch's values do not depend on its chunk."""

    def __init__(self, streams: np.ndarray, numbers: np.ndarray, reader: WindowReader, encode, max_seq_len: int):
        self.streams, self.numbers, self.reader, self.encode = streams, numbers, reader, encode
        self.max_seq_len = max_seq_len
        self.queue = {int(s): np.flatnonzero(streams == s) for s in np.unique(streams)}
        self.cursor = dict.fromkeys(self.queue, 0)
        self.calls: dict[int, tuple[BasketRows, np.ndarray, np.ndarray]] = {}  # first batch -> rows, sizes, batches
        self.call_of: dict[int, int] = {}
        self.ready: dict[int, WorldModelBatch] = {}

    def _read(self, s: int) -> None:
        q, c = self.queue[s], self.cursor[s]
        members = q[c:c + READ_BATCHES]
        back = np.flatnonzero(np.diff(self.numbers[members]) < 0)  # padded rounds repeat early batches
        members = members[:back[0] + 1] if back.size else members
        self.cursor[s] = c + members.size
        rows, sizes = self.reader.rows_many(s, self.numbers[members])
        cuts = chunk_cuts(sizes, np.diff(rows.offsets), self.max_seq_len, CHUNK_SLOTS)
        row0 = np.concatenate([[0], np.cumsum(sizes)])
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            first = int(members[a])
            self.calls[first] = (rows.slice(int(row0[a]), int(row0[b])), sizes[a:b], members[a:b])
            self.call_of.update(dict.fromkeys(members[a:b].tolist(), first))

    def take(self, i: int) -> WorldModelBatch:
        if i not in self.ready:
            if i not in self.call_of:
                self._read(int(self.streams[i]))
            rows, sizes, members = self.calls.pop(self.call_of[i])
            self.ready.update(zip(members.tolist(), self.encode(rows, sizes), strict=True))
        self.call_of.pop(i, None)
        return self.ready.pop(i)


class WindowReader:
    """Holds, per stream, the shuffle windows the current batches need (rows in file order and
    the window's permutation); windows behind the current batches are released."""

    def __init__(self, plan: EpochPlan, layout: Layout):
        self.plan = plan
        self.groups = GroupReader(layout)
        self.windows: dict[tuple[int, int], tuple[list[BasketRows], np.ndarray, np.ndarray]] = {}

    def _window(self, s: int, w: int) -> tuple[list[BasketRows], np.ndarray, np.ndarray]:
        """(its row groups' rows, [parts + 1] first window row of each, the window's permutation); the
        parts are not concatenated, which would hold the window twice while it is read."""
        key = (s, w)
        if key not in self.windows:
            st = self.plan.streams[s]
            parts = [self.groups.read(int(g)) for g in st.groups[st.window_groups[w]:st.window_groups[w + 1]]]
            starts = np.concatenate([[0], np.cumsum([p.n for p in parts])]).astype(np.int64)
            self.windows[key] = (parts, starts, window_permutation(self.plan, s, w))
        return self.windows[key]

    def rows_many(self, s: int, ks: np.ndarray) -> tuple[BasketRows, np.ndarray]:
        """Rows of batches ks (ascending batch numbers of stream s), batch after batch, and their sizes.
        A window is released once no later batch needs it, before the next one is read."""
        window, pos, sizes = batches_windows(self.plan, s, ks)
        last = int(window[-1])
        for key in [key for key in self.windows if key[0] == s and key[1] < int(window[0])]:
            del self.windows[key]
        taken, order = [], []
        for w in np.unique(window).tolist():  # ascending batch numbers: windows in order
            parts, starts, perm = self._window(s, w)
            at = np.flatnonzero(window == w)
            row = perm[pos[at]]
            part = np.searchsorted(starts, row, side="right") - 1
            for j in np.unique(part).tolist():
                sel = part == j
                taken.append(parts[j].take(row[sel] - starts[j]))
                order.append(at[sel])
            if w < last:  # later batches of this stream start in `last` or after: one window held at a time
                del self.windows[(s, w)]
        rows = BasketRows.concat(taken)
        if len(taken) > 1:  # back to batch order
            rows = rows.take(np.argsort(np.concatenate(order), kind="stable"))
        return rows, sizes
