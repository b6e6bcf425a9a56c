"""Training an FCN: Adam, cross-entropy, and early stopping on a held-out part of the
training data. The evaluator, CAS and TRTR all train through :func:`train_fcn`.

    cfg = FCNTrainingConfig(max_epochs=300, seed=0)
    model = train_fcn(x_train, y_train, n_classes, cfg)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ncvqvae.evaluation.fcn import FCN


@dataclass(frozen=True)
class FCNTrainingConfig:
    """How the evaluator is trained; part of its cache key.

    Args:
        max_epochs: passes over the training part at most.
        batch_size: upper bound on the batch size; small datasets use fewer series per
            batch (see :func:`effective_batch_size`) so that an epoch has several updates.
        lr: Adam learning rate.
        val_fraction: stratified share of the training data held out to choose the best
            epoch and to stop early; 0 disables it. Ignored (no hold-out) when some class
            has fewer than 2 series, because that class could then not be both learned
            and validated.
        patience: stop after this many epochs without a better held-out accuracy.
        max_steps: optional cap on optimiser steps, for a fixed budget independent of the
            dataset size (CAS and TRTR use the same one so they are comparable).
        seed: seeds the initial weights, the hold-out split and the batch order.
    """

    max_epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    val_fraction: float = 0.2
    patience: int = 40
    max_steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("max_epochs, batch_size and patience must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {self.max_steps}")


def effective_batch_size(n_train: int, batch_size: int) -> int:
    """Batch size actually used: at most a quarter of the training part.

    UCR training splits can be tiny (GunPoint has 50 series): with batch 64 an epoch would
    be a single step and early stopping would act on very few updates.
    """
    return max(1, min(batch_size, n_train // 4))


def _check_series_and_labels(x: np.ndarray, y: np.ndarray, n_classes: int) -> None:
    if x.ndim != 3:
        raise ValueError(f"series must have shape (N, C, L), got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},), got {y.shape}")
    if x.shape[0] < 1:
        raise ValueError("cannot train the FCN on an empty training set")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got range {y.min()}..{y.max()}; "
            "encode them with the dataset's label encoder"
        )
    if not np.isfinite(x).all():
        raise ValueError("series contain NaN or inf; clean or fill them before training")


def stratified_split(
    y: np.ndarray, val_fraction: float, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, held-out) with the class proportions of ``y``.

    Every class keeps at least one series on each side. Returns all indices as the
    training part and an empty held-out part when ``val_fraction`` is 0 or some class has
    fewer than 2 series.
    """
    classes, counts = np.unique(y, return_counts=True)
    all_idx = np.arange(len(y))
    if val_fraction <= 0 or counts.min() < 2:
        return all_idx, all_idx[:0]
    train_parts, val_parts = [], []
    for cls, count in zip(classes, counts):
        members = all_idx[y == cls]
        order = torch.randperm(int(count), generator=generator).numpy()
        n_val = min(int(count) - 1, max(1, round(val_fraction * int(count))))
        val_parts.append(members[order[:n_val]])
        train_parts.append(members[order[n_val:]])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def _iterate_batches(
    n: int, batch_size: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """Shuffled index batches; a trailing batch of one is dropped.

    BatchNorm cannot normalise a batch of one series of length one, and the order is
    reshuffled every epoch, so no series is permanently left out.
    """
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        if len(batch) == 1 and n > 1:
            return
        yield batch


def _build_model(in_channels: int, n_classes: int, seed: int) -> FCN:
    # fork_rng: seeding the initial weights must not change the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FCN(in_channels, n_classes)


@torch.no_grad()
def _evaluate(model: FCN, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` (eval mode) on tensors x: (N, C, L)."""
    model.eval()
    logits = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)])
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(dim=1) == y).float().mean().item()
    return acc, loss


class _BestCheckpoint:
    """Keeps the weights with the best held-out accuracy (ties: lower held-out loss)."""

    def __init__(self) -> None:
        self.acc = -1.0
        self.loss = float("inf")
        self.state: dict[str, torch.Tensor] | None = None
        self.epochs_since_best = 0

    def update(self, model: nn.Module, acc: float, loss: float) -> None:
        if acc > self.acc or (acc == self.acc and loss < self.loss):
            self.acc, self.loss = acc, loss
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.epochs_since_best = 0
        else:
            self.epochs_since_best += 1


def _train_epoch(
    model: FCN,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    max_steps: float,
) -> tuple[int, float]:
    """One shuffled pass over x: (N, C, L), y: (N,), cut short after ``max_steps`` updates.

    Returns the number of optimiser steps taken and the mean training loss.
    """
    model.train()
    steps, loss_sum = 0, torch.zeros((), device=x.device)
    for batch in _iterate_batches(len(x), batch_size, generator):
        if steps >= max_steps:
            break
        batch = batch.to(x.device)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        loss_sum += loss.detach()  # no .item() per step: it would sync a GPU every batch
    return steps, loss_sum.item() / max(steps, 1)


def train_fcn(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    config: FCNTrainingConfig,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    description: str = "evaluator FCN",
) -> FCN:
    """Train an evaluator FCN with Adam and cross-entropy; deterministic on CPU.

    Args:
        x: (N, C, L) float series (standardized as the rest of the pipeline sees them).
        y: (N,) int labels in 0..n_classes-1.
        n_classes: K, the size of the classifier head.
        config: budget, split and seed.
        device: where to train; the data are moved there once (UCR-sized data fit).
        progress: show a tqdm bar over epochs.

    Returns:
        The model in eval mode, holding the weights of the epoch with the best held-out
        accuracy, or the final weights when there is no held-out part.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    _check_series_and_labels(x, y, n_classes)
    generator = torch.Generator().manual_seed(config.seed)
    train_idx, val_idx = stratified_split(y, config.val_fraction, generator)

    x_all = torch.from_numpy(x).to(device)
    y_all = torch.from_numpy(y).to(device)
    x_fit, y_fit = x_all[train_idx], y_all[train_idx]
    x_val, y_val = x_all[val_idx], y_all[val_idx]

    model = _build_model(x.shape[1], n_classes, config.seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batch_size = effective_batch_size(len(train_idx), config.batch_size)
    steps_left = config.max_steps if config.max_steps is not None else float("inf")
    best = _BestCheckpoint()
    # With a step budget the bar counts the epochs that budget allows, not max_epochs.
    n_epochs = config.max_epochs
    if config.max_steps is not None:
        steps_per_epoch = max(1, math.ceil(len(train_idx) / batch_size))
        n_epochs = min(n_epochs, math.ceil(config.max_steps / steps_per_epoch))
    bar = tqdm(
        range(n_epochs),
        desc=description,
        unit="epoch",
        disable=not progress,
        # Outside a terminal each redraw is a new line in the log: draw rarely there.
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )
    for _ in bar:
        steps, train_loss = _train_epoch(
            model, optimizer, x_fit, y_fit, batch_size, generator, steps_left
        )
        steps_left -= steps
        if len(val_idx) > 0:
            val_acc, val_loss = _evaluate(model, x_val, y_val)
            best.update(model, val_acc, val_loss)
            bar.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{val_acc:.3f}", refresh=False)
            if best.epochs_since_best >= config.patience:
                break
        else:
            bar.set_postfix(loss=f"{train_loss:.3f}", refresh=False)
        if steps_left <= 0:
            break
    bar.close()
    if best.state is not None:
        model.load_state_dict(best.state)
    return model.eval()


