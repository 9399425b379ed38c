"""`retail-sim bench loader`: the loader's speed, bytes and memory, each against a baseline in the
same process.

Training batches, B = 64, masking on, timed from the loader's start over a whole epoch (or the
first --batches). Printed: compact batch bytes (what crosses the worker
boundary) and a numpy copy of them; samples/s of the loader alone in one process and with
DataLoader workers (measured alternately; with the processes' CPU time, which shared cores do
not inflate the way they inflate wall time); samples/s with the BatchEncoder building each
WorldModelBatch on the CPU; padding with each batch's own S and with fixed shapes; the purchase
history's cost (history.k as configured vs 0) for the numpy lookup (data/history.py on each
batch, the path before the encoder moved to torch) and for the compact path (the encoder's torch
lookup); with --full-epoch, the peak RSS of a whole epoch of the loader alone in a child process.
With --fake-cache, a FakeCache sized from the folder's vocab stands in for its tensor cache (the loader
reads only the vocabulary size and the purchase-history offsets from it): folders without a cache.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from retail_sim.config import Config, apply

B = 64


def _loader(prepared: Path, cfg: Config | None, split: str, workers: int, cache=None, fixed_shapes: bool = False):
    from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset

    ds = WorldModelDataset(prepared, split, config=cfg, cache=cache)
    return WorldModelDataLoader(ds, batch_size=B, shuffle=True, apply_masking=True, num_workers=workers,
                                fixed_shapes=fixed_shapes)


def measure(prepared: Path, cfg: Config, batches: int = 0, split: str = "train", cache=None, *,
            encode: bool = False, numpy_history: bool = False, fixed_shapes: bool = False) -> dict:
    """One process: the first `batches` compact batches of an epoch (0: the whole epoch), timed from
    the loader's start (each shuffle window is read and built when its first batch is due, so a
    part of an epoch is not its average), each also encoded on the CPU (encode) or given the numpy
    history lookup (numpy_history); wall and process CPU time per batch, bytes, padding
    (1 - items / (B x S))."""
    from retail_sim.data.encoder import BatchEncoder
    from retail_sim.data.history import encode_history

    torch.set_num_threads(1)
    loader = _loader(prepared, cfg, split, 0, cache, fixed_shapes)
    encoder = BatchEncoder.from_dataset(loader.dataset) if encode else None
    s, index = loader.dataset.settings, loader.dataset.cache.history
    sizes, items, slots, samples = [], 0, 0, 0
    c0, t0 = time.process_time(), time.perf_counter()
    for compact in loader:
        if encoder is not None:
            encoder(compact)
        if numpy_history and s.history_k:
            shop_ts = (compact.shop_date.numpy().astype(np.int64) - s.origin_day) * 24 + compact.shop_hour.numpy()
            encode_history(index, compact.customer_idx.numpy(), shop_ts, compact.history_length.numpy(), s.history_k)
        sizes.append(compact.nbytes)
        samples += compact.meta.B
        items += compact.meta.N
        slots += compact.meta.B * compact.meta.S
        if len(sizes) == batches:
            break
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = max(len(sizes), 1)
    return {"batches": len(sizes), "ms_per_batch": 1e3 * wall / n, "cpu_ms_per_batch": 1e3 * cpu / n,
            "samples_per_s": samples / wall, "cpu_samples_per_s": samples / cpu, "padding_fraction": 1 - items / slots,
            "mean_batch_bytes": float(np.mean(sizes)), "max_batch_bytes": int(max(sizes)), "sizes": sizes}


def copy_baseline(sizes: list[int]) -> dict:
    """Process CPU ms per batch of a numpy copy of each batch's bytes."""
    src = np.ones(max(sizes), dtype=np.uint8)
    c0 = time.process_time()
    for n in sizes:
        src[:n].copy()
    return {"copy_cpu_ms_per_batch": 1e3 * (time.process_time() - c0) / len(sizes)}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux); 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_workers(prepared: Path, cfg: Config, workers: int, batches: int = 0, split: str = "train", cache=None) -> dict:
    """samples/s with `workers` DataLoader worker processes over the first `batches` batches of an
    epoch (0: the whole epoch), timed from the loader's start as in measure (the workers' start
    included), and the CPU time per batch of the main process and of the workers over that span."""
    loader = _loader(prepared, cfg, split, workers, cache)
    c_main, t0 = time.process_time(), time.perf_counter()
    it = iter(loader)
    last = len(loader)  # once: len() looks the plan up
    samples = n = 0
    inner: list[int] = []
    worker_cpu = 0.0
    for batch in it:
        samples += batch.meta.B
        n += 1
        inner = inner or _worker_pids()
        if n == batches or n == last:  # the workers' CPU before they exit
            worker_cpu = sum(_cpu_seconds(p) for p in inner)
        if n == batches:
            break
    wall = time.perf_counter() - t0
    main_cpu = time.process_time() - c_main
    del it
    return {"workers": workers, "samples_per_s": samples / wall, "main_cpu_ms_per_batch": 1e3 * main_cpu / n,
            "worker_cpu_ms_per_batch": 1e3 * worker_cpu / n, "batches": n}


