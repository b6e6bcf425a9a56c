"""The STFT round trip is exact for every length, and the token grid follows the length."""

from __future__ import annotations

import pytest
import torch

from ncvqvae.config import TokenizerConfig
from ncvqvae.tokenizer.model import VQTokenizer
from ncvqvae.tokenizer.networks import n_downsampling_blocks
from ncvqvae.tokenizer.stft import STFT


@pytest.mark.parametrize("length", [24, 65, 96, 150, 151, 500])
def test_round_trip_is_exact(length: int) -> None:
    stft = STFT(8, 2)
    x = torch.randn(3, 2, length, generator=torch.Generator().manual_seed(length))
    u = stft(x)
    assert u.shape == (3, 4, 5, length // 2 + 1)
    back = stft.inverse(u, length)
    assert back.shape == x.shape
    assert (back - x).abs().max().item() < 1e-5


@pytest.mark.parametrize(("length", "blocks"), [(24, 1), (96, 2), (150, 3), (500, 4), (1024, 6), (8, 0)])
def test_depth_follows_length(length: int, blocks: int) -> None:
    assert n_downsampling_blocks(length) == blocks


@pytest.mark.parametrize("length", [24, 65, 150, 151, 500])
def test_tokenizer_output_matches_input_shape(length: int) -> None:
    tok = VQTokenizer(TokenizerConfig(hidden_dim=16, n_resblocks=1), in_channels=2, length=length)
    x = torch.randn(4, 2, length)
    out = tok(x)
    assert out.x_hat.shape == x.shape
    assert out.u_hat.shape == out.u.shape
    assert out.tokens.shape == (4, *tok.grid_shape)
    assert 25 <= tok.n_tokens <= 90
    tokens = tok.tokenize(x)
    assert tokens.shape == (4, tok.n_tokens)
    assert tok.detokenize(tokens).shape == x.shape
