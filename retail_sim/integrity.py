"""The files of an output folder against its manifest: what `splits` and `cache` record (bytes, rows
of each Parquet file, blake2b of the content), the cheap check every consumer runs on open
(presence, size, row counts from the Parquet footers, no stray files) and the full hash check of
`retail-sim audit`. A damaged file is one line naming it and the command that rebuilds it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from retail_sim.errors import UserError

CHUNK = 1 << 22  # bytes hashed per read


def blake2b(path: Path) -> str:
    """blake2b (16-byte digest, hex) of a file's bytes as stored."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return pq.read_metadata(path).num_rows


def listed(folder: Path, subfolders: Iterable[str], suffixes: tuple[str, ...] = ()) -> list[Path]:
    """Every file under folder/<subfolder> (recursively; or the file folder/<subfolder> itself),
    hidden names left out, sorted; only `suffixes` when given."""
    out: list[Path] = []
    for sub in subfolders:
        root = Path(folder) / sub
        found = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        out += [p for p in found if not any(part.startswith(".") for part in p.relative_to(folder).parts)
                and (not suffixes or p.name.endswith(suffixes))]
    return sorted(out)


def file_records(folder: Path, subfolders: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{relative path: {bytes, blake2b, rows (Parquet files)}} of every file under the subfolders."""
    records: dict[str, dict[str, Any]] = {}
    for path in listed(folder, subfolders):
        record: dict[str, Any] = {"bytes": path.stat().st_size, "blake2b": blake2b(path)}
        if path.suffix == ".parquet":
            record["rows"] = parquet_rows(path)
        records[path.relative_to(folder).as_posix()] = record
    return records


def check_files(folder: Path, records: dict[str, dict[str, Any]], subfolders: Iterable[str], rerun: str) -> None:
    """The cheap check on open: every recorded file is there with its size and (Parquet) row count,
    and no other Parquet file lies under the subfolders (a reader's glob would take it in)."""
    folder = Path(folder)
    for rel, record in records.items():
        path = folder / rel
        if not path.is_file():
            raise UserError(f"{path}: missing (listed in {folder / 'manifest.json'}) — run {rerun} again")
        size = path.stat().st_size
        if size != record["bytes"]:
            raise UserError(f"{path}: {size:,} bytes, the manifest says {record['bytes']:,} — damaged; run {rerun} again")
        if "rows" in record:
            try:
                rows = parquet_rows(path)
            except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid / ArrowIOError
                raise UserError(f"{path}: unreadable Parquet footer ({exc}) — damaged; run {rerun} again") from None
            if rows != record["rows"]:
                raise UserError(f"{path}: {rows:,} rows, the manifest says {record['rows']:,} — damaged; run {rerun} again")
    for path in listed(folder, subfolders, (".parquet",)):
        if path.relative_to(folder).as_posix() not in records:
            raise UserError(f"{path}: not written by this run (not in {folder / 'manifest.json'}) — remove it, "
                            f"or run {rerun} again")


def hash_mismatches(folder: Path, records: dict[str, dict[str, Any]]) -> list[str]:
    """The full check (`retail-sim audit`): one line per recorded file whose bytes no longer hash to
    the recorded blake2b (or that is gone)."""
    problems = []
    for rel, record in records.items():
        path = Path(folder) / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif blake2b(path) != record["blake2b"]:
            problems.append(f"{rel}: blake2b {blake2b(path)} != recorded {record['blake2b']}")
    return problems
