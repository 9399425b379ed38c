"""Manifests: the last file a stage writes. A folder without a complete one is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from retail_sim.errors import UserError
from retail_sim.files import atomic_write

MANIFEST = "manifest.json"
# keys that change from run to run on the same input; the fingerprint ignores them
VOLATILE_KEYS = ("created", "durations", "peak_rss_mb", "fingerprint", "complete")


def write_manifest(folder: Path, manifest: dict[str, Any]) -> str:
    """Write `manifest.json` with `complete: true` and a `fingerprint`: sha256 of its content less
    the volatile keys, so two runs on the same input and config have the same fingerprint."""
    body = dict(manifest)
    stable = {k: v for k, v in body.items() if k not in VOLATILE_KEYS}
    text = json.dumps(stable, sort_keys=True, default=str)
    body["fingerprint"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    body["complete"] = True
    with atomic_write(Path(folder) / MANIFEST, "w") as fh:
        fh.write(json.dumps(body, sort_keys=True, indent=2, default=str))
    return body["fingerprint"]


def read_manifest(folder: Path | str, stage: str = "splits", rerun: str = "make splits") -> dict[str, Any]:
    """The complete manifest of `folder`, or a UserError saying which command to (re)run."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder}: no {MANIFEST} — not a complete `{stage}` output; run `{rerun}`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{path}: unreadable manifest — run `{rerun}` again") from None
    if not manifest.get("complete"):
        raise UserError(f"{path}: incomplete manifest — run `{rerun}` again")
    return manifest
