"""`retail-sim bench loader`: loader speed against a numpy copy of the same bytes, in one process.

Prints ms/batch, samples/s and padding fraction of training batches (B = 64, masking on, one
process); the time of copying the same number of bytes as each batch's tensors with numpy, and
the ratio; samples/s with 2 DataLoader workers; with --full-epoch, the peak resident memory of
iterating a whole epoch (its own child process, so the figure is not the parent's peak).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from retail_sim.config import Config
from retail_sim.data.batch import WorldModelBatch


def batch_nbytes(batch: WorldModelBatch) -> int:
    n = 0
    for value in vars(batch).values():
        if isinstance(value, torch.Tensor):
            n += value.numel() * value.element_size()
        elif isinstance(value, dict):
            n += sum(v.numel() * v.element_size() for v in value.values())
    return n


def _loader(prepared: Path, cfg: Config | None, split: str, workers: int, cache=None):
    from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset

    ds = WorldModelDataset(prepared, split, config=cfg, cache=cache)
    return WorldModelDataLoader(ds, batch_size=64, shuffle=True, apply_masking=True, num_workers=workers)


def measure(prepared: Path, cfg: Config, batches: int = 400, split: str = "train", cache=None) -> dict:
    """Single-process timing of `batches` batches (after 5 warm-up ones) and the copy baseline."""
    torch.set_num_threads(1)
    loader = _loader(prepared, cfg, split, 0, cache)
    it = iter(loader)
    for _ in range(min(5, len(loader) - 1)):
        next(it)
    sizes, pad, real, samples = [], 0, 0, 0
    c0, t0 = time.process_time(), time.perf_counter()
    for batch in it:
        sizes.append(batch_nbytes(batch))
        samples += batch.batch_size
        real += int(batch.attention_mask.sum())
        pad += int(batch.attention_mask.numel())
        if len(sizes) == batches:
            break
    t_loader, c_loader = time.perf_counter() - t0, time.process_time() - c0
    src = np.ones(max(sizes), dtype=np.uint8)
    c0, t0 = time.process_time(), time.perf_counter()
    for n in sizes:
        src[:n].copy()
    t_copy, c_copy = time.perf_counter() - t0, time.process_time() - c0
    return {
        "batches": len(sizes), "ms_per_batch": 1e3 * t_loader / len(sizes), "samples_per_s": samples / t_loader,
        "padding_fraction": 1 - real / pad, "mean_batch_mb": float(np.mean(sizes)) / 2**20,
        "copy_ms_per_batch": 1e3 * t_copy / len(sizes), "ratio": t_loader / t_copy,
        "cpu_ms_per_batch": 1e3 * c_loader / len(sizes), "copy_cpu_ms_per_batch": 1e3 * c_copy / len(sizes),
    }


def measure_workers(prepared: Path, cfg: Config, workers: int, batches: int, split: str = "train", cache=None) -> float:
    """samples/s with `workers` DataLoader worker processes (clock starts at the first batch)."""
    loader = _loader(prepared, cfg, split, workers, cache)
    it = iter(loader)
    next(it)
    samples, t0 = 0, time.perf_counter()
    for i, batch in enumerate(it):
        samples += batch.batch_size
        if i + 1 == batches:
            break
    return samples / (time.perf_counter() - t0)


def epoch_peak_rss(prepared: Path, split: str = "train") -> dict:
    """Iterate one full training epoch in this process; peak RSS (MiB) and counts."""
    loader = _loader(prepared, None, split, 0)  # the prepared folder's own config
    n = rows = 0
    t0 = time.perf_counter()
    for batch in loader:
        n += 1
        rows += batch.batch_size
    return {"batches": n, "baskets": rows, "seconds": time.perf_counter() - t0,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def history_cost(prepared: Path, cfg: Config, batches: int, pairs: int = 2) -> dict:
    """Process CPU ms/batch with the purchase history (history.k as configured) and without it
    (history.k = 0), measured alternately `pairs` times in this process; medians and their ratio."""
    from retail_sim.config import apply

    on, off = [], []
    for _ in range(pairs):
        off.append(measure(prepared, apply(cfg, {"history.k": 0}), batches)["cpu_ms_per_batch"])
        on.append(measure(prepared, cfg, batches)["cpu_ms_per_batch"])
    on_ms, off_ms = float(np.median(on)), float(np.median(off))
    return {"history_k": cfg.history.k, "cpu_ms_with_history": on_ms, "cpu_ms_without_history": off_ms,
            "speed_with_history": off_ms / on_ms}


def run(prepared: Path, cfg: Config, batches: int, workers: int, full_epoch: bool, echo=print) -> dict:
    m = measure(prepared, cfg, batches)
    echo(f"loader, 1 process, B=64, masking on: {m['ms_per_batch']:.2f} ms/batch, "
         f"{m['samples_per_s']:,.0f} samples/s, padding {m['padding_fraction']:.1%} ({m['batches']} batches)")
    echo(f"numpy copy of the same bytes ({m['mean_batch_mb']:.2f} MiB/batch): {m['copy_ms_per_batch']:.3f} ms/batch; "
         f"ratio loader/copy {m['ratio']:.1f}x (goal <= 3x)")
    echo(f"process CPU time (less sensitive to other load): loader {m['cpu_ms_per_batch']:.2f} ms/batch, "
         f"copy {m['copy_cpu_ms_per_batch']:.3f} ms/batch")
    if cfg.history.k > 0:
        h = history_cost(prepared, cfg, batches)
        m.update(h)
        echo(f"purchase history (k={h['history_k']}): {h['cpu_ms_with_history']:.2f} CPU ms/batch with it, "
             f"{h['cpu_ms_without_history']:.2f} without (history.k=0); speed with history "
             f"{h['speed_with_history']:.0%} of without (budget >= 40%)")
    if workers > 0:
        m["workers"] = workers
        m["workers_samples_per_s"] = measure_workers(prepared, cfg, workers, batches)
        echo(f"{workers} workers: {m['workers_samples_per_s']:,.0f} samples/s")
    if full_epoch:
        out = subprocess.run(
            [sys.executable, "-c", f"from retail_sim.data.bench import epoch_peak_rss; print(epoch_peak_rss({str(prepared)!r}))"],
            capture_output=True, text=True, check=True,
        )
        m["epoch"] = out.stdout.strip()
        echo(f"full epoch (child process): {m['epoch']}")
    return m
