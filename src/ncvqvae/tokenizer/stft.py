"""The time-frequency transform of the tokenizer: a short STFT and its exact inverse.

Real and imaginary parts are stacked as channels so that ordinary 2-D convolutions can
work on the transform, and the inverse is asked for the original length explicitly,
which is what makes the round trip exact for every length, odd ones included.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ncvqvae.precision import at_least_float32


class STFT(nn.Module):
    """x: (B, C, L) -> u: (B, 2C, n_fft/2 + 1, L/hop + 1) and back.

    Channel layout of u: the real parts of all input channels, then their imaginary parts.
    """

    def __init__(self, n_fft: int = 8, hop_length: int = 2) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        # A Hann window with hop n_fft/4 satisfies the overlap-add condition, so the
        # inverse is exact (up to float error) rather than approximate.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def n_frames(self, length: int) -> int:
        return length // self.hop_length + 1

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        # Under bf16 or fp16 autocast the decoder hands over half-precision spectra: the FFT
        # has no half-precision kernels on CPUs and the inverse would no longer be exact, so
        # the transform runs in float32 (or float64 when given it).
        x = at_least_float32(x)
        spec = torch.stft(
            rearrange(x, "b c l -> (b c) l"),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window.to(x.dtype),
            center=True,
            return_complex=True,
        )
        spec = rearrange(spec, "(b c) f t -> b c f t", b=batch)
        return torch.cat([spec.real, spec.imag], dim=1)

    def inverse(self, u: Tensor, length: int) -> Tensor:
        batch, two_c = u.shape[:2]
        u = at_least_float32(u)
        real, imag = u[:, : two_c // 2], u[:, two_c // 2 :]
        spec = rearrange(torch.complex(real, imag), "b c f t -> (b c) f t")
        x = torch.istft(
            spec,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window.to(u.dtype),
            center=True,
            length=length,
        )
        return rearrange(x, "(b c) l -> b c l", b=batch)

