"""Training: the loop (`train`), loss, LR schedule, checkpoints, DDP helpers, run logging."""

from retail_sim.train.loop import TrainResult, train

__all__ = ["train", "TrainResult"]
