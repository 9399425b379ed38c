"""End to end on the real LGSR sample: a full epoch of every split through both loaders."""

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import torch

from retail_sim.config import Config
from retail_sim.data.encoder import BatchEncoder
from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataLoader, WorldModelDataset
from retail_sim.data.testing import FakeCache
from retail_sim.vocab import FIRST_PRODUCT_IDX, MASK_IDX


@pytest.fixture(scope="module")
def sample(request):
    """(prepared folder, cache argument): the real TensorCache (cache=None) once the `cached_sample`
    fixture exists; until then a fake contract-B cache sized from the sample's vocab."""
    try:
        return request.getfixturevalue("cached_sample"), None
    except pytest.FixtureLookupError:
        prepared = request.getfixturevalue("prepared_sample")
        n = {name: pq.read_metadata(prepared / "vocab" / f"{name}.parquet").num_rows for name in ("products", "customers", "stores")}
        return prepared, FakeCache(n_products=n["products"], n_customers=n["customers"], n_stores=n["stores"])


def split_ids(prepared, split):
    ds = pads.dataset(prepared / "samples" / f"split={split}", format="parquet", partitioning="hive")
    return np.sort(ds.to_table(columns=["basket_id"]).column("basket_id").to_numpy())


def check(batch, n_products, cache):
    for t in (batch.customer_context, batch.product_embeddings, batch.temporal_context, batch.price_features,
              batch.store_context, batch.trip_context):
        assert torch.isfinite(t).all()
    real = batch.attention_mask
    assert (batch.product_ids[real] >= FIRST_PRODUCT_IDX).logical_or(batch.product_ids[real] == MASK_IDX).all()
    assert (batch.product_ids < n_products).all()
    t = batch.masked_targets[batch.masked_targets != -100]
    assert (t >= FIRST_PRODUCT_IDX).all() and (t < n_products).all()
    S = real.shape[1]  # T2 = the cache's row of the input id + position
    expect = np.asarray(cache.product_embeddings)[batch.product_ids.numpy()] + np.asarray(cache.positional_encodings)[:S]
    assert np.allclose(batch.product_embeddings.numpy()[real.numpy()], expect[real.numpy()], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_full_epoch_both_loaders(sample, split):
    prepared, cache = sample
    torch.set_num_threads(1)
    ds = WorldModelDataset(prepared, split, config=Config(), cache=cache)
    n_products = int(ds.cache.n_products_total)
    expected = split_ids(prepared, split)
    assert expected.size == ds.n_baskets > 0

    encoder = BatchEncoder.from_dataset(ds)
    train = WorldModelDataLoader(ds, batch_size=64, drop_last=False)
    got = []
    for compact in train:
        assert compact.nbytes <= 64 * 1024  # what crosses the worker boundary
        batch = encoder(compact)
        check(batch, n_products, ds.cache)
        got.append(batch.basket_id.numpy())
    got = np.sort(np.concatenate(got))
    assert (got == expected).all()  # every basket exactly once

    ev = EvaluationDataLoader(ds, batch_size=64, group_by="date")
    got, keys = [], []
    for key, compact in ev:
        batch = encoder(compact)
        check(batch, n_products, ds.cache)
        assert (batch.product_ids == MASK_IDX).sum() == (batch.masked_positions >= 0).sum()
        got.append(batch.basket_id.numpy())
        keys.append(key)
    assert (np.sort(np.concatenate(got)) == expected).all()
    assert keys == sorted(keys)  # week by week, date by date


def split_rows(ds):
    """Every row of the dataset's split as one BasketRows, and basket id -> row."""
    from retail_sim.data.rows import BasketRows, GroupReader

    groups = GroupReader(ds.layout)
    rows = BasketRows.concat([groups.read(g) for g in range(ds.layout.group_rows.size)])
    ids = rows.scalars["basket_id"].astype(np.int64)
    order = np.argsort(ids)
    return rows, ids[order], order


def assert_equals_oracle(batch, want: dict):
    """Every WorldModelBatch field equals the reference one: floats within 1e-6, the rest exactly."""
    for name, expected in want.items():
        got = batch.auxiliary_labels[name.split(".")[1]] if name.startswith("auxiliary_labels.") else getattr(batch, name)
        got = got.numpy()
        assert got.shape == expected.shape, name
        if expected.dtype.kind == "f":
            assert np.abs(got.astype(np.float64) - expected).max(initial=0.0) <= 1e-6, name
        else:
            assert np.array_equal(got, expected), name


def test_encoder_equals_the_numpy_oracle_on_the_real_sample(sample, one_torch_thread):
    """BatchEncoder(compact batch) gives what the numpy reference encoders (tests/oracles.py
    oracle_batch: the loader's output before the encoding moved to torch) give for the same rows:
    training batches (masks, trip dropout) and evaluation batches (MASK token, hidden trip context)."""
    from oracles import oracle_batch

    from retail_sim.data.masking import EVAL_EPOCH

    prepared, cache = sample
    for split in ("train", "validation"):
        ds = WorldModelDataset(prepared, split, cache=cache, config=Config())
        encoder = BatchEncoder.from_dataset(ds)
        rows, sorted_ids, order = split_rows(ds)
        s = ds.settings
        if split == "train":
            loader = WorldModelDataLoader(ds, batch_size=64)
            loader.set_epoch(1)
            batches = [(b, 1, "train", "dropout") for _, b in zip(range(8), loader, strict=False)]
        else:
            ev = EvaluationDataLoader(ds, batch_size=64, group_by="date")
            batches = [(b, EVAL_EPOCH, "eval", s.eval_trip_context) for i, (_, b) in enumerate(ev) if i % 20 == 0][:8]
        assert len(batches) == 8
        for compact, epoch, masking, trip in batches:
            at = order[np.searchsorted(sorted_ids, compact.basket_id.numpy())]
            want = oracle_batch(rows.take(at), ds.cache, s, epoch=epoch, masking=masking, trip=trip)
            assert_equals_oracle(encoder(compact), want)


def test_history_lookup_with_64_bit_event_numbers_gives_the_same_batch(sample, one_torch_thread, monkeypatch):
    """Event numbers are int32 below history_torch.INT32_EVENTS events and int64 above (an index of
    2^31 events): both give the same history on the real sample."""
    from retail_sim.data import history_torch

    prepared, cache = sample
    ds = WorldModelDataset(prepared, "train", cache=cache, config=Config())
    encoder = BatchEncoder.from_dataset(ds)
    batches = [b for _, b in zip(range(4), WorldModelDataLoader(ds, batch_size=64), strict=False)]
    narrow = [encoder(b) for b in batches]
    monkeypatch.setattr(history_torch, "INT32_EVENTS", 0)
    for b, want in zip(batches, narrow, strict=True):
        got = encoder(b)
        assert want.history_mask.any()
        assert torch.equal(got.history_ids, want.history_ids) and torch.equal(got.history_features, want.history_features)
