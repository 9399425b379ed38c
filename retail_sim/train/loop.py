"""`retail-sim train`: AdamW, warm-up + cosine LR, clipping, accumulation, bf16 autocast on CUDA,
quick + full validation, early stopping, atomic resumable checkpoints, DDP under torchrun.

`train` reads as its steps (torchtune's recipe shape), each a function of one TrainState:
setup (process group, data, model, optimiser, resume, the run's config.toml) -> for each epoch:
run_epoch (optimiser steps, logs, quick validation, periodic last.pt) -> end_epoch (full
validation, best.pt / last.pt, early stopping) -> the result.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from retail_sim.config import Config, to_toml
from retail_sim.data.batch import AUXILIARY_TASKS, WorldModelBatch
from retail_sim.data.encoder import BatchEncoder
from retail_sim.errors import UserError
from retail_sim.files import atomic_write, holds_only, output_folder
from retail_sim.model import WorldModel, count_parameters, resolve_dims
from retail_sim.prepared import Prepared
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

RUN_CONFIG = "config.toml"  # the resolved config of a run, in its folder
RESTART_FILES = ("best.pt", "last.pt", "metrics.jsonl")  # what --overwrite removes before a fresh run


def is_run_file(name: str) -> bool:
    """A name `train` (or `evaluate`, which writes eval_<split>/ beside the checkpoints) puts in a
    run folder, its temp files and TensorBoard's folder included."""
    return (name in (*RESTART_FILES, RUN_CONFIG, "tensorboard") or name.startswith("eval_")
            or (name.startswith(".") and (".tmp-" in name or name.endswith(".lock"))))


class NonFiniteLoss(UserError):
    """The training loss (or a weight) became NaN or infinite: the run stops without saving."""


@dataclass
class TrainResult:
    model: WorldModel  # unwrapped, on the training device
    step: int  # optimiser steps done
    epoch: int  # epochs completed
    best_val_loss: float
    run_dir: Path
    stopped: str  # completed | max_steps | early_stopping | interrupted (non-finite losses raise NonFiniteLoss)


# ----------------------------------------------------------------------------- set-up helpers


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


