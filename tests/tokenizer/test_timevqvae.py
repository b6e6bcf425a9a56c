"""TimeVQVAE mode: the band split, token counts, and the two-band prior."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ncvqvae import load
from ncvqvae.config import PriorConfig, SSLConfig, TokenizerConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.errors import ConfigError
from ncvqvae.pipeline import run_all
from ncvqvae.prior.build import build_prior
from ncvqvae.prior.sampling import sample_tokens
from ncvqvae.tokenizer.objective import StageOneObjective
from ncvqvae.tokenizer.timevqvae import TwoBandTokenizer

from ..conftest import tiny_config

TOK = TokenizerConfig(kind="timevqvae", hidden_dim=16, n_resblocks=1, codebook_size=16)


def test_bands_sum_back_to_the_full_stft() -> None:
    tok = TwoBandTokenizer(TOK, in_channels=2, length=150)
    x = torch.randn(3, 2, 150)
    u = tok.stft(x)
    low, high = tok.split_bands(u)
    assert torch.equal(low + high, u)
    assert low[:, :, 1:].abs().sum() == 0 and high[:, :, 0].abs().sum() == 0
    # Each band brought back by the inverse STFT: the two series add up to x.
    back = tok.stft.inverse(low, 150) + tok.stft.inverse(high, 150)
    assert torch.allclose(back, x, atol=1e-5)


def test_high_band_has_about_four_times_the_tokens_for_length_500() -> None:
    tok = TwoBandTokenizer(TOK, in_channels=1, length=500)
    assert tok.low_grid == (5, 8) and tok.high_grid == (5, 32)
    assert tok.n_high == 4 * tok.n_low
    tokens = tok.tokenize(torch.randn(2, 1, 500))
    assert tokens.shape == (2, tok.n_tokens)
    low, high = tok.split_tokens(tokens)
    assert low.max() < 16 and high.min() >= 0 and high.max() < 16
    assert tok.detokenize(tokens).shape == (2, 1, 500)


def test_ssl_branch_works_on_the_low_band() -> None:
    torch.manual_seed(0)
    model = StageOneObjective(TOK, SSLConfig(method="barlowtwins", projector="32-32"), in_channels=1, length=96)
    x = torch.randn(8, 1, 96)
    out = model(x, build_augmentation("warp")(x, torch.Generator().manual_seed(0)))
    assert {"recon_time_low", "recon_time_high", "recon_freq_low", "recon_freq_high", "ssl"} <= set(out.terms)
    model.zero_grad()
    out.terms["ssl"].backward()
    assert model.tokenizer.low.encoder.net[0].weight.grad.abs().sum() > 0
    assert model.tokenizer.high.encoder.net[0].weight.grad is None


def test_two_band_prior_samples_low_then_high() -> None:
    torch.manual_seed(0)
    tok = TwoBandTokenizer(TOK, in_channels=1, length=96)
    prior = build_prior(PriorConfig(hidden_dim=32, n_layers=1), tok, n_classes=2).eval()
    tokens = sample_tokens(prior, 4, class_labels=torch.tensor([0, 1, 0, 1]), steps=4, guidance=2.0)
    assert tokens.shape == (4, tok.n_tokens)
    low, high = tok.split_tokens(tokens)
    assert low.max() < 16 and 0 <= high.min() and high.max() < 16
    out = prior.loss(tok.tokenize(torch.randn(5, 1, 96)), torch.tensor([0, 1, 0, 1, 2]))
    assert torch.isfinite(out.loss) and out.n_masked > 0


def test_high_band_transformer_takes_its_own_smaller_size() -> None:
    tok = TwoBandTokenizer(TOK, in_channels=1, length=96)
    config = PriorConfig(hidden_dim=32, n_layers=2, high_band_hidden_dim=16, high_band_n_layers=1)
    prior = build_prior(config, tok, n_classes=2)
    assert prior.low.head.in_features == 32 and len(prior.low.transformer.layers) == 2
    assert prior.high.head.in_features == 16 and len(prior.high.transformer.layers) == 1
    out = prior.loss(tok.tokenize(torch.randn(4, 1, 96)), torch.tensor([0, 1, 0, 1]))
    out.loss.backward()
    assert prior.high.head.weight.grad.abs().sum() > 0
    # Unset, the high band copies the low band's size.
    same = build_prior(PriorConfig(hidden_dim=32, n_layers=2), tok, n_classes=2)
    assert same.high.head.in_features == 32 and len(same.high.transformer.layers) == 2


def test_high_band_width_must_fit_the_heads() -> None:
    with pytest.raises(ConfigError, match="high_band_hidden_dim"):
        tiny_config(prior={"n_heads": 4, "high_band_hidden_dim": 18})
    with pytest.raises(ConfigError, match="high_band_n_layers"):
        tiny_config(prior={"high_band_n_layers": 0})


def test_timevqvae_run_end_to_end(tmp_path: Path) -> None:
    config = tiny_config(tokenizer={"kind": "timevqvae", "hidden_dim": 16, "n_resblocks": 1, "codebook_size": 16})
    metrics = run_all(config, tmp_path / "tv")
    assert metrics["tokenizer"]["n_tokens"] > 0 and np.isfinite(metrics["generation"]["fid"])
    model = load(tmp_path / "tv")
    x = model.sample(3, class_label=model.classes[0])
    assert x.shape == (3, 1, 150) and np.isfinite(x).all()
