"""Non-contrastive SSL for NC-VQVAE (SPEC section 4): pooling, projector, IterNorm, losses.

The pieces, in the order the data meets them:

    z: (B, D, H, W) --pool_latent--> (B, 2D) --Projector--> h: (B, F) --ssl_loss(h, h')--> loss

The losses are pure functions of two embedding batches ``z1, z2: (B, F)`` (the two views of
the same series, row b of one matching row b of the other). Each returns an
``SSLLossOutput`` with the total and its named terms, so training can log them. The
training step multiplies the total by ``SSL_WEIGHTS[name]`` (w_ssl of SPEC section 4).

Under DDP the losses see the global batch, as in the Barlow Twins and VICReg reference code:
Barlow Twins standardizes with global column statistics and sums the cross-correlation
over ranks; VICReg and VIbCReg gather all ranks' embeddings before the variance and
covariance terms. The collectives are the autograd-aware ones of
``torch.distributed.nn.functional``, so gradients reach every rank's embeddings. Without an
initialized process group (or with one process) the losses are purely local.

With the autograd-aware collectives each rank's gradient is the gradient of the global
loss times the world size W (every rank holds the same loss and the backward of a sum over
ranks sums the incoming gradients), and DDP's gradient averaging divides it by W again, so
parameters receive exactly the gradient of the global loss.

Gathering (VICReg, VIbCReg) needs the same local batch size on every rank: use
``drop_last=True`` in the training loader under DDP.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --------------------------------------------------------------------------------------------
# Named output and pooling.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SSLLossOutput:
    """An SSL loss and the terms it is made of.

    Attributes:
        loss: scalar, the weighted total (before the w_ssl of SSL_WEIGHTS).
        terms: unweighted named terms, scalars, for logging; see each loss for its names.
    """

    loss: Tensor
    terms: dict[str, Tensor]


def pool_latent(z: Tensor) -> Tensor:
    """Pool a latent grid to one vector: concat(global average, global max) over the grid.

    Args:
        z: (B, D, H, W) latent grid (z_q of the original branch or z' of the augmented one).

    Returns:
        (B, 2D): the D averages first, then the D maxima.
    """
    if z.dim() != 4:
        raise ValueError(f"pool_latent expects (B, D, H, W); got shape {tuple(z.shape)}.")
    return torch.cat([z.mean(dim=(2, 3)), z.amax(dim=(2, 3))], dim=1)


# --------------------------------------------------------------------------------------------
# DDP: global statistics with gradients.
# --------------------------------------------------------------------------------------------


def _world_size() -> int:
    """Number of processes the batch is split over; 1 when not running distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def _sum_over_ranks(t: Tensor) -> Tensor:
    """Sum t over all ranks with gradients; identity when not distributed."""
    if _world_size() == 1:
        return t
    from torch.distributed.nn.functional import all_reduce

    # torch marks these collectives deprecated in favour of a private module; they remain
    # the public autograd-aware ones, and the warning would otherwise fire every step.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(t)


def _gather_batch(z: Tensor) -> Tensor:
    """Concatenate the batches of all ranks with gradients: (B, F) -> (W * B, F)."""
    if _world_size() == 1:
        return z
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(z), dim=0)


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    """Fail early, naming the shapes, instead of inside a matrix product."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(
            "SSL losses expect two embedding batches of the same shape (B, F); "
            f"got {tuple(z1.shape)} and {tuple(z2.shape)}."
        )


def _off_diagonal(m: Tensor) -> Tensor:
    """The F * (F - 1) off-diagonal entries of a square (F, F) matrix, flattened."""
    return m[~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)]


# --------------------------------------------------------------------------------------------
# Barlow Twins.
# --------------------------------------------------------------------------------------------


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
    n = _sum_over_ranks(torch.tensor(float(z.shape[0]), device=z.device, dtype=z.dtype))
    mean = _sum_over_ranks(z.sum(dim=0)) / n
    centred = z - mean
    var = _sum_over_ranks(centred.pow(2).sum(dim=0)) / n
    return centred / torch.sqrt(var + eps), n


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
    _check_pair(z1, z2)
    n_features = z1.shape[1]
    z1n, n = _standardize_columns(z1, eps)
    z2n, _ = _standardize_columns(z2, eps)
    cross = _sum_over_ranks(z1n.T @ z2n) / n  # (F, F)
    on_diag = (1 - torch.diagonal(cross)).pow(2).sum() / n_features
    off_diag = _off_diagonal(cross).pow(2).sum() / n_features
    return SSLLossOutput(
        loss=on_diag + lambda_offdiag * off_diag,
        terms={"on_diag": on_diag, "off_diag": off_diag},
    )


# --------------------------------------------------------------------------------------------
# VICReg and VIbCReg.
# --------------------------------------------------------------------------------------------


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
    cov = centred.T @ centred / (n - 1)
    return _off_diagonal(cov).pow(2).sum() / n_features


def _normalized_covariance_penalty(z: Tensor, eps: float) -> Tensor:
    """VIbCReg's c(Z): mean over all F^2 cells of the squared off-diagonal correlations.

    Columns are centred and L2-normalized over the batch, so C = Zn^T Zn holds correlation
    coefficients in [-1, 1] whatever the embedding scale; that is why VIbCReg can weight it
    by 100 without the term depending on F or on how large the features are.
    """
    centred = z - z.mean(dim=0)
    unit = F.normalize(centred, dim=0, eps=eps)
    corr = unit.T @ unit
    return _off_diagonal(corr).pow(2).sum() / corr.numel()


def _gathered_pair(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """Both views over the global batch; the variance needs at least two series."""
    g1, g2 = _gather_batch(z1), _gather_batch(z2)
    if g1.shape[0] < 2:
        raise ValueError(
            f"the variance and covariance terms need a batch of at least 2; got {g1.shape[0]}."
        )
    return g1, g2


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
    _check_pair(z1, z2)
    sim = F.mse_loss(z1, z2)
    g1, g2 = _gathered_pair(z1, z2)
    var = _variance_hinge(g1, eps) + _variance_hinge(g2, eps)
    cov = _covariance_penalty(g1) + _covariance_penalty(g2)
    return SSLLossOutput(
        loss=sim_weight * sim + var_weight * var + cov_weight * cov,
        terms={"sim": sim, "var": var, "cov": cov},
    )


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
    _check_pair(z1, z2)
    sim = F.mse_loss(z1, z2)
    g1, g2 = _gathered_pair(z1, z2)
    var = _variance_hinge(g1, eps) + _variance_hinge(g2, eps)
    cov = _normalized_covariance_penalty(g1, eps) + _normalized_covariance_penalty(g2, eps)
    return SSLLossOutput(
        loss=sim_weight * sim + var_weight * var + cov_weight * cov,
        terms={"sim": sim, "var": var, "cov": cov},
    )


SSLLossFn = Callable[[Tensor, Tensor], SSLLossOutput]

SSL_LOSSES: dict[str, SSLLossFn] = {
    "barlowtwins": barlow_twins_loss,
    "vicreg": vicreg_loss,
    "vibcreg": vibcreg_loss,
}
"""The SSL losses by the names the config uses, each with the paper's default weights."""

