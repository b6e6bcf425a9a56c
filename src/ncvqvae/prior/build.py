"""The prior that fits a tokenizer: one MaskGIT, or two for TimeVQVAE's two bands."""

from __future__ import annotations

from torch import nn

from ncvqvae.config import PriorConfig
from ncvqvae.prior.maskgit import MaskGIT
from ncvqvae.prior.two_band import TwoBandPrior
from ncvqvae.tokenizer.objective import Tokenizer
from ncvqvae.tokenizer.timevqvae import TwoBandTokenizer

Prior = MaskGIT | TwoBandPrior


def build_prior(config: PriorConfig, tokenizer: Tokenizer, n_classes: int) -> nn.Module:
    """Token embeddings start from the tokenizer's codebook(s)."""
    if isinstance(tokenizer, TwoBandTokenizer):
        return TwoBandPrior(
            config,
            low_codebook=tokenizer.low.quantizer.codebook.detach().cpu(),
            high_codebook=tokenizer.high.quantizer.codebook.detach().cpu(),
            low_grid=tokenizer.low_grid,
            high_grid=tokenizer.high_grid,
            n_classes=n_classes,
        )
    return MaskGIT(
        config,
        codebook=tokenizer.quantizer.codebook.detach().cpu(),
        n_tokens=tokenizer.n_tokens,
        n_classes=n_classes,
    )
