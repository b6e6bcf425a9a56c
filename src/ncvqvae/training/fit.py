"""Training each stage from a dataset to a finished, exported model.

Each ``fit_*`` function resumes from the stage's last checkpoint when there is one, and
ends by writing the stage's export (``tokenizer.pt`` / ``prior.pt``): a small file with
the config and the weights that evaluation and sampling load without Lightning.

With ``data.validation_fraction`` > 0 both stages train on the rest of the training split
and validate on the held-out part (the same series in both); the test split is then not
read here at all. Without it they train on the whole training split and their "val" curves
watch the test split, which nothing here chooses by.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ncvqvae.config import RunConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.data.validation import validation_split
from ncvqvae.model.export import save_export
from ncvqvae.model.trained import tokenize_series
from ncvqvae.prior.build import Prior, build_prior, compile_transformers
from ncvqvae.tokenizer.objective import Tokenizer
from ncvqvae.training.selection import restore_selected
from ncvqvae.training.stage_one import TokenizerModule
from ncvqvae.training.stage_two import PriorModule
from ncvqvae.training.trainer import (
    build_trainer,
    fit_resumable,
    merge_logs,
    plan_epochs,
    planned_world_size,
)


def _loader(tensors: list[torch.Tensor], batch: int, *, shuffle: bool, seed: int, world: int = 1) -> DataLoader:
    """``batch`` series per process; under DDP Lightning gives each of the ``world``
    processes its share of the data (a distributed sampler)."""
    generator = torch.Generator().manual_seed(seed)
    n = -(-len(tensors[0]) // world)
    return DataLoader(
        TensorDataset(*tensors),
        batch_size=batch,
        shuffle=shuffle,
        # BatchNorm cannot normalise a batch of one; dropping the ragged last batch
        # keeps every step's statistics meaningful.
        drop_last=shuffle and n > batch,
        generator=generator if shuffle else None,
        num_workers=0,
    )


def _fit_and_val(
    config: RunConfig, data: TimeSeriesDataset, train: list[torch.Tensor], test: Callable[[], list[torch.Tensor]]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The tensors a stage trains on and those it validates on: the training split less
    its held-out part and that part, or (no validation split) all of it and the test
    split, built only then (``test`` is called lazily)."""
    if config.data.validation_fraction == 0:
        return train, test()
    split = validation_split(data.y_train, len(train[0]), config.data.validation_fraction, config.seed)
    fit, val = torch.from_numpy(split.fit), torch.from_numpy(split.val)
    return [t[fit] for t in train], [t[val] for t in train]


