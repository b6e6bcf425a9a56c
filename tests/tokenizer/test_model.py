"""The stage-1 objective: baseline vs NC-VQVAE differ in the SSL branch alone."""

from __future__ import annotations

import torch

from ncvqvae.config import SSLConfig, TokenizerConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.data.sources import load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.tokenizer.objective import StageOneObjective

TOK = TokenizerConfig(hidden_dim=16, n_resblocks=1, codebook_size=16)


def _gunpoint_batch(n: int = 16) -> torch.Tensor:
    data = load_dataset("GunPoint")
    return torch.from_numpy(Standardizer.fit(data.x_train).transform(data.x_train[:n]))


def test_baseline_has_no_ssl_branch() -> None:
    torch.manual_seed(0)
    baseline = StageOneObjective(TOK, SSLConfig(method="none"), in_channels=1, length=150)
    ssl = StageOneObjective(TOK, SSLConfig(method="barlowtwins", projector="64-64"), in_channels=1, length=150)
    assert baseline.branch is None
    # Same tokenizer architecture: the state dicts differ only by the projector.
    extra = set(ssl.state_dict()) - set(baseline.state_dict())
    assert extra and all(k.startswith("branch.projector.") for k in extra)
    out = baseline(_gunpoint_batch())
    assert set(out.terms) == {"recon_time", "recon_freq", "commit", "loss"}
    expected = out.terms["recon_time"] + out.terms["recon_freq"] + out.terms["commit"]
    assert torch.allclose(out.loss, expected)


def test_ssl_loss_reaches_the_encoder_through_the_quantized_branch() -> None:
    torch.manual_seed(0)
    model = StageOneObjective(
        TOK, SSLConfig(method="vibcreg", projector="64-64"), in_channels=1, length=150
    )
    x = _gunpoint_batch()
    x_aug = build_augmentation("warp")(x, torch.Generator().manual_seed(0))
    out = model(x, x_aug)
    for key in ("aug_recon_time", "aug_recon_freq", "ssl"):
        assert torch.isfinite(out.terms[key])
    # Gradient of the SSL term alone must reach the first encoder convolution.
    model.zero_grad()
    out.terms["ssl"].backward()
    grad = model.tokenizer.encoder.net[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
