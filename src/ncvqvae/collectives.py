"""Cross-rank collectives for global-batch statistics under DDP, with gradients.

Every loss or normalisation that depends on the whole batch (Barlow Twins' correlation,
VICReg's variances, IterNorm's whitening, BatchNorm's statistics, SwAV's Sinkhorn
marginals, DINO's centre) goes through these, so that W ranks on B/W series each compute
exactly what one process computes on B. Without an initialised process group (or with one
process) they are the identity.

The sums use ``torch.distributed.nn.functional``'s autograd-aware all-reduce: the
backward of a sum over ranks sums the incoming gradients, so each rank receives W times
the gradient of the global loss with respect to its own inputs, and DDP's averaging of
parameter gradients over W ranks divides it back: parameters get exactly the gradient of
the global loss.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


def world_size() -> int:
    """Number of processes the batch is split over; 1 when not running distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def sum_over_ranks(t: Tensor) -> Tensor:
    """Sum t over all ranks, with gradients; identity when not distributed."""
    if world_size() == 1:
        return t
    from torch.distributed.nn.functional import all_reduce

    # torch marks these collectives deprecated in favour of a private module; they remain
    # the public autograd-aware ones, and the warning would otherwise fire every step.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(t)


@torch.no_grad()
def sum_over_ranks_(t: Tensor) -> Tensor:
    """In-place sum over ranks without gradient (running statistics, centres)."""
    if world_size() > 1:
        torch.distributed.all_reduce(t)
    return t


def gather_batch(z: Tensor) -> Tensor:
    """Concatenate the batches of all ranks with gradients: (B, F) -> (W * B, F).

    Needs the same local batch size on every rank: use ``drop_last=True`` under DDP.
    """
    if world_size() == 1:
        return z
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(all_gather(z), dim=0)


def global_count(n: int, like: Tensor) -> Tensor:
    """The global batch size as a 0-d tensor of ``like``'s dtype and device."""
    return sum_over_ranks(torch.tensor(float(n), device=like.device, dtype=like.dtype))
