"""Learning-rate schedule: linear warm-up to the base rate, then cosine decay to zero."""

from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier at optimiser step `step` (0-based): (step+1)/warmup during warm-up, then
    0.5*(1+cos(pi*progress)) with progress from 0 at the end of warm-up to 1 at total_steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / decay_steps, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """A LambdaLR over warmup_cosine; its state_dict holds only numbers (safe for weights_only).

    Warm-up is capped at a tenth of total_steps, so a short run (the demo, tests) still reaches
    the base rate before decaying."""
    warmup_steps = min(warmup_steps, max(total_steps // 10, 1)) if total_steps > 0 else warmup_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup_steps, total_steps)
    )
