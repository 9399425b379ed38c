"""Run logging: metrics as JSON lines, a progress line on stderr, TensorBoard when installed.

Only rank 0 logs; other ranks get a RunLog with enabled=False (every call is a no-op)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from retail_sim.progress import format_eta


class RunLog:
    """Appends one JSON object per line to <run>/metrics.jsonl; a resumed run appends after the
    lines of the interrupted one (readers keep the last line of each (kind, step))."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.writer = None
        self.tty = sys.stderr.isatty()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.writer = None

    def write(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(f"{kind}/{key}", value, step)

    def progress(self, epoch: int, epochs: int, step: int, total_steps: int, loss: float,
                 samples_per_s: float, eta_s: float) -> None:
        """One progress line: redrawn in place on a terminal, one line per call otherwise."""
        if not self.enabled:
            return
        width = 24
        done = int(width * step / max(total_steps, 1))
        bar = "#" * done + "." * (width - done)
        line = (f"epoch {epoch + 1}/{epochs} [{bar}] step {step}/{total_steps} loss {loss:.4f} "
                f"{samples_per_s:,.0f} samples/s ETA {format_eta(eta_s)}")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            print(file=sys.stderr)
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of <run>/metrics.jsonl (of one kind), the last one per (kind, step), by step."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if kind is None or record["kind"] == kind:
            latest[(record["kind"], record["step"])] = record
    return sorted(latest.values(), key=lambda r: (r["step"], r["kind"]))
