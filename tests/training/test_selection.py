"""Checkpoint selection: a validation split held out of the training data, the weights of
its lowest loss exported, and the test split never read while either stage trains."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.data.validation import validation_split
from ncvqvae.errors import ConfigError
from ncvqvae.model.export import load_export
from ncvqvae.model.trained import load_tokenizer
from ncvqvae.training.fit import fit_prior, fit_tokenizer

from ..conftest import tiny_config


def test_the_split_is_stratified_disjoint_and_seeded() -> None:
    data = load_dataset("GunPoint")
    split = validation_split(data.y_train, len(data.y_train), 0.2, seed=3)
    assert len(split.val) == 10 and len(split.fit) == 40
    assert set(split.fit).isdisjoint(split.val) and set(split.fit) | set(split.val) == set(range(50))
    counts = np.bincount(data.y_train[split.val], minlength=2)
    assert counts.min() >= 4, "each class keeps its share of the held-out series"
    again = validation_split(data.y_train, len(data.y_train), 0.2, seed=3)
    other = validation_split(data.y_train, len(data.y_train), 0.2, seed=4)
    assert np.array_equal(split.val, again.val) and not np.array_equal(split.val, other.val)


def test_a_class_of_one_series_falls_back_to_a_plain_split() -> None:
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    split = validation_split(y, 8, 0.25, seed=0)
    assert len(split.val) == 2 and len(split.fit) == 6


def test_a_split_that_leaves_nothing_to_train_on_is_an_error() -> None:
    with pytest.raises(ConfigError, match="validation_fraction"):
        validation_split(None, 3, 0.9, seed=0)


def test_selecting_without_a_validation_split_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="validation_fraction is 0"):
        tiny_config(stage1={"select": "best"})
    with pytest.raises(ConfigError, match="stage2.select"):
        tiny_config(stage2={"select": "best"})


def _poisoned(data):  # noqa: ANN001, ANN202
    """The same data with a test split that would make any use of it visible: NaN series
    and labels of a class that does not exist."""
    return dataclasses.replace(
        data, x_test=np.full_like(data.x_test, np.nan), y_test=np.full_like(data.y_test, 7)
    )


def _val_losses(run_dir: Path, stage: str) -> pd.Series:
    log = pd.read_csv(run_dir / "logs" / stage / "metrics.csv")
    return log.dropna(subset=["val/loss"]).set_index("step")["val/loss"]


def test_best_weights_are_exported_and_the_test_split_is_never_read(tmp_path: Path) -> None:
    data = load_dataset("GunPoint")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(
        data={"validation_fraction": 0.2},
        stage1={"max_steps": 40, "epochs": 1000, "batch_size": 20, "select": "best", "lr": 3e-2},
        stage2={"max_steps": 40, "epochs": 1000, "batch_size": 20, "select": "best", "lr": 3e-2},
    )
    clean, poisoned = tmp_path / "clean", tmp_path / "poisoned"
    tokenizer = fit_tokenizer(config, data, std, clean)
    fit_prior(config, data, std, tokenizer, clean)
    tokenizer_p = fit_tokenizer(config, _poisoned(data), std, poisoned)
    fit_prior(config, _poisoned(data), std, tokenizer_p, poisoned)

    for stage, export in (("tokenizer", "tokenizer.pt"), ("prior", "prior.pt")):
        a, b = load_export(clean / export), load_export(poisoned / export)
        for key, value in a["state_dict"].items():
            assert torch.equal(value, b["state_dict"][key]), f"{stage}: {key} depends on the test split"
        selection = a["meta"]["selection"]
        assert a["meta"]["n_fit"] == 40
        # The exported step is the logged validation with the lowest loss (the held-out 10).
        losses = _val_losses(clean, stage)
        assert len(losses) >= 5 and np.isfinite(losses).all()
        assert selection["rule"] == "best"
        assert selection["val_loss"] == pytest.approx(losses.min(), rel=1e-6)
        assert selection["step"] == int(losses.idxmin()) + 1
        assert (clean / "checkpoints" / stage / "best.ckpt").is_file()


def test_the_last_rule_exports_the_last_step_without_a_best_file(tmp_path: Path) -> None:
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(data={"validation_fraction": 0.2}, stage1={"max_steps": 12, "batch_size": 16})
    fit_tokenizer(config, _poisoned(data), std, tmp_path)
    meta = load_export(tmp_path / "tokenizer.pt")["meta"]
    assert meta["selection"] == {"rule": "last", "step": 12, "val_loss": None}
    assert meta["n_fit"] == 54 and np.isfinite(_val_losses(tmp_path, "tokenizer")).all()
    assert not (tmp_path / "checkpoints" / "tokenizer" / "best.ckpt").exists()


def test_a_resumed_stage_remembers_the_best_validation_before_the_interruption(tmp_path: Path) -> None:
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)

    def config(epochs: int):  # noqa: ANN202
        return tiny_config(
            data={"validation_fraction": 0.2},
            stage1={"epochs": epochs, "max_steps": None, "batch_size": 27, "select": "best", "lr": 3e-2},
        )

    fit_tokenizer(config(10), data, std, tmp_path)
    first = load_export(tmp_path / "tokenizer.pt")["meta"]["selection"]
    (tmp_path / "tokenizer.pt").unlink()
    # Make the best score seen before the "interruption" one that nothing later can beat:
    # only a resumed stage that restores it from last.ckpt keeps the first run's step.
    last = tmp_path / "checkpoints" / "tokenizer" / "last.ckpt"
    state = torch.load(last, weights_only=False)
    (key,) = [k for k in state["callbacks"] if k.startswith("ModelCheckpoint")]
    best = state["callbacks"][key]
    unbeatable = torch.tensor(1e-9)
    best.update(best_model_score=unbeatable, kth_value=unbeatable,
                best_k_models={path: unbeatable for path in best["best_k_models"]})
    torch.save(state, last)
    fit_tokenizer(config(20), data, std, tmp_path)
    selection = load_export(tmp_path / "tokenizer.pt")["meta"]["selection"]
    assert _val_losses(tmp_path, "tokenizer").index.max() > 20, "the second call trained on"
    assert selection == {"rule": "best", "step": first["step"], "val_loss": pytest.approx(1e-9)}
    exported = load_export(tmp_path / "tokenizer.pt")["state_dict"]
    kept = torch.load(tmp_path / "checkpoints" / "tokenizer" / "best.ckpt", weights_only=False)["state_dict"]
    for name, value in exported.items():
        assert torch.equal(value, kept[f"objective.tokenizer.{name}"])


def _validation_loss(run_dir: Path, data, std, fraction: float, seed: int) -> float:  # noqa: ANN001
    """What validation_step computes, from the exported tokenizer, on the held-out series."""
    tokenizer, _ = load_tokenizer(run_dir / "tokenizer.pt")
    split = validation_split(data.y_train, len(data.y_train), fraction, seed)
    x = torch.from_numpy(std.transform(data.x_train)[split.val])
    with torch.no_grad():
        tok = tokenizer.eval()(x)
        loss = F.mse_loss(tok.x_hat, x) + F.mse_loss(tok.u_hat, tok.u) + tok.commit_loss
    return float(loss)


@pytest.mark.parametrize("ema_decay", [None, 0.8])
def test_the_exported_weights_are_the_ones_validated(tmp_path: Path, ema_decay: float | None) -> None:
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(
        data={"validation_fraction": 0.2},
        stage1={"epochs": 12, "max_steps": None, "batch_size": 27, "select": "best", "lr": 3e-2,
                "ema_decay": ema_decay},
    )
    fit_tokenizer(config, data, std, tmp_path)
    selection = load_export(tmp_path / "tokenizer.pt")["meta"]["selection"]
    assert _validation_loss(tmp_path, data, std, 0.2, config.seed) == pytest.approx(selection["val_loss"], rel=1e-4)


def test_weight_averaging_exports_an_average_not_the_last_weights(tmp_path: Path) -> None:
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    base = {"epochs": 6, "max_steps": None, "batch_size": 27, "lr": 3e-2}
    fit_tokenizer(tiny_config(stage1=base), data, std, plain)
    fit_tokenizer(tiny_config(stage1={**base, "ema_decay": 0.8}), data, std, averaged)
    a = load_export(plain / "tokenizer.pt")["state_dict"]
    b = load_export(averaged / "tokenizer.pt")["state_dict"]
    # Same seed, same steps: the runs differ only by what is exported at the end.
    weight = "encoder.net.0.0.weight"
    assert not torch.equal(a[weight], b[weight])
    last = torch.load(averaged / "checkpoints" / "tokenizer" / "last.ckpt", weights_only=False)
    current = last["current_model_state"][f"objective.tokenizer.{weight}"]
    assert torch.equal(current, a[weight]), "training itself is unchanged by averaging"
