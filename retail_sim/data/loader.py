"""The loaders of contract C: WorldModelDataLoader (training and validation batches for this rank)
here; WorldModelDataset (data/dataset.py) and EvaluationDataLoader (data/evaluation.py) beside it.

Training: the epoch plan (sharding.py) says which rows form each batch, cut where they cross a
shuffle window into pieces (sharding.rank_pieces); each window is read by one worker (or the main
process), which turns its pieces' rows into CompactBatch buffers (ids and per-item scalars,
assemble.py) and hands them over about IPC_ROWS rows to a message in a reused shared-memory slot
(compact.MessageSlots), which the main process copies out, into pinned memory when pin_memory is set; chunks.in_batch_order puts them back in the rank's batch order. BatchEncoder (encoder.py) builds each WorldModelBatch on the training device.
Evaluation: the split is read week by week, grouped by date, hour or week, with masks that depend
on the basket id only.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from retail_sim.data.chunks import in_batch_order
from retail_sim.data.compact import CompactBatch, MessageSlots, unpack
from retail_sim.data.dataset import EpochRequest, WorldModelDataset
from retail_sim.data.evaluation import EvaluationDataLoader
from retail_sim.data.sharding import EpochPlan, rank_pieces
from retail_sim.errors import UserError

__all__ = ["EvaluationDataLoader", "WorldModelDataLoader", "WorldModelDataset"]


PLAN_SETTINGS = ("shuffle_window", "window_rows", "window_items")  # loader.* keys the epoch plans depend on
# the workers' messages as they arrive (DataLoader in_order=False, torch >= 2.6), not worker after
# worker: in_batch_order puts their pieces in batch order, so a worker whose message is late does not
# hold up the other (12.1M rows, 2 workers on 2 cores: 3.24-3.66 s an epoch instead of 3.73-4.04)
AS_THEY_ARRIVE = {"in_order": False} if "in_order" in inspect.signature(torch.utils.data.DataLoader).parameters else {}
# workers are forked: the dataset holds memory maps, which spawn and forkserver (Python 3.14's default on
# Linux) cannot pickle
WORKER_START = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else None


def _identity(x):
    return x


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _received(messages: torch.utils.data.DataLoader, slots: MessageSlots, pin: bool) -> Iterator[tuple]:
    """(piece numbers, batches) of each message the workers send, copied out of its slot (pinned
    when asked). Stopping early frees every slot first, so no worker waits on one while the
    DataLoader shuts them down."""
    it = iter(messages)
    try:
        for message in it:
            data, table = slots.receive(message, pin)
            yield table[:, 0], unpack(data, table[:, 1:])
    finally:
        slots.release_all()
        del it


class WorldModelDataLoader:
    """Training/validation batches of a WorldModelDataset for this rank (contract C), as CompactBatch.

    len() = batches per epoch on this rank (the same on every rank). set_epoch(e) before each
    epoch; state_dict()/load_state_dict() resume mid-epoch with exactly the remaining batches.
    drop_last (default: config loader.drop_last) drops each bucket's partial batch and the
    batches beyond a multiple of the world size; without it the last round is padded with
    repeated batches so that every rank steps the same number of times. fixed_shapes (default:
    config loader.fixed_shapes) pads every batch of a bucket to one shape: S = the bucket's edge
    and M = S masked slots (B = batch_size under drop_last), for CUDA graphs and
    torch.compile(dynamic=False). pin_memory: batches come in page-locked memory (when CUDA is
    available), so `batch.to(device)` is asynchronous.
    """

    def __init__(
        self,
        dataset: WorldModelDataset,
        batch_size: int = 64,
        shuffle: bool = True,
        apply_masking: bool = True,
        bucket_batching: bool = True,
        num_workers: int | None = None,
        pin_memory: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool | None = None,
        fixed_shapes: bool | None = None,
    ):
        d_rank, d_world = _distributed()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.apply_masking = apply_masking
        self.bucket_batching = bucket_batching
        self.num_workers = dataset.config.loader.num_workers if num_workers is None else int(num_workers)
        self.pin_memory = pin_memory
        self.rank = d_rank if rank is None else int(rank)
        self.world_size = d_world if world_size is None else int(world_size)
        self.drop_last = dataset.config.loader.drop_last if drop_last is None else bool(drop_last)
        self.fixed_shapes = dataset.config.loader.fixed_shapes if fixed_shapes is None else bool(fixed_shapes)
        if not 0 <= self.rank < self.world_size:
            raise UserError(f"rank {self.rank} is outside world size {self.world_size}")
        if self.batch_size < 1:
            raise UserError(f"batch_size = {self.batch_size}: must be >= 1")
        self.epoch = 0
        self._start = 0  # where the next iteration starts (resume)
        self._position = 0  # batches of this epoch consumed on this rank
        self._plans: dict[int, EpochPlan] = {}

    def request(self, start: int = 0) -> EpochRequest:
        return EpochRequest(
            epoch=self.epoch, batch_size=self.batch_size, shuffle=self.shuffle, masking=self.apply_masking,
            bucket_batching=self.bucket_batching, drop_last=self.drop_last, rank=self.rank,
            world_size=self.world_size, start=start, fixed_shapes=self.fixed_shapes,
        )

    def _check_plan_without_item_budget(self) -> None:
        """A checkpoint written before loader.window_items (stop 28) was planned without it: resuming
        with another plan would repeat some baskets of the epoch and skip others."""
        before = copy.copy(self.dataset)
        before.settings = dataclasses.replace(self.dataset.settings, window_items=0)
        old, now = before.plan(self.request()), self.plan()
        if not all(np.array_equal(a.span_groups, b.span_groups) for a, b in zip(old.streams, now.streams, strict=True)):
            raise UserError("loader state: the checkpoint was written before loader.window_items, and its default "
                            f"({self.dataset.settings.window_items}) plans this data's epochs differently — resume "
                            "with --set loader.window_items=0, or start a new run")

    def plan(self) -> EpochPlan:
        """This epoch's plan (counts: n_rows_dropped, n_batches_dropped, n_batches_padded)."""
        if self.epoch not in self._plans:
            self._plans = {self.epoch: self.dataset.plan(self.request())}
        return self._plans[self.epoch]

    def __len__(self) -> int:
        return self.plan().batches_per_rank

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._start = self._position = 0

    def __iter__(self) -> Iterator[CompactBatch]:
        start = self._start
        self._position = start
        view = self.dataset.with_request(self.request(start))
        pin = self.pin_memory and torch.cuda.is_available()
        if self.num_workers > 0:
            context = torch.multiprocessing.get_context(WORKER_START)
            view.message_slots = MessageSlots(self.num_workers, context)
            # its own generator: the DataLoader draws its workers' base seed from it, not from the
            # process's torch RNG, so training (dropout) takes the same random numbers for any
            # number of workers (the batches never use torch's RNG)
            messages = torch.utils.data.DataLoader(
                view, batch_size=None, num_workers=self.num_workers, collate_fn=_identity,
                multiprocessing_context=context, generator=torch.Generator(), **AS_THEY_ARRIVE)
            it = in_batch_order(_received(messages, view.message_slots, pin), rank_pieces(self.plan(), self.rank, start))
        else:
            it = iter(view)
        for batch in it:
            if pin and not batch.data.is_pinned():  # merged batches and the main process's own
                batch = batch.pin_memory()
            self._position += 1
            yield batch
        self._start = 0  # a completed epoch iterates in full next time

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "position": self._position, "batches_per_rank": len(self),
            "seed": self.dataset.settings.seed, "batch_size": self.batch_size, "world_size": self.world_size,
            "rank": self.rank, "shuffle": self.shuffle, "bucket_batching": self.bucket_batching,
            "drop_last": self.drop_last, "n_baskets": self.dataset.n_baskets,
            **{key: getattr(self.dataset.settings, key) for key in PLAN_SETTINGS},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "batch_size", "world_size", "shuffle", "bucket_batching", "drop_last", "n_baskets"):
            mine = self.dataset.settings.seed if key == "seed" else (
                self.dataset.n_baskets if key == "n_baskets" else getattr(self, key))
            if key in state and state[key] != mine:
                raise UserError(
                    f"loader state: {key} = {state[key]} in the checkpoint but {mine} now — resume with the same "
                    "data, seed, batch size and world size, or start a new run"
                )
        for key in PLAN_SETTINGS:
            mine = getattr(self.dataset.settings, key)
            if key in state and state[key] != mine:
                raise UserError(f"loader state: loader.{key} = {state[key]} in the checkpoint but {mine} now — resume "
                                f"with --set loader.{key}={state[key]}, or start a new run")
        self.epoch = int(state["epoch"])
        if "window_items" not in state and self.dataset.settings.window_items:
            self._check_plan_without_item_budget()
        self._start = self._position = int(state["position"])
