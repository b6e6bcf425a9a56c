"""MaskGIT's masking schedule and the random masks of masked-token training."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def cosine_schedule(r: Tensor | float) -> Tensor | float:
    """gamma(r) = cos(pi r / 2): the fraction of tokens still masked at progress r in [0, 1].

    Concave schedules like this one mask many tokens early on, which MaskGIT found to
    give the best samples (Chang et al., 2022, section 3.3).
    """
    if isinstance(r, Tensor):
        return torch.cos(math.pi * r / 2)
    return math.cos(math.pi * r / 2)


def n_masked_for_training(r: Tensor, n_tokens: int) -> Tensor:
    """ceil(gamma(r) N) per sample, at least 1 so that every sample contributes a loss."""
    return torch.ceil(cosine_schedule(r) * n_tokens).long().clamp(1, n_tokens)


def mask_tokens(
    tokens: Tensor, mask_id: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Mask ceil(gamma(r) N) positions per sample, chosen uniformly without replacement.

    Args:
        tokens: (B, N) code indices.
        mask_id: the id of the mask token M.
    Returns:
        masked tokens (B, N) with M at masked positions, and the boolean mask (B, N).
    """
    batch, n = tokens.shape
    device = tokens.device
    # r ~ U(0, 1]: 1 - U[0, 1) excludes r = 0, which would mask every token of a sample.
    r = 1.0 - torch.rand(batch, device=device, generator=generator)
    n_mask = n_masked_for_training(r, n)
    # Ranking i.i.d. uniform scores gives a uniformly random subset of each size.
    scores = torch.rand(batch, n, device=device, generator=generator)
    ranks = scores.argsort(dim=1).argsort(dim=1)
    mask = ranks < n_mask[:, None]
    return torch.where(mask, torch.full_like(tokens, mask_id), tokens), mask
