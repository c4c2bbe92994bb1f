"""The epochs every trainer by gradient runs (the autoencoders' loop.py, the classifiers' supervised.py): the
learning rate by step and wall-clock budget (lr_schedule.py), AMP's scaled optimizer step, the progress bar,
the best weights by validation loss, early stopping and the budget. Each trainer keeps its own batches, loss
and validation; this holds the bookkeeping between them, so both stop and schedule by the same rules."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch import nn

from ..evaluation.progress import TrainProgress
from .lr_schedule import lr_factor
from .train_config import TrainConfig

log = logging.getLogger(__name__)
MIN_GAIN = 1e-4  # a validation loss must improve by more than this to count as better


class EpochLoop:
    """schedule() before each step, backward() with its loss, end_epoch() with the validation loss (True: stop),
    finish() after the last epoch (the best weights loaded back into the model)."""

    def __init__(self, cfg: TrainConfig, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, steps: int,
                 progress: bool) -> None:
        self.cfg, self.opt, self.scaler, self.steps = cfg, opt, scaler, steps
        budget_s = cfg.max_minutes * 60 if cfg.max_minutes else None
        self.bar = TrainProgress(f"train {cfg.kind}", cfg.epochs, steps, budget_s=budget_s) if progress else None
        self.best = float("inf")
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs, self.epoch, self.running = 0, 0, 0.0
        self.history: list[tuple[float, float]] = []
        self.t0 = time.monotonic()

    def schedule(self, epoch: int, step: int) -> None:
        """Set the learning rate for this step: by the share of epochs done, or of the budget when further on."""
        if epoch != self.epoch:
            self.epoch, self.running = epoch, 0.0
        cfg = self.cfg
        done = (epoch - 1 + step / self.steps) / cfg.epochs
        if cfg.max_minutes:
            done = max(done, self.elapsed() / 60 / cfg.max_minutes)
        for group in self.opt.param_groups:
            group["lr"] = cfg.learning_rate * lr_factor(done)

    def backward(self, loss: torch.Tensor, step: int) -> None:
        """One optimizer step on `loss` (scaled when the GradScaler is on) and the bar moved."""
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.running += float(loss.detach())
        if self.bar:
            self.bar.step(self.epoch, step + 1, self.running / (step + 1))

    def end_epoch(self, model: nn.Module, val: float, note: str = "") -> bool:
        """Record the epoch, keep the weights when `val` is the best so far; True when training should stop."""
        cfg, train_loss = self.cfg, self.running / self.steps
        self.history.append((train_loss, val))
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f%s (%.0f s)", self.epoch, cfg.epochs, train_loss, val,
                 f", {note}" if note else "", self.elapsed())
        if val < self.best - MIN_GAIN:
            self.best, self.bad_epochs = val, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        out_of_time = cfg.max_minutes is not None and self.elapsed() / 60 >= cfg.max_minutes
        if self.bad_epochs >= cfg.patience or out_of_time:
            log.info("stopping after epoch %d (%s)", self.epoch,
                     "early stop" if self.bad_epochs >= cfg.patience else "budget")
            return True
        return False

    def finish(self, model: nn.Module) -> float:
        """Close the bar and load the best weights back; the seconds trained."""
        if self.bar:
            self.bar.close()
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return self.elapsed()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0
