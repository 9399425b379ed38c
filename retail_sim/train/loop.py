"""`retail-sim train`: AdamW, warm-up + cosine LR, clipping, accumulation, bf16 autocast on CUDA,
quick + full validation, early stopping, atomic resumable checkpoints, DDP under torchrun.

Reads top to bottom: set-up (process group, data, model, optimiser, resume) -> epochs of steps
-> full validation and checkpoints at each epoch end.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from retail_sim.config import Config
from retail_sim.data.batch import AUXILIARY_TASKS
from retail_sim.errors import UserError
from retail_sim.manifest import read_manifest
from retail_sim.model import WorldModel, count_parameters, resolve_dims
from retail_sim.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from retail_sim.train.distributed import (
    DistInfo,
    all_reduce_min,
    all_reduce_sum,
    any_rank,
    init_distributed,
    shutdown,
)
from retail_sim.train.loss import auxiliary_weights, combine_parts, world_model_loss
from retail_sim.train.run_log import RunLog
from retail_sim.train.schedule import build_scheduler

CACHE_FOLDER = "tensor_cache"


@dataclass
class TrainResult:
    model: WorldModel  # unwrapped, on the training device
    step: int  # optimiser steps done
    epoch: int  # epochs completed
    best_val_loss: float
    run_dir: Path
    stopped: str  # completed | max_steps | early_stopping | interrupted


# ----------------------------------------------------------------------------- set-up helpers


def cache_fingerprint(prepared: Path, cache=None) -> str:
    """Identity of the tensor cache a model is trained on: the fingerprint of
    <prepared>/tensor_cache/manifest.json (it changes with the prepared folder and with the cache's
    own inputs); for a stand-in cache object without that folder, its `fingerprint`."""
    folder = Path(prepared) / CACHE_FOLDER
    if cache is not None and not (folder / "manifest.json").is_file():
        return str(cache.fingerprint)
    return read_manifest(folder, stage="cache", rerun="make cache")["fingerprint"]


def open_cache(prepared: Path, cache=None):
    """The given cache object, or TensorCache(prepared) checked against the prepared manifest."""
    if cache is not None:
        return cache
    from retail_sim.cache.tensor_cache import TensorCache

    prepared_fp = read_manifest(prepared)["fingerprint"]
    return TensorCache(prepared, expected_fingerprint=prepared_fp)


def build_model(cfg: Config, n_products: int, cache=None) -> WorldModel:
    """WorldModel of cfg.model; with product_input = 'learned' the embedding starts from the cache's."""
    dims = resolve_dims(cfg.model)
    learned = dims.product_input == "learned"
    needs_table = learned or dims.item_head == "tied" or dims.history in ("tokens", "both")
    return WorldModel(
        cfg.model,
        n_products=n_products,
        max_seq_len=cfg.splits.max_seq_len,
        product_embeddings=torch.from_numpy(np.array(cache.product_embeddings)) if needs_table and cache is not None else None,
        positional_encodings=torch.from_numpy(np.array(cache.positional_encodings)) if learned and cache is not None else None,
    )


def build_loaders(cfg: Config, prepared: Path, info: DistInfo, pin_memory: bool, cache):
    """(train loader, validation loader); both shard by rank under DDP."""
    from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset

    def dataset(split: str):
        return WorldModelDataset(
            prepared, split=split, max_seq_len=cfg.splits.max_seq_len, mask_prob=cfg.masking.mask_prob,
            enable_auxiliary_tasks=cfg.auxiliary.enabled, seed=cfg.seed, config=cfg, cache=cache,
        )

    rank = info.rank if info.enabled else None
    world = info.world_size if info.enabled else None
    train_loader = WorldModelDataLoader(
        dataset("train"), batch_size=cfg.loader.batch_size, shuffle=True, apply_masking=True,
        num_workers=cfg.loader.num_workers, pin_memory=pin_memory, rank=rank, world_size=world,
        drop_last=cfg.loader.drop_last,
    )
    val_loader = WorldModelDataLoader(
        dataset("validation"), batch_size=cfg.train.eval_batch_size, shuffle=False, apply_masking=True,
        num_workers=0, pin_memory=pin_memory, rank=rank, world_size=world, drop_last=False,
    )
    return train_loader, val_loader


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on biases, LayerNorm weights or embeddings)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "embedding" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.train.lr, betas=(0.9, 0.95))


