"""WorldModelDataset / WorldModelDataLoader / EvaluationDataLoader on a tiny hand-made prepared folder
(fake contract-B cache): shapes, leakage rules, coverage, determinism, workers, resume, ranks. The
loaders yield compact batches; `encoded` turns them into WorldModelBatch with the BatchEncoder."""

import functools
import os
import time

import numpy as np
import pytest
import torch

from retail_sim.arrays import budget_cuts
from retail_sim.config import Config, apply
from retail_sim.data.batch import AUXILIARY_TASKS, WorldModelBatch
from retail_sim.data.compact import CompactBatch, CompactMeta, MessageSlots
from retail_sim.data.encoder import BatchEncoder
from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataLoader, WorldModelDataset
from retail_sim.data.testing import FakeCache, record_files, tiny_samples, write_prepared
from retail_sim.errors import UserError
from retail_sim.vocab import MASK_IDX, PAD_IDX

N = {"train": 400, "validation": 150, "test": 90}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "prepared"
    tables = {
        "train": tiny_samples(N["train"], seed=1, weeks=(1, 14)),
        "validation": tiny_samples(N["validation"], seed=2, weeks=(15, 20)),
        "test": tiny_samples(N["test"], seed=3, weeks=(47, 50)),
    }
    return write_prepared(folder, tables, row_group_size=16), FakeCache()


def dataset(tiny, split="train", **kw):
    folder, cache = tiny
    cfg = kw.pop("config", Config())
    return WorldModelDataset(folder, split, cache=cache, config=cfg, **kw)


def ids(batch):
    return batch.basket_id.tolist()


def encoded(loader):
    """The WorldModelBatch of each compact batch of a loader ((key, batch) for evaluation), on the CPU."""
    encoder = BatchEncoder.from_dataset(loader.dataset)
    for item in loader:
        yield (item[0], encoder(item[1])) if isinstance(item, tuple) else encoder(item)


def same_compact(x: CompactBatch, y: CompactBatch) -> bool:
    return x.meta == y.meta and torch.equal(x.data, y.data)


def test_encoder_unmaps_the_cache_past_its_bound(tiny):
    """BatchEncoder: before each batch, release_pages_over(loader.mapped_cache_mb MiB) of a cache
    that has it (TensorCache); never with loader.mapped_cache_mb = 0 or a cache without it."""
    folder, fake = tiny

    class Spy(FakeCache):
        calls: list[int] = []

        def release_pages_over(self, limit: int) -> bool:
            self.calls.append(limit)
            return False

    for mb, expected in ((3, [3 * 2**20] * 2), (0, [])):
        Spy.calls = []
        cfg = apply(Config(), {"loader.mapped_cache_mb": mb})
        ds = WorldModelDataset(folder, "train", cache=Spy(), config=cfg)
        encoder = BatchEncoder.from_dataset(ds)
        for _, batch in zip(range(2), WorldModelDataLoader(ds, batch_size=16), strict=False):
            encoder(batch)
        assert Spy.calls == expected
    assert BatchEncoder.from_dataset(dataset(tiny))._release_pages is None  # FakeCache has none


def test_batch_shapes_and_dtypes(tiny):
    b = next(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16)))
    assert isinstance(b, WorldModelBatch)
    B, S = b.attention_mask.shape
    assert B == 16 and S == int(b.attention_mask.sum(1).max())  # S = the longest basket
    shapes = {
        "customer_context": (B, 192), "product_embeddings": (B, S, 256), "temporal_context": (B, 64),
        "price_features": (B, S, 64), "store_context": (B, 96), "trip_context": (B, 48),
        "attention_mask": (B, S), "product_ids": (B, S),
    }
    for name, shape in shapes.items():
        assert tuple(getattr(b, name).shape) == shape, name
    for name in ("customer_context", "product_embeddings", "temporal_context", "price_features", "store_context", "trip_context"):
        t = getattr(b, name)
        assert t.dtype == torch.float32 and torch.isfinite(t).all(), name
    assert b.attention_mask.dtype == torch.bool
    for t in (b.product_ids, b.masked_positions, b.masked_targets, b.basket_id, b.week):
        assert t.dtype == torch.int64
    assert b.masked_positions.shape == b.masked_targets.shape and b.masked_positions.shape[0] == B
    assert set(b.auxiliary_labels) == set(AUXILIARY_TASKS)
    assert all(v.shape == (B,) and v.dtype == torch.int64 for v in b.auxiliary_labels.values())
    assert b.get_dense_context().shape == (B, 400) and b.get_sequence_features().shape == (B, S, 320)
    pad = ~b.attention_mask
    assert (b.product_ids[pad] == PAD_IDX).all()
    assert (b.product_embeddings[pad] == 0).all() and (b.price_features[pad] == 0).all()


