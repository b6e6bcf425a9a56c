"""Measuring tokens never changes the tokenizer, and the probes read real structure."""

from __future__ import annotations

import copy

import numpy as np
import torch

from ncvqvae.config import TokenizerConfig
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.evaluation.tokens import (
    code_usage,
    encode_split,
    fit_linear_probes,
    fraction_used,
    perplexity,
)
from ncvqvae.tokenizer.model import VQTokenizer


def test_encoding_test_data_changes_no_codebook_or_batchnorm_state() -> None:
    data = load_dataset("GunPoint")
    std = Standardizer.fit(data.x_train)
    tok = VQTokenizer(TokenizerConfig(hidden_dim=16, n_resblocks=1), in_channels=1, length=150)
    tok.train()
    tok(torch.from_numpy(std.transform(data.x_train)))  # k-means init + one EMA update
    before = copy.deepcopy(tok.state_dict())
    encode_split(tok, std.transform(data.x_test))
    after = tok.state_dict()
    assert tok.training, "encode_split must restore the caller's mode"
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"{key} changed while encoding test data"


def test_usage_and_perplexity() -> None:
    tokens = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    usage = code_usage(tokens, 8)
    assert usage.sum() == 1 and fraction_used(usage) == 0.5
    assert abs(perplexity(usage) - 4.0) < 1e-9
    assert abs(perplexity(code_usage(np.zeros((3, 5), dtype=int), 8)) - 1.0) < 1e-9


def test_probes_separate_separable_features() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    feats = rng.normal(size=(60, 4)) + y[:, None] * 4.0
    scores = fit_linear_probes(feats[::2], y[::2], feats[1::2], y[1::2])
    assert scores["svm"] > 0.95 and scores["knn"] > 0.95
    noise = rng.normal(size=(60, 4))
    chance = fit_linear_probes(noise[::2], y[::2], noise[1::2], y[1::2])
    assert chance["svm"] < 0.9
