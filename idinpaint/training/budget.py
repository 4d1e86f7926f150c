"""A wall-time cap for a training stage (``trainer.max_minutes``), as a Lightning callback.

After the first :data:`CALIBRATION_BATCHES` batches of a stage the speed so far sets how many
batches fit the budget; the stage's plan is cut to that, once (a module with a ``planned_steps``
attribute, e.g. the O-Detector's cosine learning rate, follows the new plan), and training stops
there. The stage record's ``batches`` says how many were done.
"""
from __future__ import annotations

import time

import pytorch_lightning as pl

#: With ``trainer.max_minutes``, the speed of this many first batches sets how many batches fit.
CALIBRATION_BATCHES = 20


class TimeBudget(pl.Callback):
    def __init__(self, minutes: float | None, optimizers: int = 1):
        self.minutes = float(minutes) if minutes else None
        self.optimizers = max(1, int(optimizers))
        self.started = self.batches = 0
        self.plan: int | None = None

    def on_train_start(self, trainer, pl_module):
        self.started = time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.minutes is None:
            return
        self.batches += 1
        done = trainer.global_step // self.optimizers
        if self.plan is None and self.batches == CALIBRATION_BATCHES:
            per_batch = (time.time() - self.started) / self.batches
            configured = trainer.max_steps // self.optimizers if trainer.max_steps > 0 else None
            affordable = int((0.95 * self.minutes * 60 - (time.time() - self.started)) / per_batch) + done
            self.plan = max(done + 1, affordable if configured is None else min(configured, affordable))
            if hasattr(pl_module, "planned_steps"):
                pl_module.planned_steps = self.plan
        if self.plan is not None and done >= self.plan:
            trainer.should_stop = True
