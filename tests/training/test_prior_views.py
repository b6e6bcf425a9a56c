"""The prior's augmented views: extra training sequences from the fitted series only,
the same for the same seed, and never from the validation or test split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ncvqvae.config import TokenizerConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.model.export import load_export
from ncvqvae.model.trained import tokenize_series
from ncvqvae.tokenizer.model import VQTokenizer
from ncvqvae.training.fit import _with_augmented_views, fit_prior

from ..conftest import tiny_config


def _tokenizer_and_series() -> tuple[VQTokenizer, np.ndarray, np.ndarray]:
    data = load_dataset("GunPoint")
    x = Standardizer.fit(data.x_train).transform(data.x_train)
    torch.manual_seed(0)  # the codebook's k-means start
    tokenizer = VQTokenizer(TokenizerConfig(hidden_dim=16, n_resblocks=1), in_channels=1, length=150)
    tokenizer.train()
    tokenizer(torch.from_numpy(x))  # k-means initialises the codebook from these series
    return tokenizer.eval(), x, data.y_train


def test_views_follow_the_originals_with_their_labels_and_differ_from_them() -> None:
    tokenizer, x, y = _tokenizer_and_series()
    tokens = tokenize_series(tokenizer, x)
    labels = torch.from_numpy(y)
    config = tiny_config(prior={"augmented_views": 3})
    all_tokens, all_labels = _with_augmented_views(config, tokenizer, x, tokens, labels)
    n = len(x)
    assert all_tokens.shape == (4 * n, tokens.shape[1]) and all_labels.shape == (4 * n,)
    assert torch.equal(all_tokens[:n], tokens) and torch.equal(all_labels[:n], labels)
    augment = build_augmentation(config.ssl.augment, config.ssl.augmentation)
    generator = torch.Generator().manual_seed(config.seed * 1000 + 11)
    for view in range(1, 4):
        assert torch.equal(all_labels[view * n : (view + 1) * n], labels)
        x_view = augment(torch.from_numpy(x), generator)
        assert not torch.allclose(x_view, torch.from_numpy(x))
        assert torch.equal(all_tokens[view * n : (view + 1) * n], tokenize_series(tokenizer, x_view.numpy()))
    again, _ = _with_augmented_views(config, tokenizer, x, tokens, labels)
    other, _ = _with_augmented_views(config.override(seed=config.seed + 1), tokenizer, x, tokens, labels)
    assert torch.equal(again, all_tokens) and not torch.equal(other, all_tokens)


def test_a_prior_with_views_trains_on_the_fitted_series_only(tmp_path: Path) -> None:
    data = load_dataset("GunPoint")
    std = Standardizer.fit(data.x_train)
    config = tiny_config(
        data={"validation_fraction": 0.2},
        prior={"augmented_views": 2},
        stage2={"max_steps": 4, "epochs": 1000, "batch_size": 20},
    )
    tokenizer, _, _ = _tokenizer_and_series()
    poisoned = dataclasses.replace(data, x_test=np.full_like(data.x_test, np.nan))
    fit_prior(config, poisoned, std, tokenizer, tmp_path)
    meta = load_export(tmp_path / "prior.pt")["meta"]
    assert meta["n_fit"] == 40 and meta["n_sequences"] == 3 * 40
