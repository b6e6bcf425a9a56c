"""TimeVQVAE's tokenizer: separate low- and high-frequency bands (Lee et al., AISTATS 2023).

STFT row 0 is the low band, rows 1..4 the high band. Each band zero-pads the other, has
its own encoder, codebook and decoder, and is brought back to the time domain by the
inverse STFT; the series is the sum of the two. The low band gets a coarse token grid
(width ``low_width``) and the high band a fine one (``high_width``), so slow shape and
fast detail are modelled at their own resolutions. Tokens of both bands are concatenated
into one sequence, low first; high-band codes are offset by K so the two vocabularies
stay apart.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.config import TokenizerConfig
from ncvqvae.tokenizer.grid import grid_touched
from ncvqvae.tokenizer.model import TokenizerOutput
from ncvqvae.tokenizer.networks import Decoder, Encoder
from ncvqvae.tokenizer.quantizer import Quantizer
from ncvqvae.tokenizer.stft import STFT


def n_blocks_for_width(n_frames: int, width: int) -> int:
    """Stride-2 blocks that bring n_frames STFT frames closest to ``width`` tokens."""
    return max(0, round(math.log2(max(n_frames / width, 1.0))))


class BandCodec(nn.Module):
    """Encoder, quantizer and decoder of one band."""

    def __init__(self, config: TokenizerConfig, in_channels: int, n_down: int) -> None:
        super().__init__()
        width = config.hidden_dim
        self.encoder = Encoder(2 * in_channels, width, n_down, config.n_resblocks, config.stem)
        self.decoder = Decoder(2 * in_channels, width, n_down, config.n_resblocks, config.stem)
        self.quantizer = Quantizer.from_config(config)
        self.stride = 2**n_down


class TwoBandTokenizer(nn.Module):
    """The TimeVQVAE tokenizer with the same interface as :class:`VQTokenizer`.

    ``z_q`` in its outputs is the low band's, which the SSL branch and the probes use.
    """

    def __init__(self, config: TokenizerConfig, *, in_channels: int, length: int) -> None:
        super().__init__()
        self.config = config
        self.in_channels = in_channels
        self.length = length
        self.stft = STFT(config.n_fft, config.hop_length)
        n_frames = self.stft.n_frames(length)
        n_freqs = self.stft.n_freqs()
        self.low = BandCodec(config, in_channels, n_blocks_for_width(n_frames, config.low_width))
        self.high = BandCodec(config, in_channels, n_blocks_for_width(n_frames, config.high_width))
        self.low_grid = (n_freqs, -(-n_frames // self.low.stride))
        self.high_grid = (n_freqs, -(-n_frames // self.high.stride))
        low_rows = torch.zeros(1, 1, n_freqs, 1)
        low_rows[:, :, 0] = 1.0
        self.register_buffer("low_rows", low_rows, persistent=False)

    @property
    def n_low(self) -> int:
        return self.low_grid[0] * self.low_grid[1]

    @property
    def n_high(self) -> int:
        return self.high_grid[0] * self.high_grid[1]

    @property
    def n_tokens(self) -> int:
        return self.n_low + self.n_high

    @property
    def grid_shape(self) -> tuple[int, int]:
        return self.low_grid

    @property
    def vocab_size(self) -> int:
        return 2 * self.config.codebook_size

    @property
    def quantizer(self) -> Quantizer:
        """The low band's quantizer (its codebook initialises the low prior)."""
        return self.low.quantizer

    def split_bands(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """u (B, 2C, F, T) -> (low band, high band), each zero outside its rows."""
        return u * self.low_rows, u * (1 - self.low_rows)

    def _decode_band(self, band: BandCodec, z: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        u_hat = band.decoder(z, self.stft.n_frames(self.length)) * rows
        return self.stft.inverse(u_hat, self.length), u_hat

    def forward(self, x: Tensor) -> TokenizerOutput:
        u = self.stft(x)
        u_low, u_high = self.split_bands(u)
        z_low, z_high = self.low.encoder(u_low), self.high.encoder(u_high)
        q_low, q_high = self.low.quantizer(z_low), self.high.quantizer(z_high)
        x_low, u_low_hat = self._decode_band(self.low, q_low.z_q, self.low_rows)
        x_high, u_high_hat = self._decode_band(self.high, q_high.z_q, 1 - self.low_rows)
        tokens = torch.cat(
            [q_low.tokens.flatten(1), q_high.tokens.flatten(1) + self.config.codebook_size], dim=1
        )
        out = TokenizerOutput(
            x_hat=x_low + x_high,
            u=u,
            u_hat=u_low_hat + u_high_hat,
            z=z_low,
            z_q=q_low.z_q,
            tokens=tokens,
            commit_loss=q_low.commit_loss + q_high.commit_loss,
            bands=(x_low, x_high, u_low, u_high, u_low_hat, u_high_hat),
        )
        return out

    def loss_terms(self, x: Tensor, out: TokenizerOutput) -> dict[str, Tensor]:
        """TimeVQVAE's loss: MSE in time on the low band, L1 on the high band (sharper
        detail), MSE on both bands' STFTs, and both commitments."""
        x_low, x_high, u_low, u_high, u_low_hat, u_high_hat = out.bands
        target_low = self.stft.inverse(u_low, self.length)
        target_high = self.stft.inverse(u_high, self.length)
        return {
            "recon_time_low": F.mse_loss(x_low, target_low),
            "recon_time_high": F.l1_loss(x_high, target_high),
            "recon_freq_low": F.mse_loss(u_low_hat, u_low),
            "recon_freq_high": F.mse_loss(u_high_hat, u_high),
            "commit": out.commit_loss,
        }

    def ssl_input(self, x: Tensor) -> Tensor:
        return self.split_bands(self.stft(x))[0]

    @property
    def ssl_encoder(self) -> nn.Module:
        return self.low.encoder

    def augmented_branch(self, x_aug: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The augmented view's low band, encoded and decoded without quantization."""
        u_low = self.ssl_input(x_aug)
        z_aug = self.low.encoder(u_low)
        x_hat, u_hat = self._decode_band(self.low, z_aug, self.low_rows)
        return z_aug, {
            "aug_recon_time": F.mse_loss(x_hat, self.stft.inverse(u_low, self.length)),
            "aug_recon_freq": F.mse_loss(u_hat, u_low),
        }

    def tokenize(self, x: Tensor) -> Tensor:
        """x (B, C, L) -> tokens (B, N_low + N_high); high codes offset by K."""
        return self.forward(x).tokens

    def tokens_touched(self, missing: Tensor) -> Tensor:
        """missing: (B, C, L) bool -> (B, N_low + N_high) bool, each band on its own grid."""
        options = {"n_fft": self.stft.n_fft, "hop": self.stft.hop_length}
        low = grid_touched(missing, stride=self.low.stride, grid=self.low_grid, **options)
        high = grid_touched(missing, stride=self.high.stride, grid=self.high_grid, **options)
        return torch.cat([low, high], dim=1)

    def split_tokens(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, N) -> low (B, N_low) in 0..K-1 and high (B, N_high) in 0..K-1."""
        return tokens[:, : self.n_low], tokens[:, self.n_low :] - self.config.codebook_size

    def detokenize(self, tokens: Tensor) -> Tensor:
        low, high = self.split_tokens(tokens)
        z_low = self.low.quantizer.lookup(rearrange(low, "b (h w) -> b h w", h=self.low_grid[0]))
        z_high = self.high.quantizer.lookup(rearrange(high, "b (h w) -> b h w", h=self.high_grid[0]))
        x_low, _ = self._decode_band(self.low, z_low, self.low_rows)
        x_high, _ = self._decode_band(self.high, z_high, 1 - self.low_rows)
        return x_low + x_high
