"""Predictive non-contrastive SSL: BYOL and SimSiam, as alternatives to the
redundancy-reduction losses of :mod:`ncvqvae.tokenizer.ssl`.

Both predict one view's projection from the other's through a small predictor MLP and
avoid collapse without batch statistics in the loss: SimSiam by a stop-gradient on the
target branch (Chen & He, CVPR 2021), BYOL by a target network that is an exponential
moving average of the online one (Grill et al., NeurIPS 2020).

    online:  z -> pool -> projector P -> h -> predictor Q -> p
    target:  SimSiam: the same P, h detached;  BYOL: EMA copy of encoder and P, no grad
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncvqvae.tokenizer.ssl import SSLLossOutput

PREDICTIVE_METHODS = ("byol", "simsiam")
PREDICTIVE_WEIGHTS = {"byol": 1.0, "simsiam": 1.0}


class Predictor(nn.Sequential):
    """Q: Linear(F, hidden) -> BN -> ReLU -> Linear(hidden, F), the usual bottleneck MLP."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        hidden = hidden or max(dim // 4, 16)
        super().__init__(
            nn.Linear(dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, dim),
        )


def byol_loss(p1: Tensor, p2: Tensor, t1: Tensor, t2: Tensor) -> SSLLossOutput:
    """Symmetrized 2 - 2 cos(p, t): each view's prediction against the other's target.

    Args:
        p1, p2: (B, F) online predictions of view 1 and view 2.
        t1, t2: (B, F) target projections of view 1 and view 2 (no gradient flows).
    """
    a = 2 - 2 * F.cosine_similarity(p1, t2.detach(), dim=-1).mean()
    b = 2 - 2 * F.cosine_similarity(p2, t1.detach(), dim=-1).mean()
    loss = 0.5 * (a + b)
    return SSLLossOutput(loss=loss, terms={"byol": loss.detach()})


def simsiam_loss(p1: Tensor, p2: Tensor, h1: Tensor, h2: Tensor) -> SSLLossOutput:
    """Symmetrized negative cosine with stop-gradient: -0.5 [cos(p1, sg h2) + cos(p2, sg h1)]."""
    loss = -0.5 * (
        F.cosine_similarity(p1, h2.detach(), dim=-1).mean()
        + F.cosine_similarity(p2, h1.detach(), dim=-1).mean()
    )
    return SSLLossOutput(loss=loss, terms={"simsiam": loss.detach()})


class EMATarget(nn.Module):
    """BYOL's target network: a copy of the online modules moved by
    theta_t <- decay * theta_t + (1 - decay) * theta_online after every optimiser step.

    Its parameters never require gradients; buffers (BatchNorm statistics) are copied.
    """

    def __init__(self, online: nn.ModuleDict, decay: float = 0.99) -> None:
        super().__init__()
        self.decay = decay
        self.net = copy.deepcopy(online)
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.ModuleDict) -> None:
        for target, source in zip(self.net.parameters(), online.parameters()):
            target.mul_(self.decay).add_(source.detach(), alpha=1 - self.decay)
        for target, source in zip(self.net.buffers(), online.buffers()):
            target.copy_(source)