SSL_WEIGHTS: dict[str, float] = {"barlowtwins": 1.0, "vicreg": 0.01, "vibcreg": 0.01}
"""w_ssl of SPEC section 4: the weight of each SSL loss in the stage-1 objective."""


def ssl_loss(name: str, z1: Tensor, z2: Tensor) -> SSLLossOutput:
    """The SSL loss called ``name`` ("barlowtwins", "vicreg", "vibcreg") of z1, z2: (B, F).

    Raises:
        ValueError: if the name is unknown; the message lists the valid names.
    """
    if name not in SSL_LOSSES:
        raise ValueError(
            f"unknown SSL loss {name!r}; valid names are {sorted(SSL_LOSSES)} "
            "(the baseline without SSL skips the loss rather than naming one here)."
        )
    return SSL_LOSSES[name](z1, z2)


# --------------------------------------------------------------------------------------------
# IterNorm and the projector.
# --------------------------------------------------------------------------------------------


class IterNorm(nn.Module):
    """Iterative group whitening (Huang et al., "Iterative Normalization", CVPR 2019).

    Features are split into groups of ``group_size``; per group the batch is centred, its
    covariance Sigma (plus eps I) is divided by its trace, and T Newton-Schulz iterations

        P_0 = I,   P_{k+1} = (3 P_k - P_k^3 Sigma_N) / 2

    approximate Sigma_N^{-1/2}; the output is P_T / sqrt(tr Sigma) applied to the centred
    batch. Dividing by the trace puts every eigenvalue of Sigma_N in (0, 1], where the
    iteration converges. With the paper's T = 5 the whitening is deliberately partial: the
    iteration has only started to lift the small eigenvalues, so the output covariance is
    closer to isotropic than the input but not the identity (the paper argues this
    "stochastic normalization disturbance" helps generalisation); large T whitens fully.

    Grouping: VIbCReg whitens its 4096-d embedding in 64 groups, i.e. groups of 64
    features; whitening all 4096 features at once would need a batch far larger than 4096
    and F^3 work per step. The group size is the parameter here (default 64), so the same
    module serves narrow CPU projectors: a layer with at most ``group_size`` features is one
    group.

    Training mode whitens with the batch's statistics and updates running averages of the
    mean and the whitening matrix (momentum as in BatchNorm); eval mode applies those
    running averages. The whitening runs in at least float32 with autocast off: Newton-Schulz in
    half precision loses the small eigenvalues. Under DDP the statistics are per rank, as
    with plain BatchNorm.

    Args:
        num_features: F, the width of the input.
        group_size: features whitened together; must divide F if F > group_size.
        T: number of Newton-Schulz iterations.
        momentum: weight of the current batch in the running averages.
        eps: added to the covariance's diagonal.
        affine: learn a per-feature scale and shift after whitening.

    Shapes:
        x: (B, F) -> (B, F).
    """

    running_mean: Tensor
    running_wm: Tensor

    def __init__(
        self,
        num_features: int,
        *,
        group_size: int = 64,
        T: int = 5,
        momentum: float = 0.1,
        eps: float = 1e-5,
        affine: bool = False,
    ) -> None:
        super().__init__()
        group_size = min(group_size, num_features)
        if num_features % group_size != 0:
            raise ValueError(
                f"IterNorm needs num_features ({num_features}) to be a multiple of "
                f"group_size ({group_size}); pick a group size that divides it."
            )
        self.num_features = num_features
        self.group_size = group_size
        self.num_groups = num_features // group_size
        self.T = T
        self.momentum = momentum
        self.eps = eps
        self.affine = affine
        eye = torch.eye(group_size).expand(self.num_groups, -1, -1).clone()
        self.register_buffer("running_mean", torch.zeros(self.num_groups, group_size, 1))
        self.register_buffer("running_wm", eye)
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: Tensor) -> Tensor:
        """Whiten x: (B, F) -> (B, F) in x's dtype."""
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"IterNorm({self.num_features}) expects (B, {self.num_features}); "
                f"got shape {tuple(x.shape)}."
            )
        batch = x.shape[0]
        dtype = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            # (G, g, B): one column per sample, one matrix per group.
            grouped = x.to(dtype).T.reshape(self.num_groups, self.group_size, batch)
            if self.training:
                mean = grouped.mean(dim=2, keepdim=True)
                centred = grouped - mean
                whitening = self._whitening_matrix(centred)
                with torch.no_grad():
                    self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
                    self.running_wm.lerp_(whitening.to(self.running_wm.dtype), self.momentum)
            else:
                centred = grouped - self.running_mean.to(dtype)
                whitening = self.running_wm.to(dtype)
            out = (whitening @ centred).reshape(self.num_features, batch).T
        out = out.to(x.dtype)
        if self.affine:
            out = out * self.weight + self.bias
        return out

    def _whitening_matrix(self, centred: Tensor) -> Tensor:
        """Approximate Sigma^{-1/2} per group from a centred batch (G, g, B) -> (G, g, g)."""
        batch = centred.shape[2]
        eye = torch.eye(self.group_size, device=centred.device, dtype=centred.dtype)
        sigma = self.eps * eye + centred @ centred.transpose(1, 2) / batch
        trace_inv = 1.0 / torch.diagonal(sigma, dim1=1, dim2=2).sum(dim=1)[:, None, None]
        sigma_n = sigma * trace_inv
        # Coupled form: with Y_k = Sigma_N P_k carried along, P_{k+1} = (3 I - P_k Y_k) P_k / 2
        # equals the paper's update in exact arithmetic, but the paper's uncoupled form
        # amplifies rounding errors near convergence on an ill-conditioned Sigma (in float32
        # it diverged after ~20 iterations on a test matrix), while the coupled one is stable
        # (Higham, Functions of Matrices, 2008, ch. 6). At T = 5 both agree to ~1e-6.
        p = eye.expand_as(sigma)
        y = sigma_n
        for _ in range(self.T):
            step = 0.5 * (3 * eye - p @ y)
            p, y = step @ p, y @ step
        return p * trace_inv.sqrt()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, group_size={self.group_size}, T={self.T}, "
            f"momentum={self.momentum}, eps={self.eps}, affine={self.affine}"
        )


