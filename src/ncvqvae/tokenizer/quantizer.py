"""Vector quantization of the latent grid, on top of ``vector-quantize-pytorch``.

The library's ``VectorQuantize`` already does what the method needs (nearest codeword,
straight-through gradient, EMA codebook updates synchronised across DDP ranks, k-means
init, dead-code restarts); this module pins every behaviour-relevant flag so that a new
library default can never silently change the method, and returns named outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor, nn
from vector_quantize_pytorch import VectorQuantize

from ncvqvae.config import TokenizerConfig
from ncvqvae.precision import at_least_float32


@dataclass
class QuantizerOutput:
    """z_q: (B, d, H, W) codewords (straight-through); tokens: (B, H, W) code indices."""

    z_q: Tensor
    tokens: Tensor
    commit_loss: Tensor


class Quantizer(nn.Module):
    def __init__(
        self,
        *,
        dim: int,
        codebook_size: int,
        decay: float,
        commitment_weight: float,
        kmeans_init: bool,
        dead_code_threshold: float,
    ) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.vq = VectorQuantize(
            dim=dim,
            codebook_size=codebook_size,
            decay=decay,
            commitment_weight=commitment_weight,
            kmeans_init=kmeans_init,
            kmeans_iters=10,
            threshold_ema_dead_code=dead_code_threshold,
            accept_image_fmap=True,
            use_cosine_sim=False,
            rotation_trick=False,
            straight_through=False,
            stochastic_sample_codes=False,
            learnable_codebook=False,
            ema_update=True,
            orthogonal_reg_weight=0.0,
            codebook_diversity_loss_weight=0.0,
            heads=1,
        )

    @classmethod
    def from_config(cls, config: TokenizerConfig) -> Quantizer:
        """The quantizer of SPEC section 3 as a tokenizer config sets it."""
        return cls(
            dim=config.hidden_dim,
            codebook_size=config.codebook_size,
            decay=config.ema_decay,
            commitment_weight=config.commitment_weight,
            kmeans_init=config.kmeans_init,
            dead_code_threshold=config.dead_code_threshold,
        )

    @property
    def codebook(self) -> Tensor:
        """(K, d): the current codewords."""
        return self.vq.codebook

    def forward(self, z: Tensor) -> QuantizerOutput:
        # The nearest codeword in float32 whatever autocast the step runs under: the
        # library turns autocast off for CUDA only, and a distance ||z||^2 - 2 z.e + ||e||^2
        # in bf16 (three significant digits) picks a wrong code when two are close.
        with torch.autocast(z.device.type, enabled=False):
            _, tokens, commit_loss = self.vq(at_least_float32(z))
        # Our own straight-through estimator, z_q = codeword + (z - sg[z]): the same
        # gradient as the library's z + sg[codeword - z], but the value is the codeword
        # exactly, not up to a rounding error that depends on z. Pooling takes a max over
        # z_q, and a one-ulp difference between two positions holding the same code would
        # send the whole gradient to one of them or the other depending on how z was
        # summed (one process or several under DDP).
        codewords = self.lookup(tokens)
        z_q = codewords + (z - z.detach()) if z.requires_grad else codewords
        return QuantizerOutput(z_q=z_q, tokens=tokens, commit_loss=commit_loss.sum())

    def lookup(self, tokens: Tensor) -> Tensor:
        """tokens (B, H, W) -> codewords (B, d, H, W)."""
        return rearrange(self.codebook[tokens], "b h w d -> b d h w")