def test_masking_leaks_nothing(tiny):
    _, cache = tiny
    seen_mask = seen_random = 0
    for b in encoded(WorldModelDataLoader(dataset(tiny), batch_size=32, drop_last=False)):
        B, S = b.attention_mask.shape
        chosen = torch.zeros(B, S, dtype=torch.bool)
        rows, cols = torch.nonzero(b.masked_positions >= 0, as_tuple=True)
        chosen[rows, b.masked_positions[rows, cols]] = True
        assert (chosen.sum(1) >= 1).all() and not (chosen & ~b.attention_mask).any()
        assert (b.price_features[chosen] == 0).all()  # a hidden item's price is hidden
        real_unchosen = b.attention_mask & ~chosen
        assert (b.price_features[real_unchosen].abs().sum(1) > 0).all()
        mask_pos = b.product_ids == MASK_IDX
        assert not (mask_pos & ~chosen).any()
        pos = torch.from_numpy(cache.positional_encodings[:S])
        expect = torch.from_numpy(cache.product_embeddings[MASK_IDX]) + pos
        assert torch.allclose(b.product_embeddings[mask_pos], expect.expand(B, S, 256)[mask_pos])
        # the true id sits in masked_targets; the input id differs only at MASK / random positions
        seen_mask += int(mask_pos.sum())
        seen_random += int((chosen & ~mask_pos).sum())
        # trip context: a visible attribute never has an active label
        blocks = {"mission_type": (0, 16), "mission_focus": (16, 32), "price_sensitivity": (32, 40), "basket_size": (40, 48)}
        for name, (lo, hi) in blocks.items():
            visible = b.trip_context[:, lo:hi].abs().sum(1) > 0
            assert not (visible & (b.auxiliary_labels[name] != -100)).any()
    assert abs(seen_mask / (seen_mask + seen_random) - 0.8) < 0.06


def test_epoch_covers_split_once(tiny):
    dl = WorldModelDataLoader(dataset(tiny), batch_size=16, drop_last=False)
    got = [i for b in dl for i in ids(b)]
    assert len(got) == N["train"] and len(set(got)) == N["train"]
    assert len(dl) == sum(1 for _ in dl)
    dropped = WorldModelDataLoader(dataset(tiny), batch_size=16)
    got_d = [i for b in dropped for i in ids(b)]
    assert len(got_d) == len(set(got_d)) == N["train"] - dropped.plan().n_rows_dropped
    assert all(len(ids(b)) == 16 for b in dropped)


def test_deterministic_and_epoch_dependent(tiny):
    a = WorldModelDataLoader(dataset(tiny), batch_size=16)
    b = WorldModelDataLoader(dataset(tiny), batch_size=16)
    first = [(ids(x), x.product_ids.tolist()) for x in a]
    assert first == [(ids(x), x.product_ids.tolist()) for x in b]
    assert all(same_compact(x, y) for x, y in zip(a, b, strict=True))
    b.set_epoch(1)
    assert [ids(x) for x in b] != [f[0] for f in first]
    other_seed = WorldModelDataLoader(dataset(tiny, seed=5), batch_size=16)
    assert [ids(x) for x in other_seed] != [f[0] for f in first]


@pytest.mark.parametrize("workers", [2, 3])
def test_batches_identical_whatever_the_workers(tiny, monkeypatch, workers):
    """Compact batches, byte for byte, for any number of workers and any batches per message."""
    import retail_sim.data.dataset as dataset_module

    ref = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=0))
    for rows, message_bytes in ((16, 2 << 20), (48, 2 << 20), (48, 1)):  # 1, 3 and 1 of 3 pieces a message
        monkeypatch.setattr(dataset_module, "IPC_ROWS", rows)
        monkeypatch.setattr(dataset_module, "MESSAGE_BYTES", message_bytes)
        got = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=workers))
        assert len(ref) == len(got) and all(same_compact(x, y) for x, y in zip(ref, got, strict=True))
    x, y = next(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16))), BatchEncoder.from_dataset(
        dataset(tiny))(got[0])
    assert torch.equal(x.product_embeddings, y.product_embeddings) and torch.equal(x.price_features, y.price_features)