def parse_projector_spec(spec: str) -> list[int]:
    """Layer widths from a dash-separated spec: "4096-4096-4096" -> [4096, 4096, 4096]."""
    parts = spec.split("-")
    if not spec or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(
            f"projector spec {spec!r} must be positive layer widths joined by '-', "
            "e.g. '4096-4096-4096'."
        )
    return [int(p) for p in parts]


class Projector(nn.Sequential):
    """The shared SSL projector P, built from a size spec like "4096-4096-4096".

    Every layer but the last is Linear -> BatchNorm1d -> ReLU; the last is a plain Linear,
    so the embedding is not forced non-negative. As in the Barlow Twins reference code the
    Linear layers have no bias: a bias before BatchNorm is cancelled by its centring, and
    the SSL losses (or IterNorm) centre the output themselves. With
    ``iternorm=True`` (VIbCReg) an IterNorm whitens the output.

    Args:
        in_dim: width of the pooled latent (2 d = 128 in NC-VQVAE).
        spec: dash-separated output widths of the layers, any number >= 1.
        iternorm: append IterNorm(out_dim) (VIbCReg).
        iternorm_group_size: IterNorm's group size (see IterNorm).

    Attributes:
        out_dim: F, the width of the embedding.

    Shapes:
        x: (B, in_dim) -> (B, out_dim).
    """

    def __init__(
        self,
        in_dim: int,
        spec: str = "4096-4096-4096",
        *,
        iternorm: bool = False,
        iternorm_group_size: int = 64,
    ) -> None:
        widths = [in_dim, *parse_projector_spec(spec)]
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-2], widths[1:-1]):
            layers += [
                nn.Linear(width_in, width_out, bias=False),
                nn.BatchNorm1d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Linear(widths[-2], widths[-1], bias=False))
        if iternorm:
            layers.append(IterNorm(widths[-1], group_size=iternorm_group_size))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = widths[-1]
