"""Manifests: the last file a stage writes. A folder without a complete one is refused, and so is
one whose content no longer matches its fingerprint (edited after the stage wrote it)."""

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


def content_fingerprint(manifest: dict[str, Any]) -> str:
    """sha256 prefix of a manifest's content less the volatile keys: two runs on the same input and
    config have the same one, and any edit of the content changes it."""
    stable = {k: v for k, v in manifest.items() if k not in VOLATILE_KEYS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_manifest(folder: Path, manifest: dict[str, Any]) -> str:
    """Write `manifest.json` with `complete: true` and its content fingerprint; return the fingerprint."""
    body = dict(manifest)
    body["fingerprint"] = content_fingerprint(body)
    body["complete"] = True
    with atomic_write(Path(folder) / MANIFEST, "w") as fh:
        fh.write(json.dumps(body, sort_keys=True, indent=2, default=str))
    return body["fingerprint"]


def read_manifest(folder: Path | str, stage: str = "splits", rerun: str = "") -> dict[str, Any]:
    """The complete manifest of `folder` written by `stage`, its fingerprint recomputed from its
    content; else a UserError naming the file and the command `rerun` that rebuilds it."""
    rerun = rerun or f"`retail-sim {stage}`"
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder}: no {MANIFEST} — not a complete `{stage}` output; run {rerun}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path}: unreadable manifest — run {rerun} again") from None
    if not isinstance(manifest, dict) or not manifest.get("complete"):
        raise UserError(f"{path}: incomplete manifest — run {rerun} again")
    if manifest.get("stage") != stage:
        raise UserError(f"{path}: written by `{manifest.get('stage')}`, not `{stage}` — give the folder "
                        f"`{stage}` wrote, or run {rerun}")
    if manifest.get("fingerprint") != content_fingerprint(manifest):
        raise UserError(f"{path}: content does not match its fingerprint {manifest.get('fingerprint')} "
                        f"(edited after `{stage}` wrote it?) — run {rerun} again")
    return manifest
