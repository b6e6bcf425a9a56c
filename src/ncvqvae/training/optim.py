"""AdamW with a cosine learning-rate schedule over the steps that will actually run."""

from __future__ import annotations

import math

import torch
from torch import nn

from ncvqvae.config import OptimConfig


def build_adamw(module: nn.Module, *, lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters live on a CPU or a CUDA device.

    The default runs a Python loop over parameters with one small kernel per operation; the
    fused kernel does the same update in one pass per parameter. On 2 CPU cores it made the
    stage-1 step with a 4096-wide projector 11% faster (L = 140, batch 128; 2% without the
    SSL branch), measured alternating in one process. Same algorithm, same hyper-parameters;
    only the rounding differs.
    """
    params = list(module.parameters())  # all of them, as before: saved optimiser states still load
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def configure_adamw_cosine(
    module: nn.Module, optim: OptimConfig, total_steps: int
) -> dict[str, object]:
    """Lightning's ``configure_optimizers`` return value for one stage."""
    optimizer = build_adamw(module, lr=optim.lr, weight_decay=optim.weight_decay)
    total = max(1, total_steps)

    def cosine(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
    }