@pytest.mark.parametrize("workers, resumed_workers", [(0, 0), (2, 0), (0, 2), (2, 3)])
def test_resume_mid_epoch(tiny, workers, resumed_workers):
    full = WorldModelDataLoader(dataset(tiny), batch_size=16)
    full.set_epoch(2)
    expected = list(full)
    dl = WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=workers)
    dl.set_epoch(2)
    it = iter(dl)
    head = [next(it) for _ in range(5)]
    state = dl.state_dict()
    assert state["position"] == 5 and state["epoch"] == 2
    del it
    resumed = WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=resumed_workers)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the trainer's usual call keeps the resume point
    rest = list(resumed)
    assert len(head + rest) == len(expected)
    assert all(same_compact(x, y) for x, y in zip(head + rest, expected, strict=True))  # every byte
    assert resumed.state_dict()["position"] == len(expected)
    assert [ids(b) for b in resumed] == [ids(b) for b in expected]  # the next pass is a whole epoch again
    with pytest.raises(UserError, match="batch_size"):
        WorldModelDataLoader(dataset(tiny), batch_size=8).load_state_dict(state)


def test_budget_cuts():
    """Messages (and build calls) cut greedily by a byte (slot) budget; an item over it goes alone."""
    assert budget_cuts([3, 3, 3], 6) == [0, 2, 3]
    assert budget_cuts([7, 1, 1], 6) == [0, 1, 3]
    assert budget_cuts([1, 7, 1], 6) == [0, 1, 2, 3]
    assert budget_cuts([], 6) == [0, 0]


def test_message_slots_reuse_their_buffers():
    """A worker's messages go into its slots in turn; a slot's buffer is sent again only when a
    message outgrows it, and a worker with every slot unread waits."""
    slots = MessageSlots(1, torch.multiprocessing.get_context(), slots=2)
    meta = CompactMeta(1, 1, 1, 1, 1, 0, False, False, False, False)

    def message(n, start):
        return [CompactBatch(torch.arange(start, start + n, dtype=torch.uint8), meta)], np.array([[start]])

    sent = [(slots.send(0, *message(n, start)), n, start) for n, start in ((100, 0), (80, 1))]
    assert [m[2] is not None for m, _, _ in sent] == [True, True]  # new buffers
    assert not slots.free[0].acquire(block=False)  # both slots unread: a third send would wait
    for m, n, start in sent:
        data, table = slots.receive(m)
        assert torch.equal(data, torch.arange(start, start + n, dtype=torch.uint8)) and table[0, 0] == start
    again = slots.send(0, *message(120, 2))  # slot 0 holds 125 bytes: reused
    bigger = slots.send(0, *message(101, 3))  # slot 1 holds 100 bytes: a new buffer
    assert again[2] is None and bigger[2] is not None and bigger[2].numel() == 126
    assert torch.equal(slots.receive(again)[0], torch.arange(2, 122, dtype=torch.uint8))
    assert torch.equal(slots.receive(bigger)[0], torch.arange(3, 104, dtype=torch.uint8))


def test_workers_waiting_for_a_slot(tiny, monkeypatch):
    """With one slot a worker, each waits for the main process to read its last message: the same
    batches, and stopping after the first batch does not wait for the DataLoader to kill them."""
    import retail_sim.data.dataset as dataset_module
    import retail_sim.data.loader as loader_module

    monkeypatch.setattr(dataset_module, "IPC_ROWS", 16)
    monkeypatch.setattr(loader_module, "MessageSlots", functools.partial(MessageSlots, slots=1))
    ref = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=0))
    got = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))
    assert len(ref) == len(got) and all(same_compact(x, y) for x, y in zip(ref, got, strict=True))
    start = time.perf_counter()
    it = iter(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))
    assert same_compact(next(it), ref[0])
    it.close()  # a worker left waiting would hold this up for MP_STATUS_CHECK_INTERVAL (5 s) before being killed
    assert time.perf_counter() - start < torch.utils.data._utils.MP_STATUS_CHECK_INTERVAL


ORPHAN = """
import functools, multiprocessing, os, sys
import retail_sim.data.dataset as dataset_module
import retail_sim.data.loader as loader_module
from retail_sim.data.compact import MessageSlots
from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset
from retail_sim.data.testing import FakeCache
dataset_module.IPC_ROWS = 16
loader_module.MessageSlots = functools.partial(MessageSlots, slots=1)
it = iter(WorldModelDataLoader(WorldModelDataset(sys.argv[1], "train", cache=FakeCache()), batch_size=16, num_workers=2))
next(it)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
os._exit(0)  # as if killed: no shutdown of the workers
"""


