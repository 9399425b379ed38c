"""Prepared(path): the one reader of a prepared folder, the output of `retail-sim splits`.

    prep = Prepared("data/prepared")     # refuses an incomplete, edited or damaged folder (check())
    prep.config.splits.train_weeks       # the Config the folder was built with (its split weeks)
    prep.fingerprint                     # identity of its content (the tensor cache records it)
    con = prep.connect(cfg)              # DuckDB with the views of sql/prepared_views.sql
    cache = prep.open_cache()            # its TensorCache, refused when built from another folder

Every later stage (audit, cache, loader, train, evaluate, baselines) opens a folder through it, so
the manifest is read and checked in one place: its fingerprint recomputed from its content, every
file it lists present with its size and row count, no stray Parquet file (`check()`, run on open;
`retail-sim audit` also verifies every file's hash).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from retail_sim import hints
from retail_sim.config import Config, SplitsConfig, from_dict
from retail_sim.errors import UserError
from retail_sim.integrity import check_files
from retail_sim.manifest import MANIFEST, read_manifest

CACHE_DIR = "tensor_cache"
SPLITS = ("train", "validation", "test")
DATA_FOLDERS = ("samples", "items", "vocab", "prices", "rejects", "history")  # what `splits` writes and records


def recorded_raw(folder: Path) -> str | None:
    """The --raw a prepared folder was written from, read from its manifest when it can be."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text()).get("raw")
    except (OSError, ValueError, AttributeError):
        return None


def week_ranges(weeks: list[int]) -> str:
    """[1, 3, 4, 5, 44] -> '1, 3–5, 44'."""
    runs: list[list[int]] = []
    for w in sorted(weeks):
        if runs and w == runs[-1][1] + 1:
            runs[-1][1] = w
        else:
            runs.append([w, w])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs) or "none"


def empty_splits(by_split: dict[str, Any], weeks_present: list[int], splits: SplitsConfig, rerun: str) -> dict[str, str]:
    """split -> why it holds no basket (manifest `baskets.by_split`, `weeks_present`): its configured
    weeks, the weeks the input holds, the key to set and the command `rerun` to run after."""
    weeks = week_ranges(weeks_present)
    out = {}
    for split in SPLITS:
        if not by_split.get(split, {}).get("baskets"):
            first, last = getattr(splits, f"{split}_weeks")
            out[split] = (f"split '{split}' is empty: splits.{split}_weeks = [{first}, {last}] but the input holds "
                          f"weeks {weeks} — set splits.{split}_weeks in a config file (or "
                          f"--set splits.{split}_weeks=[FIRST,LAST]) and run {rerun} again")
    return out


class Prepared:
    """A complete prepared folder: its manifest, config, fingerprint, tensor cache and views."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.rerun = hints.splits(self.path, recorded_raw(self.path))  # the command that rebuilds it
        self.manifest: dict[str, Any] = read_manifest(self.path, "splits", self.rerun)
        # the folder's own facts (split weeks, calendar, max_seq_len) come from this config
        self.config: Config = from_dict(self.manifest.get("config") or {}, source=f"{self.path / MANIFEST} (config)")
        self.check()

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
        """The cheap integrity check, run on open (the constructor has recomputed the fingerprint):
        every file the manifest lists is present with its size and Parquet row count, and no other
        Parquet file lies in the data folders. Full hashes: `retail-sim audit`."""
        records = self.manifest.get("files")
        if records is None:
            raise UserError(f"{self.path / MANIFEST}: lists no files (written by an older retail-sim) — "
                            f"run {self.rerun} again")
        check_files(self.path, records, DATA_FOLDERS, self.rerun)
        return self

    def require_split(self, split: str) -> Prepared:
        """Refuse an empty split with the facts: its weeks, the weeks present, the key to set."""
        m = self.manifest
        why = empty_splits(m.get("baskets", {}).get("by_split", {}), m.get("weeks_present", []), self.config.splits,
                           self.rerun).get(split)
        if why:
            raise UserError(f"{self.path}: {why}")
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
        from retail_sim.sqlrun import glob_literal

        folder = str(self.path.resolve())
        set_variables(con, {"prepared": folder, "prepared_glob": glob_literal(folder),
                            **split_variables(self.config), **history_variables(self.config)})
        run_file(con, "prepared_views.sql")
        return con

    @cached_property
    def cache_manifest(self) -> dict[str, Any]:
        """The complete manifest of the tensor cache (UserError naming the cache command when there is none)."""
        return read_manifest(self.cache_dir, stage="cache", rerun=hints.cache(self.path))

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
