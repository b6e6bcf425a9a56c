"""The prior of TimeVQVAE's two-band tokens: low-band tokens first, then high-band tokens
conditioned on them (two MaskGIT transformers).

The high-band transformer sees the low band's token embeddings, resampled along time to
the high band's grid, added to its input: fine detail is generated for a given coarse
shape, as in TimeVQVAE.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from ncvqvae.config import PriorConfig
from ncvqvae.prior.maskgit import MaskGIT, PriorLossOutput


class TwoBandPrior(nn.Module):
    """Args:
    config: settings of both transformers.
    low_codebook, high_codebook: (K, d) codewords of the two bands.
    low_grid, high_grid: (F, W) token grids of the two bands.
    n_classes: number of classes ("no class" is ``n_classes``).
    """

    def __init__(
        self,
        config: PriorConfig,
        *,
        low_codebook: Tensor,
        high_codebook: Tensor,
        low_grid: tuple[int, int],
        high_grid: tuple[int, int],
        n_classes: int,
    ) -> None:
        super().__init__()
        self.low_grid, self.high_grid = tuple(low_grid), tuple(high_grid)
        self.codebook_size = low_codebook.shape[0]
        self.n_classes = n_classes
        self.null_class = n_classes
        n_low = low_grid[0] * low_grid[1]
        n_high = high_grid[0] * high_grid[1]
        self.n_tokens = n_low + n_high
        self.low = MaskGIT(config, codebook=low_codebook, n_tokens=n_low, n_classes=n_classes)
        self.high = MaskGIT(
            config.for_high_band(),
            codebook=high_codebook,
            n_tokens=n_high,
            n_classes=n_classes,
            context_dim=low_codebook.shape[1],
        )

    def split(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, N) -> low (B, N_low) and high (B, N_high), both in 0..K-1."""
        n_low = self.low.n_tokens
        return tokens[:, :n_low], tokens[:, n_low:] - self.codebook_size

    def context(self, low_tokens: Tensor) -> Tensor:
        """Low-band token embeddings on the high band's grid: (B, N_high, d)."""
        emb = self.low.token_embedding(low_tokens)
        grid = rearrange(emb, "b (h w) d -> b d h w", h=self.low_grid[0])
        grid = F.interpolate(grid, size=self.high_grid, mode="nearest")
        return rearrange(grid, "b d h w -> b (h w) d")

    def loss(
        self,
        tokens: Tensor,
        class_labels: Tensor,
        *,
        drop_labels: bool = True,
        generator: torch.Generator | None = None,
    ) -> PriorLossOutput:
        """Masked-token loss of both bands; the high band is conditioned on the true low
        tokens (teacher forcing), as it will be on sampled ones at generation."""
        low, high = self.split(tokens)
        out_low = self.low.loss(low, class_labels, drop_labels=drop_labels, generator=generator)
        out_high = self.high.loss(
            high, class_labels, drop_labels=drop_labels, generator=generator, context=self.context(low)
        )
        n = out_low.n_masked + out_high.n_masked
        accuracy = (
            out_low.masked_accuracy * out_low.n_masked + out_high.masked_accuracy * out_high.n_masked
        ) / n
        return PriorLossOutput(out_low.loss + out_high.loss, accuracy, n)
