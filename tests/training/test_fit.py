"""Training through Lightning: the loss falls, checkpoints resume, exports load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import CheckpointError
from ncvqvae.model.trained import load_tokenizer
from ncvqvae.training.fit import fit_tokenizer
from ncvqvae.training.trainer import last_checkpoint

from ..conftest import tiny_config


def _epoch_losses(run_dir: Path) -> pd.Series:
    log = pd.read_csv(run_dir / "logs" / "tokenizer" / "metrics.csv")
    return log.dropna(subset=["train/loss"]).set_index("epoch")["train/loss"]


def test_training_lowers_the_loss_and_exports(tmp_path: Path) -> None:
    data = load_dataset("GunPoint")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(stage1={"max_steps": 30, "batch_size": 25, "epochs": 1000})
    fit_tokenizer(config, data, std, tmp_path)
    losses = _epoch_losses(tmp_path)
    assert len(losses) == 15
    assert losses.iloc[-3:].mean() < 0.7 * losses.iloc[:3].mean()
    tokenizer, meta = load_tokenizer(tmp_path / "tokenizer.pt")
    assert meta["length"] == 150 and meta["standardizer"]["std"] == pytest.approx(std.std)


def test_resume_continues_from_the_saved_epoch(tmp_path: Path) -> None:
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)
    short = tiny_config(stage1={"epochs": 3, "max_steps": None, "batch_size": 32})
    fit_tokenizer(short, data, std, tmp_path)
    ckpt = torch.load(last_checkpoint(tmp_path, "tokenizer"), weights_only=False)
    assert ckpt["global_step"] == 6  # 3 epochs of 2 steps
    longer = tiny_config(stage1={"epochs": 5, "max_steps": None, "batch_size": 32})
    fit_tokenizer(longer, data, std, tmp_path)
    epochs = sorted(set(_epoch_losses(tmp_path).index))
    assert epochs == [0, 1, 2, 3, 4], "resumed training must add epochs 3 and 4 only"
    ckpt = torch.load(last_checkpoint(tmp_path, "tokenizer"), weights_only=False)
    assert ckpt["global_step"] == 10


def test_corrupt_checkpoint_is_an_error_not_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "tokenizer" / "last.ckpt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        last_checkpoint(tmp_path, "tokenizer")
    export = tmp_path / "tokenizer.pt"
    export.write_bytes(np.arange(10).tobytes())
    with pytest.raises(CheckpointError, match="tokenizer.pt"):
        load_tokenizer(export)
