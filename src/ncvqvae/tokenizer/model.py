"""The stage-1 tokenizer: a VQ-VAE in the STFT domain (SPEC section 3).

:class:`VQTokenizer` is the part stage 2 and evaluation use: series in, tokens out, and
back, plus the loss terms and augmented branch that the training objective
(:mod:`ncvqvae.tokenizer.objective`) combines.
"""

from __future__ import annotations

from dataclasses import dataclass

from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.config import TokenizerConfig
from ncvqvae.tokenizer.grid import grid_touched
from ncvqvae.tokenizer.networks import Decoder, Encoder, n_downsampling_blocks
from ncvqvae.tokenizer.quantizer import Quantizer
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
    bands: tuple[Tensor, ...] | None = None  # two-band tokenizers: per-band parts for losses


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
        self.encoder = Encoder(2 * in_channels, width, n_down, config.n_resblocks, config.stem)
        self.decoder = Decoder(2 * in_channels, width, n_down, config.n_resblocks, config.stem)
        self.quantizer = Quantizer.from_config(config)
        n_frames = self.stft.n_frames(length)
        self.stride = 2**n_down
        self.grid_shape = (self.stft.n_freqs(), -(-n_frames // self.stride))

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

    def tokens_touched(self, missing: Tensor) -> Tensor:
        """missing: (B, C, L) bool -> (B, N) bool, the tokens whose frames see a missing
        sample (see :mod:`ncvqvae.tokenizer.grid`)."""
        return grid_touched(
            missing, n_fft=self.stft.n_fft, hop=self.stft.hop_length, stride=self.stride, grid=self.grid_shape
        )

    @property
    def vocab_size(self) -> int:
        """Distinct token values: K."""
        return self.config.codebook_size

    def loss_terms(self, x: Tensor, out: TokenizerOutput) -> dict[str, Tensor]:
        """L_VQ: time MSE + time-frequency MSE + commitment (already weighted by beta)."""
        return {
            "recon_time": F.mse_loss(out.x_hat, x),
            "recon_freq": F.mse_loss(out.u_hat, out.u),
            "commit": out.commit_loss,
        }

    def ssl_input(self, x: Tensor) -> Tensor:
        """What the SSL encoder sees: the STFT of x."""
        return self.stft(x)

    @property
    def ssl_encoder(self) -> nn.Module:
        return self.encoder

    def augmented_branch(self, x_aug: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The augmented view through encoder and decoder, unquantized: (z', its losses)."""
        u_aug = self.stft(x_aug)
        z_aug = self.encoder(u_aug)
        x_aug_hat, u_aug_hat = self.decode(z_aug)
        return z_aug, {
            "aug_recon_time": F.mse_loss(x_aug_hat, x_aug),
            "aug_recon_freq": F.mse_loss(u_aug_hat, u_aug),
        }