def test_workers_stop_when_the_main_process_dies(tiny, tmp_path):
    """A worker waiting for a slot notices that the main process is gone (compact.PARENT_CHECK_S)
    instead of waiting for ever."""
    import signal
    import subprocess
    import sys

    def running(pid):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    out = tmp_path / "pids"
    with out.open("w") as fh:  # a file, not a pipe: the workers inherit it
        subprocess.run([sys.executable, "-c", ORPHAN, str(tiny[0])], stdout=fh, check=True, timeout=120)
    pids = [int(p) for p in out.read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 20
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if running(p)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left


def test_workers_leave_the_torch_rng_alone(tiny):
    """The DataLoader seeds its workers from its own generator: training draws the same dropout
    masks with 0 or 2 workers (1,000 tiny-model steps at 11.8M rows: the same validation loss)."""
    torch.manual_seed(3)
    before = torch.get_rng_state()
    assert len(list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))) > 0
    assert torch.equal(torch.get_rng_state(), before)


def test_workers_are_forked_whatever_the_start_method(tiny):
    """Spawn and forkserver (Python 3.14's default on Linux) cannot pickle the dataset's memory maps."""
    ref = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=0))
    before = torch.multiprocessing.get_start_method(allow_none=True)
    torch.multiprocessing.set_start_method("spawn", force=True)
    try:
        got = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))
    finally:
        torch.multiprocessing.set_start_method(before, force=True)
    assert len(ref) == len(got) and all(same_compact(x, y) for x, y in zip(ref, got, strict=True))


def test_resume_checks_the_plan_settings(tiny):
    """A checkpoint's loader state names the loader.* keys its plans came from; another value stops
    the resume with the key to set. A state from before loader.window_items (no such key) resumes only
    where the item budget leaves the plan as it was."""
    def loader(**keys):
        return WorldModelDataLoader(dataset(tiny, config=apply(Config(), keys)), batch_size=16)

    state = loader().state_dict()
    with pytest.raises(UserError, match="loader.window_rows=16384"):
        loader(**{"loader.window_rows": 32}).load_state_dict(state)
    old = {k: v for k, v in state.items() if k != "window_items"}  # a checkpoint before stop 28
    loader().load_state_dict(old)  # 16-row groups of the tiny folder: the default budget never binds
    with pytest.raises(UserError, match="loader.window_items=0"):
        loader(**{"loader.window_items": 40}).load_state_dict(old)  # 40 items: 1 group a window, not 4
    loader(**{"loader.window_items": 0}).load_state_dict(old)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_disjoint_equal_counts(tiny, world_size):
    per_rank = [
        [ids(b) for b in WorldModelDataLoader(dataset(tiny), batch_size=16, rank=r, world_size=world_size)]
        for r in range(world_size)
    ]
    assert len({len(p) for p in per_rank}) == 1
    flat = [i for p in per_rank for b in p for i in b]
    assert len(flat) == len(set(flat))


@pytest.mark.parametrize("world_size", [2, 3])
def test_rank_batches_identical_whatever_the_workers(tiny, world_size):
    """A rank's compact batches, byte for byte, with 0 or 2 workers; together the ranks' batches are the
    single-process epoch's (every batch's bytes, dealt r, r + W, ...)."""
    whole = list(WorldModelDataLoader(dataset(tiny), batch_size=16, world_size=1))
    for r in range(world_size):
        alone = list(WorldModelDataLoader(dataset(tiny), batch_size=16, rank=r, world_size=world_size))
        two = list(WorldModelDataLoader(dataset(tiny), batch_size=16, rank=r, world_size=world_size, num_workers=2))
        assert len(alone) == len(two) and all(same_compact(x, y) for x, y in zip(alone, two, strict=True))
        assert all(same_compact(x, y) for x, y in zip(alone, whole[r::world_size], strict=False))


def test_auxiliary_disabled_keeps_trip_visible(tiny):
    b = next(encoded(WorldModelDataLoader(dataset(tiny, enable_auxiliary_tasks=False), batch_size=64)))
    assert b.auxiliary_labels == {}
    assert (b.trip_context.sum(1) > 0).float().mean() > 0.5  # visible wherever the attributes are known


