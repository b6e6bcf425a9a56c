"""The stage-1 training objective: reconstruction, and for NC-VQVAE the SSL branch.

With ``ssl.method == "none"`` the objective is exactly the baseline: no augmented branch
is ever computed, so the baseline and NC-VQVAE differ in that one setting alone. The
same objective wraps either tokenizer (single band, or TimeVQVAE's two bands).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ncvqvae.config import SSLConfig, TokenizerConfig
from ncvqvae.tokenizer.model import VQTokenizer
from ncvqvae.tokenizer.ssl import SSLBatch, build_branch
from ncvqvae.tokenizer.timevqvae import TwoBandTokenizer

Tokenizer = VQTokenizer | TwoBandTokenizer


def build_tokenizer(config: TokenizerConfig, *, in_channels: int, length: int) -> Tokenizer:
    """The tokenizer a config names: ``vqvae`` (one band) or ``timevqvae`` (two bands)."""
    if config.kind == "timevqvae":
        return TwoBandTokenizer(config, in_channels=in_channels, length=length)
    return VQTokenizer(config, in_channels=in_channels, length=length)


@dataclass
class StageOneOutput:
    """The loss to minimise and every named term, for logging."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    tokens: Tensor | None = None


class StageOneObjective(nn.Module):
    """L = L_VQ(x) [+ gamma (||x'-x'^||^2 + ||u'-u'^||^2) + w_ssl L_SSL].

    The SSL term of the joint-embedding methods compares P(pool z_q) with P(pool z'): it
    reaches the encoder through the straight-through z_q, which is how the semantics end
    up in the discrete tokens themselves and not only in the encoder. Each method is a
    branch (:mod:`ncvqvae.tokenizer.ssl`); a method that needs no augmented view
    (data2vec) skips it and its reconstruction term.
    """

    def __init__(
        self,
        tokenizer_config: TokenizerConfig,
        ssl_config: SSLConfig,
        *,
        in_channels: int,
        length: int,
    ) -> None:
        super().__init__()
        self.ssl_config = ssl_config
        self.tokenizer = build_tokenizer(tokenizer_config, in_channels=in_channels, length=length)
        self.branch = build_branch(ssl_config, 2 * tokenizer_config.hidden_dim, self.tokenizer)
        self.uses_ssl = self.branch is not None
        self.uses_augmented_view = self.uses_ssl and self.branch.needs_augmented_view

    @property
    def ssl_weight(self) -> float:
        return 0.0 if self.branch is None else self.branch.weight

    def forward(
        self, x: Tensor, x_aug: Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> StageOneOutput:
        out = self.tokenizer(x)
        terms = self.tokenizer.loss_terms(x, out)
        loss = sum(terms.values())
        if self.branch is not None:
            z_aug = None
            if self.uses_augmented_view:
                if x_aug is None:
                    raise ValueError("the SSL objective needs the augmented view x_aug")
                z_aug, aug_terms = self.tokenizer.augmented_branch(x_aug)
                terms.update(aug_terms)
                loss = loss + self.ssl_config.aug_recon_weight * sum(aug_terms.values())
            ssl = self.branch.loss(SSLBatch(x, x_aug, out.z_q, z_aug, self.tokenizer, generator))
            terms["ssl"] = ssl.loss
            terms.update({f"ssl_{k}": v for k, v in ssl.terms.items()})
            loss = loss + self.branch.weight * ssl.loss
        terms["loss"] = loss
        return StageOneOutput(loss=loss, terms=terms, tokens=out.tokens)

    def update_target(self, step: int = 0, total_steps: int = 1) -> None:
        """Move EMA teachers after an optimiser step; a no-op for methods without one."""
        if self.branch is not None:
            self.branch.after_optimizer_step(self.tokenizer, step, total_steps)
