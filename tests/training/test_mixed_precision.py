"""bf16 mixed precision on CPUs: the parts that must stay float32 do, and a whole run
trains, samples and reloads in it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ncvqvae import load
from ncvqvae.config import preset
from ncvqvae.pipeline import run_all
from ncvqvae.prior.transformer import SelfAttention, attention
from ncvqvae.tokenizer.objective import StageOneObjective
from ncvqvae.tokenizer.quantizer import Quantizer
from ncvqvae.tokenizer.ssl.redundancy import barlow_twins_loss
from ncvqvae.tokenizer.ssl.variance_covariance import vicreg_loss
from ncvqvae.tokenizer.stft import STFT

from ..conftest import tiny_config


def _bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def test_the_quantizer_picks_the_nearest_code_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    config = preset("cpu").tokenizer.__class__(hidden_dim=64, codebook_size=512, kmeans_init=False)
    quantizer = Quantizer.from_config(config).eval()
    # Latents close to codewords, so that several codes are near-ties: bf16 distances
    # (three significant digits) would pick other codes than float32 ones.
    codes = quantizer.codebook[torch.randint(0, 512, (8 * 4 * 6,))]
    z = (codes + 0.05 * torch.randn_like(codes)).reshape(8, 4, 6, 64).permute(0, 3, 1, 2).contiguous()
    exact = quantizer(z).tokens
    with _bf16():
        mixed = quantizer(z.to(torch.bfloat16)).tokens
    distances = torch.cdist(z.to(torch.bfloat16).float().permute(0, 2, 3, 1).reshape(-1, 64), quantizer.codebook)
    assert torch.equal(mixed.flatten(), distances.argmin(dim=1))
    assert (mixed == exact).float().mean() > 0.9


def test_ssl_losses_run_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(64, 256).to(torch.bfloat16), torch.randn(64, 256).to(torch.bfloat16)
    for loss in (barlow_twins_loss, vicreg_loss):
        reference = loss(z1.float(), z2.float()).loss
        with _bf16():
            mixed = loss(z1, z2).loss
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, reference)


def test_the_stft_inverts_half_precision_spectra_in_float32() -> None:
    stft = STFT()
    x = torch.randn(3, 2, 37)
    u = stft(x).to(torch.bfloat16)
    back = stft.inverse(u, 37)
    assert back.dtype == torch.float32
    torch.testing.assert_close(back, stft.inverse(u.float(), 37))


def test_a_bf16_mixed_run_trains_samples_and_reloads(tmp_path: Path) -> None:
    config = tiny_config(ssl={"method": "barlowtwins"}, trainer={"precision": "bf16-mixed"})
    run_all(config, tmp_path / "run")
    generation = json.loads((tmp_path / "run" / "metrics.json").read_text())["generation"]
    for key in ("fid", "fid_recon", "cas", "near_copy_rate"):
        assert np.isfinite(generation[key]), key
    model = load(tmp_path / "run")
    assert model.precision == "bf16-mixed"
    first, again = model.sample(16, seed=3), model.sample(16, seed=3)
    assert first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("kind", ["vqvae", "timevqvae"])
def test_a_stage_one_step_under_bf16_autocast_trains_both_tokenizers(kind: str) -> None:
    config = tiny_config(tokenizer={"kind": kind}, ssl={"method": "barlowtwins"})
    torch.manual_seed(0)
    model = StageOneObjective(config.tokenizer, config.ssl, in_channels=1, length=64)
    x = torch.randn(8, 1, 64)
    with _bf16():
        out = model(x, x + 0.1 * torch.randn_like(x))
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_prior_attention_runs_in_float32_under_bf16_autocast_on_cpus() -> None:
    torch.manual_seed(0)
    layer = SelfAttention(dim=32, heads=2, head_dim=16, dropout=0.0)
    x = torch.randn(4, 10, 32, requires_grad=True)
    with _bf16():
        q, k, v = (torch.randn(4, 2, 10, 16).to(torch.bfloat16) for _ in range(3))
        out = attention(q, k, v, dropout_p=0.0)
        y = layer(x)
    assert out.dtype == torch.bfloat16
    exact = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float())
    torch.testing.assert_close(out, exact.to(torch.bfloat16))
    y.float().sum().backward()
    assert torch.isfinite(x.grad).all()
