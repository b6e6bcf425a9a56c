"""Training each stage from a dataset to a finished, exported model.

Each ``fit_*`` function resumes from the stage's last checkpoint when there is one, and
ends by writing the stage's export (``tokenizer.pt`` / ``prior.pt``): a small file with
the config and the weights that evaluation and sampling load without Lightning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ncvqvae.config import RunConfig
from ncvqvae.data.dataset import TimeSeriesDataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import CheckpointError
from ncvqvae.prior.build import Prior, build_prior
from ncvqvae.tokenizer.objective import Tokenizer
from ncvqvae.training.stage_one import TokenizerModule
from ncvqvae.training.stage_two import PriorModule
from ncvqvae.training.trainer import build_trainer, last_checkpoint, merge_logs, plan_epochs

EXPORT_FORMAT = "ncvqvae-export-v1"


def _loader(tensors: list[torch.Tensor], batch: int, *, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    n = len(tensors[0])
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


def _val_every(epochs: int) -> int:
    """About 20 validations per stage, whatever the number of epochs."""
    return max(1, epochs // 20)


def _checkpoint_every(epochs: int) -> int:
    """Every epoch for long epochs; at most about 100 checkpoints for tiny datasets."""
    return max(1, epochs // 100)


def fit_tokenizer(
    config: RunConfig, data: TimeSeriesDataset, standardizer: Standardizer, run_dir: Path
) -> Tokenizer:
    """Train stage 1 on the training split (validating on test) and export it."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    x_train = torch.from_numpy(standardizer.transform(data.x_train))
    x_test = torch.from_numpy(standardizer.transform(data.x_test))
    batch, epochs, steps = plan_epochs(len(x_train), config.stage1)
    module = TokenizerModule(
        config, in_channels=data.n_channels, length=data.length, total_steps=steps
    )
    trainer = build_trainer(
        config.trainer,
        run_dir=run_dir,
        stage="tokenizer",
        max_epochs=epochs,
        val_every_n_epochs=_val_every(epochs),
        checkpoint_every_n_epochs=_checkpoint_every(epochs),
    )
    trainer.fit(
        module,
        train_dataloaders=_loader([x_train], batch, shuffle=True, seed=config.seed),
        val_dataloaders=_loader([x_test], 256, shuffle=False, seed=config.seed),
        ckpt_path=last_checkpoint(run_dir, "tokenizer"),
    )
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
            },
        )
    return tokenizer


@torch.no_grad()
def tokenize_series(tokenizer: Tokenizer, x: np.ndarray, batch: int = 512) -> torch.Tensor:
    """Standardized series (N, C, L) -> tokens (N, N_tok), in eval mode (no EMA/BN update)."""
    tokenizer.eval()
    device = next(tokenizer.parameters()).device
    parts = [
        tokenizer.tokenize(torch.from_numpy(x[i : i + batch]).to(device)).cpu()
        for i in range(0, len(x), batch)
    ]
    return torch.cat(parts)


def fit_prior(
    config: RunConfig,
    data: TimeSeriesDataset,
    standardizer: Standardizer,
    tokenizer: Tokenizer,
    run_dir: Path,
) -> Prior:
    """Train stage 2 on the frozen tokenizer's tokens of the training split and export it."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    tokens_train = tokenize_series(tokenizer, standardizer.transform(data.x_train))
    tokens_test = tokenize_series(tokenizer, standardizer.transform(data.x_test))
    n_classes = data.n_classes
    # Unlabelled data trains an unconditional prior: every label is "no class".
    y_train = torch.from_numpy(data.y_train) if data.labelled else torch.full((len(tokens_train),), n_classes)
    y_test = torch.from_numpy(data.y_test) if data.labelled else torch.full((len(tokens_test),), n_classes)
    batch, epochs, steps = plan_epochs(len(tokens_train), config.stage2)
    module = PriorModule(
        config, prior=build_prior(config.prior, tokenizer, n_classes), total_steps=steps
    )
    trainer = build_trainer(
        config.trainer,
        run_dir=run_dir,
        stage="prior",
        max_epochs=epochs,
        val_every_n_epochs=_val_every(epochs),
        checkpoint_every_n_epochs=_checkpoint_every(epochs),
    )
    trainer.fit(
        module,
        train_dataloaders=_loader([tokens_train, y_train], batch, shuffle=True, seed=config.seed),
        val_dataloaders=_loader([tokens_test, y_test], 512, shuffle=False, seed=config.seed),
        ckpt_path=last_checkpoint(run_dir, "prior"),
    )
    if trainer.is_global_zero:
        merge_logs(run_dir, "prior")
    prior = module.prior.cpu().eval()
    if trainer.is_global_zero:
        save_export(
            Path(run_dir) / "prior.pt",
            config=config,
            state_dict=prior.state_dict(),
            meta={"n_tokens": tokenizer.n_tokens, "n_classes": n_classes, "epochs": epochs, "steps": steps},
        )
    return prior


def save_export(path: Path, *, config: RunConfig, state_dict: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write a stage's export atomically (temporary file, then rename)."""
    payload = {"format": EXPORT_FORMAT, "config": config.to_dict(), "state_dict": state_dict, "meta": meta}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_export(path: Path) -> dict[str, Any]:
    """Read a stage export; a corrupt or foreign file is a clear error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; train that stage first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(err).__name__}); delete it and rerun the "
            "stage (its training checkpoints let it resume)"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is not a model export of this package")
    return payload
