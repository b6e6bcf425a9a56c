"""``trainer.compile``: the compiled prior computes what the eager one does, keeps its
parameter names, validates and exports the averaged weights under ``ema_decay``, and a
run trained with it samples and reloads compiled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ncvqvae import load
from ncvqvae.config import PriorConfig
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.data.validation import validation_split
from ncvqvae.model.export import load_export
from ncvqvae.model.trained import tokenize_series
from ncvqvae.pipeline import run_all
from ncvqvae.prior.build import build_prior, compile_transformers
from ncvqvae.prior.maskgit import MaskGIT
from ncvqvae.prior.transformer import Transformer
from ncvqvae.training.fit import fit_prior, fit_tokenizer

from ..conftest import tiny_config


def _is_compiled(prior: torch.nn.Module) -> bool:
    transformers = [m for m in prior.modules() if isinstance(m, Transformer)]
    return bool(transformers) and all(m._compiled_call_impl is not None for m in transformers)


def test_a_compiled_prior_matches_the_eager_one_in_loss_gradients_and_state_dict() -> None:
    torch.manual_seed(0)
    config = PriorConfig(hidden_dim=32, n_layers=2, n_heads=2, dropout=0.0)
    eager = MaskGIT(config, codebook=torch.randn(8, 4), n_tokens=12, n_classes=3)
    compiled = MaskGIT(config, codebook=torch.randn(8, 4), n_tokens=12, n_classes=3)
    compiled.load_state_dict(eager.state_dict())
    compile_transformers(compiled)
    assert _is_compiled(compiled) and not _is_compiled(eager)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints unchanged

    tokens, labels = torch.randint(0, 8, (16, 12)), torch.randint(0, 3, (16,))
    losses = []
    for model in (eager, compiled):
        out = model.loss(tokens, labels, generator=torch.Generator().manual_seed(1))
        out.loss.backward()
        losses.append(out.loss)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_a_run_with_compile_trains_reloads_compiled_and_samples_reproducibly(tmp_path: Path) -> None:
    run_all(tiny_config(trainer={"compile": True}), tmp_path / "run")
    generation = json.loads((tmp_path / "run" / "metrics.json").read_text())["generation"]
    assert np.isfinite(generation["fid"]) and np.isfinite(generation["cas"])
    model = load(tmp_path / "run")
    assert _is_compiled(model.prior)
    first, again = model.sample(16, seed=3), model.sample(16, seed=3)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)


def test_a_compiled_prior_with_weight_averaging_exports_the_weights_it_validated(tmp_path: Path) -> None:
    """``trainer.compile`` with ``stage2.ema_decay`` and ``select: best``: the averaged
    weights are swapped into the compiled module for each validation, so the recorded
    best validation loss must be what the exported weights score, recomputed eagerly."""
    data = load_dataset("ItalyPowerDemand")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(
        data={"validation_fraction": 0.2},
        stage2={"epochs": 12, "max_steps": None, "batch_size": 27, "select": "best", "lr": 3e-2, "ema_decay": 0.8},
        trainer={"compile": True},
    )
    tokenizer = fit_tokenizer(config, data, std, tmp_path)
    prior = fit_prior(config, data, std, tokenizer, tmp_path)
    assert _is_compiled(prior)
    export = load_export(tmp_path / "prior.pt")
    selection = export["meta"]["selection"]
    assert selection["rule"] == "best" and np.isfinite(selection["val_loss"])
    last = torch.load(tmp_path / "checkpoints" / "prior" / "last.ckpt", weights_only=False)
    current = last["current_model_state"]
    averaged = export["state_dict"]
    assert any(not torch.equal(value, current[f"prior.{name}"]) for name, value in averaged.items()), \
        "the export is the average, not the trained weights"

    eager = build_prior(config.prior, tokenizer, data.n_classes)
    eager.load_state_dict(averaged)
    eager.eval()
    split = validation_split(data.y_train, len(data.y_train), 0.2, config.seed)
    tokens = tokenize_series(tokenizer, std.transform(data.x_train)[split.val])
    labels = torch.from_numpy(data.y_train[split.val])
    with torch.no_grad():
        out = eager.loss(tokens, labels, drop_labels=False, generator=torch.Generator().manual_seed(12345))
    assert float(out.loss) == pytest.approx(selection["val_loss"], rel=1e-4)
