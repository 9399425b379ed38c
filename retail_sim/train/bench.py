"""`retail-sim bench train`: training throughput (samples/s) per model preset on a prepared folder.

Baseline in the same process: the loader alone over the same batches, so the ratio says how much
of the time the model step takes. Batches are loaded once; the timed pass is the second over them."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from retail_sim.config import Config, apply
from retail_sim.prepared import Prepared
from retail_sim.progress import log
from retail_sim.train.distributed import DistInfo, resolve_device
from retail_sim.train.loop import (
    autocast_context,
    build_loaders,
    build_model,
    build_optimizer,
)
from retail_sim.train.loss import auxiliary_weights, world_model_loss


def bench_train(cfg: Config, prepared: Path, presets: list[str], steps: int) -> list[dict]:
    """Time `steps` optimiser steps per preset over `steps` loaded batches, in a second pass over
    the same batches: the first pass meets every (batch, basket length) shape once, which on CUDA
    costs kernel selection and plan building that a long run pays only once. Returns one dict per
    preset (the first pass's rate included)."""
    device = resolve_device(cfg.train.device)
    if cfg.train.cpu_threads > 0:
        torch.set_num_threads(cfg.train.cpu_threads)
    prep = Prepared(prepared)
    cache = prep.open_cache()
    train_loader, _ = build_loaders(cfg, prep, DistInfo(), pin_memory=device.type == "cuda", cache=cache)
    train_loader.set_epoch(0)
    start = time.perf_counter()
    batches = []
    for batch in train_loader:
        batches.append(batch)
        if len(batches) >= steps:
            break
    load_s = time.perf_counter() - start
    n_load = sum(b.batch_size for b in batches)
    loader_rate = n_load / max(load_s, 1e-9)
    log(f"loader: {n_load} baskets in {load_s:.2f}s = {loader_rate:,.0f} samples/s")
    weights = auxiliary_weights(cfg.auxiliary)
    results = []
    for preset in presets:
        run_cfg = apply(cfg, {"model.preset": preset})
        torch.manual_seed(0)
        model = build_model(run_cfg, cache.n_products_total, cache).to(device).train()
        optimizer = build_optimizer(model, run_cfg)
        seconds = {}
        for timed_pass in ("first", "steady"):
            seconds[timed_pass] = 0.0
            for batch in batches:
                batch = batch.to(device)
                t0 = time.perf_counter()
                with autocast_context(device, cfg.train.bf16):
                    out = model(batch)
                loss, _ = world_model_loss(out, batch, weights)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds[timed_pass] += time.perf_counter() - t0
        samples = n_load
        rate = samples / max(seconds["steady"], 1e-9)
        first_rate = samples / max(seconds["first"], 1e-9)
        n_params = sum(p.numel() for p in model.parameters())
        results.append({"preset": preset, "parameters": n_params, "samples": samples,
                        "seconds": round(seconds["steady"], 3), "samples_per_s": rate,
                        "first_pass_samples_per_s": first_rate, "loader_samples_per_s": loader_rate,
                        "ratio_to_loader": rate / loader_rate, "device": str(device),
                        "threads": torch.get_num_threads(), "batch_size": cfg.loader.batch_size})
        print(f"{preset:>5}: {n_params:>11,} parameters  {rate:>9,.1f} samples/s "
              f"(model step only; {rate / loader_rate:.3f}x the loader's {loader_rate:,.0f} samples/s) "
              f"on {device}, {torch.get_num_threads()} threads, batch {cfg.loader.batch_size}; "
              f"first pass {first_rate:,.1f} samples/s")
    return results
