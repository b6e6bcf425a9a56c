"""Redundancy reduction: Barlow Twins (Zbontar, Jing, Misra, LeCun and Deny, "Barlow
Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from ncvqvae.collectives import global_count, sum_over_ranks, world_size
from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import (
    SSLBatch,
    SSLBranch,
    SSLLossOutput,
    check_pair,
    in_float32,
    pool_latent,
)
from ncvqvae.tokenizer.ssl.off_diagonal import (
    off_diagonal_square_sum,
    product_off_diagonal_square_sum,
)
from ncvqvae.tokenizer.ssl.projector import Projector


def _standardize_columns(z: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Standardize each column over the (global) batch with the biased variance.

    Biased variance with eps inside the square root, as the reference's BatchNorm1d
    (affine=False) does in training mode.

    Args:
        z: (B, F) the local batch.
        eps: added to the variance.

    Returns:
        (B, F) standardized local batch, and the global batch size as a 0-d tensor.
    """
    n = global_count(z.shape[0], z)
    mean = sum_over_ranks(z.sum(dim=0)) / n
    centred = z - mean
    var = sum_over_ranks(centred.pow(2).sum(dim=0)) / n
    return centred / torch.sqrt(var + eps), n


@in_float32
def barlow_twins_loss(
    z1: Tensor, z2: Tensor, *, lambda_offdiag: float = 0.005, eps: float = 1e-5
) -> SSLLossOutput:
    """Barlow Twins: drive the cross-correlation of the two views to the identity.

    Each column is standardized over the batch (biased std, eps inside the square root),
    C = z1n^T z2n / B, and

        L = [sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2] / F.

    The division by F is SPEC's (the reference code omits it and scales its learning rate
    instead); it makes the loss size independent of the projector width. Under DDP, mean,
    std and C are computed over the global batch (C summed over ranks, then divided by the
    global batch size), as the reference does with SyncBatchNorm and an all-reduce.

    Args:
        z1, z2: (B, F) embeddings of the two views.
        lambda_offdiag: weight of the redundancy-reduction (off-diagonal) term.
        eps: added to the variance when standardizing.

    Returns:
        SSLLossOutput with terms "on_diag" = sum_i (1 - C_ii)^2 / F and
        "off_diag" = sum_{i != j} C_ij^2 / F (unweighted), loss = on_diag + lambda off_diag.
    """
    check_pair(z1, z2)
    n_features = z1.shape[1]
    z1n, n = _standardize_columns(z1, eps)
    z2n, _ = _standardize_columns(z2, eps)
    if world_size() == 1:
        # C's diagonal and its off-diagonal sum of squares without forming C (off_diagonal.py).
        diagonal = (z1n * z2n).sum(dim=0) / n
        off_diag = product_off_diagonal_square_sum(z1n, z2n) / (n * n * n_features)
    else:
        cross = sum_over_ranks(z1n.T @ z2n) / n  # (F, F): each rank holds part of the batch
        diagonal = torch.diagonal(cross)
        off_diag = off_diagonal_square_sum(cross) / n_features
    on_diag = (1 - diagonal).pow(2).sum() / n_features
    return SSLLossOutput(
        loss=on_diag + lambda_offdiag * off_diag,
        terms={"on_diag": on_diag, "off_diag": off_diag},
    )


class BarlowTwinsBranch(SSLBranch):
    """P(pool(z_q)) and P(pool(z')) through the shared projector, Barlow Twins between them."""

    def __init__(self, config: SSLConfig, pooled_dim: int) -> None:
        super().__init__()
        self.settings = config.barlowtwins
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        h1, h2 = self.projector(pool_latent(batch.z_q)), self.projector(pool_latent(batch.z_aug))
        return barlow_twins_loss(h1, h2, lambda_offdiag=self.settings.lambda_offdiag, eps=self.settings.eps)