def test_no_masking_mode(tiny):
    b = next(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16, apply_masking=False)))
    assert (b.masked_positions == -100).all() and not (b.product_ids == MASK_IDX).any()
    assert (b.price_features[b.attention_mask].abs().sum(1) > 0).all()


def test_max_seq_len_truncates(tiny):
    dl = WorldModelDataLoader(dataset(tiny, max_seq_len=5), batch_size=64, drop_last=False)
    assert max(b.attention_mask.shape[1] for b in encoded(dl)) == 5


@pytest.mark.parametrize("group_by", ["date", "hour", "week"])
def test_evaluation_loader(tiny, group_by):
    ev = EvaluationDataLoader(dataset(tiny, "validation"), batch_size=16, group_by=group_by)
    out = list(encoded(ev))
    assert len(out) == len(ev)
    got = [i for _, b in out for i in ids(b)]
    assert len(got) == len(set(got)) == N["validation"]  # every basket exactly once
    keys = [k for k, _ in out]
    assert len(set(keys)) == len([k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k])  # contiguous
    for key, b in out:
        if group_by == "week":
            assert (b.week == key).all()
        chosen = b.masked_positions >= 0
        targets_pos = b.masked_positions.clamp(min=0)
        assert (b.product_ids.gather(1, targets_pos)[chosen] == MASK_IDX).all()  # always the MASK token
        assert (chosen.sum(1) >= 1).all()
        assert (b.trip_context == 0).all()  # default eval_trip_context = hidden
    again = [(k, b.product_ids.tolist()) for k, b in encoded(ev)]
    assert again == [(k, b.product_ids.tolist()) for k, b in out]



def test_evaluation_loader_selection_builds_only_the_selected_baskets(tiny):
    full = EvaluationDataLoader(dataset(tiny, "validation"), batch_size=16, group_by="date")
    per_basket = {}
    for key, b in encoded(full):
        for r, i in enumerate(ids(b)):
            n = int(b.attention_mask[r].sum())
            per_basket[i] = (key, b.product_ids[r, :n].tolist(), b.price_features[r, :n], b.customer_context[r])
    chosen = np.array(sorted(per_basket)[::3], dtype=np.int64)
    ev = EvaluationDataLoader(dataset(tiny, "validation"), batch_size=16, group_by="date", basket_ids=chosen)
    out = list(encoded(ev))
    assert len(out) == len(ev) < len(full)
    got = [i for _, b in out for i in ids(b)]
    assert sorted(got) == chosen.tolist()  # each selected basket once, no other
    for key, b in out:  # the values each basket has in the unselected pass (masks are per basket id)
        for r, i in enumerate(ids(b)):
            n = int(b.attention_mask[r].sum())
            k, products, prices, customer = per_basket[i]
            assert key == k and b.product_ids[r, :n].tolist() == products
            assert torch.equal(b.price_features[r, :n], prices) and torch.equal(b.customer_context[r], customer)

def test_evaluation_date_keys_match_rows(tiny):
    folder, _ = tiny
    ev = EvaluationDataLoader(dataset(tiny, "test"), batch_size=8, group_by="hour")
    keys = [key for key, _ in ev]
    assert all(len(k) == len("2007-03-05 13:00") and k.endswith(":00") for k in keys)
    assert keys == sorted(keys)
    cfg = apply(Config(), {"loader.eval_trip_context": "visible"})
    for _, b in encoded(EvaluationDataLoader(dataset(tiny, "test", config=cfg), batch_size=64)):
        assert all((v == -100).all() for v in b.auxiliary_labels.values())


def test_user_errors(tiny, tmp_path):
    folder, cache = tiny
    with pytest.raises(UserError, match="split"):
        WorldModelDataset(folder, "dev", cache=cache)
    with pytest.raises(UserError, match="manifest"):
        WorldModelDataset(tmp_path, "train", cache=cache)
    with pytest.raises(UserError, match="group_by"):
        EvaluationDataLoader(dataset(tiny, "test"), group_by="month")
    with pytest.raises(UserError, match="rank"):
        WorldModelDataLoader(dataset(tiny), rank=2, world_size=2)


