"""Self-distillation: DINO (Caron, Touvron, Misra, Jegou, Mairal, Bojanowski and Joulin,
"Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021).

A student (the online encoder, projector and head) matches the output distribution of a
teacher that is an EMA of it; each view's teacher distribution is the target for the
other view's student. Collapse is prevented by the teacher's centring (subtracting an EMA
of its mean output, which stops one dimension from dominating) and sharpening (a low
teacher temperature, which stops the output from going uniform).

Sizes, against the paper's ImageNet settings: a head of K = 256 outputs (paper 65,536,
which after a 4096-wide projector would add about 270M parameters, more than the rest of
the model a hundred times over), on the L2-normalised projection with a weight-normalised
last layer as in the paper; two views (no multi-crop: a series has one scale); teacher
temperature 0.04 without the paper's warm-up to 0.07, student 0.1, centre momentum 0.9,
teacher EMA 0.996 raised to 1 by a cosine as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncvqvae.collectives import global_count, sum_over_ranks_
from ncvqvae.config import SSLConfig
from ncvqvae.tokenizer.ssl.base import SSLBatch, SSLBranch, SSLLossOutput, in_float32, pool_latent
from ncvqvae.tokenizer.ssl.ema import EMATeacher, ema_decay
from ncvqvae.tokenizer.ssl.projector import Projector


class DINOHead(nn.Module):
    """L2-normalised input, then a linear layer with unit-norm rows: (B, F) -> (B, K)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.last = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, h: Tensor) -> Tensor:
        return F.normalize(h, dim=1) @ F.normalize(self.last.weight, dim=1).T


@in_float32
def dino_loss(student: tuple[Tensor, Tensor], teacher: tuple[Tensor, Tensor], center: Tensor,
              *, student_temperature: float, teacher_temperature: float) -> SSLLossOutput:
    """Cross-entropy of each view's student against the other view's centred, sharpened
    teacher: -sum softmax((t - c) / tau_t) log softmax(s / tau_s), mean over the batch."""
    targets = [F.softmax((t - center) / teacher_temperature, dim=1).detach() for t in teacher]
    logs = [F.log_softmax(s / student_temperature, dim=1) for s in student]
    loss = -0.5 * ((targets[0] * logs[1]).sum(dim=1).mean() + (targets[1] * logs[0]).sum(dim=1).mean())
    return SSLLossOutput(loss=loss, terms={"dino": loss.detach()})


class DINOBranch(SSLBranch):
    center: Tensor

    def __init__(self, config: SSLConfig, pooled_dim: int, tokenizer: nn.Module) -> None:
        super().__init__()
        self.settings = config.dino
        self.weight = config.method_weight
        self.projector = Projector(pooled_dim, config.projector)
        self.head = DINOHead(self.projector.out_dim, config.dino.out_dim)
        self.teacher = EMATeacher(self._online(tokenizer))
        self.register_buffer("center", torch.zeros(config.dino.out_dim))

    def _online(self, tokenizer: nn.Module) -> nn.ModuleDict:
        return nn.ModuleDict({"encoder": tokenizer.ssl_encoder, "projector": self.projector, "head": self.head})

    def _teacher_output(self, tokenizer: nn.Module, x: Tensor) -> Tensor:
        net = self.teacher.net
        return net["head"](net["projector"](pool_latent(net["encoder"](tokenizer.ssl_input(x)))))

    @torch.no_grad()
    def update_center(self, teacher: tuple[Tensor, Tensor]) -> None:
        """c <- m c + (1 - m) mean of the teacher's outputs over both views of the global
        batch (DINO's centre, all-reduced)."""
        total = sum_over_ranks_(torch.cat(teacher).sum(dim=0))
        mean = total / global_count(sum(len(t) for t in teacher), total)
        m = self.settings.center_momentum
        self.center.mul_(m).add_(mean, alpha=1 - m)

    def loss(self, batch: SSLBatch) -> SSLLossOutput:
        s = self.settings
        student = (self.head(self.projector(pool_latent(batch.z_q))), self.head(self.projector(pool_latent(batch.z_aug))))
        with torch.no_grad():
            teacher = (self._teacher_output(batch.tokenizer, batch.x), self._teacher_output(batch.tokenizer, batch.x_aug))
        out = dino_loss(student, teacher, self.center, student_temperature=s.student_temperature,
                        teacher_temperature=s.teacher_temperature)
        if self.training:
            self.update_center(teacher)
        return out

    def after_optimizer_step(self, tokenizer: nn.Module, step: int, total_steps: int) -> None:
        decay = ema_decay(self.settings.ema_schedule, self.settings.ema_decay, step, total_steps)
        self.teacher.update(self._online(tokenizer), decay)
