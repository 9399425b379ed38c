"""Refactors change no byte: the prepared real sample, its tensor cache and the first batches of
the training and evaluation loaders hash to the values recorded with main at 7888946 (before the
structure work of issue 12).

The hashes cover content, not files: tables are read back, sorted by their key and hashed column by
column; batches field by field, so a failure names what changed. They hold for the CPU build of
torch pinned in the Makefile (the cache's GraphSAGE runs on one fixed thread). Floating-point
columns of the prepared tables are hashed as float32, the precision the loader reads: DuckDB sums
doubles in thread order, so `category_avg_price` and `spend_total` differ in their last bit (1e-16
relative) from one `splits` run to the next on 2 threads. A change that is
meant to change outputs records new values, in its own commit, with

    RETAIL_SIM_RECORD=1 .venv/bin/pytest tests/test_bit_identity.py

The tensor cache (float training) and the batches built from it also differ in their last bits
between CPU kinds (vendor and torch's kernel family: `cpu_kind()`). The recorded values are those of
the development machine of 7888946; a CPU kind whose bits differ keeps its own entries, only those that
differ, under "cpu" (recorded on such a machine with RETAIL_SIM_RECORD=cpu). RETAIL_SIM_RECORD=1
drops them for the sections it records: re-record them on each kind, or the test fails there.
`make golden` does both on an AMD AVX512 machine, the AVX2 kind's with torch, OpenBLAS and numpy
held to their AVX2 kernels (Makefile AVX2_KERNELS), which reproduces the AVX2 kind's bits.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pytest
import torch
from conftest import sample_config

GOLDEN = Path(__file__).parent / "golden" / "bit_identity.json"
RECORD = os.environ.get("RETAIL_SIM_RECORD", "")
N_TRAIN = 6  # the first training batches of epoch 1 (two shuffle windows, several buckets)
EVAL_EVERY = 25  # every 25th evaluation batch of the validation split (8 batches over its days)

# the WorldModelBatch fields of 7888946; fields added later are not part of this contract
TENSOR_FIELDS = (
    "customer_context", "product_embeddings", "temporal_context", "price_features", "store_context",
    "trip_context", "attention_mask", "product_ids", "masked_positions", "masked_targets", "basket_id", "week",
)
AUXILIARY = ("mission_type", "mission_focus", "price_sensitivity", "basket_size")
# prepared tables and the columns that identify a row (rows are hashed in this order)
TABLES = {
    "samples": ("samples/*/*/*.parquet", ("basket_id",)),
    "items": ("items/*/*.parquet", ("basket_id", "product_idx")),
    "weekly_prices": ("prices/*.parquet", ("product_idx", "store_idx", "week")),
    "products": ("vocab/products.parquet", ("product_idx",)),
    "customers": ("vocab/customers.parquet", ("customer_idx",)),
    "stores": ("vocab/stores.parquet", ("store_idx",)),
}
CPU_DEPENDENT = ("tensor_cache", "batches")  # sections a CPU kind may hold its own entries of
CACHE_ARRAYS = (
    "product_embeddings", "store_embeddings", "segment_embeddings", "positional_encodings", "segment_prior",
    "customer_segment", "customer_state", "customer_state_keys", "customer_state_n_baskets",
    "history_pca_mean", "history_pca_components",
)


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def tensor_hash(t: torch.Tensor | np.ndarray) -> str:
    a = np.ascontiguousarray(t.numpy() if isinstance(t, torch.Tensor) else t)
    return _digest(str(a.dtype).encode(), str(a.shape).encode(), a.tobytes())


def _array_bytes(array: pa.Array) -> list[bytes]:
    """Content of one Arrow array: type, validity, values (lists: lengths, then the values)."""
    out = [str(array.type).encode(), np.asarray(array.is_null().to_numpy(zero_copy_only=False)).tobytes()]
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        out.append(np.asarray(pc.fill_null(pc.list_value_length(array), 0)).astype(np.int64).tobytes())
        out.extend(_array_bytes(pc.list_flatten(array)))
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        out.append("\x00".join("" if v is None else v for v in array.to_pylist()).encode())
    elif pa.types.is_floating(array.type):  # as the loader reads them (see the module docstring)
        out.append(np.asarray(pc.fill_null(array, 0.0).to_numpy(), dtype=np.float32).tobytes())
    else:
        values = array.to_numpy(zero_copy_only=False)
        out.append(np.asarray(values).astype(values.dtype if values.dtype != object else "U").tobytes())
    return out


def table_hashes(table: pa.Table, keys: tuple[str, ...]) -> dict[str, str]:
    table = table.sort_by([(k, "ascending") for k in keys])
    return {name: _digest(*_array_bytes(table.column(name).combine_chunks())) for name in sorted(table.column_names)}


def prepared_hashes(prepared: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, (pattern, keys) in TABLES.items():
        files = sorted(prepared.glob(pattern))
        table = pads.dataset(files, format="parquet", partitioning="hive").to_table()
        out[name] = {"rows": str(table.num_rows), **table_hashes(table, keys)}
    return out


def batch_hashes(batch) -> dict[str, str]:
    out = {name: tensor_hash(getattr(batch, name)) for name in TENSOR_FIELDS}
    for task in AUXILIARY:
        out[f"auxiliary_labels.{task}"] = tensor_hash(batch.auxiliary_labels[task])
    return out


def loader_hashes(prepared: Path) -> dict[str, list]:
    """The first training batches and every EVAL_EVERY-th evaluation batch, as the loader's compact
    batches encoded by the BatchEncoder on the CPU."""
    from retail_sim.data.encoder import BatchEncoder
    from retail_sim.data.loader import EvaluationDataLoader, WorldModelDataLoader, WorldModelDataset

    cfg = sample_config()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset = WorldModelDataset(prepared, "train", config=cfg)
        encoder = BatchEncoder.from_dataset(dataset)
        train = WorldModelDataLoader(dataset, batch_size=64)
        train.set_epoch(1)
        train_batches = [batch_hashes(encoder(b)) for _, b in zip(range(N_TRAIN), train, strict=False)]
        evaluation = EvaluationDataLoader(WorldModelDataset(prepared, "validation", config=cfg), batch_size=64,
                                          group_by="date")
        eval_batches = [{"key": str(k), **batch_hashes(encoder(b))} for i, (k, b) in enumerate(evaluation)
                        if i % EVAL_EVERY == 0]
    finally:
        torch.set_num_threads(previous)
    return {"train_epoch1": train_batches, "validation_by_date": eval_batches}


def cache_hashes(prepared: Path) -> dict[str, str]:
    folder = prepared / "tensor_cache"
    out = {name: tensor_hash(np.load(folder / f"{name}.npy", allow_pickle=False)) for name in CACHE_ARRAYS}
    out["vocab.json"] = _digest((folder / "vocab.json").read_bytes())
    return out


def _flat(tree: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            out.update(_flat({str(i): v for i, v in enumerate(value)}, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def cpu_kind() -> str:
    """The CPU vendor and the kernel family torch dispatches to ('GenuineIntel AVX512'): the tensor
    cache's float training (GraphSAGE, PCA) and so the batches built from it differ in their last
    bits between them, while the prepared tables (DuckDB) do not."""
    vendor = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("vendor_id"):
                vendor = line.split(":", 1)[1].strip()
                break
    return f"{vendor} {torch.backends.cpu.get_cpu_capability()}"


def _expected(recorded: dict, section: str) -> dict[str, str]:
    """The recorded hashes of `section`, with this CPU kind's own entries where it has any."""
    return {**recorded[section], **recorded.get("cpu", {}).get(cpu_kind(), {}).get(section, {})}