def test_empty_file_and_row_group_are_harmless(tmp_path):
    import pyarrow.parquet as pq

    table = tiny_samples(60, seed=8)
    folder = write_prepared(tmp_path / "p", {"train": table}, row_group_size=16)
    pq.write_table(table.slice(0, 0), folder / "samples" / "split=train" / "bucket=1" / "part-9.parquet")
    record_files(folder)
    ds = WorldModelDataset(folder, "train", cache=FakeCache(), config=Config())
    got = [i for _, b in EvaluationDataLoader(ds, batch_size=7) for i in ids(b)]
    assert sorted(got) == sorted(table.column("basket_id").to_pylist())
    got = [i for b in WorldModelDataLoader(ds, batch_size=7, drop_last=False) for i in ids(b)]
    assert sorted(got) == sorted(table.column("basket_id").to_pylist())


@pytest.mark.parametrize("read, slots", [(1, 1), (3, 200), (64, 10**6)])
def test_batches_identical_whatever_the_chunking(tiny, monkeypatch, read, slots):
    """Batches are encoded several at a time (READ_BATCHES read together, CHUNK_SLOTS per call) and put
    in order ORDER_BATCHES at a time; the chunking changes no value: one batch per call is the reference."""
    import retail_sim.data.chunks as chunks_module

    def run():
        dl = WorldModelDataLoader(dataset(tiny, max_seq_len=12), batch_size=16, drop_last=False, world_size=3, rank=1)
        dl.set_epoch(1)
        ev = EvaluationDataLoader(dataset(tiny, "validation"), batch_size=8, group_by="week")
        return list(dl), list(ev)

    monkeypatch.setattr(chunks_module, "READ_BATCHES", 1)
    monkeypatch.setattr(chunks_module, "CHUNK_SLOTS", 1)
    ref_train, ref_eval = run()
    monkeypatch.setattr(chunks_module, "READ_BATCHES", read)
    monkeypatch.setattr(chunks_module, "CHUNK_SLOTS", slots)
    monkeypatch.setattr(chunks_module, "ORDER_BATCHES", read)
    train, ev = run()
    assert len(train) == len(ref_train) and len(ev) == len(ref_eval)
    assert all(same_compact(x, y) for x, y in zip(train, ref_train, strict=True))
    assert all(k == j and same_compact(x, y) for (k, x), (j, y) in zip(ev, ref_eval, strict=True))
    assert len({b.meta.S for b in train}) > 1  # batches of different S shared a call


def test_window_reader_rows_and_one_window_per_stream(tiny):
    """WindowReader.pieces gives the rows sharding.batch_rows names, piece after piece (batches cut at
    window boundaries), and holds one window per stream."""
    import numpy as np

    from retail_sim.data.chunks import WindowReader
    from retail_sim.data.rows import GroupReader
    from retail_sim.data.sharding import batch_rows, rank_pieces

    cfg = apply(Config(), {"loader.shuffle_window": 2})
    ds = dataset(tiny, config=cfg)
    dl = WorldModelDataLoader(ds, batch_size=5, drop_last=False)
    plan = dl.plan()
    pieces = rank_pieces(plan, 0)
    reader, groups = WindowReader(plan, ds.layout), GroupReader(ds.layout)
    order, offsets = pieces.batch_pieces()
    assert (np.diff(offsets) > 1).any()  # some batches straddle two windows
    for i in range(pieces.n_batches):
        got = []
        for p in order[offsets[i]:offsets[i + 1]]:
            rows = reader.pieces(pieces.stream[[p]], pieces.window[[p]], pieces.lo[[p]], pieces.hi[[p]])
            got.extend(rows.scalars["basket_id"].tolist())
            assert len([key for key in reader.windows if key[0] == pieces.stream[p]]) == 1
        expect = [int(groups.read(int(g)).scalars["basket_id"][r]) for g, r in zip(*batch_rows(plan, i), strict=True)]
        assert got == expect


def test_layout_counts_each_groups_basket_items(tiny):
    """read_layout's item count of a row group (its footer) is the sum of the group's basket lengths,
    what the item budget of the shuffle windows (loader.window_items) weighs."""
    from retail_sim.data.rows import GroupReader

    ds = dataset(tiny)
    groups = GroupReader(ds.layout)
    got = [int(np.diff(groups.read(g).offsets).sum()) for g in range(ds.layout.group_rows.size)]
    assert ds.layout.group_items.tolist() == got and sum(got) > 0


