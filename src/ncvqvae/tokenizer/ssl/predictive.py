"""Predictive non-contrastive SSL: BYOL (Grill et al., NeurIPS 2020) and SimSiam (Chen
and He, CVPR 2021).

Both predict one view's projection from the other's through a small predictor MLP and
avoid collapse without batch statistics in the loss: SimSiam by a stop-gradient on the
target branch, BYOL by a target network that is an exponential moving average of the
online one.

    online:  z -> pool -> projector P -> h -> predictor Q -> p
    target:  SimSiam: the same P, h detached;  BYOL: EMA copy of encoder and P, no grad
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import SSLBatch, SSLBranch, SSLLossOutput, in_float32, pool_latent
from ncvqvae.tokenizer.ssl.ema import EMATeacher, ema_decay
from ncvqvae.tokenizer.ssl.projector import Predictor, Projector


@in_float32
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


@in_float32
def simsiam_loss(p1: Tensor, p2: Tensor, h1: Tensor, h2: Tensor) -> SSLLossOutput:
    """Symmetrized negative cosine with stop-gradient: -0.5 [cos(p1, sg h2) + cos(p2, sg h1)]."""
    loss = -0.5 * (
        F.cosine_similarity(p1, h2.detach(), dim=-1).mean()
        + F.cosine_similarity(p2, h1.detach(), dim=-1).mean()
    )
    return SSLLossOutput(loss=loss, terms={"simsiam": loss.detach()})


class SimSiamBranch(SSLBranch):
    def __init__(self, config: SSLConfig, pooled_dim: int) -> None:
        super().__init__()
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)
        self.predictor = Predictor(self.projector.out_dim, config.simsiam.predictor_hidden)

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        h1, h2 = self.projector(pool_latent(batch.z_q)), self.projector(pool_latent(batch.z_aug))
        return simsiam_loss(self.predictor(h1), self.predictor(h2), h1, h2)


def online_view(tokenizer: nn.Module, projector: nn.Module) -> nn.ModuleDict:
    """The online encoder and projector as one module (what an EMA teacher copies). The
    codebook is not part of it: the teacher sees unquantized latents, and a second
    codebook must not be updated by the teacher's pass."""
    return nn.ModuleDict({"encoder": tokenizer.ssl_encoder, "projector": projector})


def teacher_projection(teacher: EMATeacher, tokenizer: nn.Module, x: Tensor) -> Tensor:
    net = teacher.net
    return net["projector"](pool_latent(net["encoder"](tokenizer.ssl_input(x))))


class BYOLBranch(SSLBranch):
    def __init__(self, config: SSLConfig, pooled_dim: int, tokenizer: nn.Module) -> None:
        super().__init__()
        self.settings = config.byol
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)
        self.predictor = Predictor(self.projector.out_dim, config.byol.predictor_hidden)
        self.target = EMATeacher(online_view(tokenizer, self.projector))

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        h1, h2 = self.projector(pool_latent(batch.z_q)), self.projector(pool_latent(batch.z_aug))
        with torch.no_grad():
            t1 = teacher_projection(self.target, batch.tokenizer, batch.x)
            t2 = teacher_projection(self.target, batch.tokenizer, batch.x_aug)
        return byol_loss(self.predictor(h1), self.predictor(h2), t1, t2)

    def after_optimizer_step(self, tokenizer: nn.Module, step: int, total_steps: int) -> None:
        decay = ema_decay(self.settings.ema_schedule, self.settings.ema_decay, step, total_steps)
        self.target.update(online_view(tokenizer, self.projector), decay)
