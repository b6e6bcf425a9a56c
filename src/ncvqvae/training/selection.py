"""Choosing which weights a stage exports: the last ones, or those with the lowest
validation loss on the split held out of the training data.

Lightning's ``ModelCheckpoint`` keeps the best weights on disk (``best.ckpt``, written
atomically through the trainer's checkpoint plugin) and its own state inside
``last.ckpt``, so a resumed stage still knows the best validation it saw before the
interruption. Only the training split's held-out part is ever validated on when a stage
selects (:mod:`ncvqvae.data.validation`), never the test split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

MONITOR = "val/loss"
BEST = "best"


def best_checkpoint(folder: Path, *, averaged: bool = False) -> ModelCheckpoint:
    """Keeps one file, ``folder/best.ckpt``: the weights at the lowest ``val/loss``.

    With weight averaging (``averaged``) the file is a full checkpoint: only then does
    Lightning's ``WeightAveraging`` put the averaged weights, the ones validated, into
    its ``state_dict``."""
    return ModelCheckpoint(
        dirpath=folder,
        filename=BEST,
        monitor=MONITOR,
        mode="min",
        save_top_k=1,
        save_weights_only=not averaged,
        save_on_train_epoch_end=False,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


@dataclass(frozen=True)
class Selection:
    """Which weights were exported, for the run's metrics and report."""

    rule: str  # "last" or "best"
    step: int
    val_loss: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def restore_selected(trainer: L.Trainer, module: L.LightningModule, rule: str) -> Selection:
    """Load the best weights into ``module`` when the rule is ``best`` (on every rank, so
    that all of them go on with the same model); say which step's weights they are."""
    if rule != "best":
        return Selection("last", int(trainer.global_step), None)
    callback = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    if callback is None or not callback.best_model_path:
        # No validation ran (a stage shorter than one validation interval): the last weights.
        return Selection("last", int(trainer.global_step), None)
    trainer.strategy.barrier("restore_selected")
    state = torch.load(callback.best_model_path, map_location="cpu", weights_only=False)
    module.load_state_dict(state["state_dict"])
    score = callback.best_model_score
    return Selection("best", int(state["global_step"]), None if score is None else float(score))
