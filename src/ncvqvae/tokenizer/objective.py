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
from ncvqvae.tokenizer.predictive_ssl import (
    PREDICTIVE_METHODS,
    PREDICTIVE_WEIGHTS,
    EMATarget,
    Predictor,
    byol_loss,
    simsiam_loss,
)
from ncvqvae.tokenizer.ssl import SSL_WEIGHTS, Projector, SSLLossOutput, pool_latent, ssl_loss
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
    """L = L_VQ(x) [+ gamma (||x'-x'^||^2 + ||u'-u'^||^2) + w_ssl L_SSL(P(pool z_q), P(pool z'))].

    The SSL term reaches the encoder through the straight-through z_q, which is how the
    semantics end up in the discrete tokens themselves and not only in the encoder.
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
        method = ssl_config.method
        self.uses_ssl = method != "none"
        if self.uses_ssl:
            self.projector = Projector(
                2 * tokenizer_config.hidden_dim, ssl_config.projector, iternorm=method == "vibcreg"
            )
            defaults = {**SSL_WEIGHTS, **PREDICTIVE_WEIGHTS}
            self.ssl_weight = defaults[method] if ssl_config.weight is None else ssl_config.weight
        if method in PREDICTIVE_METHODS:
            self.predictor = Predictor(self.projector.out_dim)
        if method == "byol":
            # A copy of the online encoder and projector (the codebook is not part of it).
            self.target = EMATarget(self._online_modules(), decay=ssl_config.target_decay)

    def forward(self, x: Tensor, x_aug: Tensor | None = None) -> StageOneOutput:
        out = self.tokenizer(x)
        terms = self.tokenizer.loss_terms(x, out)
        loss = sum(terms.values())
        if self.uses_ssl:
            if x_aug is None:
                raise ValueError("the SSL objective needs the augmented view x_aug")
            z_aug, aug_terms = self.tokenizer.augmented_branch(x_aug)
            terms.update(aug_terms)
            ssl = self._ssl(x, x_aug, pool_latent(out.z_q), pool_latent(z_aug))
            terms["ssl"] = ssl.loss
            terms.update({f"ssl_{k}": v for k, v in ssl.terms.items()})
            loss = (
                loss
                + self.ssl_config.aug_recon_weight * sum(aug_terms.values())
                + self.ssl_weight * ssl.loss
            )
        terms["loss"] = loss
        return StageOneOutput(loss=loss, terms=terms, tokens=out.tokens)

    def _ssl(self, x: Tensor, x_aug: Tensor, pooled: Tensor, pooled_aug: Tensor) -> SSLLossOutput:
        """The SSL loss between the quantized original view and the augmented view."""
        method = self.ssl_config.method
        h1, h2 = self.projector(pooled), self.projector(pooled_aug)
        if method == "simsiam":
            return simsiam_loss(self.predictor(h1), self.predictor(h2), h1, h2)
        if method == "byol":
            with torch.no_grad():
                t1, t2 = self._target_projection(x), self._target_projection(x_aug)
            return byol_loss(self.predictor(h1), self.predictor(h2), t1, t2)
        return ssl_loss(method, h1, h2)

    def _online_modules(self) -> nn.ModuleDict:
        return nn.ModuleDict({"encoder": self.tokenizer.ssl_encoder, "projector": self.projector})

    def _target_projection(self, x: Tensor) -> Tensor:
        net = self.target.net
        # The target sees unquantized latents: quantizing them would mean a second
        # codebook, and the online codebook must not be updated by the target's pass.
        return net["projector"](pool_latent(net["encoder"](self.tokenizer.ssl_input(x))))

    def update_target(self) -> None:
        """BYOL's EMA step; call after every optimiser step. A no-op for other methods."""
        if self.ssl_config.method == "byol":
            self.target.update(self._online_modules())
