"""TensorCache: the memory-mapped tables of `<prepared>/tensor_cache/` (see data/README.md).

    cache = TensorCache("data/prepared")          # or the tensor_cache folder itself
    cache.product_embeddings                       # [P+3, 256] float32, mmap
    state, n = cache.get_customer_state_batch(customer_idx, week)   # [n, 128], [n]
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from retail_sim import hints
from retail_sim.cache.customer_state import lookup
from retail_sim.cache.history import ARRAYS as HISTORY_ARRAYS
from retail_sim.cache.history import load_history_index
from retail_sim.data.history import INDEX_ARRAYS, INDEX_ORDER
from retail_sim.errors import UserError
from retail_sim.files import file_map, unmap, unmap_over
from retail_sim.integrity import check_files
from retail_sim.manifest import MANIFEST, read_manifest
from retail_sim.prepared import CACHE_DIR, Prepared
from retail_sim.vocab import ANONYMOUS_CUSTOMER_IDX, UNK_IDX, UNKNOWN_STORE_IDX

ARRAYS = (
    "product_embeddings", "store_embeddings", "segment_embeddings", "positional_encodings",
    "segment_prior", "customer_segment", "customer_state", "customer_state_keys", "customer_state_n_baskets",
)
# every array `retail-sim cache` writes, and its files (the manifest lists their bytes and hashes)
ALL_ARRAYS = ARRAYS + ("history_pca_mean", "history_pca_components") + HISTORY_ARRAYS
CACHE_FILES = ("vocab.json", *(f"{name}.npy" for name in ALL_ARRAYS))


def check_arrays(folder: Path, manifest: dict, rerun: str) -> None:
    """Every cache file against the manifest: present with its size, each array's shape and dtype
    as recorded (headers only), customer_state_keys strictly increasing, history_customer_events
    offsets from 0 to the event count, never decreasing. A mismatch is one line naming the file."""
    if "files" not in manifest or any(name not in manifest.get("arrays", {}) for name in ALL_ARRAYS):
        raise UserError(f"{folder / MANIFEST}: lists no files or arrays (written by an older retail-sim) — "
                        f"run {rerun} again")
    check_files(folder, manifest["files"], (), rerun)
    arrays = {}
    for name in ALL_ARRAYS:
        path = folder / f"{name}.npy"
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable ({exc}) — damaged; run {rerun} again") from None
        want = manifest["arrays"][name]
        got = {"shape": list(arrays[name].shape), "dtype": str(arrays[name].dtype)}
        if got != {"shape": list(want["shape"]), "dtype": want["dtype"]}:
            raise UserError(f"{path}: {got['dtype']} {got['shape']}, the manifest says {want['dtype']} "
                            f"{list(want['shape'])} — damaged; run {rerun} again")
    if not ascending(arrays["customer_state_keys"], strict=True):
        raise UserError(f"{folder / 'customer_state_keys.npy'}: keys not strictly increasing — damaged; run {rerun} again")
    offsets, n_events = arrays["history_customer_events"], len(arrays["history_event_ts"])
    if len(offsets) and (offsets[0] != 0 or offsets[-1] != n_events or not ascending(offsets, strict=False)):
        raise UserError(f"{folder / 'history_customer_events.npy'}: offsets do not run from 0 to the "
                        f"{n_events:,} events in order — damaged; run {rerun} again")


def ascending(values: np.ndarray, strict: bool, chunk: int = 1 << 20) -> bool:
    """values [n] increasing (strict) or never decreasing, read `chunk` values at a time and, for a
    memory-mapped array, its pages unmapped after each chunk: checking a 214M-row cache's customer
    state keys (hundreds of MB) holds a few MiB, not the file plus its difference."""
    mapping = file_map(values)
    for i in range(0, max(len(values) - 1, 0), chunk):
        part = np.asarray(values[i:i + chunk + 1])
        if not (part[1:] > part[:-1] if strict else part[1:] >= part[:-1]).all():
            return False
        unmap([mapping])
    return True


class CodeIndex:
    """Code -> index with a default for unknown codes: `ix["PRD0900001"]` -> int,
    `ix(["PRD0900001", "nope"])` -> np.ndarray int64 (unknown -> the unknown index)."""

    def __init__(self, mapping: dict[str, int], unknown: int):
        self.mapping = mapping
        self.unknown = unknown

    def __getitem__(self, code: str) -> int:
        return self.mapping.get(code, self.unknown)

    def get(self, code: str, default: int | None = None) -> int:
        return self.mapping.get(code, self.unknown if default is None else default)

    def __call__(self, codes) -> np.ndarray:
        return np.fromiter((self.mapping.get(c, self.unknown) for c in codes), dtype=np.int64)

    def __contains__(self, code: object) -> bool:
        return code in self.mapping

    def __len__(self) -> int:
        return len(self.mapping)


def cache_folder(path: Path | str) -> Path:
    """The tensor_cache folder for a prepared folder or for the cache folder itself."""
    path = Path(path)
    return path if (path / "product_embeddings.npy").exists() or path.name == CACHE_DIR else path / CACHE_DIR


class TensorCache:
    """Read-only view of a built tensor cache; every array is np.load(mmap_mode='r').

    path: the prepared folder or its tensor_cache/. expected_fingerprint: the prepared manifest's
    fingerprint the cache must come from; by default the manifest of the prepared folder that holds
    the cache (when there is one). A mismatch, or a file that does not match the manifest
    (check_arrays), raises a UserError naming the command that rebuilds the cache.
    """

    def __init__(self, path: Path | str, expected_fingerprint: str | None = None):
        folder = cache_folder(path)
        self.path = folder
        rerun = hints.cache(folder.parent)
        self.manifest = read_manifest(folder, stage="cache", rerun=rerun)
        self.fingerprint: str = self.manifest["prepared_fingerprint"]
        if expected_fingerprint is None and (folder.parent / MANIFEST).is_file():
            expected_fingerprint = Prepared(folder.parent).fingerprint
        if expected_fingerprint is not None and expected_fingerprint != self.fingerprint:
            raise UserError(f"{folder}: tensor cache was built from another prepared folder — run {rerun}")
        check_arrays(folder, self.manifest, rerun)
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
        self.product_embeddings: np.ndarray = arrays["product_embeddings"]  # [P+3, 256] float32
        self.store_embeddings: np.ndarray = arrays["store_embeddings"]  # [n_stores+1, 96] float32
        self.segment_embeddings: np.ndarray = arrays["segment_embeddings"]  # [n_segments, 64] float32
        self.positional_encodings: np.ndarray = arrays["positional_encodings"]  # [max_seq_len, 256] float32
        self.segment_prior: np.ndarray = arrays["segment_prior"]  # [n_segments, 128] float32
        self.customer_segment: np.ndarray = arrays["customer_segment"]  # [n_customers+1] int32
        self.customer_state: np.ndarray = arrays["customer_state"]  # [R, 128] float32
        self.customer_state_keys: np.ndarray = arrays["customer_state_keys"]  # [R] int64, sorted
        self.customer_state_n_baskets: np.ndarray = arrays["customer_state_n_baskets"]  # [R] int32
        self.n_products_total: int = int(self.product_embeddings.shape[0])
        if "history" not in self.manifest:
            raise UserError(f"{folder}: tensor cache without the purchase-history index — run {rerun} again")
        meta = self.manifest["history"]
        if meta.get("order") != INDEX_ORDER:  # caches before the rank order held each customer's events by product
            raise UserError(f"{folder}: purchase-history index in another event order (written by an older "
                            f"retail-sim) — run {rerun} again")
        self.history = load_history_index(folder, meta["decay"], meta["short_decay"])  # data/history.HistoryIndex
        self._maps = [file_map(a) for a in [*arrays.values(), *(getattr(self.history, f) for f in INDEX_ARRAYS)]]

    # vocab.json and its code maps are read on first use: the loader, training and evaluation work on
    # indices and never need them, and at 214.4M rows they are ~360,000 customer codes as Python objects
    @functools.cached_property
    def vocab(self) -> dict:
        return json.loads((self.path / "vocab.json").read_text())

    @functools.cached_property
    def product_id_to_idx(self) -> CodeIndex:
        return CodeIndex(self.vocab["products"], UNK_IDX)

    @functools.cached_property
    def customer_id_to_idx(self) -> CodeIndex:
        return CodeIndex(self.vocab["customers"], ANONYMOUS_CUSTOMER_IDX)

    @functools.cached_property
    def store_id_to_idx(self) -> CodeIndex:
        return CodeIndex(self.vocab["stores"], UNKNOWN_STORE_IDX)

    @functools.cached_property
    def segment_to_idx(self) -> CodeIndex:
        return CodeIndex(self.vocab["segments"], 0)

    def release_pages(self) -> None:
        """Unmap the cache pages this process has read (madvise MADV_DONTNEED on every array's
        file mapping). The pages stay in the page cache: the next read maps them again with a minor
        fault, and the values are the file's. What it bounds is the cache's share of this process's
        RSS, which a loop reading all over a large cache (evaluate's scoring) otherwise grows to the
        whole cache, and which `time -v`, Slurm and the like count as the process's memory."""
        unmap(self._maps)

    def release_pages_over(self, limit_bytes: int) -> bool:
        """release_pages when this process maps more than limit_bytes of file pages (RssFile and
        shared memory: /proc/self/statm's shared pages, 1.5 us to read); True when it released.
        Unmapping costs the next batches their minor faults (11.8M rows, B = 64: 6.2 against 3.3 ms
        an encode when released at every batch), so the BatchEncoder releases only past a bound."""
        return unmap_over(self._maps, limit_bytes)

    def get_product_embedding(self, code: str) -> np.ndarray:
        """[256] float32 of a product code (an unknown code gets the UNK row)."""
        return np.array(self.product_embeddings[self.product_id_to_idx[code]])

    def get_product_embeddings_batch(self, indices) -> np.ndarray:
        """Product indices [n] (or any shape) -> [n, 256] float32 (a copy)."""
        return self.product_embeddings[np.asarray(indices, dtype=np.int64)]

    def get_store_embedding(self, code: str) -> np.ndarray:
        """[96] float32 of a store code (unknown -> row 0, the mean store)."""
        return np.array(self.store_embeddings[self.store_id_to_idx[code]])

    def get_customer_state(self, code: str | None, week: int) -> np.ndarray:
        """[128] float32: the customer's state as of the start of `week` (see the batch form)."""
        idx = self.customer_id_to_idx[code] if code is not None else ANONYMOUS_CUSTOMER_IDX
        state, _ = self.get_customer_state_batch(np.array([idx]), np.array([week]))
        return state[0]

    def get_customer_state_batch(self, customer_idx, week) -> tuple[np.ndarray, np.ndarray]:
        """customer_idx [n], week [n] -> (state [n, 128] float32, n_baskets [n] int32).

        The state as of the start of `week`, built from the customer's baskets in strictly earlier
        weeks, and the number of those baskets. Rows exist for every (customer, week in which the
        customer has a basket) of every split — exactly the pairs the loader asks for. Anonymous
        customers (idx 0), customers without an earlier basket, and (customer, week) pairs where
        the customer has no basket in that week give zeros and 0.
        """
        row, found = lookup(self.customer_state_keys, customer_idx, week)
        state = np.zeros((len(row), self.customer_state.shape[1]), dtype=np.float32)
        n_baskets = np.zeros(len(row), dtype=np.int32)
        hit = row[found]
        if len(hit):
            state[found] = self.customer_state[hit]
            n_baskets[found] = self.customer_state_n_baskets[hit]
        return state, n_baskets
