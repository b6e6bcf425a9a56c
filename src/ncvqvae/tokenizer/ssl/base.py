"""What every self-supervised branch shares: its output, the batch it sees, pooling, and
the interface the stage-1 objective calls.

    z: (B, D, H, W) --pool_latent--> (B, 2D) --projector--> h: (B, F) --loss(h, h')--> loss
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ncvqvae.precision import at_least_float32


@dataclass(frozen=True)
class SSLLossOutput:
    """An SSL loss and the terms it is made of.

    Attributes:
        loss: scalar, the method's total (before its weight w_ssl).
        terms: unweighted named terms, scalars, for logging.
    """

    loss: Tensor
    terms: dict[str, Tensor]


@dataclass
class SSLBatch:
    """What a branch may use, for one training step.

    x, x_aug: (B, C, L) the series and its augmented view (``x_aug`` is None for a branch
    that needs no second view); z_q: (B, D, H, W) the quantized latents of x; z_aug: the
    unquantized latents of x_aug (or None); tokenizer: the online tokenizer (teachers and
    masked views run its parts; it is not a submodule of the branch); generator: for the
    branch's own random choices (data2vec's spans).
    """

    x: Tensor
    x_aug: Tensor | None
    z_q: Tensor
    z_aug: Tensor | None
    tokenizer: nn.Module
    generator: torch.Generator | None = None


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


LossFn = TypeVar("LossFn", bound=Callable[..., Any])


def in_float32(loss: LossFn) -> LossFn:
    """Run an SSL loss in float32 whatever autocast the step runs under.

    Under bf16 or fp16 mixed precision the projectors' matrix products are where the time
    goes and stay in half precision; the losses are cheap but numerically delicate
    (Barlow Twins' off-diagonal sum is a total minus a diagonal, VICReg's covariance a
    difference of near-equal sums, SwAV's Sinkhorn an exponential), and three significant
    digits would change them, so every half-precision tensor argument is cast to float32
    first (float64 stays float64)."""

    def to_float32(value: Any) -> Any:
        if isinstance(value, Tensor):
            return at_least_float32(value)
        if isinstance(value, tuple):
            return tuple(to_float32(v) for v in value)
        return value

    @functools.wraps(loss)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        first = args[0][0] if isinstance(args[0], tuple) else args[0]
        with torch.autocast(first.device.type, enabled=False):
            return loss(*(to_float32(a) for a in args), **{k: to_float32(v) for k, v in kwargs.items()})

    return wrapper  # type: ignore[return-value]


def check_pair(z1: Tensor, z2: Tensor) -> None:
    """Fail early, naming the shapes, instead of inside a matrix product."""
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(
            "SSL losses expect two embedding batches of the same shape (B, F); "
            f"got {tuple(z1.shape)} and {tuple(z2.shape)}."
        )


class SSLBranch(nn.Module):
    """A self-supervised branch of the stage-1 objective.

    Attributes:
        weight: w_ssl, the weight of :meth:`loss` in the stage-1 objective.
        needs_augmented_view: whether the objective must make x' and run the augmented
            branch (and its reconstruction loss) for this method.
    """

    weight: float = 1.0
    needs_augmented_view: bool = True

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        raise NotImplementedError

    def after_optimizer_step(self, tokenizer: nn.Module, step: int, total_steps: int) -> None:
        """Move EMA teachers (a no-op for methods without one)."""
