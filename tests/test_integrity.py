"""retail_sim/integrity.py and manifest.py on a hand-made folder: what is recorded, what the cheap
check on open catches, what only the full hash check catches, and the fingerprint recomputed."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_sim.errors import UserError
from retail_sim.integrity import check_files, file_records, hash_mismatches
from retail_sim.manifest import content_fingerprint, read_manifest, write_manifest


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "data" / "part=1").mkdir(parents=True)
    pq.write_table(pa.table({"x": list(range(10))}), tmp_path / "data" / "part=1" / "a.parquet")
    (tmp_path / "data" / "notes.json").write_text("{}")
    (tmp_path / "data" / ".hidden").write_text("not recorded")
    return tmp_path


def test_records_bytes_rows_and_hashes(folder):
    records = file_records(folder, ["data"])
    assert sorted(records) == ["data/notes.json", "data/part=1/a.parquet"]
    assert records["data/part=1/a.parquet"]["rows"] == 10 and "rows" not in records["data/notes.json"]
    assert records["data/notes.json"] == {"bytes": 2, "blake2b": hashlib.blake2b(b"{}", digest_size=16).hexdigest()}
    check_files(folder, records, ["data"], "`rebuild`")
    assert hash_mismatches(folder, records) == []


def test_the_cheap_check_catches_missing_truncated_and_stray_files(folder):
    records = file_records(folder, ["data"])
    part = folder / "data" / "part=1" / "a.parquet"
    data = part.read_bytes()
    part.write_bytes(data[:-10])
    with pytest.raises(UserError, match=rf"a.parquet: {len(data) - 10:,} bytes, the manifest says {len(data):,} — damaged; run `rebuild` again"):
        check_files(folder, records, ["data"], "`rebuild`")
    part.unlink()
    with pytest.raises(UserError, match="a.parquet: missing"):
        check_files(folder, records, ["data"], "`rebuild`")
    part.write_bytes(data)
    pq.write_table(pa.table({"x": [1]}), folder / "data" / "part=1" / "b.parquet")
    with pytest.raises(UserError, match="b.parquet: not written by this run"):
        check_files(folder, records, ["data"], "`rebuild`")


def test_only_the_hash_check_sees_a_changed_byte(folder):
    records = file_records(folder, ["data"])
    notes = folder / "data" / "notes.json"
    notes.write_text("[]")  # same size
    check_files(folder, records, ["data"], "`rebuild`")
    assert [p.split(":")[0] for p in hash_mismatches(folder, records)] == ["data/notes.json"]


def test_read_manifest_recomputes_the_fingerprint_and_checks_the_stage(tmp_path):
    fingerprint = write_manifest(tmp_path, {"stage": "splits", "config": {"a": 1}, "created": "now"})
    manifest = read_manifest(tmp_path, "splits", "`again`")
    assert manifest["fingerprint"] == fingerprint == content_fingerprint({"stage": "splits", "config": {"a": 1}})
    with pytest.raises(UserError, match="written by `splits`, not `cache`"):
        read_manifest(tmp_path, "cache", "`again`")
    path = tmp_path / "manifest.json"
    edited = json.loads(path.read_text())
    edited["created"] = "later"  # a volatile key: still the same content
    path.write_text(json.dumps(edited))
    read_manifest(tmp_path, "splits")
    edited["config"]["a"] = 2
    path.write_text(json.dumps(edited))
    with pytest.raises(UserError, match=f"content does not match its fingerprint {fingerprint} .* run `again` again"):
        read_manifest(tmp_path, "splits", "`again`")
