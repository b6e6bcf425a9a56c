"""One progress bar over a whole stage, instead of one bar per epoch.

Small UCR datasets have epochs of a single step, where Lightning's per-epoch bar would
print hundreds of lines; a bar over all optimiser steps stays on one line and gives an
honest time estimate.
"""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from tqdm.auto import tqdm


class StageProgressBar(Callback):
    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: tqdm | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._bar = tqdm(
                total=trainer.estimated_stepping_batches,
                initial=trainer.global_step,
                desc=self.description,
                unit="step",
                dynamic_ncols=True,
                # Outside a terminal (CI, log files) redraws become new lines: draw rarely.
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
            )

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._bar is None:
            return
        self._bar.update(trainer.global_step - self._bar.n)
        loss = trainer.callback_metrics.get("loss")
        if loss is not None and trainer.global_step % 10 == 0:
            self._bar.set_postfix(loss=f"{float(loss):.4f}", epoch=trainer.current_epoch, refresh=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
