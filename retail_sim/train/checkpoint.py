"""Checkpoints: one file of tensors and plain containers, written atomically, loadable with
`torch.load(path, weights_only=True)`.

Keys: model, optimizer, scheduler, loader (loader state), rng, step, epoch, config (resolved
Config.to_dict()), cache_fingerprint, best_val_loss, epochs_without_improvement, n_products,
max_seq_len, metrics (last validation)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from retail_sim.errors import UserError
from retail_sim.files import atomic_write


def to_plain(obj: Any) -> Any:
    """Numpy arrays -> tensors, numpy scalars -> Python numbers, tuples -> lists, recursively;
    what weights_only loading accepts."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint value of type {type(obj).__name__} is not a tensor or plain container")


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU (and CUDA) generator states, as tensors and numbers."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["kind"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically: a temp file in the same folder, fsync, rename."""
    with atomic_write(path, "wb", fsync=True) as fh:
        torch.save(to_plain(payload), fh)


def load_checkpoint(path: Path | str, expected_fingerprint: str | None = None) -> dict[str, Any]:
    """The checkpoint at `path` (weights_only), refused when it was built on another tensor cache."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found — train first (`retail-sim train --out ...`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise UserError(f"{path}: not a readable retail-sim checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "cache_fingerprint" not in ckpt:
        raise UserError(f"{path}: not a retail-sim checkpoint (no model / cache_fingerprint)")
    if expected_fingerprint is not None and ckpt["cache_fingerprint"] != expected_fingerprint:
        raise UserError(
            f"{path}: checkpoint was built on another tensor cache (fingerprint {ckpt['cache_fingerprint']}, "
            f"this cache {expected_fingerprint}) — use the prepared folder it was trained on or train again"
        )
    return ckpt
