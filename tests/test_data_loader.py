"""WorldModelDataset / WorldModelDataLoader / EvaluationDataLoader on a tiny hand-made prepared folder
(fake contract-B cache): shapes, leakage rules, coverage, determinism, workers, resume, ranks."""

import numpy as np
import pytest
import torch

from retail_sim.config import Config, apply
from retail_sim.data.batch import AUXILIARY_TASKS, WorldModelBatch
from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataLoader, WorldModelDataset
from retail_sim.data.testing import FakeCache, tiny_samples, write_prepared
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


def test_batch_shapes_and_dtypes(tiny):
    b = next(iter(WorldModelDataLoader(dataset(tiny), batch_size=16)))
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
    for b in WorldModelDataLoader(dataset(tiny), batch_size=32, drop_last=False):
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
    b.set_epoch(1)
    assert [ids(x) for x in b] != [f[0] for f in first]
    other_seed = WorldModelDataLoader(dataset(tiny, seed=5), batch_size=16)
    assert [ids(x) for x in other_seed] != [f[0] for f in first]


def test_batches_identical_whatever_the_workers(tiny):
    ref = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=0))
    two = list(WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=2))
    assert len(ref) == len(two)
    for x, y in zip(ref, two, strict=True):
        assert torch.equal(x.basket_id, y.basket_id) and torch.equal(x.product_ids, y.product_ids)
        assert torch.equal(x.product_embeddings, y.product_embeddings)
        assert torch.equal(x.price_features, y.price_features) and torch.equal(x.trip_context, y.trip_context)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch(tiny, workers):
    full = WorldModelDataLoader(dataset(tiny), batch_size=16)
    full.set_epoch(2)
    expected = [ids(b) for b in full]
    dl = WorldModelDataLoader(dataset(tiny), batch_size=16, num_workers=workers)
    dl.set_epoch(2)
    it = iter(dl)
    head = [ids(next(it)) for _ in range(5)]
    state = dl.state_dict()
    assert state["position"] == 5 and state["epoch"] == 2
    del it
    resumed = WorldModelDataLoader(dataset(tiny), batch_size=16)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the trainer's usual call keeps the resume point
    rest = [ids(b) for b in resumed]
    assert head + rest == expected
    assert resumed.state_dict()["position"] == len(expected)
    assert [ids(b) for b in resumed] == expected  # the next pass is a whole epoch again
    with pytest.raises(UserError, match="batch_size"):
        WorldModelDataLoader(dataset(tiny), batch_size=8).load_state_dict(state)


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_disjoint_equal_counts(tiny, world_size):
    per_rank = [
        [ids(b) for b in WorldModelDataLoader(dataset(tiny), batch_size=16, rank=r, world_size=world_size)]
        for r in range(world_size)
    ]
    assert len({len(p) for p in per_rank}) == 1
    flat = [i for p in per_rank for b in p for i in b]
    assert len(flat) == len(set(flat))


def test_auxiliary_disabled_keeps_trip_visible(tiny):
    b = next(iter(WorldModelDataLoader(dataset(tiny, enable_auxiliary_tasks=False), batch_size=64)))
    assert b.auxiliary_labels == {}
    assert (b.trip_context.sum(1) > 0).float().mean() > 0.5  # visible wherever the attributes are known


def test_no_masking_mode(tiny):
    b = next(iter(WorldModelDataLoader(dataset(tiny), batch_size=16, apply_masking=False)))
    assert (b.masked_positions == -100).all() and not (b.product_ids == MASK_IDX).any()
    assert (b.price_features[b.attention_mask].abs().sum(1) > 0).all()


def test_max_seq_len_truncates(tiny):
    dl = WorldModelDataLoader(dataset(tiny, max_seq_len=5), batch_size=64, drop_last=False)
    assert max(b.attention_mask.shape[1] for b in dl) == 5


@pytest.mark.parametrize("group_by", ["date", "hour", "week"])
def test_evaluation_loader(tiny, group_by):
    ev = EvaluationDataLoader(dataset(tiny, "validation"), batch_size=16, group_by=group_by)
    out = list(ev)
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
    again = [(k, b.product_ids.tolist()) for k, b in ev]
    assert again == [(k, b.product_ids.tolist()) for k, b in out]


def test_evaluation_date_keys_match_rows(tiny):
    folder, _ = tiny
    ev = EvaluationDataLoader(dataset(tiny, "test"), batch_size=8, group_by="hour")
    keys = [key for key, _ in ev]
    assert all(len(k) == len("2007-03-05 13:00") and k.endswith(":00") for k in keys)
    assert keys == sorted(keys)
    cfg = apply(Config(), {"loader.eval_trip_context": "visible"})
    for _, b in EvaluationDataLoader(dataset(tiny, "test", config=cfg), batch_size=64):
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
    ds = WorldModelDataset(folder, "train", cache=FakeCache(), config=Config())
    got = [i for _, b in EvaluationDataLoader(ds, batch_size=7) for i in ids(b)]
    assert sorted(got) == sorted(table.column("basket_id").to_pylist())
    got = [i for b in WorldModelDataLoader(ds, batch_size=7, drop_last=False) for i in ids(b)]
    assert sorted(got) == sorted(table.column("basket_id").to_pylist())


