"""Exponential-moving-average teachers (BYOL's target, DINO's teacher, data2vec's
teacher): a frozen copy of online modules moved after every optimiser step by

    theta_t <- tau theta_t + (1 - tau) theta_online,

with tau constant, raised towards 1 by BYOL's and DINO's cosine ramp, or linearly (data2vec).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def ema_decay(schedule: str, start: float, step: int, total_steps: int, end: float = 1.0) -> float:
    """tau at optimiser step ``step`` of ``total_steps``.

    - ``constant``: ``start`` throughout;
    - ``cosine``: 1 - (1 - start) (cos(pi k / K) + 1) / 2, from ``start`` up to 1 (BYOL, DINO);
    - ``linear``: from ``start`` to ``end`` (data2vec).
    """
    progress = min(max(step / max(total_steps, 1), 0.0), 1.0)
    if schedule == "constant":
        return start
    if schedule == "cosine":
        return 1.0 - (1.0 - start) * (math.cos(math.pi * progress) + 1.0) / 2.0
    if schedule == "linear":
        return start + (end - start) * progress
    raise ValueError(f"unknown EMA schedule {schedule!r}")


class EMATeacher(nn.Module):
    """A copy of the online modules that never receives gradients.

    Its parameters move by the EMA rule; buffers (BatchNorm statistics) are copied.
    """

    def __init__(self, online: nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(online)
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, decay: float) -> None:
        for target, source in zip(self.net.parameters(), online.parameters()):
            target.mul_(decay).add_(source.detach(), alpha=1 - decay)
        for target, source in zip(self.net.buffers(), online.buffers()):
            target.copy_(source)