def build_loaders(cfg: Config, prepared: Prepared | Path, info: DistInfo, pin_memory: bool, cache):
    """(train loader, validation loader) with the run's config; both shard by rank under DDP."""
    from retail_sim.data.loader import WorldModelDataLoader, WorldModelDataset

    def dataset(split: str):
        return WorldModelDataset(prepared, split=split, max_seq_len=cfg.splits.max_seq_len, config=cfg, cache=cache)

    rank = info.rank if info.enabled else None
    world = info.world_size if info.enabled else None
    train_loader = WorldModelDataLoader(
        dataset("train"), batch_size=cfg.loader.batch_size, shuffle=True, apply_masking=True,
        num_workers=cfg.loader.num_workers, pin_memory=pin_memory, rank=rank, world_size=world,
        drop_last=cfg.loader.drop_last,
    )
    # shuffled at a fixed epoch (validate sets epoch 0): the same baskets and masks at every validation,
    # and the first N batches (quick validation, train.val_max_batches) a seeded sample of every bucket
    val_loader = WorldModelDataLoader(
        dataset("validation"), batch_size=cfg.train.eval_batch_size, shuffle=True, apply_masking=True,
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
def validate(model: WorldModel, loader, encoder: BatchEncoder, max_batches: int, weights: dict[str, float],
             device: torch.device, bf16: bool, info: DistInfo) -> dict[str, float]:
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
        batch = encoder(batch.to(device))
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


@dataclass
class Interval:
    """Loss and throughput since the last progress line."""

    loss: torch.Tensor
    steps: int = 0
    samples: int = 0
    start: float = field(default_factory=time.perf_counter)

    def reset(self) -> None:
        self.loss.zero_()
        self.steps, self.samples, self.start = 0, 0, time.perf_counter()


@dataclass
class TrainState:
    """What the steps of one run share: set up once, then advanced step by step and epoch by epoch."""

    cfg: Config
    run_dir: Path
    info: DistInfo
    device: torch.device
    log: RunLog
    fingerprint: str  # of the tensor cache; checkpoints carry it
    n_products: int
    model: WorldModel  # unwrapped
    ddp: nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: Any
    weights: dict[str, float]  # auxiliary loss weights
    train_loader: Any
    val_loader: Any
    encoder: BatchEncoder  # compact batch -> WorldModelBatch on the device
    accum: int
    steps_per_epoch: int
    total_steps: int
    step: int = 0
    epoch: int = 0
    batches_done: int = 0  # of the current epoch
    best_val: float = math.inf
    bad_epochs: int = 0
    loader_state: dict | None = None  # to restore at the start of the resumed epoch
    pending_rng: dict | None = None  # restored once the epoch's iterator exists
    stopped: str = "completed"
    start_step: int = 0
    run_start: float = field(default_factory=time.perf_counter)
    interval: Interval | None = None
    prepared_path: str = ""  # the prepared folder (absolute) and its fingerprint: checkpoints record them
    prepared_fingerprint: str = ""
    saved_step: int | None = None  # step of the last.pt on disk (None: none written by this run yet)

    @property
    def usable(self) -> int:
        """Batches of an epoch that make whole optimiser steps."""
        return self.steps_per_epoch * self.accum

    def running(self) -> bool:
        return self.epoch < self.cfg.train.epochs and self.step < self.total_steps and self.stopped == "completed"


def train(cfg: Config, prepared: Path | Prepared, out: Path, resume: str | None = None, *, cache=None,
          stop_after_steps: int | None = None, overwrite: bool = False) -> TrainResult:
    """Train on <prepared>'s train split, validate on its validation split, write <out>/{best,last}.pt,
    <out>/metrics.jsonl and <out>/config.toml. `cache`: a TensorCache or stand-in (default: the
    prepared folder's); `stop_after_steps` stops like an interruption (tests); `overwrite` starts
    over in a folder that holds last.pt. A NaN or infinite loss raises NonFiniteLoss (nothing
    non-finite is saved; the last finite last.pt stays)."""
    info, device = init_distributed(cfg.train.device)
    prepared = prepared if isinstance(prepared, Prepared) else Prepared(prepared)
    try:
        with run_folder(Path(out), prepared, resume, overwrite, info):
            log = RunLog(Path(out), enabled=info.is_main)
            try:
                return run_epochs(cfg, prepared, Path(out), resume, cache, info, device, log, stop_after_steps)
            finally:
                log.close()
    finally:
        if info.enabled:
            shutdown(info)


@contextlib.contextmanager
def run_folder(run_dir: Path, prepared: Prepared, resume: str | None, overwrite: bool, info: DistInfo) -> Iterator[None]:
    """Rank 0 holds the run folder for the run (files.output_folder: not the prepared folder, not a
    folder of other files, one run at a time). A folder holding last.pt continues with --resume or
    starts over with --overwrite (which removes best.pt, last.pt and metrics.jsonl); nothing else."""
    if not info.is_main:
        yield
        return
    with output_folder(run_dir, "train", [prepared.path], holds_only(is_run_file), "a `train` run folder"):
        if resume and overwrite:
            raise UserError("--resume and --overwrite: give one (continue the run, or start it over)")
        if (run_dir / "last.pt").is_file() and not resume:
            if not overwrite:
                raise UserError(f"{run_dir}: holds last.pt of an earlier run — continue it with --resume auto, or "
                                "start over with --overwrite (or give a new --out)")
            for name in RESTART_FILES:
                (run_dir / name).unlink(missing_ok=True)
        yield


def run_epochs(cfg: Config, prepared: Prepared, out: Path, resume: str | None, cache, info: DistInfo, device: torch.device,
               log: RunLog, stop_after_steps: int | None) -> TrainResult:
    """setup, then epochs until done; the `end` record of metrics.jsonl says how it stopped."""
    state = setup(cfg, prepared, out, resume, cache, info, device, log)
    try:
        with StopFlag() as stop_flag:
            def stop() -> bool:
                return stop_flag.set or (stop_after_steps is not None and state.step >= stop_after_steps)

            while state.running():
                run_epoch(state, stop)
                if state.stopped == "interrupted":
                    log.message(f"stopped at step {state.step}; `--resume auto` continues from {state.run_dir / 'last.pt'}")
                    break
                end_epoch(state)
    except NonFiniteLoss:
        state.stopped = "non_finite_loss"
        raise
    finally:
        log.write("end", state.step, {"stopped": state.stopped, "best_val_loss": state.best_val, "epoch": state.epoch,
                                      "seconds": round(time.perf_counter() - state.run_start, 3)})
    return TrainResult(model=state.model, step=state.step, epoch=state.epoch, best_val_loss=state.best_val,
                       run_dir=state.run_dir, stopped=state.stopped)


def setup(cfg: Config, prepared: Prepared, run_dir: Path, resume: str | None, cache, info: DistInfo,
          device: torch.device, log: RunLog) -> TrainState:
    """Seeds, the checkpoint to resume (checked against the cache and the model config), model, loaders,
    optimiser and schedule, the counters of a resumed run; rank 0 writes <run>/config.toml."""
    tc = cfg.train
    if tc.cpu_threads > 0:
        torch.set_num_threads(tc.cpu_threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    prepared.require_split("train").require_split("validation")
    fingerprint = prepared.cache_fingerprint(cache)
    resume_path = resolve_resume(resume, run_dir)
    ckpt = load_checkpoint(resume_path, expected_fingerprint=fingerprint) if resume_path else None
    if ckpt is None and info.is_main:  # a fresh run in a used folder starts a new metrics file
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    if ckpt is not None and ckpt["config"]["model"] != cfg.to_dict()["model"]:
        raise UserError(f"{resume_path}: checkpoint was trained with another model config "
                        f"({ckpt['config']['model']}); resume with the same options or start a new --out")
    cache = prepared.open_cache(cache)
    model = build_model(cfg, cache.n_products_total, cache).to(device)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    train_loader, val_loader = build_loaders(cfg, prepared, info, pin_memory=device.type == "cuda", cache=cache)
    encoder = BatchEncoder.from_dataset(train_loader.dataset).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if info.enabled else model
    weights = auxiliary_weights(cfg.auxiliary)
    optimizer = build_optimizer(model, cfg)

    accum = max(tc.grad_accum, 1)
    train_loader.set_epoch(0)
    batches_per_epoch = all_reduce_min(len(train_loader), device, info)
    steps_per_epoch = batches_per_epoch // accum
    if steps_per_epoch == 0:
        raise UserError(f"{prepared.path}: the train split gives {batches_per_epoch} batches per rank, fewer than "
                        f"train.grad_accum = {accum}; lower --batch-size or grad_accum")
    total_steps = tc.epochs * steps_per_epoch
    if tc.max_steps:
        total_steps = min(total_steps, tc.max_steps)
    scheduler = build_scheduler(optimizer, tc.warmup_steps, total_steps)
    state = TrainState(cfg, run_dir, info, device, log, fingerprint, cache.n_products_total, model, ddp, optimizer,
                       scheduler, weights, train_loader, val_loader, encoder, accum, steps_per_epoch, total_steps)
    state.prepared_path, state.prepared_fingerprint = str(prepared.path.resolve()), prepared.fingerprint
    if ckpt is not None:
        restore(state, ckpt)
        state.saved_step = state.step if resume_path == run_dir / "last.pt" else None
        log.message(f"resuming from {resume_path}: step {state.step}, epoch {state.epoch + 1}, "
                    f"batch {state.batches_done}")
    log.message(f"model {resolve_dims(cfg.model)} — {count_parameters(model):,} parameters on {device}"
                f"{' x' + str(info.world_size) if info.enabled else ''}; {steps_per_epoch} steps/epoch, "
                f"{total_steps} steps in all")
    if info.is_main:
        write_run_config(cfg, run_dir, prepared)
    state.interval = Interval(torch.zeros((), device=device))
    state.start_step = state.step
    state.run_start = state.interval.start
    ddp.train()
    return state


def restore(s: TrainState, ckpt: dict[str, Any]) -> None:
    """Optimiser, schedule, counters, loader position and RNG states of the checkpoint to resume."""
    s.optimizer.load_state_dict(ckpt["optimizer"])
    s.scheduler.load_state_dict(ckpt["scheduler"])
    s.step, s.epoch, s.batches_done = ckpt["step"], ckpt["epoch"], ckpt["batches_done"]
    s.best_val, s.bad_epochs = ckpt["best_val_loss"], ckpt["epochs_without_improvement"]
    s.loader_state, s.pending_rng = ckpt["loader"], ckpt["rng"]


def write_run_config(cfg: Config, run_dir: Path, prepared: Prepared) -> None:
    """<run>/config.toml: the run's resolved config, which `--config` reads back."""
    with atomic_write(run_dir / RUN_CONFIG, "w") as fh:
        fh.write(to_toml(cfg, f"resolved config of the run in {run_dir}; to repeat it:\n"
                              f"  retail-sim train --config {run_dir / RUN_CONFIG} --prepared {prepared.path} --out DIR"))


def run_epoch(s: TrainState, stop: Callable[[], bool]) -> None:
    """The optimiser steps of epoch s.epoch (from where a resumed run left it) until the epoch's
    usable batches are done, max_steps is reached or a stop is asked for."""
    s.train_loader.set_epoch(s.epoch)
    if s.loader_state is not None:
        s.train_loader.load_state_dict(s.loader_state)
        s.loader_state = None
    else:
        s.batches_done = 0
    iterator = iter(s.train_loader)
    # the first batch starts the loader; the RNG is restored after it, so that nothing the loader's
    # start draws could shift a resumed run (its DataLoader seeds the workers from its own generator
    # since stop 29, and so draws nothing from torch's RNG)
    first = next(iterator, None) if s.batches_done < s.usable else None
    iterator = itertools.chain([first] if first is not None else [], iterator)
    if s.pending_rng is not None:
        set_rng_state(s.pending_rng)
        s.pending_rng = None
    while s.batches_done < s.usable:
        if not forward_backward(s, s.encoder(next(iterator).to(s.device))):
            continue  # gradient accumulation: no optimiser step yet
        optimizer_step(s)
        after_step(s, stop)
        if s.stopped != "completed":
            break


def forward_backward(s: TrainState, batch: WorldModelBatch) -> bool:
    """Loss and gradients of one batch (DDP syncs only on the last batch of an accumulation);
    True when an optimiser step is due."""
    s.batches_done += 1
    sync = s.batches_done % s.accum == 0
    sync_ctx = s.ddp.no_sync() if s.info.enabled and not sync else contextlib.nullcontext()
    with sync_ctx:
        with autocast_context(s.device, s.cfg.train.bf16):
            out = s.ddp(batch)
        loss, _ = world_model_loss(out, batch, s.weights)
        (loss / s.accum).backward()
    s.interval.loss += loss.detach() / s.accum
    s.interval.samples += batch.batch_size
    return sync


def optimizer_step(s: TrainState) -> None:
    if s.cfg.train.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(s.model.parameters(), s.cfg.train.grad_clip)
    s.optimizer.step()
    s.scheduler.step()
    s.optimizer.zero_grad(set_to_none=True)
    s.step += 1
    s.interval.steps += 1


def after_step(s: TrainState, stop: Callable[[], bool]) -> None:
    """Progress line, quick validation, the stop decision (max_steps, a signal on any rank) and the
    periodic last.pt."""
    tc = s.cfg.train
    if s.step % max(tc.log_every, 1) == 0 or s.step == s.total_steps:
        log_progress(s)
    if tc.quick_val_every and s.step % tc.quick_val_every == 0:
        quick = validate(s.model, s.val_loader, s.encoder, tc.quick_val_batches, s.weights, s.device, tc.bf16, s.info)
        s.log.write("quick_val", s.step, {"epoch": s.epoch, **quick})
    if tc.max_steps and s.step >= tc.max_steps:
        s.stopped = "max_steps"
    elif any_rank(stop(), s.device, s.info):
        s.stopped = "interrupted"
    if s.stopped == "interrupted" or (tc.checkpoint_every and s.step % tc.checkpoint_every == 0
                                      and s.batches_done < s.usable):
        save(s, "last.pt", checkpoint_payload(s, s.epoch, s.batches_done, s.train_loader.state_dict(), {}))


def log_progress(s: TrainState) -> None:
    now = time.perf_counter()
    iv = s.interval
    rate = iv.samples * s.info.world_size / max(now - iv.start, 1e-9)
    mean_loss = float(iv.loss) / iv.steps
    if any_rank(not math.isfinite(mean_loss), s.device, s.info):
        raise non_finite(s, f"the training loss is {mean_loss}")
    eta = (now - s.run_start) / max(s.step - s.start_step, 1) * (s.total_steps - s.step)
    s.log.write("train", s.step, {"epoch": s.epoch, "loss": mean_loss, "lr": s.scheduler.get_last_lr()[0],
                                  "samples_per_s": rate})
    s.log.progress(s.epoch, s.cfg.train.epochs, s.step, s.total_steps, mean_loss, rate, eta)
    iv.reset()


def end_epoch(s: TrainState) -> None:
    """Full validation; best.pt when it improved, last.pt always (the next epoch's start, or this
    epoch's position when max_steps stopped inside it); early stopping after train.patience epochs
    without improvement."""
    tc = s.cfg.train
    full = validate(s.model, s.val_loader, s.encoder, tc.val_max_batches, s.weights, s.device, tc.bf16, s.info)
    improved = full["loss"] < s.best_val
    if improved:
        s.best_val, s.bad_epochs = full["loss"], 0
    else:
        s.bad_epochs += 1
    s.log.write("val", s.step, {"epoch": s.epoch, "best": improved, **full})
    s.log.message(f"epoch {s.epoch + 1}: validation loss {full['loss']:.4f} (item {full['item_loss']:.4f})"
                  f"{' — best so far' if improved else ''}")
    if s.batches_done >= s.usable:  # the epoch is done
        s.epoch += 1
        body = checkpoint_payload(s, s.epoch, 0, None, full)
    else:  # stopped by max_steps inside the epoch
        body = checkpoint_payload(s, s.epoch, s.batches_done, s.train_loader.state_dict(), full)
    if improved:
        save(s, "best.pt", body)
    save(s, "last.pt", body)
    if tc.patience and s.bad_epochs >= tc.patience:
        s.stopped = "early_stopping"
        s.log.message(f"early stopping: {s.bad_epochs} epochs without a better validation loss")


def checkpoint_payload(s: TrainState, epoch: int, batches_done: int, loader_state, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint holds (train/checkpoint.py lists the keys)."""
    return {
        "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict(), "loader": loader_state, "batches_done": batches_done,
        "rng": rng_state(), "step": s.step, "epoch": epoch, "config": s.cfg.to_dict(),
        "cache_fingerprint": s.fingerprint, "best_val_loss": s.best_val,
        "epochs_without_improvement": s.bad_epochs, "n_products": s.n_products,
        "max_seq_len": s.cfg.splits.max_seq_len, "metrics": metrics,
        "prepared": s.prepared_path, "prepared_fingerprint": s.prepared_fingerprint,
    }


def save(s: TrainState, name: str, body: dict[str, Any]) -> None:
    """Write a checkpoint (rank 0), never one of a run whose loss since the last progress line, or
    whose weights, are not finite (NonFiniteLoss instead)."""
    loss = float(s.interval.loss)
    weights_finite = all(bool(torch.isfinite(p).all()) for p in s.model.parameters())
    if any_rank(not (math.isfinite(loss) and weights_finite), s.device, s.info):
        raise non_finite(s, f"the training loss is {loss}" if not math.isfinite(loss) else "a weight is NaN or inf")
    if s.info.is_main:
        save_checkpoint(s.run_dir / name, body)
        if name == "last.pt":
            s.saved_step = s.step


def non_finite(s: TrainState, what: str) -> NonFiniteLoss:
    """The one line of a run stopped by a NaN / inf: the step, the learning rate, the checkpoint kept."""
    kept = (f"{s.run_dir / 'last.pt'} keeps step {s.saved_step}, the last finite state" if s.saved_step is not None
            else "no checkpoint was written")
    return NonFiniteLoss(f"{what} at step {s.step} (lr {s.scheduler.get_last_lr()[0]:.3g}) — training stopped; {kept}; "
                         "lower train.lr (--lr) or check the data")