def _check(section: str, got: dict) -> None:
    """Compare with the recorded hashes (or record them); a failure lists every changed entry.
    RETAIL_SIM_RECORD=1 records `section` and drops every CPU kind's own entries of it (no longer
    known); RETAIL_SIM_RECORD=cpu records, for this CPU kind only, the entries of a CPU_DEPENDENT
    section that differ."""
    got = _flat(got)
    recorded = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if RECORD == "1" or (RECORD == "cpu" and section in CPU_DEPENDENT):
        if RECORD == "1":
            recorded[section] = got
            for kind in recorded.get("cpu", {}).values():
                kind.pop(section, None)
        else:
            own = {k: v for k, v in got.items() if recorded[section].get(k) != v}
            recorded.setdefault("cpu", {}).setdefault(cpu_kind(), {})[section] = own
        recorded["cpu"] = {k: v for k, v in recorded.get("cpu", {}).items() if v}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {section} in {GOLDEN} ({'for ' + cpu_kind() if RECORD == 'cpu' else 'all CPUs'})")
    expected = _expected(recorded, section)
    changed = [f"{k}: {expected.get(k)} -> {got.get(k)}" for k in sorted(set(got) | set(expected))
               if got.get(k) != expected.get(k)]
    assert not changed, (f"{section} on {cpu_kind()} (recorded for: default, {', '.join(recorded.get('cpu', {})) or '-'}): "
                         f"{len(changed)} hashes changed:\n" + "\n".join(changed[:20]))


def test_prepared_outputs_unchanged(prepared_sample):
    _check("prepared", prepared_hashes(prepared_sample))


def test_tensor_cache_unchanged(cached_sample):
    _check("tensor_cache", cache_hashes(cached_sample))


def test_batches_unchanged(cached_sample):
    _check("batches", loader_hashes(cached_sample))
