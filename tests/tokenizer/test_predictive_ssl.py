"""BYOL's target moves only by the EMA rule; SimSiam's stop-gradient holds."""

from __future__ import annotations

import copy

import torch

from ncvqvae.config import SSLConfig, TokenizerConfig
from ncvqvae.config.ssl_schema import BYOLConfig
from ncvqvae.data.augment import build_augmentation
from ncvqvae.tokenizer.objective import StageOneObjective
from ncvqvae.tokenizer.ssl.predictive import byol_loss, online_view, simsiam_loss

TOK = TokenizerConfig(hidden_dim=16, n_resblocks=1, codebook_size=16)


def _views(n: int = 12, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6, length)
    x = torch.sin(t[None, None, :] * torch.rand(n, 1, 1, generator=gen) * 3)
    return x, build_augmentation("warp")(x, gen)


def test_byol_target_gets_no_gradient_and_follows_the_ema_rule() -> None:
    torch.manual_seed(0)
    model = StageOneObjective(
        TOK, SSLConfig(method="byol", projector="32-32", byol=BYOLConfig(ema_decay=0.9)), in_channels=1, length=64
    )
    x, x_aug = _views()
    before_target = copy.deepcopy(model.branch.target.net.state_dict())
    out = model(x, x_aug)
    out.loss.backward()
    assert all(p.grad is None for p in model.branch.target.net.parameters())
    assert model.tokenizer.encoder.net[0].weight.grad.abs().sum() > 0
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.add_(torch.randn_like(p))  # an arbitrary optimiser step
    online = dict(online_view(model.tokenizer, model.branch.projector).named_parameters())
    model.update_target()
    for name, value in model.branch.target.net.named_parameters():
        expected = 0.9 * before_target[name] + 0.1 * online[name]
        assert torch.allclose(value, expected, atol=1e-6), name


def test_simsiam_stop_gradient_holds() -> None:
    h1 = torch.randn(8, 5, requires_grad=True)
    h2 = torch.randn(8, 5, requires_grad=True)
    p1 = torch.randn(8, 5, requires_grad=True)
    p2 = torch.randn(8, 5, requires_grad=True)
    simsiam_loss(p1, p2, h1, h2).loss.backward()
    assert h1.grad is None and h2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0
    # Minimal (-1) when predictions align with the other view's projection.
    assert torch.isclose(simsiam_loss(h2, h1, h1, h2).loss, torch.tensor(-1.0))


def test_byol_loss_range() -> None:
    z = torch.randn(8, 5)
    assert torch.isclose(byol_loss(z, z, z, z).loss, torch.tensor(0.0), atol=1e-6)
    assert torch.isclose(byol_loss(z, z, -z, -z).loss, torch.tensor(4.0), atol=1e-6)


def test_simsiam_objective_trains_the_encoder() -> None:
    torch.manual_seed(0)
    model = StageOneObjective(TOK, SSLConfig(method="simsiam", projector="32-32"), in_channels=1, length=64)
    x, x_aug = _views()
    out = model(x, x_aug)
    assert set(out.terms) >= {"ssl", "ssl_simsiam", "aug_recon_time"}
    model.zero_grad()
    out.terms["ssl"].backward()
    assert model.tokenizer.encoder.net[0].weight.grad.abs().sum() > 0
