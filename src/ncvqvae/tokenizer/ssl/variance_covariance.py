"""Variance-covariance regularisation: VICReg (Bardes, Ponce and LeCun, ICLR 2022) and
VIbCReg (Lee and Aune, "VIbCReg: Variance-Invariance-better-Covariance Regularization",
2021), whose projector ends in IterNorm and whose covariance term is normalised."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ncvqvae.collectives import gather_batch
from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import (
    SSLBatch,
    SSLBranch,
    SSLLossOutput,
    check_pair,
    in_float32,
    pool_latent,
)
from ncvqvae.tokenizer.ssl.off_diagonal import product_off_diagonal_square_sum
from ncvqvae.tokenizer.ssl.projector import Projector


def _variance_hinge(z: Tensor, eps: float) -> Tensor:
    """v(Z) = mean_f relu(1 - sqrt(Var(Z_f) + eps)), unbiased variance over the batch.

    The hinge is on the std rather than the variance so that the gradient does not vanish
    as a column collapses (VICReg, section 3); eps keeps the sqrt's gradient finite there.
    """
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)
    return F.relu(1 - std).mean()


def _covariance_penalty(z: Tensor) -> Tensor:
    """c(Z) = (1/F) sum_{i != j} Cov(Z)_ij^2 with Cov = Zc^T Zc / (B - 1)."""
    n, n_features = z.shape
    centred = z - z.mean(dim=0)
    return product_off_diagonal_square_sum(centred, centred) / ((n - 1) ** 2 * n_features)


def _normalized_covariance_penalty(z: Tensor, eps: float) -> Tensor:
    """VIbCReg's c(Z): mean over all F^2 cells of the squared off-diagonal correlations.

    Columns are centred and L2-normalized over the batch, so C = Zn^T Zn holds correlation
    coefficients in [-1, 1] whatever the embedding scale; that is why VIbCReg can weight it
    by 100 without the term depending on F or on how large the features are.
    """
    centred = z - z.mean(dim=0)
    unit = F.normalize(centred, dim=0, eps=eps)
    return product_off_diagonal_square_sum(unit, unit) / unit.shape[1] ** 2


def _gathered_pair(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """Both views over the global batch; the variance needs at least two series."""
    g1, g2 = gather_batch(z1), gather_batch(z2)
    if g1.shape[0] < 2:
        raise ValueError(
            f"the variance and covariance terms need a batch of at least 2; got {g1.shape[0]}."
        )
    return g1, g2


@in_float32
def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    *,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    eps: float = 1e-4,
) -> SSLLossOutput:
    """VICReg: invariance, variance and covariance regularisation.

        L = 25 s + 25 [v(Z) + v(Z')] + 1 [c(Z) + c(Z')]

    s is ``F.mse_loss(z1, z2)``, the mean over all B * F entries. SPEC writes
    s = mean_b ||Z_b - Z'_b||^2 (no 1/F); the mean over features is the reference code's
    choice and the one the weight 25 was tuned for, so that the invariance and variance
    terms stay balanced for any projector width. v and c follow SPEC: the variance terms of
    the two views are added (the reference averages them, i.e. halves this term). Under DDP
    s uses the local batch (it is a per-row mean, so this equals the global value in
    expectation) and v, c use the batch gathered from all ranks.

    Args:
        z1, z2: (B, F) embeddings of the two views.
        sim_weight, var_weight, cov_weight: the weights of s, v and c.
        eps: added to the variance before the square root.

    Returns:
        SSLLossOutput with terms "sim" = s, "var" = v(Z) + v(Z'), "cov" = c(Z) + c(Z').
    """
    check_pair(z1, z2)
    sim = F.mse_loss(z1, z2)
    g1, g2 = _gathered_pair(z1, z2)
    var = _variance_hinge(g1, eps) + _variance_hinge(g2, eps)
    cov = _covariance_penalty(g1) + _covariance_penalty(g2)
    return SSLLossOutput(
        loss=sim_weight * sim + var_weight * var + cov_weight * cov,
        terms={"sim": sim, "var": var, "cov": cov},
    )


@in_float32
def vibcreg_loss(
    z1: Tensor,
    z2: Tensor,
    *,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 100.0,
    eps: float = 1e-4,
) -> SSLLossOutput:
    """VIbCReg: VICReg with a normalized (correlation) covariance term.

        L = 25 s + 25 [v(Z) + v(Z')] + 100 [c(Z) + c(Z')]

    s and v as in ``vicreg_loss``; c is the mean over all F^2 cells of the squared
    off-diagonal entries of the correlation matrix (columns centred and L2-normalized over
    the batch). The embeddings are expected to be whitened already by the projector's
    IterNorm (``Projector(..., iternorm=True)``); the loss does not whiten them.

    Args:
        z1, z2: (B, F) embeddings of the two views.
        sim_weight, var_weight, cov_weight: the weights of s, v and c.
        eps: added to the variance before the square root, and the floor on a column's
            norm when normalizing (a constant column then contributes 0, not NaN).

    Returns:
        SSLLossOutput with terms "sim", "var" and "cov" as in ``vicreg_loss``.
    """
    check_pair(z1, z2)
    sim = F.mse_loss(z1, z2)
    g1, g2 = _gathered_pair(z1, z2)
    var = _variance_hinge(g1, eps) + _variance_hinge(g2, eps)
    cov = _normalized_covariance_penalty(g1, eps) + _normalized_covariance_penalty(g2, eps)
    return SSLLossOutput(
        loss=sim_weight * sim + var_weight * var + cov_weight * cov,
        terms={"sim": sim, "var": var, "cov": cov},
    )


class VICRegBranch(SSLBranch):
    def __init__(self, config: SSLConfig, pooled_dim: int) -> None:
        super().__init__()
        self.settings = config.vicreg
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        s = self.settings
        h1, h2 = self.projector(pool_latent(batch.z_q)), self.projector(pool_latent(batch.z_aug))
        return vicreg_loss(h1, h2, sim_weight=s.sim, var_weight=s.var, cov_weight=s.cov, eps=s.eps)


class VIbCRegBranch(SSLBranch):
    def __init__(self, config: SSLConfig, pooled_dim: int) -> None:
        super().__init__()
        self.settings = config.vibcreg
        self.weight = config.method_weight
        it = config.iternorm
        self.projector = Projector(
            pooled_dim, config.projector, iternorm=True, iternorm_group_size=it.group_size,
            iternorm_iterations=it.iterations, iternorm_momentum=it.momentum,
        )

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        s = self.settings
        h1, h2 = self.projector(pool_latent(batch.z_q)), self.projector(pool_latent(batch.z_aug))
        return vibcreg_loss(h1, h2, sim_weight=s.sim, var_weight=s.var, cov_weight=s.cov, eps=s.eps)