def _worker_pids() -> list[int]:
    """The live child processes of this process (the DataLoader's workers while it iterates)."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == me:
                        out.append(int(entry))
            except OSError:
                continue
    return out


def scaling(one: dict, many: dict, cores: int = 2) -> float:
    """Samples/s the workers would reach over the 1-process loader on `cores` idle cores, from CPU
    times: the workers share the cores with the main process, which alone must keep up."""
    per_batch = many["worker_cpu_ms_per_batch"] + many["main_cpu_ms_per_batch"]
    rate = min(cores / per_batch, many["workers"] / many["worker_cpu_ms_per_batch"],
               1 / max(many["main_cpu_ms_per_batch"], 1e-9))
    return rate * one["cpu_ms_per_batch"]


def fake_cache(prepared: Path):
    """A FakeCache (data/testing.py) sized from the folder's vocabulary."""
    import pyarrow.parquet as pq

    from retail_sim.data.testing import FakeCache

    n = {name: pq.read_metadata(Path(prepared) / "vocab" / f"{name}.parquet").num_rows
         for name in ("products", "customers", "stores")}
    return FakeCache(n_products=n["products"], n_customers=n["customers"], n_stores=n["stores"])


def peak_rss_mib() -> float:
    """Peak RSS of this process's memory (VmHWM, Linux; else ru_maxrss). ru_maxrss alone is not
    enough: a child started by a larger process reports the parent's size at the fork."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def epoch_peak_rss(prepared: Path, split: str = "train", fake: bool = False) -> dict:
    """Iterate one full training epoch of the loader alone in this process; peak RSS (MiB) at the end
    and before the first batch (imports, the cache, the dataset opened), and counts."""
    loader = _loader(prepared, None, split, 0, fake_cache(prepared) if fake else None)  # the folder's own config
    before = peak_rss_mib()
    n = rows = 0
    t0 = time.perf_counter()
    for batch in loader:
        n += 1
        rows += batch.meta.B
    return {"batches": n, "baskets": rows, "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "peak_rss_before_loop_mib": round(before, 1)}


def history_cost(prepared: Path, cfg: Config, batches: int, pairs: int = 2, cache=None) -> dict:
    """Process CPU ms/batch with the purchase history (history.k as configured) and without it
    (history.k = 0), measured alternately `pairs` times in this process, medians: the numpy lookup
    of data/history.py on each batch after the loader, and the compact path (loader + BatchEncoder
    on the CPU, whose torch lookup it is)."""
    off_cfg = apply(cfg, {"history.k": 0})
    runs: dict[str, list[float]] = {"numpy_on": [], "numpy_off": [], "compact_on": [], "compact_off": []}
    for _ in range(pairs):
        runs["numpy_off"].append(measure(prepared, off_cfg, batches, cache=cache)["cpu_ms_per_batch"])
        runs["numpy_on"].append(measure(prepared, cfg, batches, cache=cache, numpy_history=True)["cpu_ms_per_batch"])
        runs["compact_off"].append(measure(prepared, off_cfg, batches, cache=cache, encode=True)["cpu_ms_per_batch"])
        runs["compact_on"].append(measure(prepared, cfg, batches, cache=cache, encode=True)["cpu_ms_per_batch"])
    med = {k: float(np.median(v)) for k, v in runs.items()}
    return {"history_k": cfg.history.k, **{f"cpu_ms_{k}": v for k, v in med.items()},
            "numpy_speed_with_history": med["numpy_off"] / med["numpy_on"],
            "compact_speed_with_history": med["compact_off"] / med["compact_on"]}


def run(prepared: Path, cfg: Config, batches: int, workers: int, full_epoch: bool, echo=print, pairs: int = 2,
        fake: bool = False) -> dict:
    cache = fake_cache(prepared) if fake else None
    load = os.getloadavg()[0]
    span = f"the first {batches} batches" if batches else "a whole epoch"
    echo(f"load average {load:.2f} on {os.cpu_count()} cores; B={B}, masking on; {span} from the loader's start; "
         f"medians of {pairs} alternating runs")
    ones, manys, encoded = [], [], []
    for _ in range(pairs):
        ones.append(measure(prepared, cfg, batches, cache=cache))
        encoded.append(measure(prepared, cfg, batches, cache=cache, encode=True))
        if workers > 0:
            manys.append(measure_workers(prepared, cfg, workers, batches, cache=cache))
    med = lambda runs, key: float(np.median([r[key] for r in runs]))  # noqa: E731
    m = {k: med(ones, k) for k in ("ms_per_batch", "cpu_ms_per_batch", "samples_per_s", "cpu_samples_per_s",
                                   "padding_fraction", "mean_batch_bytes", "max_batch_bytes")}
    m.update(copy_baseline(ones[0]["sizes"]))
    echo(f"compact batch: {m['mean_batch_bytes'] / 1024:.1f} KiB mean, {m['max_batch_bytes'] / 1024:.1f} KiB max "
         f"(budget 64 KiB); numpy copy of it {m['copy_cpu_ms_per_batch']:.4f} CPU ms/batch, "
         f"loader/copy {m['cpu_ms_per_batch'] / max(m['copy_cpu_ms_per_batch'], 1e-9):.0f}x")
    echo(f"loader alone, 1 process: {m['samples_per_s']:,.0f} samples/s wall ({m['ms_per_batch']:.3f} ms/batch), "
         f"{m['cpu_samples_per_s']:,.0f} samples/s of process CPU ({m['cpu_ms_per_batch']:.3f} ms/batch)")
    e = {k: med(encoded, k) for k in ("ms_per_batch", "cpu_ms_per_batch", "samples_per_s", "cpu_samples_per_s")}
    m["encoded"] = e
    echo(f"loader + BatchEncoder on the CPU (1 thread): {e['samples_per_s']:,.0f} samples/s wall, "
         f"{e['cpu_samples_per_s']:,.0f} of process CPU ({e['cpu_ms_per_batch']:.3f} ms/batch)")
    if workers > 0:
        w = {k: med(manys, k) for k in ("samples_per_s", "main_cpu_ms_per_batch", "worker_cpu_ms_per_batch")}
        w["workers"] = workers
        w["wall_ratio"] = w["samples_per_s"] / m["samples_per_s"]
        w["cpu_ratio"] = scaling(m, w, os.cpu_count() or 1)
        m["workers"] = w
        echo(f"loader alone, {workers} workers: {w['samples_per_s']:,.0f} samples/s wall ({w['wall_ratio']:.2f}x "
             f"1 process, goal >= 1.7x); CPU per batch: main {w['main_cpu_ms_per_batch']:.3f} ms, workers "
             f"{w['worker_cpu_ms_per_batch']:.3f} ms -> {w['cpu_ratio']:.2f}x 1 process on {os.cpu_count()} idle cores")
    fixed = measure(prepared, cfg, batches, cache=cache, fixed_shapes=True)  # the same batches, padded to the edges
    m["fixed_padding_fraction"] = fixed["padding_fraction"]
    echo(f"padding: {m['padding_fraction']:.1%} of [B, S] slots with each batch's own S; "
         f"{fixed['padding_fraction']:.1%} with fixed shapes (S = the bucket's edge)")
    if cfg.history.k > 0:
        h = history_cost(prepared, cfg, batches, cache=cache)
        m["history"] = h
        echo(f"purchase history (k={h['history_k']}), process CPU ms/batch with / without (history.k=0): numpy lookup "
             f"{h['cpu_ms_numpy_on']:.3f} / {h['cpu_ms_numpy_off']:.3f} -> speed {h['numpy_speed_with_history']:.0%}; "
             f"compact path with the encoder {h['cpu_ms_compact_on']:.3f} / {h['cpu_ms_compact_off']:.3f} -> speed "
             f"{h['compact_speed_with_history']:.0%} (budget >= 40%)")
    if full_epoch:
        out = subprocess.run(
            [sys.executable, "-c", f"from retail_sim.data.bench import epoch_peak_rss; print(epoch_peak_rss({str(prepared)!r}, fake={fake}))"],
            capture_output=True, text=True, check=True,
        )
        m["epoch"] = out.stdout.strip()
        echo(f"full epoch, loader alone (child process): {m['epoch']}")
    echo(f"load average {os.getloadavg()[0]:.2f} at the end")
    return m
