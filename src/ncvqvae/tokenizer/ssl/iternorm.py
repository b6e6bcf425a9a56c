"""IterNorm: the partial whitening at the end of VIbCReg's projector."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ncvqvae.collectives import global_count, sum_over_ranks


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
    half precision loses the small eigenvalues. Under DDP the mean and covariance are those
    of the global batch (sums all-reduced with gradients), so W ranks whiten as one
    process would.

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
                count = global_count(batch, grouped)
                mean = sum_over_ranks(grouped.sum(dim=2, keepdim=True)) / count
                centred = grouped - mean
                whitening = self._whitening_matrix(centred, count)
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

    def _whitening_matrix(self, centred: Tensor, count: Tensor) -> Tensor:
        """Approximate Sigma^{-1/2} per group from a centred batch (G, g, B) -> (G, g, g);
        ``count`` is the global batch size."""
        eye = torch.eye(self.group_size, device=centred.device, dtype=centred.dtype)
        sigma = self.eps * eye + sum_over_ranks(centred @ centred.transpose(1, 2)) / count
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
