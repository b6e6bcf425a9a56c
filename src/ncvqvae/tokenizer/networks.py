"""Encoder and decoder of the tokenizer: 2-D convolutions that downsample time only.

The frequency axis of the STFT has only 5 rows, so it is kept whole and each token
covers one frequency row and a stretch of time; the number of stride-2 blocks follows the
length (SPEC section 3) so that every dataset ends with a similar number of tokens.

Both keep their convolution weights, and so their activations, channels-last, (B, F, T, d)
in memory: oneDNN's CPU convolutions over 64 channels and a 5-row grid run faster that way.
A stage-1 step (batch 128, L = 140 and 500, with and without Barlow Twins, 2 threads) ran
1.03x to 1.06x faster in float32 and 1.06x to 1.15x in bf16 on an AMX CPU
(``benchmarks/layout_speed.py``; not measured on a GPU). The encoder's output then already
lies the way the quantizer reads it, one d-vector per token. The values are the same
convolutions' up to float rounding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def n_downsampling_blocks(length: int) -> int:
    """floor(log2(round(L / 16))), at least 0: the token grid's width is about L / 2^(n+1)."""
    ratio = round(length / 16)
    return int(math.floor(math.log2(ratio))) if ratio >= 1 else 0


class DownBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=(3, 4), stride=(1, 2), padding=(1, 1)),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )


class UpBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size=(3, 4), stride=(1, 2), padding=(1, 1)
            ),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True),
        )


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Encoder(nn.Module):
    """u: (B, 2C, F, T) -> z: (B, d, F, T_pad / 2^n), T padded up to a multiple of 2^n.

    ``stem="strided"`` goes from the 2C input channels to the width d in the first
    strided block, as SPEC section 3 and the authors' encoder do; ``"full"`` (the
    package's first design, kept so that tokenizers trained with it still load) first
    widens to d at full time resolution, which costs about twice the FLOPs of a stage-1
    step (one 64 -> 64 block at full resolution in the encoder and one in the decoder).
    """

    def __init__(self, in_channels: int, width: int, n_down: int, n_resblocks: int, stem: str = "full") -> None:
        super().__init__()
        self.stride = 2**n_down
        if stem == "strided" and n_down > 0:
            layers: list[nn.Module] = [DownBlock(in_channels, width)]
            layers += [DownBlock(width, width) for _ in range(n_down - 1)]
        else:
            layers = [nn.Conv2d(in_channels, width, kernel_size=3, padding=1)]
            layers += [DownBlock(width, width) for _ in range(n_down)]
        layers += [ResBlock(width) for _ in range(n_resblocks)]
        layers += [nn.Conv2d(width, width, kernel_size=1)]
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, u: Tensor) -> Tensor:
        # Replicate-padding the time axis to a multiple of the total stride lets the
        # decoder land on exactly the STFT's width after cropping, with no interpolation.
        missing = -u.shape[-1] % self.stride
        if missing:
            u = F.pad(u, (0, missing, 0, 0), mode="replicate")
        return self.net(u)


class Decoder(nn.Module):
    """z: (B, d, F, W) -> u_hat: (B, 2C, F, n_frames), the STFT's exact size."""

    def __init__(self, out_channels: int, width: int, n_down: int, n_resblocks: int, stem: str = "full") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(width, width, kernel_size=3, padding=1)]
        layers += [ResBlock(width) for _ in range(n_resblocks)]
        if stem == "strided" and n_down > 0:
            # The last upsampling block lands on the output channels directly.
            layers += [UpBlock(width, width) for _ in range(n_down - 1)]
            layers += [
                nn.ConvTranspose2d(width, out_channels, kernel_size=(3, 4), stride=(1, 2), padding=(1, 1))
            ]
        else:
            layers += [UpBlock(width, width) for _ in range(n_down)]
            layers += [nn.Conv2d(width, out_channels, kernel_size=3, padding=1)]
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, z: Tensor, n_frames: int) -> Tensor:
        return self.net(z)[..., :n_frames]