def _val_every(epochs: int) -> int:
    """About 20 validations per stage, whatever the number of epochs."""
    return max(1, epochs // 20)


CHECKPOINT_STEPS = 200  # optimiser steps between checkpoints, at least


def _checkpoint_every(epochs: int, steps: int) -> int:
    """Epochs between checkpoints: about 20 per stage and never fewer than
    CHECKPOINT_STEPS optimiser steps apart (on a small dataset an epoch is one step, and
    a checkpoint of the paper's model every few steps wrote hundreds of MB a minute).
    Checkpoints fall on epoch ends, where a stage resumes exactly; a timer adds one
    when a long epoch would leave too much work unsaved (:class:`LastCheckpoint`)."""
    steps_per_epoch = max(1, steps // max(epochs, 1))
    target = max(CHECKPOINT_STEPS, steps // 20)
    return max(1, -(-target // steps_per_epoch))


def fit_tokenizer(
    config: RunConfig, data: TimeSeriesDataset, standardizer: Standardizer, run_dir: Path
) -> Tokenizer:
    """Train stage 1 on the training split and export it."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    (x_train,), (x_val,) = _fit_and_val(
        config, data, [torch.from_numpy(standardizer.transform(data.x_train))],
        lambda: [torch.from_numpy(standardizer.transform(data.x_test))],
    )
    world = planned_world_size(config.trainer)
    batch, epochs, steps = plan_epochs(len(x_train), config.stage1, world)
    module = TokenizerModule(
        config, in_channels=data.n_channels, length=data.length, total_steps=steps
    )
    trainer = build_trainer(
        config.trainer,
        run_dir=run_dir,
        stage="tokenizer",
        max_epochs=epochs,
        val_every_n_epochs=_val_every(epochs),
        checkpoint_every_n_epochs=_checkpoint_every(epochs, steps),
        keep_best=config.stage1.select == "best",
        ema_decay=config.stage1.ema_decay,
    )
    fit_resumable(
        trainer,
        module,
        train_loader=_loader([x_train], batch, shuffle=True, seed=config.seed, world=world),
        val_loader=_loader([x_val], 256, shuffle=False, seed=config.seed),
        run_dir=run_dir,
        stage="tokenizer",
        total_steps=steps,
    )
    selection = restore_selected(trainer, module, config.stage1.select)
    if trainer.is_global_zero:
        merge_logs(run_dir, "tokenizer")
    tokenizer = module.tokenizer.cpu().eval()
    if trainer.is_global_zero:
        save_export(
            Path(run_dir) / "tokenizer.pt",
            config=config,
            state_dict=tokenizer.state_dict(),
            meta={
                "dataset": data.name,
                "in_channels": data.n_channels,
                "length": data.length,
                "class_names": list(data.class_names),
                "standardizer": standardizer.to_dict(),
                "epochs": epochs,
                "steps": steps,
                "n_fit": len(x_train),
                "selection": selection.to_dict(),
            },
        )
    return tokenizer


def _with_augmented_views(
    config: RunConfig, tokenizer: Tokenizer, x_fit: np.ndarray, tokens: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prior's training tokens and labels followed by those of
    ``config.prior.augmented_views`` augmented views of each (standardized) series, drawn
    once, with a generator of their own so the same seed gives the same views."""
    augment = build_augmentation(config.ssl.augment, config.ssl.augmentation)
    generator = torch.Generator().manual_seed(config.seed * 1000 + 11)
    x = torch.from_numpy(np.ascontiguousarray(x_fit, dtype=np.float32))
    views = torch.cat([augment(x, generator) for _ in range(config.prior.augmented_views)])
    view_tokens = tokenize_series(tokenizer, views.numpy())
    view_labels = labels.repeat(config.prior.augmented_views)
    return torch.cat([tokens, view_tokens]), torch.cat([labels, view_labels])


def fit_prior(
    config: RunConfig,
    data: TimeSeriesDataset,
    standardizer: Standardizer,
    tokenizer: Tokenizer,
    run_dir: Path,
) -> Prior:
    """Train stage 2 on the frozen tokenizer's tokens of the training split and export it."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    n_classes = data.n_classes

    def tokens_and_labels(x: np.ndarray, y: np.ndarray | None) -> list[torch.Tensor]:
        tokens = tokenize_series(tokenizer, standardizer.transform(x))
        # Unlabelled data trains an unconditional prior: every label is "no class".
        labels = torch.from_numpy(y) if y is not None else torch.full((len(tokens),), n_classes)
        return [tokens, labels, torch.arange(len(tokens))]

    (tokens_train, y_train, fit_rows), (tokens_val, y_val, _) = _fit_and_val(
        config, data, tokens_and_labels(data.x_train, data.y_train),
        lambda: tokens_and_labels(data.x_test, data.y_test),
    )
    if config.prior.augmented_views:
        # Views of the fitted series only: a validation series' views would leak it.
        x_fit = standardizer.transform(data.x_train[fit_rows.numpy()])
        tokens_train, y_train = _with_augmented_views(config, tokenizer, x_fit, tokens_train, y_train)
    world = planned_world_size(config.trainer)
    batch, epochs, steps = plan_epochs(len(tokens_train), config.stage2, world)
    prior = build_prior(config.prior, tokenizer, n_classes)
    if config.trainer.compile:
        compile_transformers(prior)
    module = PriorModule(config, prior=prior, total_steps=steps)
    trainer = build_trainer(
        config.trainer,
        run_dir=run_dir,
        stage="prior",
        max_epochs=epochs,
        val_every_n_epochs=_val_every(epochs),
        checkpoint_every_n_epochs=_checkpoint_every(epochs, steps),
        keep_best=config.stage2.select == "best",
        ema_decay=config.stage2.ema_decay,
    )
    fit_resumable(
        trainer,
        module,
        train_loader=_loader([tokens_train, y_train], batch, shuffle=True, seed=config.seed, world=world),
        val_loader=_loader([tokens_val, y_val], 512, shuffle=False, seed=config.seed),
        run_dir=run_dir,
        stage="prior",
        total_steps=steps,
    )
    selection = restore_selected(trainer, module, config.stage2.select)
    if trainer.is_global_zero:
        merge_logs(run_dir, "prior")
    prior = module.prior.cpu().eval()
    if trainer.is_global_zero:
        save_export(
            Path(run_dir) / "prior.pt",
            config=config,
            state_dict=prior.state_dict(),
            meta={
                "n_tokens": tokenizer.n_tokens,
                "n_classes": n_classes,
                "epochs": epochs,
                "steps": steps,
                "n_fit": len(fit_rows),
                "n_sequences": len(tokens_train),  # with the augmented views
                "selection": selection.to_dict(),
            },
        )
    return prior
