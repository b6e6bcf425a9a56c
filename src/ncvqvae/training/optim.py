"""AdamW with a cosine learning-rate schedule over the steps that will actually run."""

from __future__ import annotations

import math

import torch
from torch import nn

from ncvqvae.config import OptimConfig


def configure_adamw_cosine(
    module: nn.Module, optim: OptimConfig, total_steps: int
) -> dict[str, object]:
    """Lightning's ``configure_optimizers`` return value for one stage."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    total = max(1, total_steps)

    def cosine(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
    }