def test_merged_pieces_are_the_batch_built_at_once(tiny):
    """compact.merge of the batches built from consecutive row ranges has the bytes of the batch
    built from all those rows in one call (own S and fixed shapes, wide item indices)."""
    from retail_sim.data.compact import merge
    from retail_sim.data.rows import GroupReader

    ds = dataset(tiny)
    rows = GroupReader(ds.layout).read(0)
    n = rows.n
    for edges in (None, np.array([40])):
        whole = ds.compact(rows, np.array([n]), epoch=1, masking="train", trip="dropout", edges=edges)[0]
        for cuts in ([0, 1, n], [0, 5, 9, n], [0, n - 1, n]):
            parts = [ds.compact(rows.slice(a, b), np.array([b - a]), epoch=1, masking="train", trip="dropout",
                                edges=edges)[0] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
            assert same_compact(merge(parts), whole)
    from retail_sim.data.compact import CompactBatch, CompactMeta, field_arrays, layout

    def batch(N, K, first):  # N items, K masked at first, first + 1, ...
        m = CompactMeta(B=1, S=N, M=K, N=N, K=K, X=0, wide_ids=False, wide_items=N > 32_767, auxiliary=True,
                        hide_masked_prices=True)
        data = torch.zeros(layout(m)[1], dtype=torch.uint8)
        f = field_arrays(data, m)
        f["baskets"][8] = N
        f["masked_item"][...] = torch.arange(first, first + K)
        return CompactBatch(data, m)

    big = merge([batch(30_000, 2, 0), batch(5_000, 2, 10)])
    assert big.meta.wide_items and big.masked_item.tolist() == [0, 1, 30_010, 30_011]


def test_a_chunk_holds_each_batch_as_built_alone_with_wide_item_indices(tiny):
    """A chunk whose batches mix int16 and int32 masked-item indices (one batch past 32,767 items)
    gives each batch the bytes it has when built alone."""
    from retail_sim.data.rows import BasketRows, GroupReader

    ds = dataset(tiny)
    one = GroupReader(ds.layout).read(0)
    rows = BasketRows.concat([one] * (33_000 // int(one.offsets[-1]) + 2))
    small = 5
    sizes = np.array([small, rows.n - small])
    chunk = ds.compact(rows, sizes, epoch=1, masking="train", trip="dropout")
    alone = [ds.compact(rows.slice(0, small), sizes[:1], epoch=1, masking="train", trip="dropout")[0],
             ds.compact(rows.slice(small, rows.n), sizes[1:], epoch=1, masking="train", trip="dropout")[0]]
    assert not chunk[0].meta.wide_items and chunk[1].meta.wide_items
    assert all(same_compact(x, y) for x, y in zip(chunk, alone, strict=True))


def test_t2_equals_the_padded_oracle(tiny):
    """BatchEncoder gathers T2 on the device; every batch holds the bits the padded reference
    (tests/oracles.py encode_products) gives for its input ids."""
    from oracles import encode_products

    _, cache = tiny
    for b in encoded(WorldModelDataLoader(dataset(tiny), batch_size=16, drop_last=False)):
        ref = encode_products(cache, b.product_ids.numpy(), b.attention_mask.numpy())
        assert np.array_equal(b.product_embeddings.numpy().view(np.int32), ref.view(np.int32))


def test_fixed_shapes_one_shape_per_bucket_same_values(tiny):
    """loader.fixed_shapes pads every batch of a bucket to S = M = the bucket's edge; the values at
    real positions and masked slots are those of the batch padded to its own S, and the model's
    loss is unchanged (padding is masked out of attention and the loss)."""
    from retail_sim.config import ModelConfig
    from retail_sim.data.batch import IGNORE_INDEX
    from retail_sim.model import WorldModel
    from retail_sim.train.loss import world_model_loss

    ds = dataset(tiny)
    edges = ds.prepared.config.splits.bucket_edges
    fixed = WorldModelDataLoader(ds, batch_size=16, fixed_shapes=True)
    plan = fixed.plan()
    shapes = {}
    for compact, s in zip(fixed, plan.batch_stream[plan.rank_batches(0)], strict=True):
        bucket = plan.streams[int(s)].stream
        shapes.setdefault(bucket, set()).add((compact.meta.B, compact.meta.S, compact.meta.M))
    assert len(shapes) > 2 and all(v == {(16, edges[b - 1], edges[b - 1])} for b, v in shapes.items())

    torch.manual_seed(0)
    model = WorldModel(ModelConfig(), n_products=tiny[1].n_products_total).eval()
    weights = {"mission_type": 0.1, "mission_focus": 0.1, "price_sensitivity": 0.05, "basket_size": 0.05}
    dynamic = WorldModelDataLoader(ds, batch_size=16)
    for i, (x, y) in enumerate(zip(encoded(fixed), encoded(dynamic), strict=True)):
        S, M = y.attention_mask.shape[1], y.masked_positions.shape[1]
        for name in ("product_embeddings", "price_features", "attention_mask", "product_ids"):
            big, small = getattr(x, name), getattr(y, name)
            assert torch.equal(big[:, :S], small) and not big[:, S:].any()
        for name in ("masked_positions", "masked_targets"):
            assert torch.equal(getattr(x, name)[:, :M], getattr(y, name))
            assert (getattr(x, name)[:, M:] == IGNORE_INDEX).all()
        for name in ("customer_context", "temporal_context", "store_context", "trip_context", "history_ids"):
            assert torch.equal(getattr(x, name), getattr(y, name))
        if i >= 4:  # the loss on a few batches: the model is the slow part of this test
            continue
        with torch.no_grad():
            a, _ = world_model_loss(model(x), x, weights)
            b, _ = world_model_loss(model(y), y, weights)
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_compact_batches_fit_the_worker_budget(tiny):
    """What crosses the worker boundary: at most 64 KiB per batch of 64, one buffer per batch."""
    for b in WorldModelDataLoader(dataset(tiny), batch_size=64, drop_last=False):
        assert isinstance(b, CompactBatch) and b.data.dtype == torch.uint8 and b.data.dim() == 1
        assert b.nbytes <= 64 * 1024
    from retail_sim.data.compact import CompactMeta, layout

    worst = CompactMeta(B=64, S=50, M=50, N=64 * 50, K=600, X=0, wide_ids=False, wide_items=False,
                        auxiliary=True, hide_masked_prices=True)
    assert layout(worst)[1] <= 64 * 1024  # 64 baskets of 50 items, 600 of them masked


def test_bench_loader_reports_every_figure(tiny):
    """`retail-sim bench loader` on the tiny folder with a fake cache: every figure of issue 14 is
    printed (bytes, 1 process, with the encoder, padding own S <= fixed shapes, history cost)."""
    from retail_sim.data.bench import run

    folder, _ = tiny
    lines = []
    m = run(folder, Config(), batches=4, workers=0, full_epoch=False, echo=lines.append, pairs=1, fake=True)
    text = "\n".join(lines)
    for words in ("compact batch:", "1 process", "BatchEncoder on the CPU", "padding:", "purchase history"):
        assert words in text
    assert 0 < m["mean_batch_bytes"] <= 64 * 1024 and m["encoded"]["cpu_samples_per_s"] > 0
    assert 0 <= m["padding_fraction"] <= m["fixed_padding_fraction"] < 1


def test_fake_cache_history_stays_finite_for_many_customers():
    """`bench loader --fake-cache` sizes the fake cache from the folder: 85,000 customers (a 50M-row
    folder) overflowed its decayed sums (hours grew with the customer number) to inf."""
    import numpy as np

    from retail_sim.data.testing import FakeCache

    h = FakeCache(n_customers=85_000).history
    assert np.isfinite(h.cum_decay).all() and h.event_ts.max() < 200 * 168


def test_history_of_a_basket_is_the_same_whatever_the_workers_ranks_or_resume(tiny):
    """history_* depend on the basket alone: any split of the epoch gives each basket the same rows."""

    def by_basket(batches):
        return {int(i): (h.tolist(), f.tolist(), m.tolist()) for b in batches
                for i, h, f, m in zip(b.basket_id, b.history_ids, b.history_features, b.history_mask, strict=True)}

    ref = by_basket(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16)))
    assert sum(any(m) for _, _, m in ref.values()) > 50  # the fake cache gives most customers a history
    assert by_basket(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))) == ref
    ranks = {}
    for r in range(2):
        ranks.update(by_basket(encoded(WorldModelDataLoader(dataset(tiny), batch_size=16, rank=r, world_size=2))))
    assert ranks == {i: ref[i] for i in ranks} and len(ranks) >= len(ref) - 2
    dl = WorldModelDataLoader(dataset(tiny), batch_size=16)
    it = encoded(dl)
    head = [next(it) for _ in range(5)]
    resumed = WorldModelDataLoader(dataset(tiny), batch_size=16)
    resumed.load_state_dict(dl.state_dict())
    del it
    assert {**by_basket(head), **by_basket(encoded(resumed))} == ref