def same_batch(x: WorldModelBatch, y: WorldModelBatch) -> bool:
    """Every tensor equal in shape, dtype and bits (view as int: -0.0 differs from 0.0)."""
    def bits(t):
        return t.view(torch.int32) if t.dtype == torch.float32 else t
    pairs = [(getattr(x, k), getattr(y, k)) for k in vars(x) if k != "auxiliary_labels"]
    pairs += [(x.auxiliary_labels[k], y.auxiliary_labels[k]) for k in x.auxiliary_labels]
    return set(x.auxiliary_labels) == set(y.auxiliary_labels) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.is_contiguous() and torch.equal(bits(a), bits(b)) for a, b in pairs)


@pytest.mark.parametrize("read, slots", [(1, 1), (3, 200), (64, 10**6)])
def test_batches_identical_whatever_the_chunking(tiny, monkeypatch, read, slots):
    """Batches are encoded several at a time (READ_BATCHES read together, CHUNK_SLOTS per call); the
    chunking changes no value: one batch per call is the reference."""
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
    train, ev = run()
    assert len(train) == len(ref_train) and len(ev) == len(ref_eval)
    assert all(same_batch(x, y) for x, y in zip(train, ref_train, strict=True))
    assert all(k == j and same_batch(x, y) for (k, x), (j, y) in zip(ev, ref_eval, strict=True))
    assert len({b.attention_mask.shape[1] for b in train}) > 1  # batches of different S shared a call


def test_window_reader_rows_and_one_window_per_stream(tiny):
    """rows_many gives the rows sharding.batch_rows names, in batch order, and holds one window per stream."""
    import numpy as np

    from retail_sim.data.chunks import WindowReader
    from retail_sim.data.rows import GroupReader
    from retail_sim.data.sharding import batch_rows

    cfg = apply(Config(), {"loader.shuffle_window": 2})
    ds = dataset(tiny, config=cfg)
    dl = WorldModelDataLoader(ds, batch_size=5, drop_last=False)
    plan = dl.plan()
    reader, groups = WindowReader(plan, ds.layout), GroupReader(ds.layout)
    for s, st in enumerate(plan.streams):
        for k0 in range(0, st.n_batches, 3):  # three batches at a time, some straddling windows
            ks = np.arange(k0, min(k0 + 3, st.n_batches))
            rows, sizes = reader.rows_many(s, ks)
            expect = []
            for k in ks:
                g = int(np.flatnonzero((plan.batch_stream == s) & (plan.batch_number == k))[0])
                for group, offset in zip(*batch_rows(plan, g), strict=True):
                    expect.append(int(groups.read(int(group)).scalars["basket_id"][offset]))
            assert rows.scalars["basket_id"].tolist() == expect and sizes.sum() == len(expect)
            assert len([key for key in reader.windows if key[0] == s]) == 1


def test_held_batches_are_never_overwritten(tiny):
    """Chunk buffers are reused only once no batch refers to them: batches kept while iterating
    keep their values; dropped ones free their buffers for reuse."""
    from retail_sim.data.assemble import BufferPool

    kept, copies = [], []
    for i, b in enumerate(WorldModelDataLoader(dataset(tiny), batch_size=16, drop_last=False)):
        if i % 2 == 0:
            kept.append(b)
            copies.append(b._map(torch.clone))
    assert all(same_batch(x, y) for x, y in zip(kept, copies, strict=True))

    pool = BufferPool(keep=2)
    a = pool.get((4, 3), "float32")
    held = torch.from_numpy(a[1:3])
    del a
    b = pool.get((4, 3), "float32")  # the first buffer is still referenced by `held`
    assert len(pool.buffers) == 2 and not np.shares_memory(b, held.numpy())
    del held, b
    c = pool.get((2, 3), "float32")
    assert len(pool.buffers) == 2 and any(np.shares_memory(c, x) for x in pool.buffers)


def test_t2_equals_the_padded_oracle(tiny):
    """build_batches gathers T2 for a whole chunk inline; every batch holds the bits the padded
    reference (tests/oracles.py encode_products) gives for its input ids."""
    from oracles import encode_products

    _, cache = tiny
    for b in WorldModelDataLoader(dataset(tiny), batch_size=16, drop_last=False):
        ref = encode_products(cache, b.product_ids.numpy(), b.attention_mask.numpy())
        assert np.array_equal(b.product_embeddings.numpy().view(np.int32), ref.view(np.int32))
