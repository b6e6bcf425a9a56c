"""The stage-1 tokenizer (VQ-VAE in the STFT domain) and its NC-VQVAE training objective.

:class:`VQTokenizer` is the part stage 2 and evaluation use: series in, tokens out, and
back. :class:`StageOneObjective` adds what only training needs: the reconstruction
losses and, for NC-VQVAE, the augmented branch, projector and SSL loss. With
``ssl.method == "none"`` the objective is exactly the baseline: no augmented branch is
ever computed, so the two differ in that one setting alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.config import SSLConfig, TokenizerConfig
from ncvqvae.tokenizer.networks import Decoder, Encoder, n_downsampling_blocks
from ncvqvae.tokenizer.predictive_ssl import (
    PREDICTIVE_METHODS,
    PREDICTIVE_WEIGHTS,
    EMATarget,
    Predictor,
    byol_loss,
    simsiam_loss,
)
from ncvqvae.tokenizer.quantizer import Quantizer
from ncvqvae.tokenizer.ssl import SSL_WEIGHTS, Projector, SSLLossOutput, pool_latent, ssl_loss
from ncvqvae.tokenizer.stft import STFT


@dataclass
class TokenizerOutput:
    """One pass of the original view.

    x_hat: (B, C, L) reconstruction; u, u_hat: (B, 2C, F, T) STFT of x and its
    reconstruction; z: (B, d, F, W) encoder latents; z_q: quantized latents;
    tokens: (B, F, W); commit_loss: beta ||z - sg[z_q]||^2.
    """

    x_hat: Tensor
    u: Tensor
    u_hat: Tensor
    z: Tensor
    z_q: Tensor
    tokens: Tensor
    commit_loss: Tensor


class VQTokenizer(nn.Module):
    """STFT -> encoder -> vector quantization -> decoder -> inverse STFT.

    Args:
        config: architecture settings.
        in_channels: C of the series.
        length: L of the series; fixes the encoder's depth and the token grid.
    """

    def __init__(self, config: TokenizerConfig, *, in_channels: int, length: int) -> None:
        super().__init__()
        self.config = config
        self.in_channels = in_channels
        self.length = length
        self.stft = STFT(config.n_fft, config.hop_length)
        n_down = n_downsampling_blocks(length)
        width = config.hidden_dim
        self.encoder = Encoder(2 * in_channels, width, n_down, config.n_resblocks)
        self.decoder = Decoder(2 * in_channels, width, n_down, config.n_resblocks)
        self.quantizer = Quantizer(
            dim=width,
            codebook_size=config.codebook_size,
            decay=config.ema_decay,
            commitment_weight=config.commitment_weight,
            kmeans_init=config.kmeans_init,
            dead_code_threshold=config.dead_code_threshold,
        )
        n_frames = self.stft.n_frames(length)
        stride = 2**n_down
        self.grid_shape = (self.stft.n_freqs(), -(-n_frames // stride))

    @property
    def n_tokens(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    def encode(self, x: Tensor) -> Tensor:
        """x (B, C, L) -> z (B, d, F, W), before quantization."""
        return self.encoder(self.stft(x))

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (B, d, F, W) -> (x_hat (B, C, L), u_hat (B, 2C, F, T))."""
        u_hat = self.decoder(z, self.stft.n_frames(self.length))
        return self.stft.inverse(u_hat, self.length), u_hat

    def forward(self, x: Tensor) -> TokenizerOutput:
        u = self.stft(x)
        z = self.encoder(u)
        q = self.quantizer(z)
        x_hat, u_hat = self.decode(q.z_q)
        return TokenizerOutput(x_hat, u, u_hat, z, q.z_q, q.tokens, q.commit_loss)

    def tokenize(self, x: Tensor) -> Tensor:
        """x (B, C, L) -> tokens (B, N), N = F * W, row-major over (frequency, time)."""
        q = self.quantizer(self.encode(x))
        return rearrange(q.tokens, "b h w -> b (h w)")

    def tokens_to_latents(self, tokens: Tensor) -> Tensor:
        """tokens (B, N) -> codewords (B, d, F, W)."""
        grid = rearrange(tokens, "b (h w) -> b h w", h=self.grid_shape[0])
        return self.quantizer.lookup(grid)

    def detokenize(self, tokens: Tensor) -> Tensor:
        """tokens (B, N) -> series (B, C, L) in standardized units."""
        return self.decode(self.tokens_to_latents(tokens))[0]


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
        self.tokenizer = VQTokenizer(tokenizer_config, in_channels=in_channels, length=length)
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
        terms = {
            "recon_time": F.mse_loss(out.x_hat, x),
            "recon_freq": F.mse_loss(out.u_hat, out.u),
            "commit": out.commit_loss,
        }
        loss = terms["recon_time"] + terms["recon_freq"] + terms["commit"]
        if self.uses_ssl:
            if x_aug is None:
                raise ValueError("the SSL objective needs the augmented view x_aug")
            u_aug = self.tokenizer.stft(x_aug)
            z_aug = self.tokenizer.encoder(u_aug)
            x_aug_hat, u_aug_hat = self.tokenizer.decode(z_aug)
            terms["aug_recon_time"] = F.mse_loss(x_aug_hat, x_aug)
            terms["aug_recon_freq"] = F.mse_loss(u_aug_hat, u_aug)
            ssl = self._ssl(x, x_aug, pool_latent(out.z_q), pool_latent(z_aug))
            terms["ssl"] = ssl.loss
            terms.update({f"ssl_{k}": v for k, v in ssl.terms.items()})
            loss = (
                loss
                + self.ssl_config.aug_recon_weight
                * (terms["aug_recon_time"] + terms["aug_recon_freq"])
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
        return nn.ModuleDict({"encoder": self.tokenizer.encoder, "projector": self.projector})

    def _target_projection(self, x: Tensor) -> Tensor:
        net = self.target.net
        # The target sees unquantized latents: quantizing them would mean a second
        # codebook, and the online codebook must not be updated by the target's pass.
        return net["projector"](pool_latent(net["encoder"](self.tokenizer.stft(x))))

    def update_target(self) -> None:
        """BYOL's EMA step; call after every optimiser step. A no-op for other methods."""
        if self.ssl_config.method == "byol":
            self.target.update(self._online_modules())