def autocast_context(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA; nothing on CPU (fp32, bit-reproducible)."""
    if device.type == "cuda" and bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def validate(model: WorldModel, loader, max_batches: int, weights: dict[str, float], device: torch.device,
             bf16: bool, info: DistInfo) -> dict[str, float]:
    """Mean losses over the first max_batches batches (0 = all) of every rank, summed across ranks.
    The loader is put at epoch 0 each time: the same baskets and masks at every validation."""
    was_training = model.training
    model.eval()
    loader.set_epoch(0)
    sums: dict[str, float] = defaultdict(float)
    for key in ["item"] + list(AUXILIARY_TASKS):
        sums[f"{key}_sum"] = 0.0
        sums[f"{key}_count"] = 0.0
    n = 0
    for i, batch in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        batch = batch.to(device)
        with autocast_context(device, bf16):
            out = model(batch)
        _, parts = world_model_loss(out, batch, weights)
        for key, value in parts.items():
            sums[key] += float(value)
        n += 1
    sums["batches"] = float(n)
    total = all_reduce_sum(dict(sums), device, info)
    model.train(was_training)
    result = combine_parts(total, weights)
    result["batches"] = int(total["batches"])
    result["masked_items"] = int(total["item_count"])
    return result


class StopFlag:
    """Set by SIGTERM / SIGINT: the loop saves last.pt at the next step boundary and returns."""

    def __init__(self):
        self.set = False
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.set = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ----------------------------------------------------------------------------- the run


def resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    """--resume auto -> <run>/last.pt when it exists (else a fresh run); a path -> that file."""
    if resume is None or resume == "":
        return None
    if resume == "auto":
        path = run_dir / "last.pt"
        return path if path.is_file() else None
    return Path(resume)


def train(cfg: Config, prepared: Path, out: Path, resume: str | None = None, *, cache=None,
          stop_after_steps: int | None = None) -> TrainResult:
    """Train on <prepared>'s train split, validate on its validation split, write <out>/{best,last}.pt
    and <out>/metrics.jsonl. `cache`: a TensorCache or stand-in (default: TensorCache(prepared));
    `stop_after_steps` stops like an interruption (tests)."""
    prepared, run_dir = Path(prepared), Path(out)
    tc = cfg.train
    info, device = init_distributed(tc.device)
    owns_group = info.enabled
    log = RunLog(run_dir, enabled=info.is_main)
    try:
        if tc.cpu_threads > 0:
            torch.set_num_threads(tc.cpu_threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        fingerprint = cache_fingerprint(prepared, cache)
        resume_path = resolve_resume(resume, run_dir)
        ckpt = load_checkpoint(resume_path, expected_fingerprint=fingerprint) if resume_path else None
        if ckpt is None and info.is_main:  # a fresh run in a used folder starts a new metrics file
            (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        if ckpt is not None and ckpt["config"]["model"] != cfg.to_dict()["model"]:
            raise UserError(f"{resume_path}: checkpoint was trained with another model config "
                            f"({ckpt['config']['model']}); resume with the same options or start a new --out")
        cache = open_cache(prepared, cache)
        model = build_model(cfg, cache.n_products_total, cache).to(device)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
        train_loader, val_loader = build_loaders(cfg, prepared, info, pin_memory=device.type == "cuda", cache=cache)
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
            if info.enabled else model
        weights = auxiliary_weights(cfg.auxiliary)
        optimizer = build_optimizer(model, cfg)

        accum = max(tc.grad_accum, 1)
        train_loader.set_epoch(0)
        batches_per_epoch = all_reduce_min(len(train_loader), device, info)
        steps_per_epoch = batches_per_epoch // accum
        if steps_per_epoch == 0:
            raise UserError(f"{prepared}: the train split gives {batches_per_epoch} batches per rank, fewer than "
                            f"train.grad_accum = {accum}; lower --batch-size or grad_accum")
        total_steps = tc.epochs * steps_per_epoch
        if tc.max_steps:
            total_steps = min(total_steps, tc.max_steps)
        scheduler = build_scheduler(optimizer, tc.warmup_steps, total_steps)

        step, epoch, batches_done = 0, 0, 0
        best_val, bad_epochs = math.inf, 0
        loader_state, pending_rng = None, None
        if ckpt is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            step, epoch, batches_done = ckpt["step"], ckpt["epoch"], ckpt["batches_done"]
            best_val, bad_epochs = ckpt["best_val_loss"], ckpt["epochs_without_improvement"]
            loader_state, pending_rng = ckpt["loader"], ckpt["rng"]
            log.message(f"resuming from {resume_path}: step {step}, epoch {epoch + 1}, batch {batches_done}")
        log.message(f"model {resolve_dims(cfg.model)} — {count_parameters(model):,} parameters on {device}"
                    f"{' x' + str(info.world_size) if info.enabled else ''}; {steps_per_epoch} steps/epoch, "
                    f"{total_steps} steps in all")

        def payload(kind_epoch: int, kind_batches: int, loader_sd, metrics: dict[str, Any]) -> dict[str, Any]:
            return {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "loader": loader_sd, "batches_done": kind_batches,
                "rng": rng_state(), "step": step, "epoch": kind_epoch, "config": cfg.to_dict(),
                "cache_fingerprint": fingerprint, "best_val_loss": best_val,
                "epochs_without_improvement": bad_epochs, "n_products": cache.n_products_total,
                "max_seq_len": cfg.splits.max_seq_len, "metrics": metrics,
            }

        def save(name: str, body: dict[str, Any]) -> None:
            if info.is_main:
                save_checkpoint(run_dir / name, body)

        stopped = "completed"
        interval_loss = torch.zeros((), device=device)
        interval_steps, interval_samples = 0, 0
        interval_start = run_start = time.perf_counter()
        start_step = step
        ddp.train()
        with StopFlag() as stop_flag:
            while epoch < tc.epochs and step < total_steps and stopped == "completed":
                train_loader.set_epoch(epoch)
                if loader_state is not None:
                    train_loader.load_state_dict(loader_state)
                    loader_state = None
                else:
                    batches_done = 0
                iterator = iter(train_loader)
                if pending_rng is not None:  # after the iterator exists: it may draw from the RNGs
                    set_rng_state(pending_rng)
                    pending_rng = None
                usable = steps_per_epoch * accum
                while batches_done < usable:
                    batch = next(iterator).to(device)
                    batches_done += 1
                    sync = batches_done % accum == 0
                    sync_ctx = ddp.no_sync() if info.enabled and not sync else contextlib.nullcontext()
                    with sync_ctx:
                        with autocast_context(device, tc.bf16):
                            out = ddp(batch)
                        loss, _ = world_model_loss(out, batch, weights)
                        (loss / accum).backward()
                    interval_loss += loss.detach() / accum
                    interval_samples += batch.batch_size
                    if not sync:
                        continue
                    if tc.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    interval_steps += 1

                    if step % max(tc.log_every, 1) == 0 or step == total_steps:
                        now = time.perf_counter()
                        rate = interval_samples * info.world_size / max(now - interval_start, 1e-9)
                        mean_loss = float(interval_loss) / interval_steps
                        eta = (now - run_start) / max(step - start_step, 1) * (total_steps - step)
                        log.write("train", step, {"epoch": epoch, "loss": mean_loss, "lr": scheduler.get_last_lr()[0],
                                                  "samples_per_s": rate})
                        log.progress(epoch, tc.epochs, step, total_steps, mean_loss, rate, eta)
                        interval_loss.zero_()
                        interval_steps, interval_samples, interval_start = 0, 0, time.perf_counter()
                    if tc.quick_val_every and step % tc.quick_val_every == 0:
                        quick = validate(model, val_loader, tc.quick_val_batches, weights, device, tc.bf16, info)
                        log.write("quick_val", step, {"epoch": epoch, **quick})
                    if tc.max_steps and step >= tc.max_steps:
                        stopped = "max_steps"
                    elif any_rank(stop_flag.set or (stop_after_steps is not None and step >= stop_after_steps),
                                  device, info):
                        stopped = "interrupted"
                    if stopped == "interrupted" or (tc.checkpoint_every and step % tc.checkpoint_every == 0
                                                    and batches_done < usable):
                        save("last.pt", payload(epoch, batches_done, train_loader.state_dict(), {}))
                    if stopped != "completed":
                        break
                if stopped == "interrupted":
                    log.message(f"stopped at step {step}; `--resume auto` continues from {run_dir / 'last.pt'}")
                    break
                full = validate(model, val_loader, 0, weights, device, tc.bf16, info)
                improved = full["loss"] < best_val
                if improved:
                    best_val, bad_epochs = full["loss"], 0
                else:
                    bad_epochs += 1
                epoch_done = batches_done >= usable
                log.write("val", step, {"epoch": epoch, "best": improved, **full})
                log.message(f"epoch {epoch + 1}: validation loss {full['loss']:.4f} (item {full['item_loss']:.4f})"
                            f"{' — best so far' if improved else ''}")
                if epoch_done:
                    epoch += 1
                    body = payload(epoch, 0, None, full)
                else:  # stopped by max_steps inside the epoch
                    body = payload(epoch, batches_done, train_loader.state_dict(), full)
                if improved:
                    save("best.pt", body)
                save("last.pt", body)
                if tc.patience and bad_epochs >= tc.patience:
                    stopped = "early_stopping"
                    log.message(f"early stopping: {bad_epochs} epochs without a better validation loss")
        log.write("end", step, {"stopped": stopped, "best_val_loss": best_val, "epoch": epoch,
                                "seconds": round(time.perf_counter() - run_start, 3)})
        return TrainResult(model=model, step=step, epoch=epoch, best_val_loss=best_val, run_dir=run_dir,
                           stopped=stopped)
    finally:
        log.close()
        if owns_group:
            shutdown(info)
