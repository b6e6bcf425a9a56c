"""The prior that fits a tokenizer: one MaskGIT, or two for TimeVQVAE's two bands."""

from __future__ import annotations

from torch import nn

from ncvqvae.config import PriorConfig
from ncvqvae.prior.maskgit import MaskGIT
from ncvqvae.prior.transformer import Transformer
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


def compile_transformers(prior: nn.Module) -> nn.Module:
    """``torch.compile`` every transformer of ``prior`` in place (``trainer.compile``).

    In place (``nn.Module.compile``), so parameter names, state dicts and checkpoints stay
    those of the eager model. Only the transformer: the masked gather and the output head
    after it change shape from step to step, and the blocks are where the fused
    elementwise work is.
    """
    for module in prior.modules():
        if isinstance(module, Transformer):
            module.compile()
    return prior
