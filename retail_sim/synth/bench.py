"""`retail-sim bench synth`: rows/s and peak memory of a generation of about `rows` rows."""

from __future__ import annotations

import tempfile
from pathlib import Path

def bench(rows: int, out: Path | None = None) -> dict:
    raise NotImplementedError
