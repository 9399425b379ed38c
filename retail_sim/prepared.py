"""Prepared(path): the one reader of a prepared folder, the output of `retail-sim splits`.

    prep = Prepared("data/prepared")     # refuses a folder without a complete manifest.json
    prep.config.splits.train_weeks       # the Config the folder was built with (its split weeks)
    prep.fingerprint                     # identity of its content (the tensor cache records it)
    con = prep.connect(cfg)              # DuckDB with the views of sql/prepared_views.sql
    cache = prep.open_cache()            # its TensorCache, refused when built from another folder

Every later stage (audit, cache, loader, train, evaluate, baselines) opens a folder through it, so
the manifest is read and checked in one place; `check()` is where integrity checks belong.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from retail_sim.config import Config, from_dict
from retail_sim.errors import UserError
from retail_sim.manifest import MANIFEST, read_manifest

CACHE_DIR = "tensor_cache"
SPLITS = ("train", "validation", "test")


class Prepared:
    """A complete prepared folder: its manifest, config, fingerprint, tensor cache and views."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.manifest: dict[str, Any] = read_manifest(self.path)
        # the folder's own facts (split weeks, calendar, max_seq_len) come from this config
        self.config: Config = from_dict(self.manifest.get("config") or {}, source=f"{self.path / MANIFEST} (config)")

    def __repr__(self) -> str:
        return f"Prepared({str(self.path)!r})"

    @property
    def fingerprint(self) -> str:
        """sha256 prefix of the manifest's stable content (manifest.write_manifest)."""
        return self.manifest["fingerprint"]

    @property
    def cache_dir(self) -> Path:
        """Where `retail-sim cache` writes this folder's tensor cache."""
        return self.path / CACHE_DIR

    def check(self) -> Prepared:
        """Integrity checks before use. Today: the manifest is complete and holds a fingerprint (the
        constructor refuses an incomplete or unreadable one); file presence, row counts and hashes
        against the manifest belong here too."""
        if not self.manifest.get("fingerprint"):
            raise UserError(f"{self.path / MANIFEST}: no fingerprint — run `make splits` again")
        return self

    def weeks(self, split: str) -> tuple[int, int]:
        """(first, last) week of a split, as the folder was built."""
        if split not in SPLITS:
            raise UserError(f"split '{split}' unknown — use one of {', '.join(SPLITS)}")
        first, last = getattr(self.config.splits, f"{split}_weeks")
        return int(first), int(last)

    def connect(self, cfg: Config | None = None, temp_directory: Path | None = None):
        """A DuckDB connection (memory limit, threads, spill folder of `cfg`, default the folder's
        config) with the views of sql/prepared_views.sql over this folder (samples, sample_items,
        items, products, customers, stores, weekly_prices, rejects, history, manifest) and the
        folder's split, bucket and history variables (getvariable('train_first'), ...)."""
        from retail_sim.prepare import history_variables, split_variables
        from retail_sim.sqlrun import connect, run_file, set_variables

        con = connect(cfg or self.config, temp_directory=temp_directory)
        set_variables(con, {"prepared": str(self.path.resolve()), **split_variables(self.config),
                            **history_variables(self.config)})
        run_file(con, "prepared_views.sql")
        return con

    @cached_property
    def cache_manifest(self) -> dict[str, Any]:
        """The complete manifest of the tensor cache (UserError naming `make cache` when there is none)."""
        return read_manifest(self.cache_dir, stage="cache", rerun="make cache")

    def cache_fingerprint(self, cache=None) -> str:
        """Identity of the tensor cache a model is trained on: the fingerprint of the cache's manifest
        (it changes with this folder and with the cache's own inputs); for a stand-in cache object
        without a cache folder, its `fingerprint`."""
        if cache is not None and not (self.cache_dir / MANIFEST).is_file():
            return str(cache.fingerprint)
        return self.cache_manifest["fingerprint"]

    def open_cache(self, cache=None):
        """The given cache object, or the TensorCache of this folder checked against its fingerprint."""
        if cache is not None:
            return cache
        from retail_sim.cache.tensor_cache import TensorCache

        return TensorCache(self.cache_dir, expected_fingerprint=self.fingerprint)
